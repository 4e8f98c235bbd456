/*
 * libFuzzer harness for tdill's public API (see fuzz/run.sh).
 *
 * The input is a program: each step is an opcode byte and its arguments,
 * read from the following bytes, for one public call. Calls act on a small
 * pool of real handles (pairs, listeners, connections, wrapped raw sockets)
 * or on odd ones: stale, negative, random, of the wrong kind. Arguments are
 * odd too: NULL and malformed iolists (loops, a last node not in the list,
 * iol_rsvd != 0, lengths that overflow), deadlines 0, -1, INT64_MIN/MAX,
 * past and a few ms ahead, paths NULL, "", too long, missing, a regular
 * file, in a private temporary directory.
 *
 * A call that could wait with no real deadline is watched: after 5 ms a
 * watchdog thread closes its handle, which must end the call (ECANCELED).
 *
 * Besides the sanitizers, the harness checks the contract and aborts when
 * it is broken: every failure sets an errno the call may give, a closed or
 * negative handle answers EBADF, an iolist is unchanged after the call,
 * now() never goes back, a call with deadline 0 never waits. Everything is
 * closed at the end of each input, and the process's descriptor count must
 * be what it was before the first.
 */
#include <tdill.h>

#include "fdcount.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define NPOOL 12
#define NSTALE 16
#define NPATH 11
#define MAXSTEPS 128
#define BUFSZ 65536
#define WATCH_MS 5

/******************************************************************************/
/*  Failing loudly                                                            */
/******************************************************************************/

__attribute__((noreturn, format(printf, 1, 2))) static void
broken(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz_api: contract broken: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

#define E(...) ((const int[]){__VA_ARGS__, 0})

/* A call returned rc with errno err: success is rc >= 0; a failure must
   be -1 with one of `allowed`. */
static void expect(const char *what, long rc, int err, const int *allowed)
{
    if (rc >= 0)
        return;
    if (rc != -1)
        broken("%s returned %ld", what, rc);
    for (const int *a = allowed; *a; a++)
        if (*a == err)
            return;
    broken("%s failed with errno %d (%s)", what, err, strerror(err));
}

/******************************************************************************/
/*  Input                                                                     */
/******************************************************************************/

struct input {
    const uint8_t *p;
    size_t n;
};

static unsigned u8(struct input *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static uint32_t u32(struct input *in)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = v << 8 | u8(in);
    return v;
}

/******************************************************************************/
/*  State: the temporary directory, the pool, stale handles, raw sockets      */
/******************************************************************************/

static int trace; /* FUZZ_TRACE set: print every call and descriptor */
static char dir[64];
static char paths[NPATH][200];
static int baseline_fds; /* open before the first input */
static unsigned char buf[BUFSZ];

struct slot {
    int h;     /* -1: empty */
    void *mem; /* _mem storage the handle lives in (shared by a pair) */
    int *memrefs;
};

static struct slot pool[NPOOL];
static int stale[NSTALE], nstale;

/* Raw descriptors of this input: a connected pair, a listening socket, a
   regular file. -1 once closed or owned by a handle. */
enum { RAW_A, RAW_B, RAW_LISTEN, RAW_FILE, NRAW };
static int raw[NRAW];

static void stale_add(int h)
{
    stale[nstale++ % NSTALE] = h;
}

static void slot_release(struct slot *s)
{
    if (s->mem && --*s->memrefs == 0) {
        free(s->mem);
        free(s->memrefs);
    }
    s->h = -1;
    s->mem = NULL;
    s->memrefs = NULL;
}

/* The handle h is closed now (by us, a watchdog, or behind the pool's back
   by a call on a random number): forget it. */
static void forget(int h)
{
    if (h < 0)
        return;
    for (int i = 0; i < NPOOL; i++)
        if (pool[i].h == h)
            slot_release(&pool[i]);
    stale_add(h);
}

static int free_slot(void)
{
    for (int i = 0; i < NPOOL; i++)
        if (pool[i].h < 0)
            return i;
    return -1;
}

/* Closes pool handles, in turn, until n slots are free. */
static void make_room(int n)
{
    static unsigned evict;
    for (;;) {
        int nfree = 0;
        for (int i = 0; i < NPOOL; i++)
            nfree += pool[i].h < 0;
        if (nfree >= n)
            return;
        int old = pool[evict++ % NPOOL].h;
        if (old < 0)
            continue;
        int rc = hclose(old);
        expect("hclose(pool)", rc, errno, E(EBADF));
        forget(old);
    }
}

/* Files a new handle; make_room() made a slot free for it. */
static void put(int h, void *mem, int *memrefs)
{
    int i = free_slot();
    if (i < 0)
        broken("no room in the pool");
    pool[i] = (struct slot){h, mem, memrefs};
    if (memrefs)
        ++*memrefs;
}

static void *storage(size_t size, int **refs)
{
    void *mem = malloc(size);
    *refs = calloc(1, sizeof(int));
    return mem;
}

struct fd_census {
    int show;
    int epolls;
};

static int keep_ours(int fd, const char *target, void *arg)
{
    struct fd_census *c = arg;
    if (c->show)
        fprintf(stderr, "  fd %d -> %s\n", fd, target);
    if (fdcount_is_epoll(target)) {
        c->epolls++;
        return 0;
    }
    return strncmp(target, "socket:", 7) == 0 ||
           strcmp(target, "/dev/null") == 0;
}

/* Open descriptors of the kinds the library and this harness make
   (sockets, copies of /dev/null), but the library's epoll instance (made
   once, lazily; *epolls counts those). Others belong to the fuzzing engine
   and the sanitizers (the symbolizer's pipes, say). With `show`, lists
   every descriptor on stderr. */
static int count_fds(int show, int *epolls)
{
    struct fd_census c = {show, 0};
    int n = fdcount(keep_ours, &c);
    if (n < 0)
        broken("opendir /proc/self/fd: %s", strerror(errno));
    *epolls = c.epolls;
    return n;
}

/******************************************************************************/
/*  The watchdog                                                              */
/******************************************************************************/

static pthread_mutex_t wd_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cv;
static int wd_h = -1;    /* the handle watched */
static int64_t wd_until; /* ms, CLOCK_MONOTONIC */
static int wd_fired = -1;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *wd_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&wd_mu);
    for (;;) {
        if (wd_h < 0) {
            pthread_cond_wait(&wd_cv, &wd_mu);
            continue;
        }
        struct timespec ts = {wd_until / 1000, (wd_until % 1000) * 1000000};
        pthread_cond_timedwait(&wd_cv, &wd_mu, &ts);
        if (wd_h >= 0 && mono_ms() >= wd_until) {
            /* Held across hclose: the caller cannot free the handle's
               storage before the close is over. */
            int h = wd_h;
            wd_h = -1;
            int rc = hclose(h);
            if (rc == 0)
                wd_fired = h;
        }
    }
    return NULL;
}

static void watch(int h)
{
    pthread_mutex_lock(&wd_mu);
    wd_h = h;
    wd_until = mono_ms() + WATCH_MS;
    wd_fired = -1;
    pthread_cond_signal(&wd_cv);
    pthread_mutex_unlock(&wd_mu);
}

static void unwatch(void)
{
    pthread_mutex_lock(&wd_mu);
    wd_h = -1;
    int fired = wd_fired;
    wd_fired = -1;
    pthread_mutex_unlock(&wd_mu);
    forget(fired);
}

/******************************************************************************/
/*  Arguments                                                                 */
/******************************************************************************/

/* A handle: mostly from the pool, else stale, negative, random. */
static int pick_handle(struct input *in)
{
    unsigned b = u8(in);
    switch (b % 8) {
    case 5:
        return nstale ? stale[(b / 8) % (nstale < NSTALE ? nstale : NSTALE)]
                      : -1;
    case 6:
        return (int)u32(in);
    case 7: {
        static const int odd[] = {-1,      INT_MIN,       0, 1, INT_MAX,
                                  1 << 20, (1 << 20) - 1, -2};
        return odd[(b / 8) % 8];
    }
    default:
        return pool[(b / 8) % NPOOL].h;
    }
}

/* Is h one of the stale handles (closed in this input, so never reused)? */
static int is_stale(int h)
{
    if (h < 0)
        return 1;
    int n = nstale < NSTALE ? nstale : NSTALE;
    for (int i = 0; i < n; i++)
        if (stale[i] == h) {
            for (int j = 0; j < NPOOL; j++)
                if (pool[j].h == h)
                    return 0; /* a random number hit a live one */
            return 1;
        }
    return 0;
}

static int64_t pick_deadline(struct input *in)
{
    unsigned b = u8(in);
    switch (b % 10) {
    case 0:
        return 0;
    case 1:
        return -1;
    case 2:
        return INT64_MIN;
    case 3:
        return INT64_MAX;
    case 4:
        return INT64_MAX / 1000000;
    case 5:
        return 1; /* long past */
    case 6:
        return now() - 1 - b / 10;
    default:
        return now() + 1 + b % 5;
    }
}

/* Could a call with deadline dl wait longer than a few ms? */
static int forever(int64_t dl)
{
    return dl < 0 || dl > now() + 1000;
}

static const char *pick_path(struct input *in)
{
    unsigned b = u8(in);
    unsigned i = b % (NPATH + 2);
    return i < NPATH ? paths[i] : i == NPATH ? NULL : "";
}

static int pick_fd(struct input *in)
{
    unsigned b = u8(in);
    switch (b % 8) {
    case 4:
        return -1;
    case 5:
        return 1 << 20; /* surely not open */
    case 6:
        return (int)u32(in) % 64; /* whatever is open there */
    case 7:
        return 0;
    default:
        return raw[b % NRAW];
    }
}

/* An iolist over buf, with odd shapes; returns the number of nodes. */
static int pick_list(struct input *in, struct iolist *l, int max,
                     struct iolist **first, struct iolist **last)
{
    int k = 1 + (int)(u8(in) % (unsigned)max);
    size_t off = 0;
    memset(l, 0, sizeof(*l) * (size_t)(max + 1));
    for (int i = 0; i < k; i++) {
        unsigned b = u8(in);
        size_t len = u8(in) * (size_t)(1 + (b >> 6) * 64);
        l[i].iol_next = i + 1 < k ? &l[i + 1] : NULL;
        l[i].iol_rsvd = 0;
        if (b % 7 == 0 || off + len > BUFSZ) {
            /* No memory behind it: any length, even one that overflows. */
            l[i].iol_base = NULL;
            l[i].iol_len = b % 2 ? len : SIZE_MAX / 2 + b;
        } else {
            l[i].iol_base = buf + off;
            l[i].iol_len = len;
            off += len;
        }
        if (b % 11 == 1)
            l[i].iol_rsvd = (int)b;
        if (b % 13 == 2)
            l[i].iol_next = &l[u8(in) % (unsigned)k]; /* maybe a loop */
    }
    unsigned b = u8(in);
    *first = b % 9 == 0 ? NULL : &l[0];
    *last = b % 9 == 1 ? NULL : b % 9 == 2 ? &l[max] : &l[k - 1];
    l[max] = (struct iolist){buf, 1, NULL, 0}; /* a node not in the list */
    if (b % 9 == 3)
        *last = &l[u8(in) % (unsigned)k];
    return k;
}

/******************************************************************************/
/*  Steps                                                                     */
/******************************************************************************/

#define XFER_ERRS                                                             \
    E(EBADF, ENOTSUP, EINVAL, ECANCELED, ECONNRESET, EPIPE, ETIMEDOUT)
/* For calls that take no handle. */
#define NOHANDLE (INT_MIN + 1)

/* What every step checks alike: the errno, EBADF for a handle that was
   closed (or negative) before the call (was_stale), and that a call with a
   real deadline came back soon after it. */
static void after(const char *what, int h, int was_stale, long rc, int err,
                  const int *ok, int64_t dl, int64_t t0)
{
    if (trace)
        fprintf(stderr, "%s(handle %d, deadline %+lld) = %ld, %s\n", what, h,
                (long long)(dl > 0 ? dl - t0 : dl), rc,
                rc < 0 ? strerror(err) : "ok");
    expect(what, rc, err, ok);
    if (was_stale && !(rc == -1 && err == EBADF))
        broken("%s on closed handle %d: %ld, errno %d, not EBADF", what, h, rc,
               err);
    int64_t took = now() - t0;
    if (dl >= 0 && !forever(dl)) {
        int64_t until = dl > t0 ? dl : t0;
        if (now() > until + 2000)
            broken("%s with deadline %+lld ms took %lld ms", what,
                   (long long)(dl - t0), (long long)took);
    }
}

static void step_transfer(struct input *in, unsigned op)
{
    int h = pick_handle(in), was = is_stale(h);
    int64_t dl = pick_deadline(in), t0 = now();
    struct iolist l[9], copy[9], *first, *last;
    long rc;
    const char *what;
    if (op < 2) {
        size_t len = u8(in) * (size_t)(u8(in) % 4 == 0 ? 256 : 1);
        void *p = u8(in) % 6 == 0 ? NULL : buf;
        if (forever(dl))
            watch(h);
        errno = 0;
        rc = op == 0 ? bsend(h, p, len, dl) : brecv(h, p, len, dl);
        what = op == 0 ? "bsend" : "brecv";
    } else {
        int k = pick_list(in, l, 8, &first, &last);
        (void)k;
        memcpy(copy, l, sizeof l);
        if (forever(dl))
            watch(h);
        errno = 0;
        rc = op == 2 ? bsendl(h, first, last, dl) : brecvl(h, first, last, dl);
        what = op == 2 ? "bsendl" : "brecvl";
        if (memcmp(copy, l, sizeof l) != 0)
            broken("%s changed the iolist", what);
    }
    int err = errno;
    unwatch();
    after(what, h, was, rc, err, XFER_ERRS, dl, t0);
}

static void step_make(struct input *in, unsigned op)
{
    long rc = 0;
    int err, s[2];
    int *refs = NULL;
    void *mem = NULL;
    const char *path = pick_path(in);
    unsigned b = u8(in);
    int backlog = b % 4 == 0 ? -1 : b % 4 == 1 ? INT_MAX : (int)(b % 6);
    int64_t dl = pick_deadline(in), t0 = now();
    if (forever(dl))
        dl = now() + WATCH_MS; /* nothing to close would end the wait */
    int use_null = u8(in) % 8 == 0;
    errno = 0;
    switch (op) {
    case 0:
        rc = ipc_pair(use_null ? NULL : s);
        break;
    case 1:
        mem =
            use_null ? NULL : storage(sizeof(struct ipc_pair_storage), &refs);
        rc = ipc_pair_mem(mem, s);
        break;
    case 2:
        rc = ipc_listen(path, backlog);
        break;
    case 3:
        mem = use_null ? NULL
                       : storage(sizeof(struct ipc_listener_storage), &refs);
        rc = ipc_listen_mem(path, backlog, mem);
        break;
    case 4:
        rc = ipc_listen_mode(path, backlog, (mode_t)u32(in) & 017777);
        break;
    case 5:
        rc = ipc_connect(path, dl);
        break;
    default:
        mem = use_null ? NULL : storage(sizeof(struct ipc_storage), &refs);
        rc = ipc_connect_mem(path, mem, dl);
    }
    err = errno;
    static const char *const names[] = {
        "ipc_pair",        "ipc_pair_mem", "ipc_listen",     "ipc_listen_mem",
        "ipc_listen_mode", "ipc_connect",  "ipc_connect_mem"};
    static const int listen_errs[] = {
        EINVAL, ENOENT, ENAMETOOLONG, EADDRINUSE, EACCES, ENOTDIR,
        ELOOP,  EMFILE, ENFILE,       ENOMEM,     0};
    static const int connect_errs[] = {
        EINVAL,  ENOENT, ENAMETOOLONG, ECONNREFUSED, ETIMEDOUT, EACCES,
        ENOTDIR, ELOOP,  EMFILE,       ENFILE,       ENOMEM,    0};
    const int *ok = op < 2   ? E(EINVAL, EMFILE, ENFILE, ENOMEM)
                    : op < 5 ? listen_errs
                             : connect_errs;
    after(names[op], NOHANDLE, 0, rc, err, ok, dl, t0);
    if (rc < 0) {
        free(mem);
        free(refs);
        return;
    }
    if (op < 2) {
        make_room(2);
        put(s[0], mem, refs);
        put(s[1], mem, refs);
    } else {
        make_room(1);
        put((int)rc, mem, refs);
    }
}

static void step_accept(struct input *in, int with_mem)
{
    int h = pick_handle(in), was = is_stale(h), *refs = NULL;
    int64_t dl = pick_deadline(in), t0 = now();
    void *mem = with_mem && u8(in) % 8
                    ? storage(sizeof(struct ipc_storage), &refs)
                    : NULL;
    if (forever(dl))
        watch(h);
    errno = 0;
    long rc = with_mem ? ipc_accept_mem(h, mem, dl) : ipc_accept(h, dl);
    int err = errno;
    unwatch();
    after(with_mem ? "ipc_accept_mem" : "ipc_accept", h, was, rc, err,
          E(EBADF, ENOTSUP, EINVAL, ETIMEDOUT, ECANCELED, EMFILE, ENFILE,
            ENOMEM),
          dl, t0);
    if (rc >= 0) {
        make_room(1);
        put((int)rc, mem, refs);
    } else {
        free(mem);
        free(refs);
    }
}

static void step_fromfd(struct input *in, unsigned op)
{
    unsigned b = u8(in);
    int idx = b % (NRAW + 2);
    int fd = idx < NRAW ? raw[idx] : idx == NRAW ? -1 : 1 << 20;
    int *refs = NULL;
    void *mem = NULL;
    int use_mem = op % 2, use_null = b / 16 % 8 == 0;
    if (use_mem && !use_null)
        mem = storage(sizeof(struct ipc_storage), &refs);
    int flags = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
    errno = 0;
    long rc = op < 2 ? (use_mem ? ipc_fromfd_mem(fd, mem) : ipc_fromfd(fd))
                     : (use_mem ? ipc_listener_fromfd_mem(fd, mem)
                                : ipc_listener_fromfd(fd));
    int err = errno;
    expect("ipc_fromfd", rc, err, E(EINVAL, EMFILE, ENOMEM));
    if (rc < 0) {
        /* The descriptor is left as it was, open if it was. */
        if (fd >= 0 && idx < NRAW && fcntl(fd, F_GETFL) != flags)
            broken("failed ipc_fromfd changed or closed descriptor %d", fd);
        free(mem);
        free(refs);
        return;
    }
    raw[idx] = -1; /* the handle owns it now */
    make_room(1);
    put((int)rc, mem, refs);
}

static void step_end(struct input *in, unsigned op)
{
    int h = pick_handle(in), was = is_stale(h);
    int64_t dl = pick_deadline(in), t0 = now();
    long rc;
    int err;
    const char *what;
    const int *ok;
    if (op == 2 && forever(dl))
        watch(h);
    errno = 0;
    switch (op) {
    case 0:
        what = "ipc_done", rc = ipc_done(h, dl);
        ok = E(EBADF, ENOTSUP, EPIPE, ECONNRESET);
        break;
    case 1:
        what = "hclose", rc = hclose(h);
        ok = E(EBADF);
        break;
    default:
        what = "ipc_close", rc = ipc_close(h, dl);
        ok = E(EBADF, ENOTSUP, ECONNRESET, ETIMEDOUT, ECANCELED);
    }
    err = errno;
    unwatch();
    after(what, h, was, rc, err, ok, dl, t0);
    /* Closed, unless the handle was refused as such. */
    if (op != 0 && !(rc == -1 && (err == EBADF || err == ENOTSUP)))
        forget(h);
}

static void step_fd(struct input *in, unsigned op)
{
    int h = pick_handle(in), was = is_stale(h);
    int fd = pick_fd(in);
    int64_t dl = pick_deadline(in), t0 = now();
    if (forever(dl))
        watch(h);
    errno = 0;
    long rc = op == 0 ? ipc_sendfd(h, fd, dl) : ipc_recvfd(h, dl);
    int err = errno;
    unwatch();
    if (op == 0)
        after(
            "ipc_sendfd", h, was, rc, err,
            E(EBADF, ENOTSUP, EINVAL, EPIPE, ECONNRESET, ETIMEDOUT, ECANCELED),
            dl, t0);
    else
        after("ipc_recvfd", h, was, rc, err,
              E(EBADF, ENOTSUP, EPROTO, EPIPE, ECONNRESET, ETIMEDOUT,
                ECANCELED, EMFILE),
              dl, t0);
    if (op == 1 && rc >= 0) {
        if (!(fcntl((int)rc, F_GETFD) & FD_CLOEXEC))
            broken("received descriptor is not close-on-exec");
        close((int)rc);
    }
}

static void step_misc(struct input *in, unsigned op)
{
    int h = pick_handle(in), was = is_stale(h);
    unsigned b = u8(in);
    if (op == 0) {
        pid_t pid;
        uid_t uid;
        gid_t gid;
        errno = 0;
        long rc = ipc_peercred(h, b & 1 ? &pid : NULL, b & 2 ? &uid : NULL,
                               b & 4 ? &gid : NULL);
        after("ipc_peercred", h, was, rc, errno, E(EBADF, ENOTSUP), -1, now());
        /* Every peer is in this process. */
        if (rc == 0 && (b & 1) && pid != getpid())
            broken("ipc_peercred: pid %ld, not ours", (long)pid);
        return;
    }
    /* The raw peer writes bytes, maybe with descriptors attached. */
    int sock = raw[RAW_B] >= 0 ? raw[RAW_B] : raw[RAW_A];
    if (sock < 0)
        return;
    int fds[8], n = (int)(b % 9);
    for (int i = 0; i < n; i++)
        fds[i] = raw[RAW_FILE] >= 0 ? raw[RAW_FILE] : 0;
    char ctl[CMSG_SPACE(sizeof fds)];
    struct iovec iov = {buf, 1 + u8(in)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (n) {
        memset(ctl, 0, sizeof ctl);
        mh.msg_control = ctl;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)n);
    }
    buf[0] = 0xCC;
    sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL); /* may be full */
}

static void step(struct input *in)
{
    unsigned op = u8(in) % 24;
    if (op < 4)
        step_transfer(in, op);
    else if (op < 11)
        step_make(in, op - 4);
    else if (op < 13)
        step_accept(in, op == 12);
    else if (op < 17)
        step_fromfd(in, op - 13);
    else if (op < 20)
        step_end(in, op - 17);
    else if (op < 22)
        step_fd(in, op - 20);
    else
        step_misc(in, op - 22);
    /* now() is monotonic and never 0 or -1. */
    static int64_t last;
    int64_t t = now();
    if (t == 0 || t == -1 || t < last)
        broken("now() returned %lld after %lld", (long long)t,
               (long long)last);
    last = t;
}

/******************************************************************************/
/*  Per input                                                                 */
/******************************************************************************/

static void begin_input(void)
{
    int epolls;
    if (trace) {
        fprintf(stderr, "-- input begins with descriptors:\n");
        count_fds(1, &epolls);
    }
    int sp[2];
    for (int i = 0; i < NPOOL; i++)
        pool[i] = (struct slot){-1, NULL, NULL};
    nstale = 0;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
        broken("socketpair: %s", strerror(errno));
    raw[RAW_A] = sp[0];
    raw[RAW_B] = sp[1];
    raw[RAW_LISTEN] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", paths[10]);
    unlink(sa.sun_path);
    if (bind(raw[RAW_LISTEN], (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(raw[RAW_LISTEN], 4) != 0)
        broken("raw listener: %s", strerror(errno));
    raw[RAW_FILE] = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void end_input(void)
{
    int epolls;
    if (trace) {
        fprintf(stderr, "-- input ends with descriptors:\n");
        count_fds(1, &epolls);
    }
    for (int i = 0; i < NPOOL; i++) {
        if (pool[i].h < 0)
            continue;
        int h = pool[i].h;
        int rc = hclose(h);
        expect("hclose at the end", rc, errno, E(EBADF));
        forget(h);
    }
    for (int i = 0; i < NRAW; i++)
        if (raw[i] >= 0)
            close(raw[i]);
    /* Sockets the input made stay in the directory (tdill never unlinks). */
    for (int i = 0; i < 4; i++)
        unlink(paths[i]);
    unlink(paths[7]);
    unlink(paths[10]);
    int fds = count_fds(0, &epolls);
    if ((fds != baseline_fds || epolls > 1) && count_fds(1, &epolls) >= 0)
        broken("%d descriptors (and %d epoll instances) open after the input, "
               "%d before",
               fds, epolls, baseline_fds);
}

static void cleanup_dir(void)
{
    for (int i = 0; i < NPATH; i++)
        unlink(paths[i]);
    rmdir(paths[9]);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof dir, "/tmp/tdill-fuzz.XXXXXX");
    if (!mkdtemp(dir))
        broken("mkdtemp: %s", strerror(errno));
    atexit(cleanup_dir);
    trace = getenv("FUZZ_TRACE") != NULL;
    /* Socket names; a regular file; a name in a missing directory; one
       that just fits sun_path and one a byte too long. */
    for (int i = 0; i < 4; i++)
        snprintf(paths[i], sizeof paths[i], "%s/s%d", dir, i);
    snprintf(paths[4], sizeof paths[4], "%s/file", dir);
    snprintf(paths[5], sizeof paths[5], "%s/missing/s", dir);
    snprintf(paths[6], sizeof paths[6], "%s/file/s", dir);
    size_t room = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
    for (int i = 7; i < 9; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/", dir);
        size_t n = strlen(paths[i]);
        memset(paths[i] + n, 'x', room - n + (size_t)(i - 7));
        paths[i][room + (size_t)(i - 7)] = 0;
    }
    /* A directory where a socket could be; the raw listener's name. */
    snprintf(paths[9], sizeof paths[9], "%s/sub", dir);
    mkdir(paths[9], 0700);
    snprintf(paths[10], sizeof paths[10], "%s/raw", dir);
    int fd = open(paths[4], O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
    /* The library starts its I/O threads and epoll instance at the first
       wait; start them now. */
    int s[2];
    if (ipc_pair(s) != 0)
        broken("ipc_pair: %s", strerror(errno));
    brecv(s[0], buf, 1, now() + 20);
    hclose(s[0]);
    hclose(s[1]);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wd_cv, &ca);
    pthread_t th;
    if (pthread_create(&th, NULL, wd_main, NULL) != 0)
        broken("watchdog thread");
    pthread_detach(th);
    int epolls;
    baseline_fds = count_fds(0, &epolls);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    begin_input();
    for (int i = 0; i < MAXSTEPS && in.n; i++)
        step(&in);
    end_input();
    return 0;
}
