/* Descriptor exhaustion: calls that need a descriptor fail with EMFILE,
   nothing leaks, and everything works again once descriptors are free,
   the library's own epoll instance (made lazily, at the first wait)
   included. Each test runs in a fresh child: it lowers RLIMIT_NOFILE. */
#include "rel.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXFILL 4096
static int filler[MAXFILL];

/* valgrind keeps descriptors of its own near the limit and emulates it. */
static int skip_under_valgrind(void)
{
    if (tu_valgrind()) {
        fprintf(stderr, "valgrind: descriptor exhaustion not tested\n");
        return 1;
    }
    return 0;
}

/* Waits (in the child) until thread tid sleeps in the kernel. */
static void child_op_blocked(struct tu_op *op)
{
    tu_op_start(op);
    while (!__atomic_load_n(&op->started, __ATOMIC_SEQ_CST))
        tu_sleep_ms(1);
    tu_wait_sleeping(op->tid);
}

static void child_op_join(struct tu_op *op)
{
    RC_CHECK(pthread_join(op->th, NULL) == 0, "pthread_join");
}

/* ---- the first wait ------------------------------------------------------*/

/* The call has to make the library's first wait, with no descriptor free:
   it fails with ENOMEM, which the waiting calls document for running out
   of the resources to wait (the epoll instance's EMFILE becomes ENOMEM). */
#define FIRST_WAIT_FAILS(expr)                                                \
    do {                                                                      \
        errno = 0;                                                            \
        long _rc = (long)(expr);                                              \
        int _e = errno;                                                       \
        RC_CHECK(_rc == -1 && _e == ENOMEM,                                   \
                 "%s needing the first wait: %ld %s, expected ENOMEM", #expr, \
                 _rc, tu_errname(_e));                                        \
    } while (0)

/* With descriptors free again, waiting works (on the direction of s that
   did not fail), and the library has made its one epoll instance. */
static void assert_waiting_works_again(int s[2])
{
    char buf[16];
    struct tu_op op = {.kind = TU_BRECV,
                       .h = s[1],
                       .buf = buf,
                       .len = 5,
                       .deadline = now() + 10000};
    child_op_blocked(&op);
    RC_OK(bsend(s[0], "hello", 5, now() + 5000));
    child_op_join(&op);
    RC_CHECK(op.rc == 0 && memcmp(buf, "hello", 5) == 0,
             "blocked brecv after recovery: %d %s", op.rc, tu_errname(op.err));
    RC_FAILS(brecv(s[1], buf, 1, now() + 20), ETIMEDOUT);
    RC_CHECK(rel_count_epoll_fds() == 1, "%d epoll instances, expected 1",
             rel_count_epoll_fds());
}

/* The library has never waited in this child: with no descriptor free, the
   first call that has to wait cannot make its epoll instance. */
static void first_wait_child(void *arg)
{
    (void)arg;
    int s[2], t[2], u[2];
    RC_OK(ipc_pair(s));
    RC_OK(ipc_pair(t));
    RC_OK(ipc_pair(u));
    int threads = tu_count_threads();
    RC_CHECK(rel_count_epoll_fds() == 0, "an epoll instance before any wait");
    int nf = rel_exhaust_fds(filler, MAXFILL, 8);
    RC_CHECK(nf > 0, "could not exhaust descriptors");
    char buf[16];
    FIRST_WAIT_FAILS(brecv(s[0], buf, 1, now() + 200));
    /* Nothing half made: no epoll instance, no I/O thread. */
    nf = rel_release_fds(filler, nf, 1);
    RC_CHECK(rel_count_epoll_fds() == 0, "epoll instance left behind");
    RC_CHECK(tu_count_threads() == threads, "%d threads, expected %d",
             tu_count_threads(), threads);
    filler[nf] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    RC_CHECK(filler[nf] >= 0, "refill");
    nf++;
    /* A failed wait is a failed receive: that direction is dead. */
    RC_FAILS(brecv(s[0], buf, 1, 0), ECONNRESET);
    /* The same for a sender that has to wait and for recvfd. */
    size_t big = 8 << 20;
    char *data = calloc(1, big);
    FIRST_WAIT_FAILS(bsend(u[0], data, big, now() + 200));
    FIRST_WAIT_FAILS(ipc_recvfd(t[0], now() + 200));
    free(data);
    nf = rel_release_fds(filler, nf, nf);
    assert_waiting_works_again(s);
    RC_OK(hclose(s[0]));
    RC_OK(hclose(s[1]));
    RC_OK(hclose(t[0]));
    RC_OK(hclose(t[1]));
    RC_OK(hclose(u[0]));
    RC_OK(hclose(u[1]));
}

START_TEST(
    first_wait_without_a_free_descriptor_fails_cleanly_and_the_poller_starts_later)
{
    if (!skip_under_valgrind())
        rel_in_child(first_wait_child, NULL, 20);
}
END_TEST

/* ---- a running process runs out ------------------------------------------*/

static void assert_connected(int a, int b)
{
    char buf[8];
    RC_OK(bsend(a, "ping", 4, now() + 5000));
    RC_OK(brecv(b, buf, 4, now() + 5000));
    RC_CHECK(memcmp(buf, "ping", 4) == 0, "ping garbled");
    RC_OK(bsend(b, "pong", 4, now() + 5000));
    RC_OK(brecv(a, buf, 4, now() + 5000));
    RC_CHECK(memcmp(buf, "pong", 4) == 0, "pong garbled");
}

/* An accept blocked before the descriptors ran out wakes for a connection
   it cannot take: it fails with EMFILE instead of spinning or hanging, and
   the connection waits in the backlog for a later accept. */
static void blocked_accept_child(void *arg)
{
    (void)arg;
    char path[TU_PATH_MAX];
    int ls, c, a, s[2];
    tu_warm_up();
    RC_HANDLE(ls, ipc_listen(tu_path(path, "acc"), 8));
    int base = tu_count_fds();
    struct tu_op op = {.kind = TU_ACCEPT, .h = ls, .deadline = now() + 10000};
    child_op_blocked(&op);
    /* The connecting socket takes the last free descriptor. */
    int nf = rel_exhaust_fds(filler, MAXFILL, 8);
    RC_CHECK(nf > 0, "could not exhaust descriptors");
    nf = rel_release_fds(filler, nf, 1);
    RC_HANDLE(c, ipc_connect(path, now() + 5000));
    child_op_join(&op);
    RC_CHECK(op.rc == -1 && op.err == EMFILE,
             "blocked accept without a descriptor: %d %s, expected EMFILE",
             op.rc, tu_errname(op.err));
    RC_FAILS(ipc_accept(ls, 0), EMFILE);
    RC_FAILS(ipc_pair(s), EMFILE);
    /* One descriptor free is not enough for a pair; nothing leaks. */
    nf = rel_release_fds(filler, nf, 1);
    RC_FAILS(ipc_pair(s), EMFILE);
    RC_CHECK(tu_count_fds() == base + nf + 1, "pair leaked: %d open, want %d",
             tu_count_fds(), base + nf + 1);
    /* Free again: the connection was kept, and everything works. */
    nf = rel_release_fds(filler, nf, nf);
    RC_HANDLE(a, ipc_accept(ls, now() + 5000));
    assert_connected(c, a);
    RC_OK(ipc_pair(s));
    assert_connected(s[0], s[1]);
    RC_OK(hclose(s[0]));
    RC_OK(hclose(s[1]));
    RC_OK(hclose(a));
    RC_OK(hclose(c));
    RC_OK(hclose(ls));
    RC_CHECK(tu_count_fds() == base - 1, "%d open, want %d", tu_count_fds(),
             base - 1);
}

START_TEST(
    blocked_accept_woken_without_a_free_descriptor_fails_with_emfile_and_keeps_the_connection)
{
    if (!skip_under_valgrind())
        rel_in_child(blocked_accept_child, NULL, 20);
}
END_TEST

/* Transfers that are under way when the descriptors run out do not notice:
   they need none. */
static void transfers_child(void *arg)
{
    (void)arg;
    int s[2];
    tu_warm_up();
    RC_OK(ipc_pair(s));
    struct tu_xfer snd = {.h = s[0],
                          .len = 4 << 20,
                          .seed = 7,
                          .chunk = 65536,
                          .deadline = now() + 20000};
    struct tu_xfer rcv = snd;
    rcv.h = s[1];
    RC_CHECK(pthread_create(&snd.th, NULL, tu_sender, &snd) == 0, "thread");
    RC_CHECK(pthread_create(&rcv.th, NULL, tu_receiver, &rcv) == 0, "thread");
    int nf = rel_exhaust_fds(filler, MAXFILL, 8);
    RC_CHECK(nf > 0, "could not exhaust descriptors");
    pthread_join(snd.th, NULL);
    pthread_join(rcv.th, NULL);
    RC_CHECK(snd.rc == 0 && rcv.rc == 0 && !rcv.mismatch,
             "transfer while exhausted: send %s, recv %s, mismatch %d",
             tu_errname(snd.err), tu_errname(rcv.err), rcv.mismatch);
    rel_release_fds(filler, nf, nf);
    RC_OK(hclose(s[0]));
    RC_OK(hclose(s[1]));
}

START_TEST(transfers_under_way_keep_working_when_descriptors_run_out)
{
    if (!skip_under_valgrind())
        rel_in_child(transfers_child, NULL, 30);
}
END_TEST

/* ---- receiving a descriptor without room for it --------------------------*/

/* The kernel cannot install the passed descriptor: it drops it and flags
   the message MSG_CTRUNC. The call must say why (EMFILE, as every other call
   that needs a descriptor does), not claim the peer sent no descriptor
   (EPROTO), and nothing may leak. */
static void recvfd_child(void *arg)
{
    (void)arg;
    int s[2], p[2];
    tu_warm_up();
    RC_OK(ipc_pair(s));
    RC_CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe");
    RC_OK(ipc_sendfd(s[0], p[1], now() + 5000));
    close(p[1]);
    int nf = rel_exhaust_fds(filler, MAXFILL, 8);
    RC_CHECK(nf > 0, "could not exhaust descriptors");
    errno = 0;
    int rc = ipc_recvfd(s[1], now() + 5000);
    int err = errno;
    nf = rel_release_fds(filler, nf, nf);
    /* Whatever the answer, no copy of the pipe's write end survives. */
    RC_CHECK(rc < 0 ? rel_pipe_write_end_gone(p[0]) : 1,
             "the dropped descriptor is still open somewhere");
    if (rc >= 0)
        close(rc);
    RC_CHECK(rc == -1 && err == EMFILE,
             "ipc_recvfd with no descriptor free: %d %s, expected -1 EMFILE",
             rc, tu_errname(err));
    close(p[0]);
    RC_OK(hclose(s[0]));
    RC_OK(hclose(s[1]));
}

START_TEST(recvfd_with_no_descriptor_free_fails_with_emfile_and_leaks_nothing)
{
    if (!skip_under_valgrind())
        rel_in_child(recvfd_child, NULL, 20);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("nofile");
    TCase *tc = tu_tcase("exhaustion");
    tcase_add_test(
        tc,
        first_wait_without_a_free_descriptor_fails_cleanly_and_the_poller_starts_later);
    tcase_add_test(
        tc,
        blocked_accept_woken_without_a_free_descriptor_fails_with_emfile_and_keeps_the_connection);
    tcase_add_test(tc,
                   transfers_under_way_keep_working_when_descriptors_run_out);
    tcase_add_test(
        tc,
        recvfd_with_no_descriptor_free_fails_with_emfile_and_leaks_nothing);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
