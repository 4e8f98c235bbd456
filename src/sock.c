#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "now.h"
#include "poller.h"
#include "sock.h"

#define IOV_BATCH 64
#define SCRATCH 4096
/* The most descriptors the kernel passes in one message (SCM_MAX_FD). */
#define MAX_PASSED_FDS 253
#define PASSED_FD_BYTE 0xCC

/* Adaptive spinning: before parking, a caller retries the syscall up to
   spin[dir] times. A wait that spinning ended widens the budget, and so
   does a park that ended within SPIN_PAYS_NS (a little more spinning would
   have spared the two thread hand-overs); a longer park narrows it. So a
   busy peer costs no thread hop and an idle one costs little CPU.
   NB: a direction whose budget collapsed (say, while its threads were
   starting) must find its way back, or every wait parks, each park takes
   the hand-overs' time, and a ping-pong stays at that pace (measured:
   60-80 us a round trip instead of 8.5-10 us, in about half the runs of
   two fresh threads or processes). Judging parks by their length is not
   enough: when both sides park, each park lasts two hand-overs and looks
   long. So every PROBE_EVERY-th park is preceded by a full SPIN_START
   spin, and a probe that succeeds restores the budget. */
#ifndef SPIN_MIN
#define SPIN_MIN 0
#endif
#ifndef SPIN_START
#define SPIN_START 16
#endif
/* Tries made before the spin starts yielding the CPU between tries.
   NB: 0, measured on 2 cores: with 8, threads that outnumber the cores
   spent their time retrying while the peer they waited for could not run
   (1,000 callers: 30k round trips/s against 56k; 4-8 ping-pong pairs: 58-81k
   against 99-113k), and streams lost 10-30 %; a lone ping-pong pair gains
   about 1.5 us a round trip with 8 (10 against 11.5 us; blocking sockets:
   26 us). */
#ifndef SPIN_YIELD_AFTER
#define SPIN_YIELD_AFTER 0
#endif
#ifndef SPIN_MAX
#define SPIN_MAX 256
#endif
#ifndef SPIN_PAYS_NS
#define SPIN_PAYS_NS 50000
#endif
#ifndef PROBE_EVERY
#define PROBE_EVERY 16
#endif

/******************************************************************************/
/*  Waiters and readiness                                                     */
/******************************************************************************/

static uint32_t wanted_events(const struct td_sock *s)
{
    uint32_t ev = 0;
    for (struct td_waiter *w = s->waiters; w; w = w->next)
        if (w->state == TD_WAITING)
            ev |= w->events;
    return ev;
}

static void on_ready(uint64_t data, uint32_t events);

/* Arms the poller for every waiter still waiting. Needs s->lock. */
static int arm(struct td_sock *s)
{
    uint32_t ev = wanted_events(s);
    if (!ev)
        return 0;
    return td_poller_arm(on_ready, s->fd, (uint64_t)(unsigned)s->handle, ev,
                         &s->epoch);
}

/* Wakes, per direction, the first waiter the events are for; errors and
   hang-ups wake everybody. Needs s->lock. */
static void wake_ready(struct td_sock *s, uint32_t events)
{
    uint32_t todo = events & (EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    if (todo & EPOLLRDHUP)
        todo |= EPOLLIN;
    bool all = events & (EPOLLERR | EPOLLHUP);
    for (struct td_waiter *w = s->waiters; w; w = w->next) {
        if (w->state != TD_WAITING)
            continue;
        if (all || (w->events & todo)) {
            td_waiter_wake(w, TD_READY);
            todo &= ~w->events;
        }
    }
}

/* Called by an I/O thread. The handle may be stale or closing by now: the
   lookup then fails and the event is dropped, as it should be. */
static void on_ready(uint64_t data, uint32_t events)
{
    int h = (int)data;
    void *obj;
    const struct td_vfs *vfs;
    if (td_handle_acquire_any(h, &obj, &vfs))
        return;
    if (vfs == &td_conn_vfs || vfs == &td_listener_vfs) {
        struct td_sock *s = obj;
        pthread_mutex_lock(&s->lock);
        wake_ready(s, events);
        /* The one-shot arming is spent; others may still wait. */
        arm(s);
        pthread_mutex_unlock(&s->lock);
    }
    td_handle_release(h);
}

static void list_remove(struct td_sock *s, struct td_waiter *w)
{
    struct td_waiter **p = &s->waiters;
    while (*p != w)
        p = &(*p)->next;
    *p = w->next;
}

static void list_append(struct td_sock *s, struct td_waiter *w)
{
    struct td_waiter **p = &s->waiters;
    while (*p)
        p = &(*p)->next;
    *p = w;
}

/* Blocks until events may have arrived. events == 0 just sleeps until the
   deadline. Returns 0 (retry the operation), ETIMEDOUT, ECANCELED or the
   poller's error. */
static int park(struct td_sock *s, uint32_t events, int64_t deadline)
{
    struct td_waiter w;
    int rc;
    pthread_mutex_lock(&s->lock);
    if (atomic_load_explicit(&s->closing, memory_order_relaxed)) {
        pthread_mutex_unlock(&s->lock);
        return ECANCELED;
    }
    td_waiter_init(&w, events);
    list_append(s, &w);
    enum td_wait_state st = TD_WAITING;
    rc = arm(s);
    if (rc == 0)
        st = td_waiter_park(&w, &s->lock, deadline);
    list_remove(s, &w);
    pthread_mutex_unlock(&s->lock);
    td_waiter_fini(&w);
    if (rc)
        return rc;
    if (st == TD_CANCELED)
        return ECANCELED;
    return st == TD_READY || !events ? 0 : ETIMEDOUT;
}

/* How one operation's waits went, to tune its direction's spin budget. */
struct spin {
    struct td_spin *dir; /* the direction's; NULL: park at once */
    int tries;           /* retries since the operation began or last parked */
    bool probing;        /* spinning SPIN_START tries to test the budget */
    enum { WAITED_NOT, WAITED_SPUN, WAITED_PARKED } last; /* its last wait */
};

static struct spin spin_on(struct td_spin *dir)
{
    return (struct spin){.dir = dir};
}

static uint16_t widen(uint16_t b)
{
    return b * 2 + 1 < SPIN_MAX ? (uint16_t)(b * 2 + 1) : SPIN_MAX;
}

static uint16_t narrow(uint16_t b)
{
    return b / 2 > SPIN_MIN ? (uint16_t)(b / 2) : SPIN_MIN;
}

/* Should this wait spin once more before it parks? */
static bool spin_again(struct spin *sp)
{
    struct td_spin *d = sp->dir;
    if (sp->tries < (sp->probing ? SPIN_START : d->budget))
        return true;
    if (sp->probing || d->budget >= SPIN_START || ++d->parks % PROBE_EVERY)
        return false;
    sp->probing = true;
    return sp->tries < SPIN_START;
}

/* What an operation does on EAGAIN: retry at once while the budget lasts,
   else park until the poller reports the events. */
static int wait_for(struct td_sock *s, uint32_t events, int64_t deadline,
                    struct spin *sp)
{
    if (deadline != TD_NEVER && (deadline == 0 || td_now_ns() >= deadline))
        return ETIMEDOUT;
    if (atomic_load_explicit(&s->closing, memory_order_relaxed))
        return ECANCELED;
    if (!sp->dir)
        return park(s, events, deadline);
    if (spin_again(sp)) {
        sp->last = WAITED_SPUN;
        /* NB: let the peer have this CPU between tries: when the machine
           is busy, it may be waiting for ours (or be a coroutine of this
           very thread). */
        return td_wait_pause(++sp->tries, SPIN_YIELD_AFTER);
    }
    sp->tries = 0;
    sp->probing = false;
    sp->last = WAITED_PARKED;
    int64_t parked_at = td_now_ns();
    int rc = park(s, events, deadline);
    uint16_t *b = &sp->dir->budget;
    if (rc == 0)
        *b = td_now_ns() - parked_at < SPIN_PAYS_NS ? widen(*b) : narrow(*b);
    return rc;
}

/* At the end of a successful operation: if its last wait ended by spinning,
   spinning pays on this direction now, so the budget widens. */
static void spin_done(const struct spin *sp)
{
    uint16_t *b = &sp->dir->budget;
    if (sp->last != WAITED_SPUN)
        return;
    *b = widen(*b);
    if (sp->probing && *b < SPIN_START)
        *b = SPIN_START;
}

/******************************************************************************/
/*  The object and its two kinds                                              */
/******************************************************************************/

static void sock_cancel(void *obj)
{
    struct td_sock *s = obj;
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->closing, true);
    for (struct td_waiter *w = s->waiters; w; w = w->next)
        td_waiter_wake(w, TD_CANCELED);
    pthread_mutex_unlock(&s->lock);
}

static void sock_destroy(void *obj)
{
    struct td_sock *s = obj;
    td_poller_forget(s->fd, s->epoch);
    close(s->fd);
    pthread_mutex_destroy(&s->lock);
    if (s->heap)
        free(s);
}

static void sock_fork_prepare(void *obj)
{
    pthread_mutex_lock(&((struct td_sock *)obj)->lock);
}

static void sock_fork_parent(void *obj)
{
    pthread_mutex_unlock(&((struct td_sock *)obj)->lock);
}

/* The threads that were blocked on the socket, or using it, stayed in the
   parent: forget them, so the child can use the socket. */
static void sock_fork_child(void *obj)
{
    struct td_sock *s = obj;
    pthread_mutex_unlock(&s->lock);
    s->waiters = NULL;
    atomic_store(&s->busy[TD_IN], false);
    atomic_store(&s->busy[TD_OUT], false);
}

const struct td_vfs td_conn_vfs = {
    .cancel = sock_cancel,
    .destroy = sock_destroy,
    .fork_prepare = sock_fork_prepare,
    .fork_parent = sock_fork_parent,
    .fork_child = sock_fork_child,
};

const struct td_vfs td_listener_vfs = {
    .cancel = sock_cancel,
    .destroy = sock_destroy,
    .fork_prepare = sock_fork_prepare,
    .fork_parent = sock_fork_parent,
    .fork_child = sock_fork_child,
};

int td_sock_make(int fd, void *mem, const struct td_vfs *vfs, int *h)
{
    struct td_sock *s = mem ? mem : malloc(sizeof(*s));
    if (!s)
        return ENOMEM;
    memset(s, 0, sizeof(*s));
    s->fd = fd;
    s->heap = !mem;
    s->spin[TD_IN].budget = s->spin[TD_OUT].budget = SPIN_START;
    pthread_mutex_init(&s->lock, NULL);
    int rc = td_handle_make(vfs, s, &s->handle);
    if (rc) {
        pthread_mutex_destroy(&s->lock);
        if (!mem)
            free(s);
        return rc;
    }
    *h = s->handle;
    return 0;
}

int td_sock_enter(struct td_sock *s, enum td_dir dir)
{
    if (atomic_exchange_explicit(&s->busy[dir], true, memory_order_acquire))
        return EBUSY;
    int rc = s->state[dir];
    if (rc)
        atomic_store_explicit(&s->busy[dir], false, memory_order_release);
    return rc;
}

void td_sock_leave(struct td_sock *s, enum td_dir dir, int rc)
{
    /* A bad argument is refused before anything moves: no harm done. */
    if (rc && rc != EINVAL)
        s->state[dir] = (rc == EPIPE) ? EPIPE : ECONNRESET;
    atomic_store_explicit(&s->busy[dir], false, memory_order_release);
}

/******************************************************************************/
/*  Operations                                                                */
/******************************************************************************/

/* NB: one piece goes through send() and recv(), which spare the kernel
   copying in a msghdr and an iovec array: most calls have one buffer. */
static ssize_t send_iov(int fd, struct iovec *iov, int n)
{
    if (n == 1)
        return send(fd, iov->iov_base, iov->iov_len,
                    MSG_NOSIGNAL | MSG_DONTWAIT);
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    return sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static ssize_t recv_iov(int fd, struct iovec *iov, int n)
{
    if (n == 1)
        return recv(fd, iov->iov_base, iov->iov_len, MSG_DONTWAIT);
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    return recvmsg(fd, &m, MSG_DONTWAIT);
}

int td_sock_sendv(struct td_sock *s, struct td_iocur *c, int64_t deadline)
{
    struct iovec iov[IOV_BATCH];
    struct spin sp = spin_on(&s->spin[TD_OUT]);
    int rc;
    while (c->left) {
        int k = td_iocur_fill(c, iov, IOV_BATCH, NULL, 0);
        ssize_t n = send_iov(s->fd, iov, k);
        if (n >= 0) {
            td_iocur_advance(c, (size_t)n);
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return ECONNRESET; /* any other failure breaks the stream */
        rc = wait_for(s, EPOLLOUT, deadline, &sp);
        if (rc)
            return rc;
    }
    spin_done(&sp);
    return 0;
}

int td_sock_recvv(struct td_sock *s, struct td_iocur *c, int64_t deadline)
{
    struct iovec iov[IOV_BATCH];
    char scratch[SCRATCH];
    struct spin sp = spin_on(&s->spin[TD_IN]);
    int rc;
    while (c->left) {
        int k = td_iocur_fill(c, iov, IOV_BATCH, scratch, SCRATCH);
        ssize_t n = recv_iov(s->fd, iov, k);
        if (n > 0) {
            td_iocur_advance(c, (size_t)n);
            continue;
        }
        if (n == 0)
            return EPIPE;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return ECONNRESET; /* any other failure breaks the stream */
        rc = wait_for(s, EPOLLIN | EPOLLRDHUP, deadline, &sp);
        if (rc)
            return rc;
    }
    spin_done(&sp);
    return 0;
}

int td_sock_drain(struct td_sock *s, int64_t deadline)
{
    char scratch[SCRATCH];
    struct spin sp = spin_on(NULL);
    for (;;) {
        ssize_t n = recv(s->fd, scratch, sizeof(scratch), MSG_DONTWAIT);
        if (n > 0)
            continue;
        if (n == 0)
            return EPIPE;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return ECONNRESET; /* any other failure breaks the stream */
        int rc = wait_for(s, EPOLLIN | EPOLLRDHUP, deadline, &sp);
        if (rc)
            return rc;
    }
}

int td_sock_accept(struct td_sock *s, int64_t deadline, int *fd)
{
    /* Several threads may accept at once, so the budget is not kept from
       one call to the next (it would be shared state): each call starts
       afresh. */
    struct td_spin budget = {.budget = SPIN_START};
    struct spin sp = spin_on(&budget);
    for (;;) {
        int a = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (a >= 0) {
            *fd = a;
            return 0;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == ENOBUFS)
            return ENOMEM;
        if (errno != EAGAIN)
            return errno;
        int rc = wait_for(s, EPOLLIN, deadline, &sp);
        if (rc)
            return rc;
    }
}

/* NB: a non-blocking AF_UNIX connect to a listener whose backlog is full
   fails with EAGAIN and no epoll event says when to retry, so we retry on a
   timer, backing off from 20 us to 10 ms. The sleep is an ordinary park,
   so closing the handle still cancels it. */
static int connect_backoff(struct td_sock *s, int64_t deadline, int64_t *pause)
{
    int64_t now = td_now_ns();
    if (deadline != TD_NEVER && (deadline == 0 || now >= deadline))
        return ETIMEDOUT;
    *pause = *pause ? *pause * 2 : 20000;
    if (*pause > 10000000)
        *pause = 10000000;
    int64_t until = now + *pause;
    if (deadline != TD_NEVER && deadline < until)
        until = deadline;
    return park(s, 0, until);
}

int td_sock_connect(struct td_sock *s, const struct sockaddr *addr,
                    socklen_t len, int64_t deadline)
{
    int64_t pause = 0;
    for (;;) {
        if (connect(s->fd, addr, len) == 0)
            return 0;
        int rc = errno;
        if (rc == EINTR)
            continue;
        if (rc == EISCONN)
            return 0;
        if (rc != EAGAIN)
            return rc == ENOBUFS ? ENOMEM : rc;
        rc = connect_backoff(s, deadline, &pause);
        if (rc)
            return rc;
    }
}

int td_sock_sendfd(struct td_sock *s, int fd, int64_t deadline)
{
    unsigned char byte = PASSED_FD_BYTE;
    struct iovec iov = {&byte, 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof(ctl));
    struct msghdr m = {.msg_iov = &iov,
                       .msg_iovlen = 1,
                       .msg_control = ctl.buf,
                       .msg_controllen = sizeof(ctl)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    for (;;) {
        if (sendmsg(s->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT) == 1)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno == EBADF)
            return EINVAL; /* fd was closed under us; nothing was sent */
        if (errno != EAGAIN)
            return ECONNRESET; /* any other failure breaks the stream */
        struct spin sp = spin_on(NULL);
        int rc = wait_for(s, EPOLLOUT, deadline, &sp);
        if (rc)
            return rc;
    }
}

/* Keeps the first descriptor the message carried and closes every other:
   a hostile peer may send many, in several control messages. */
static int take_passed_fds(struct msghdr *m, int *out)
{
    int first = -1;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (first < 0)
                first = fd;
            else
                close(fd);
        }
    }
    if (first >= 0) {
        *out = first;
        return 0;
    }
    /* NB: with no descriptor free, the kernel drops the passed one and says
       only MSG_CTRUNC; the byte did carry a descriptor, so not EPROTO. */
    return (m->msg_flags & MSG_CTRUNC) ? EMFILE : EPROTO;
}

int td_sock_recvfd(struct td_sock *s, int64_t deadline, int *fd)
{
    unsigned char byte;
    struct iovec iov = {&byte, 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * MAX_PASSED_FDS)];
    } ctl;
    for (;;) {
        struct msghdr m = {.msg_iov = &iov,
                           .msg_iovlen = 1,
                           .msg_control = ctl.buf,
                           .msg_controllen = sizeof(ctl)};
        ssize_t n = recvmsg(s->fd, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n == 1)
            return take_passed_fds(&m, fd);
        if (n == 0)
            return EPIPE;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return ECONNRESET; /* any other failure breaks the stream */
        struct spin sp = spin_on(NULL);
        int rc = wait_for(s, EPOLLIN | EPOLLRDHUP, deadline, &sp);
        if (rc)
            return rc;
    }
}
