/* System-call failure injection; see inject.h. */
#include "inject.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

/* The functions' names, in enum inj_fn's order, and where they are. */
static const char *const names[INJ_N] = {
    "accept4",
    "connect",
    "recv",
    "shutdown",
    "listen",
    "fchmod",
    "fchmodat",
    "getsockopt",
    "fcntl",
    "epoll_create1",
    "epoll_ctl",
    "close",
    "mmap",
    "mprotect",
    "pthread_condattr_init",
    "pthread_cond_init",
};
static void *_Atomic real[INJ_N];

static void *next(enum inj_fn fn)
{
    void *f = atomic_load_explicit(&real[fn], memory_order_acquire);
    if (!f) {
        f = dlsym(RTLD_NEXT, names[fn]);
        if (!f)
            abort();
        atomic_store_explicit(&real[fn], f, memory_order_release);
    }
    return f;
}

__attribute__((constructor)) static void inj_init(void)
{
    for (int i = 0; i < INJ_N; i++)
        next((enum inj_fn)i);
}

/* The calling thread's arming. */
static __thread struct {
    int armed;
    enum inj_fn fn;
    enum inj_mode mode;
    int err;
    long sel;
    int fired;
    long calls;
    int fail_after; /* the call in progress must report this */
} t;

/* Blocked calls wait here. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int nblocked;
static unsigned release_gen;

void inj_arm(enum inj_fn fn, enum inj_mode mode, int err, long sel)
{
    t.fn = fn;
    t.mode = mode;
    t.err = err;
    t.sel = sel;
    t.fired = 0;
    t.calls = 0;
    t.fail_after = 0;
    t.armed = 1;
}

int inj_disarm(void)
{
    t.armed = 0;
    return t.fired;
}

long inj_calls(void)
{
    return t.calls;
}

void inj_wait_blocked(void)
{
    pthread_mutex_lock(&mu);
    while (nblocked == 0)
        pthread_cond_wait(&cond, &mu);
    pthread_mutex_unlock(&mu);
}

void inj_release(void)
{
    pthread_mutex_lock(&mu);
    release_gen++;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&mu);
}

static void block_here(void)
{
    pthread_mutex_lock(&mu);
    unsigned gen = release_gen;
    nblocked++;
    pthread_cond_broadcast(&cond);
    while (gen == release_gen)
        pthread_cond_wait(&cond, &mu);
    nblocked--;
    pthread_mutex_unlock(&mu);
}

/* Before the real call: 0 to make it, or the error to fail with. */
static int before(enum inj_fn fn, long sel)
{
    if (!t.armed || t.fn != fn)
        return 0;
    t.calls++;
    if (t.fired || (t.sel != INJ_ANY && t.sel != sel))
        return 0;
    t.fired = 1;
    switch (t.mode) {
    case INJ_FAIL:
        return t.err;
    case INJ_FAIL_AFTER:
        t.fail_after = t.err;
        return 0;
    case INJ_BLOCK:
        block_here();
        return 0;
    }
    return 0;
}

/* After it: the error the call must report instead of its result. */
static int after(void)
{
    int err = t.fail_after;
    t.fail_after = 0;
    return err;
}

/* For the functions that return -1 and set errno. */
#define ERRNO_CALL(fn, sel, type, call)                                       \
    do {                                                                      \
        int _err = before(fn, (long)(sel));                                   \
        if (_err) {                                                           \
            errno = _err;                                                     \
            return -1;                                                        \
        }                                                                     \
        type _rc = call;                                                      \
        if ((_err = after())) {                                               \
            errno = _err;                                                     \
            return -1;                                                        \
        }                                                                     \
        return _rc;                                                           \
    } while (0)

#define REAL(fn, type) ((type)next(fn))

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    typedef int f(int, struct sockaddr *, socklen_t *, int);
    ERRNO_CALL(INJ_ACCEPT4, INJ_ANY, int,
               REAL(INJ_ACCEPT4, f *)(fd, addr, len, flags));
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    typedef int f(int, const struct sockaddr *, socklen_t);
    ERRNO_CALL(INJ_CONNECT, INJ_ANY, int,
               REAL(INJ_CONNECT, f *)(fd, addr, len));
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    typedef ssize_t f(int, void *, size_t, int);
    ERRNO_CALL(INJ_RECV, INJ_ANY, ssize_t,
               REAL(INJ_RECV, f *)(fd, buf, len, flags));
}

/* The library makes its transfers' receives through syscall(2) (they are
   then no cancellation points): INJ_RECV covers SYS_recvfrom there too. */
static long real_syscall(long nr, long a, long b, long c, long d, long e,
                         long f)
{
    typedef long fn(long, ...);
    static fn *_Atomic real_fn;
    fn *r = atomic_load_explicit(&real_fn, memory_order_acquire);
    if (!r) {
        r = (fn *)dlsym(RTLD_NEXT, "syscall");
        if (!r)
            abort();
        atomic_store_explicit(&real_fn, r, memory_order_release);
    }
    return r(nr, a, b, c, d, e, f);
}

long syscall(long nr, ...)
{
    va_list ap;
    long a[6];
    va_start(ap, nr);
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    if (nr == SYS_recvfrom)
        ERRNO_CALL(INJ_RECV, INJ_ANY, long,
                   real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]));
    return real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

int shutdown(int fd, int how)
{
    typedef int f(int, int);
    ERRNO_CALL(INJ_SHUTDOWN, INJ_ANY, int, REAL(INJ_SHUTDOWN, f *)(fd, how));
}

int listen(int fd, int backlog)
{
    typedef int f(int, int);
    ERRNO_CALL(INJ_LISTEN, INJ_ANY, int, REAL(INJ_LISTEN, f *)(fd, backlog));
}

int fchmod(int fd, mode_t mode)
{
    typedef int f(int, mode_t);
    ERRNO_CALL(INJ_FCHMOD, INJ_ANY, int, REAL(INJ_FCHMOD, f *)(fd, mode));
}

int fchmodat(int dir, const char *path, mode_t mode, int flags)
{
    typedef int f(int, const char *, mode_t, int);
    ERRNO_CALL(INJ_FCHMODAT, INJ_ANY, int,
               REAL(INJ_FCHMODAT, f *)(dir, path, mode, flags));
}

int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    typedef int f(int, int, int, void *, socklen_t *);
    ERRNO_CALL(INJ_GETSOCKOPT, name, int,
               REAL(INJ_GETSOCKOPT, f *)(fd, level, name, val, len));
}

/* NB: every fcntl command takes an int, a pointer or nothing; reading the
   argument as a pointer passes any of them on unchanged. */
int fcntl(int fd, int cmd, ...)
{
    typedef int f(int, int, ...);
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    ERRNO_CALL(INJ_FCNTL, cmd, int, REAL(INJ_FCNTL, f *)(fd, cmd, arg));
}

int epoll_create1(int flags)
{
    typedef int f(int);
    ERRNO_CALL(INJ_EPOLL_CREATE1, INJ_ANY, int,
               REAL(INJ_EPOLL_CREATE1, f *)(flags));
}

int epoll_ctl(int ep, int op, int fd, struct epoll_event *ev)
{
    typedef int f(int, int, int, struct epoll_event *);
    ERRNO_CALL(INJ_EPOLL_CTL, op, int,
               REAL(INJ_EPOLL_CTL, f *)(ep, op, fd, ev));
}

int close(int fd)
{
    typedef int f(int);
    ERRNO_CALL(INJ_CLOSE, INJ_ANY, int, REAL(INJ_CLOSE, f *)(fd));
}

int mprotect(void *addr, size_t len, int prot)
{
    typedef int f(void *, size_t, int);
    ERRNO_CALL(INJ_MPROTECT, prot, int,
               REAL(INJ_MPROTECT, f *)(addr, len, prot));
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    typedef void *f(void *, size_t, int, int, int, off_t);
    int err = before(INJ_MMAP, (long)len);
    if (err) {
        errno = err;
        return MAP_FAILED;
    }
    return REAL(INJ_MMAP, f *)(addr, len, prot, flags, fd, off);
}

/* The pthread functions return the error instead of setting errno. */
int pthread_condattr_init(pthread_condattr_t *attr)
{
    typedef int f(pthread_condattr_t *);
    int err = before(INJ_PTHREAD_CONDATTR_INIT, INJ_ANY);
    return err ? err : REAL(INJ_PTHREAD_CONDATTR_INIT, f *)(attr);
}

int pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *attr)
{
    typedef int f(pthread_cond_t *, const pthread_condattr_t *);
    int err = before(INJ_PTHREAD_COND_INIT, INJ_ANY);
    return err ? err : REAL(INJ_PTHREAD_COND_INIT, f *)(c, attr);
}
