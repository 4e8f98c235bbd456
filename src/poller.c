#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "api.h"
#include "poller.h"

/*
 * The poller (see poller.h): one epoll instance per process and a fixed
 * pool of I/O threads that turn its events into ready callbacks. Started
 * by the first wait, rebuilt in a forked child.
 */

#define DEFAULT_THREADS 2
#define MAX_THREADS 64
#define BATCH 64

/* start_mu serialises starting the poller; the rest is read without it. */
static pthread_mutex_t start_mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int epfd = -1;
static td_ready_fn *ready_fn;
/* Which epoll instance is current: advanced in a forked child. Starts at 1
   so that a zeroed object counts as registered nowhere. */
static _Atomic unsigned cur_epoch = 1;

static void *io_thread(void *arg)
{
    int ep = (int)(intptr_t)arg;
    struct epoll_event evs[BATCH];
    for (;;) {
        int n = epoll_wait(ep, evs, BATCH, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        for (int i = 0; i < n; i++)
            ready_fn(evs[i].data.u64, evs[i].events);
    }
    return NULL;
}

static int thread_count_wanted(void)
{
    const char *env = getenv("TDILL_IO_THREADS");
    if (env) {
        char *end;
        long n = strtol(env, &end, 10);
        if (*env && !*end && n >= 1 && n <= MAX_THREADS)
            return (int)n;
    }
    return DEFAULT_THREADS;
}

/* I/O threads take no signals: the program's handlers belong in its own
   threads, and its signal masks should not depend on when we started. */
static int spawn_threads(int ep)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    int want = thread_count_wanted(), started = 0, rc = 0;
    for (int i = 0; i < want; i++) {
        pthread_t t;
        rc = pthread_create(&t, &attr, io_thread, (void *)(intptr_t)ep);
        if (rc)
            break;
        started++;
    }
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    /* Fewer threads than asked for still work; none does not. */
    return started > 0 ? 0 : (rc == EAGAIN ? ENOMEM : rc);
}

static int start(td_ready_fn *fn, int *out)
{
    int rc = 0;
    pthread_mutex_lock(&start_mu);
    int ep = atomic_load(&epfd);
    if (ep < 0) {
        ep = epoll_create1(EPOLL_CLOEXEC);
        if (ep < 0) {
            /* NB: this reaches bsend, brecv, ...: out of descriptors is,
               for them, out of the resources to wait. */
            rc = (errno == EMFILE || errno == ENFILE) ? ENOMEM : errno;
            goto out;
        }
        ready_fn = fn;
        td_stay_resident((const void *)io_thread);
        rc = spawn_threads(ep);
        if (rc) {
            close(ep);
            goto out;
        }
        atomic_store(&epfd, ep);
    }
    *out = ep;
out:
    pthread_mutex_unlock(&start_mu);
    return rc;
}

/* NB: dladdr names the object the code is in: libtdill.so, or a plugin
   that links the library statically. */
void td_stay_resident(const void *code)
{
    Dl_info info;
    if (dladdr(code, &info) && info.dli_fname)
        dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
}

TD_EXPORT_ALIAS(td_stay_resident, tdill__stay_resident);

int td_poller_arm(td_ready_fn *fn, int fd, uint64_t data, uint32_t events,
                  unsigned *epoch)
{
    int ep = atomic_load_explicit(&epfd, memory_order_acquire);
    if (ep < 0) {
        int rc = start(fn, &ep);
        if (rc)
            return rc;
    }
    unsigned now_epoch =
        atomic_load_explicit(&cur_epoch, memory_order_relaxed);
    struct epoll_event ev = {.events = events | EPOLLONESHOT,
                             .data.u64 = data};
    /* NB: re-arming with MOD reports readiness that already exists, so an
       event that came between the caller's EAGAIN and this call is kept. */
    if (*epoch == now_epoch) {
        if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) == 0)
            return 0;
        if (errno != ENOENT)
            return errno;
    }
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0) {
        *epoch = now_epoch;
        return 0;
    }
    if (errno == EEXIST && epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) == 0) {
        *epoch = now_epoch;
        return 0;
    }
    return errno == ENOSPC ? ENOMEM : errno;
}

void td_poller_forget(int fd, unsigned epoch)
{
    int ep = atomic_load_explicit(&epfd, memory_order_acquire);
    /* NB: closing fd alone would not do: a dup or a forked child's copy of
       the descriptor would keep it in the interest list. */
    if (ep >= 0 && epoch == atomic_load(&cur_epoch))
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
}

void td_poller_fork_prepare(void)
{
    pthread_mutex_lock(&start_mu);
}

void td_poller_fork_parent(void)
{
    pthread_mutex_unlock(&start_mu);
}

/* The child shares the parent's epoll instance through the inherited fd:
   using it would change the parent's interest list and steal its events.
   Drop it; the child starts its own instance and threads when it first
   waits, and re-registers inherited sockets then (their epoch is old). */
void td_poller_fork_child(void)
{
    int ep = atomic_exchange(&epfd, -1);
    if (ep >= 0)
        close(ep);
    atomic_fetch_add(&cur_epoch, 1);
    pthread_mutex_unlock(&start_mu);
}
