#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "api.h"
#include "now.h"
#include "sock.h"
#include "tdill.h"

/*
 * fdin, fdout, fdclean: waiting, from any thread or coroutine and with a
 * deadline, until a descriptor of the program's is readable or writable.
 * The first wait on a descriptor gives it a borrowed td_sock (never closed
 * by the library), found again through a table indexed by descriptor
 * number; fdclean forgets it, before the program closes the descriptor.
 * As for sockets, one thread waits per direction (EBUSY for a second).
 */

/* table_mu protects the table: handles[fd] is fd's handle + 1, or 0. */
static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static int *handles;
static size_t nhandles;

/* Makes room for fd in the table. Needs table_mu. */
static int table_reserve(int fd)
{
    if ((size_t)fd < nhandles)
        return 0;
    size_t n = nhandles ? nhandles : 64;
    while (n <= (size_t)fd)
        n *= 2;
    int *t = realloc(handles, n * sizeof(*t));
    if (!t)
        return ENOMEM;
    for (size_t i = nhandles; i < n; i++)
        t[i] = 0;
    handles = t;
    nhandles = n;
    return 0;
}

/* fd's handle, made at the first wait. */
static int handle_of(int fd, int *h)
{
    pthread_mutex_lock(&table_mu);
    int rc = table_reserve(fd);
    if (rc == 0 && handles[fd] == 0) {
        rc = td_sock_make(fd, NULL, &td_borrowed_vfs, h);
        if (rc == 0)
            handles[fd] = *h + 1;
    }
    if (rc == 0)
        *h = handles[fd] - 1;
    pthread_mutex_unlock(&table_mu);
    return rc;
}

/* One look at the descriptor: ready (an error or hang-up counts, as in
   libdill: the program's next read or write tells which) or not yet. */
static int try_poll(int fd, void *arg)
{
    struct pollfd p = {.fd = fd, .events = *(short *)arg};
    int n = poll(&p, 1, 0);
    if (n < 0)
        return errno == EINTR ? TD_AGAIN : errno;
    if (n && (p.revents & POLLNVAL))
        return EBADF;
    return n ? 0 : EAGAIN;
}

static int fdwait(int fd, enum td_dir dir, int64_t deadline)
{
    if (fd < 0 || fcntl(fd, F_GETFD) < 0)
        return td_fail(EBADF);
    int h, rc = handle_of(fd, &h);
    if (rc)
        return td_fail(rc);
    struct td_sock *s;
    rc = td_handle_begin(h, &td_borrowed_vfs, (void **)&s);
    if (rc)
        return td_fail(rc);
    rc = td_sock_enter(s, dir);
    if (rc == 0) {
        short events = dir == TD_IN ? POLLIN : POLLOUT;
        rc = td_sock_run(s, try_poll, &events,
                         dir == TD_IN ? EPOLLIN | EPOLLRDHUP : EPOLLOUT, NULL,
                         td_deadline_ns(deadline));
        td_sock_leave(s, dir, rc);
    }
    td_handle_end(h);
    return rc ? td_fail(rc) : 0;
}

TDILL_EXPORT int tdill_fdin(int fd, int64_t deadline)
{
    return fdwait(fd, TD_IN, deadline);
}

TDILL_EXPORT int tdill_fdout(int fd, int64_t deadline)
{
    return fdwait(fd, TD_OUT, deadline);
}

/* Calls waiting on fd fail with ECANCELED; the descriptor stays open. */
TDILL_EXPORT int tdill_fdclean(int fd)
{
    if (fd < 0)
        return td_fail(EBADF);
    int h = 0;
    pthread_mutex_lock(&table_mu);
    if ((size_t)fd < nhandles) {
        h = handles[fd];
        handles[fd] = 0;
    }
    pthread_mutex_unlock(&table_mu);
    if (h) {
        td_call_begin(0);
        td_handle_close(h - 1);
        td_call_end();
    }
    return 0;
}
