/* Memory allocation failure: with the Nth allocation made inside a public
   call failing (failmalloc.c), for every N that the scripted session reaches,
   each call either succeeds or fails with ENOMEM, fails only when an
   allocation was refused, and leaves no descriptor behind. Leaked memory is
   for the ASan and valgrind runs of this program to find. */
#include "rel.h"
#include "failmalloc.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The most allocations one session is expected to make. */
#define MAX_N 400

struct session {
    long fail_at;      /* the session's allocation that fails (0: none) */
    long count;        /* allocations the library made in public calls */
    int injected;      /* the failure happened */
    int failed;        /* calls that failed with ENOMEM */
    const char *where; /* the call the failure was injected in */
};

static struct session *cur;

/* Runs one public call with the allocator armed. A call that fails must
   fail with ENOMEM, and only if the armed allocation was refused in it. */
#define CALL(var, expr)                                                       \
    do {                                                                      \
        long _left = cur->fail_at ? cur->fail_at - cur->count : 0;            \
        int _was = cur->injected;                                             \
        fm_arm(_left > 0 ? _left : 0);                                        \
        errno = 0;                                                            \
        (var) = (expr);                                                       \
        int _e = errno;                                                       \
        cur->count += fm_disarm();                                            \
        int _now = fm_injected() && !_was;                                    \
        if (_now) {                                                           \
            cur->injected = 1;                                                \
            cur->where = #expr;                                               \
        }                                                                     \
        RC_CHECK((var) >= 0 || (_e == ENOMEM && _now),                        \
                 "%s with allocation %ld failing: %d %s%s", #expr,            \
                 cur->fail_at, (int)(var), tu_errname(_e),                    \
                 _now ? "" : " (no allocation failed in it)");                \
        if ((var) < 0)                                                        \
            cur->failed++;                                                    \
    } while (0)

/* Sends once the receiving thread sleeps, so that its receive has to wait
   (the first wait starts the library's poller: more allocations). */
struct late {
    int h;
    pid_t receiver;
};

static void *late_sender(void *arg)
{
    struct late *l = arg;
    tu_wait_sleeping(l->receiver);
    bsend(l->h, "late!", 5,
          now() + 5000); /* may fail if the receiver gave up */
    return NULL;
}

/* brecv(h) of the 5 bytes the late sender sends on peer. */
#define CALL_LATE_RECV(rc, h, peer)                                           \
    do {                                                                      \
        pthread_t _th;                                                        \
        struct late _l = {(peer), tu_gettid()};                               \
        RC_CHECK(pthread_create(&_th, NULL, late_sender, &_l) == 0,           \
                 "thread");                                                   \
        CALL(rc, brecv((h), buf, 5, now() + 5000));                           \
        pthread_join(_th, NULL);                                              \
        if (rc == 0)                                                          \
            RC_CHECK(memcmp(buf, "late!", 5) == 0, "garbled");                \
    } while (0)

static void close_if(int h)
{
    if (h >= 0)
        RC_OK(hclose(h));
}

/* What the session made: -1 where the call failed or was left out. The
   _mem objects live in the storage here until they are closed. */
struct made {
    char path[TU_PATH_MAX], mpath[TU_PATH_MAX];
    struct ipc_listener_storage lmem;
    struct ipc_storage cmem, amem;
    struct ipc_pair_storage pmem;
    int p[2], q[2], ls, lm, c, cm, a, am;
};

/* Every call that makes an object. */
static void make_objects(struct made *m)
{
    int rc;
    CALL(rc, ipc_pair(m->p));
    if (rc < 0)
        m->p[0] = m->p[1] = -1;
    CALL(rc, ipc_pair_mem(&m->pmem, m->q));
    if (rc < 0)
        m->q[0] = m->q[1] = -1;
    CALL(m->ls, ipc_listen(tu_path(m->path, "nomem"), 8));
    if (m->ls < 0) {
        /* A failed listen leaves no file behind. */
        struct stat st;
        RC_CHECK(stat(m->path, &st) == -1 && errno == ENOENT,
                 "failed ipc_listen left %s", m->path);
    }
    CALL(m->lm, ipc_listen_mem(tu_path(m->mpath, "nomem-mem"), 8, &m->lmem));
    if (m->ls >= 0) {
        /* An accept waits only for a connection that was made. */
        CALL(m->c, ipc_connect(m->path, now() + 5000));
        if (m->c >= 0)
            CALL(m->a, ipc_accept(m->ls, now() + 5000));
        CALL(m->cm, ipc_connect_mem(m->path, &m->cmem, now() + 5000));
        if (m->cm >= 0)
            CALL(m->am, ipc_accept_mem(m->ls, &m->amem, now() + 5000));
    }
}

/* Waits, transfers, descriptor passing and the orderly end, on what
   make_objects made. */
static void use_objects(struct made *m)
{
    char buf[16];
    int rc, fd;
    /* The first wait starts the poller (epoll instance, I/O threads). */
    if (m->p[0] >= 0) {
        CALL_LATE_RECV(rc, m->p[0], m->p[1]);
        CALL(rc, bsend(m->p[0], "abc", 3, now() + 5000));
        CALL(rc, brecv(m->p[1], buf, 3, now() + 5000));
    }
    if (m->c >= 0 && m->a >= 0) {
        CALL(rc, bsend(m->c, "data", 4, now() + 5000));
        CALL(rc, brecv(m->a, buf, 4, now() + 5000));
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        RC_CHECK(null >= 0, "open /dev/null");
        CALL(rc, ipc_sendfd(m->a, null, now() + 5000));
        close(null);
        CALL(fd, ipc_recvfd(m->c, now() + 5000));
        if (fd >= 0)
            close(fd);
        CALL(rc, ipc_done(m->c, now() + 5000));
        CALL(rc, ipc_close(m->a, now() + 5000));
        m->a = -1; /* closed, whatever it returned */
    }
}

/* After any failure before, a new connection and a wait still work (unless
   this step has the failing allocation itself); and wrapping a raw socket
   allocates the object too. */
static void make_more(void)
{
    char buf[16];
    int rc, w;
    int r[2];
    CALL(rc, ipc_pair(r));
    if (rc == 0) {
        CALL_LATE_RECV(rc, r[0], r[1]);
        close_if(r[0]);
        close_if(r[1]);
    }
    int raw[2];
    RC_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, raw) == 0,
             "socketpair");
    CALL(w, ipc_fromfd(raw[0]));
    if (w < 0)
        close(raw[0]); /* on failure the descriptor stays the caller's */
    close(raw[1]);
    close_if(w);
}

static void close_objects(struct made *m)
{
    close_if(m->c);
    close_if(m->a);
    close_if(m->cm);
    close_if(m->am);
    close_if(m->p[0]);
    close_if(m->p[1]);
    close_if(m->q[0]);
    close_if(m->q[1]);
    if (m->ls >= 0)
        RC_OK(ipc_close(m->ls, 0));
    close_if(m->lm);
}

/* The session: every kind of call that makes an object or may allocate,
   always in the same order, so that allocation N is the same call in every
   run. A call that failed leaves out what depends on it. */
static void session(void)
{
    struct made m = {.p = {-1, -1}, .q = {-1, -1}, .ls = -1, .lm = -1,
                     .c = -1, .cm = -1, .a = -1, .am = -1};
    make_objects(&m);
    use_objects(&m);
    make_more();
    close_objects(&m);
}

static void session_child(void *arg)
{
    struct session *s = arg;
    cur = s;
    int fds = rel_count_fds_but_epoll();
    session();
    /* Descriptors: exactly as before, but for the library's one epoll
       instance (kept once made). */
    RC_CHECK(rel_count_fds_but_epoll() == fds,
             "allocation %ld failing: %d descriptors open, %d before",
             s->fail_at, rel_count_fds_but_epoll(), fds);
    RC_CHECK(rel_count_epoll_fds() <= 1, "%d epoll instances",
             rel_count_epoll_fds());
    if (getenv("REL_VERBOSE"))
        printf("nomem: allocation %ld of %ld failing: %s%s, %d call(s) "
               "failed\n",
               s->fail_at, s->count,
               s->injected ? "injected in " : "not reached",
               s->injected ? s->where : "", s->failed);
    if (s->fail_at && !s->injected)
        exit(3); /* past the last allocation: the parent stops here */
    if (s->count == 0)
        exit(4); /* the library's allocations did not come through us */
}

/* Runs the session in a fresh child (the poller not started yet, so its
   start is part of it). Returns 0 if the failure was injected, 3 if the
   session never reached the allocation, 4 if it saw none at all. */
static int run_session(long fail_at)
{
    struct session s = {.fail_at = fail_at};
    int st = rel_in_child(session_child, &s, 20);
    ck_assert_msg(st == 0 || st == 3 || st == 4,
                  "session child exited with %d", st);
    return st;
}

START_TEST(
    every_failed_allocation_gives_enomem_or_success_and_leaks_no_descriptor)
{
    /* Without a failure armed the session must work completely. */
    int st = run_session(0);
    if (st == 4 && tu_valgrind()) {
        /* valgrind replaces malloc in the program too: no injection. */
        fprintf(stderr, "valgrind: allocation failures not injected\n");
        return;
    }
    ck_assert_msg(st == 0, "no allocation at all in the session");
    long n;
    for (n = 1; n <= MAX_N; n++)
        if (run_session(n) != 0)
            break;
    ck_assert_msg(n <= MAX_N, "more than %d allocations in the session",
                  MAX_N);
    printf("nomem: %ld allocation points tried\n", n - 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("nomem");
    TCase *tc = tu_tcase("allocation");
    tcase_add_test(
        tc,
        every_failed_allocation_gives_enomem_or_success_and_leaks_no_descriptor);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
