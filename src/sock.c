#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "now.h"
#include "poller.h"
#include "sock.h"

/*
 * The socket object (see sock.h): its waiters and their wake-ups by the
 * poller, the one retry loop, and the byte-stream operations on it.
 */

#define IOV_BATCH 64
#define SCRATCH 4096

/******************************************************************************/
/*  Waiters and readiness                                                     */
/******************************************************************************/

static void on_ready(uint64_t data, uint32_t events);

/* Arms the poller for extra and for every waiter still waiting. Needs
   s->lock. */
static int arm(struct td_sock *s, uint32_t extra)
{
    uint32_t ev = extra;
    for (struct td_waiter *w = s->waiters.first; w; w = w->next)
        if (w->state == TD_WAITING)
            ev |= w->events;
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
    for (struct td_waiter *w = s->waiters.first; w; w = w->next) {
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
    if (vfs->sock) {
        struct td_sock *s = vfs->sock(obj);
        pthread_mutex_lock(&s->lock);
        wake_ready(s, events);
        /* The one-shot arming is spent; others may still wait. */
        arm(s, 0);
        pthread_mutex_unlock(&s->lock);
    }
    td_handle_release(h);
}

/* Blocks until events may have arrived. events == 0 just sleeps until the
   deadline. Returns 0 (retry the operation), ETIMEDOUT, ECANCELED or the
   poller's error. */
static int park(struct td_sock *s, uint32_t events, int64_t deadline)
{
    enum td_wait_state st = TD_WAITING;
    pthread_mutex_lock(&s->lock);
    int rc = atomic_load_explicit(&s->closing, memory_order_relaxed)
                 ? ECANCELED
                 : arm(s, events);
    if (rc == 0)
        st = td_wait_in(&s->waiters, &s->lock, events, deadline, true);
    pthread_mutex_unlock(&s->lock);
    if (rc)
        return rc;
    if (st == TD_CANCELED)
        return ECANCELED;
    return st == TD_READY || !events ? 0 : ETIMEDOUT;
}

/******************************************************************************/
/*  The retry loop                                                            */
/******************************************************************************/

/* What an operation does on EAGAIN: retry at once while the spin policy
   says so, else park until the poller reports the events. */
static int wait_for(struct td_sock *s, uint32_t events, int64_t deadline,
                    struct td_spinner *sp)
{
    if (td_expired(deadline))
        return ETIMEDOUT;
    if (atomic_load_explicit(&s->closing, memory_order_relaxed))
        return ECANCELED;
    /* NB: the pause lets the peer have this CPU between tries: when the
       machine is busy, it may be waiting for ours (or be a coroutine of
       this very thread). */
    if (td_spin_again(sp))
        return td_wait_pause();
    td_spin_parking(sp);
    int rc = park(s, events, deadline);
    td_spin_parked(sp, rc == 0);
    return rc;
}

/* The loop, entered with the outcome rc of a try already made (TD_AGAIN:
   none yet, or try again at once). */
static int run_after(struct td_sock *s, td_try_fn *try, void *arg,
                     uint32_t events, struct td_spin *spin, int64_t deadline,
                     int rc)
{
    struct td_spinner sp = td_spinner(spin);
    for (;;) {
        while (rc == TD_AGAIN)
            rc = try(s->fd, arg);
        if (rc != EAGAIN) {
            if (rc == 0)
                td_spin_done(&sp);
            return rc;
        }
        rc = wait_for(s, events, deadline, &sp);
        if (rc)
            return rc;
        rc = TD_AGAIN;
    }
}

int td_sock_run(struct td_sock *s, td_try_fn *try, void *arg,
                uint32_t events, struct td_spin *spin, int64_t deadline)
{
    return run_after(s, try, arg, events, spin, deadline, TD_AGAIN);
}

/******************************************************************************/
/*  The object and its two kinds                                              */
/******************************************************************************/

static void sock_cancel(void *obj)
{
    struct td_sock *s = obj;
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->closing, true);
    td_wake_all(&s->waiters, TD_CANCELED);
    pthread_mutex_unlock(&s->lock);
}

static void sock_destroy(void *obj)
{
    struct td_sock *s = obj;
    td_poller_forget(s->fd, s->epoch);
    if (!s->borrowed)
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
static unsigned sock_fork_child(void *obj)
{
    struct td_sock *s = obj;
    pthread_mutex_unlock(&s->lock);
    s->waiters.first = NULL;
    atomic_store(&s->busy[TD_IN], false);
    atomic_store(&s->busy[TD_OUT], false);
    return 0;
}

/* After sock_cancel, as the withdrawal of a move. */
static void sock_rehome(void *obj, int h)
{
    struct td_sock *s = obj;
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->closing, false);
    s->handle = h;
    pthread_mutex_unlock(&s->lock);
}

static struct td_sock *sock_self(void *obj)
{
    return obj;
}

/* The kinds differ only in which calls accept them: one object each (the
   kind is the object's address), one set of operations. A borrowed socket
   cannot move: fdwait.c finds it by its handle. */
#define SOCK_OPS(move, rehome_fn)                                             \
    {                                                                         \
        .cancel = sock_cancel, .destroy = sock_destroy,                       \
        .fork_prepare = sock_fork_prepare, .fork_parent = sock_fork_parent,   \
        .fork_child = sock_fork_child, .withdraw = move,                      \
        .rehome = rehome_fn, .sock = sock_self,                               \
    }
const struct td_vfs td_conn_vfs = SOCK_OPS(sock_cancel, sock_rehome);
const struct td_vfs td_listener_vfs = SOCK_OPS(sock_cancel, sock_rehome);
const struct td_vfs td_borrowed_vfs = SOCK_OPS(NULL, NULL);

int td_sock_make(int fd, void *mem, const struct td_vfs *vfs, int *h)
{
    struct td_sock *s = mem ? mem : malloc(sizeof(*s));
    if (!s)
        return ENOMEM;
    memset(s, 0, sizeof(*s));
    s->fd = fd;
    s->heap = !mem;
    s->borrowed = vfs == &td_borrowed_vfs;
    td_spin_init(&s->spin[TD_IN]);
    td_spin_init(&s->spin[TD_OUT]);
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

void td_sock_give_back(struct td_sock *s, enum td_dir dir, int rc)
{
    /* A bad argument is refused before anything moves: no harm done. */
    if (rc && rc != EINVAL && !s->borrowed)
        s->state[dir] = (rc == EPIPE) ? EPIPE : ECONNRESET;
    atomic_store_explicit(&s->busy[dir], false, memory_order_release);
}

/* A call cancelled mid-transfer leaves the direction as a failed one. */
static void undo_enter(void *obj, int dir)
{
    td_sock_give_back(obj, (enum td_dir)dir, ECANCELED);
}

int td_sock_claim(struct td_sock *s, enum td_dir dir)
{
    if (atomic_exchange_explicit(&s->busy[dir], true, memory_order_acquire))
        return EBUSY;
    int rc = s->state[dir];
    if (rc)
        atomic_store_explicit(&s->busy[dir], false, memory_order_release);
    return rc;
}

int td_sock_enter(struct td_sock *s, enum td_dir dir)
{
    int rc = td_sock_claim(s, dir);
    if (rc == 0)
        td_call_hold(undo_enter, s, dir);
    return rc;
}

void td_sock_leave(struct td_sock *s, enum td_dir dir, int rc)
{
    td_call_drop();
    td_sock_give_back(s, dir, rc);
}

void td_sock_hold(struct td_sock *s, enum td_dir dir)
{
    td_call_hold(undo_enter, s, dir);
}

/******************************************************************************/
/*  Operations: one try each, run by the retry loop                           */
/******************************************************************************/

/* NB: through syscall(2), not the C library's send and recv: those are
   cancellation points, and a transfer that completes at once runs with
   the program's cancel state (bsock.c). ThreadSanitizer learns from the C
   library's that a socket orders memory between threads; its builds keep
   them, with cancellation off in every transfer (td_call_outside). */
#ifdef __SANITIZE_THREAD__
#define SYS_SEND(fd, buf, len, fl) send(fd, buf, len, fl)
#define SYS_RECV(fd, buf, len, fl) recv(fd, buf, len, fl)
#define SYS_SENDMSG(fd, m, fl) sendmsg(fd, m, fl)
#define SYS_RECVMSG(fd, m, fl) recvmsg(fd, m, fl)
#else
#define SYS_SEND(fd, buf, len, fl) syscall(SYS_sendto, fd, buf, len, fl, 0, 0)
#define SYS_RECV(fd, buf, len, fl) syscall(SYS_recvfrom, fd, buf, len, fl, 0, 0)
#define SYS_SENDMSG(fd, m, fl) syscall(SYS_sendmsg, fd, m, fl)
#define SYS_RECVMSG(fd, m, fl) syscall(SYS_recvmsg, fd, m, fl)
#endif

/* NB: the rest of one buffer goes through sendto and recvfrom, which
   spare the kernel copying in a msghdr and an iovec array (and us making
   them): most calls have one buffer. */
static ssize_t send_pieces(int fd, const struct td_iocur *c)
{
    struct iovec iov[IOV_BATCH];
    struct msghdr m = {.msg_iov = iov};
    m.msg_iovlen = (size_t)td_iocur_fill(c, iov, IOV_BATCH, NULL, 0);
    return SYS_SENDMSG(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* NB: not inlined into recv_iov, whose one-buffer path would otherwise
   pay for the pages of this frame. */
__attribute__((noinline)) static ssize_t recv_pieces(int fd,
                                                     const struct td_iocur *c)
{
    struct iovec iov[IOV_BATCH];
    char scratch[SCRATCH];
    struct msghdr m = {.msg_iov = iov};
    m.msg_iovlen =
        (size_t)td_iocur_fill(c, iov, IOV_BATCH, scratch, SCRATCH);
    return SYS_RECVMSG(fd, &m, MSG_DONTWAIT);
}

static ssize_t send_iov(int fd, const struct td_iocur *c)
{
    void *one = td_iocur_whole(c);
    if (one)
        return SYS_SEND(fd, one, c->left, MSG_NOSIGNAL | MSG_DONTWAIT);
    return send_pieces(fd, c);
}

static ssize_t recv_iov(int fd, const struct td_iocur *c)
{
    void *one = td_iocur_whole(c);
    if (one)
        return SYS_RECV(fd, one, c->left, MSG_DONTWAIT);
    return recv_pieces(fd, c);
}

static int try_send(int fd, void *arg)
{
    struct td_iocur *c = arg;
    if (!c->left)
        return 0;
    ssize_t n = send_iov(fd, c);
    if (n < 0)
        return td_stream_errno(errno);
    td_iocur_advance(c, (size_t)n);
    return c->left ? TD_AGAIN : 0;
}

static int try_recv(int fd, void *arg)
{
    struct td_iocur *c = arg;
    if (!c->left)
        return 0;
    ssize_t n = recv_iov(fd, c);
    if (n < 0)
        return td_stream_errno(errno);
    if (n == 0)
        return EPIPE;
    td_iocur_advance(c, (size_t)n);
    return c->left ? TD_AGAIN : 0;
}

/* Drops what arrives until the peer's EOF, which ends it with EPIPE. */
static int try_drain(int fd, void *arg)
{
    (void)arg;
    char scratch[SCRATCH];
    ssize_t n = SYS_RECV(fd, scratch, sizeof(scratch), MSG_DONTWAIT);
    if (n < 0)
        return td_stream_errno(errno);
    return n ? TD_AGAIN : EPIPE;
}

static int try_accept(int fd, void *arg)
{
    int a = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (a >= 0) {
        *(int *)arg = a;
        return 0;
    }
    if (errno == EINTR || errno == ECONNABORTED)
        return TD_AGAIN;
    return errno == ENOBUFS ? ENOMEM : errno;
}

int td_sock_try(struct td_sock *s, enum td_dir dir, struct td_iocur *c)
{
    return dir == TD_OUT ? try_send(s->fd, c) : try_recv(s->fd, c);
}

int td_sock_transfer(struct td_sock *s, enum td_dir dir, struct td_iocur *c,
                     int64_t deadline, int tried)
{
    if (dir == TD_OUT)
        return run_after(s, try_send, c, EPOLLOUT, &s->spin[TD_OUT],
                         deadline, tried);
    return run_after(s, try_recv, c, EPOLLIN | EPOLLRDHUP, &s->spin[TD_IN],
                     deadline, tried);
}

/* Never spins: see notes/decisions.md. */
int td_sock_drain(struct td_sock *s, int64_t deadline)
{
    return td_sock_run(s, try_drain, NULL, EPOLLIN | EPOLLRDHUP, NULL,
                       deadline);
}

/* Several threads may accept at once, so the budget is not kept from one
   call to the next (it would be shared state): each call starts afresh. */
int td_sock_accept(struct td_sock *s, int64_t deadline, int *fd)
{
    struct td_spin fresh;
    td_spin_init(&fresh);
    return td_sock_run(s, try_accept, fd, EPOLLIN, &fresh, deadline);
}

/* NB: a non-blocking AF_UNIX connect to a listener whose backlog is full
   fails with EAGAIN and no epoll event says when to retry, so we retry on a
   timer, backing off from 20 us to 10 ms. The sleep is an ordinary park,
   so closing the handle still cancels it. */
static int connect_backoff(struct td_sock *s, int64_t deadline, int64_t *pause)
{
    if (td_expired(deadline))
        return ETIMEDOUT;
    *pause = *pause ? *pause * 2 : 20000;
    if (*pause > 10000000)
        *pause = 10000000;
    int64_t until = td_now_ns() + *pause;
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
