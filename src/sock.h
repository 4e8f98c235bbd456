#ifndef TD_SOCK_H
#define TD_SOCK_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "handle.h"
#include "iolist.h"
#include "spin.h"
#include "wait.h"

/*
 * A non-blocking socket with its blocked callers: the engine under every
 * protocol. Operations run in the calling thread; only when the kernel says
 * EAGAIN does the caller park, and an I/O thread wakes it when epoll reports
 * readiness. The caller then performs the I/O itself, so a caller that timed
 * out or was cancelled never has bytes moved on its behalf.
 */

enum td_dir { TD_IN = 0, TD_OUT = 1 };

struct td_sock {
    int fd;
    /* The one sender and the one receiver of a connection. state[dir] is
       the error that direction now fails with (0: usable) and belongs to
       whoever holds busy[dir]; so does spin[dir]. NB: next to fd, so that
       a transfer that completes at once finds all it reads in one cache
       line. */
    _Atomic bool busy[2];
    bool borrowed; /* the program's descriptor (fdin): never closed, and a
                      failed wait does not break it */
    int state[2];
    struct td_spin spin[2];
    int handle; /* reported by the poller; never a pointer */
    bool heap;  /* ours to free on close (not _mem storage) */
    /* lock protects waiters and epoch. */
    pthread_mutex_t lock;
    struct td_waitlist waiters;
    unsigned epoch;
    _Atomic bool closing;
};

/* The kinds of socket object. Objects of every kind are td_socks; a
   borrowed one waits on a descriptor of the program's (fdwait.c). */
extern const struct td_vfs td_conn_vfs;
extern const struct td_vfs td_listener_vfs;
extern const struct td_vfs td_borrowed_vfs;

/* Takes ownership of fd and registers the object; returns 0 or an errno
   value (fd then stays open and is the caller's). mem == NULL: allocate. */
int td_sock_make(int fd, void *mem, const struct td_vfs *vfs, int *h);

/* Claims the sending or receiving side of a connection: EBUSY if another
   thread has it, else the direction's state (EPIPE, ECONNRESET) or 0. A
   call cancelled while it holds the side gives it back as failed. */
int td_sock_enter(struct td_sock *s, enum td_dir dir);

/* Gives the side back; an operation that failed with rc kills it. */
void td_sock_leave(struct td_sock *s, enum td_dir dir, int rc);

/* The same outside a call (bsock.c), where nothing is declared: claims
   the side, and gives it back. td_sock_hold declares a side so claimed
   once the call has begun, as td_sock_enter does. */
int td_sock_claim(struct td_sock *s, enum td_dir dir);
void td_sock_give_back(struct td_sock *s, enum td_dir dir, int rc);
void td_sock_hold(struct td_sock *s, enum td_dir dir);

/* One try of a transfer, without waiting: 0 when the cursor's bytes have
   all moved, TD_AGAIN or EAGAIN when more must (td_sock_transfer), or
   the error it fails with. */
int td_sock_try(struct td_sock *s, enum td_dir dir, struct td_iocur *c);

/*
 * The retry loop every operation runs. A try makes one system call and
 * returns 0 when the operation is done, TD_AGAIN to be called again at once
 * (interrupted, or progress made and more to do), EAGAIN to wait for
 * events, or the errno value the operation fails with.
 */
#define TD_AGAIN (-1)
typedef int td_try_fn(int fd, void *arg);

/* Runs try until it is done or fails; on EAGAIN spins on spin's budget
   (NULL: never) and then parks until the poller reports events or the
   deadline (ns) passes. Returns 0, the try's error, ETIMEDOUT, ECANCELED
   (the handle is being closed) or the poller's error. */
int td_sock_run(struct td_sock *s, td_try_fn *try, void *arg,
                uint32_t events, struct td_spin *spin, int64_t deadline);

/* A failed transfer's errno as a try's result: EINTR: again, EAGAIN: wait,
   anything else breaks the stream. */
static inline int td_stream_errno(int err)
{
    if (err == EINTR)
        return TD_AGAIN;
    return err == EAGAIN ? EAGAIN : ECONNRESET;
}

/* The operations. Each returns 0 or an errno value; deadlines in ns. */
/* Sends or receives the cursor's bytes. tried: what a td_sock_try just
   made returned (an EAGAIN then waits before the next try), or TD_AGAIN
   if none was made. */
int td_sock_transfer(struct td_sock *s, enum td_dir dir, struct td_iocur *c,
                     int64_t deadline, int tried);
int td_sock_drain(struct td_sock *s, int64_t deadline); /* EPIPE at EOF */
int td_sock_accept(struct td_sock *s, int64_t deadline, int *fd);
int td_sock_connect(struct td_sock *s, const struct sockaddr *addr,
                    socklen_t len, int64_t deadline);

#endif
