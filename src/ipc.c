#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api.h"
#include "now.h"
#include "sock.h"
#include "tdill.h"
#include "wait.h"

/*
 * The IPC protocol: UNIX-domain stream sockets named by filesystem paths.
 * Listener and connection objects are td_socks; this file makes them and
 * speaks the protocol's few extra verbs (done, close, peer credentials);
 * descriptor passing is fdpass.c's.
 */

_Static_assert(sizeof(struct td_sock) <= sizeof(struct tdill_ipc_storage),
               "struct tdill_ipc_storage too small");
_Static_assert(sizeof(struct td_sock) <=
                   sizeof(struct tdill_ipc_listener_storage),
               "struct tdill_ipc_listener_storage too small");
_Static_assert(2 * sizeof(struct tdill_ipc_storage) <=
                   sizeof(struct tdill_ipc_pair_storage),
               "struct tdill_ipc_pair_storage too small");

static int make_addr(const char *addr, struct sockaddr_un *sa, socklen_t *len)
{
    if (!addr)
        return EINVAL;
    if (!*addr)
        return ENOENT;
    size_t n = strlen(addr);
    if (n >= sizeof(sa->sun_path))
        return ENAMETOOLONG;
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, addr, n + 1);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

/******************************************************************************/
/*  Listening                                                                 */
/******************************************************************************/

/* Gives the socket file exactly `mode`. Before bind, fchmod narrows the
   socket inode, so the file is born no wider than asked (the umask may cut
   it further); fchmodat then restores what the umask cut. The process-wide
   umask is never touched: other threads may depend on it.
   NB: AT_SYMLINK_NOFOLLOW: if the path was swapped for a symlink between
   bind and here, a plain chmod would change whatever it points to. */
static int bind_with_mode(int fd, const struct sockaddr_un *sa, socklen_t len,
                          const mode_t *mode)
{
    if (mode && fchmod(fd, *mode) < 0)
        return errno;
    if (bind(fd, (const struct sockaddr *)sa, len) < 0)
        return errno;
    if (mode && fchmodat(AT_FDCWD, sa->sun_path, *mode, AT_SYMLINK_NOFOLLOW)) {
        int err = errno == EOPNOTSUPP ? EACCES : errno;
        unlink(sa->sun_path);
        return err;
    }
    return 0;
}

static int listen_new(const char *addr, int backlog, void *mem,
                      const mode_t *mode, int *h)
{
    struct sockaddr_un sa;
    socklen_t len;
    int rc = make_addr(addr, &sa, &len);
    if (rc)
        return rc;
    if (backlog < 0 || (mode && (*mode & ~(mode_t)07777)))
        return EINVAL;
    /* 1. Make the socket. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    /* 2. Give it its name; nothing to undo in the filesystem if this fails. */
    rc = bind_with_mode(fd, &sa, len, mode);
    if (rc)
        goto error1;
    /* 3. Listen and wrap it; from here on, a failure removes the file we
       created, so that a failed call changes nothing. */
    if (listen(fd, backlog) < 0) {
        rc = errno;
        goto error2;
    }
    rc = td_sock_make(fd, mem, &td_listener_vfs, h);
    if (rc)
        goto error2;
    return 0;
error2:
    unlink(sa.sun_path);
error1:
    close(fd);
    return rc;
}

/* Not a cancellation point, but close() on its error paths is one. */
static int listen_common(const char *addr, int backlog, void *mem,
                         const mode_t *mode)
{
    int h;
    td_call_begin(0);
    int rc = listen_new(addr, backlog, mem, mode, &h);
    td_call_end();
    return rc ? td_fail(rc) : h;
}

TDILL_EXPORT int tdill_ipc_listen(const char *addr, int backlog)
{
    return listen_common(addr, backlog, NULL, NULL);
}

TDILL_EXPORT int tdill_ipc_listen_mem(const char *addr, int backlog,
                                      struct tdill_ipc_listener_storage *mem)
{
    if (!mem)
        return td_fail(EINVAL);
    return listen_common(addr, backlog, mem, NULL);
}

TDILL_EXPORT int tdill_ipc_listen_mode(const char *addr, int backlog,
                                       mode_t mode)
{
    return listen_common(addr, backlog, NULL, &mode);
}

/* Accepts the next connection on s and wraps it. */
static int accept_new(struct td_sock *s, void *mem, int64_t deadline, int *h)
{
    int fd;
    int rc = td_sock_accept(s, td_deadline_ns(deadline), &fd);
    if (rc)
        return rc;
    rc = td_sock_make(fd, mem, &td_conn_vfs, h);
    if (rc)
        close(fd);
    return rc;
}

/* want_mem: the caller is ipc_accept_mem, whose mem must not be NULL. */
static int accept_common(int ls, bool want_mem, void *mem, int64_t deadline)
{
    struct td_sock *s;
    int h, rc = td_handle_begin(ls, &td_listener_vfs, (void **)&s);
    if (rc)
        return td_fail(rc);
    rc = want_mem && !mem ? EINVAL : accept_new(s, mem, deadline, &h);
    td_handle_end(ls);
    return rc ? td_fail(rc) : h;
}

TDILL_EXPORT int tdill_ipc_accept(int s, int64_t deadline)
{
    return accept_common(s, false, NULL, deadline);
}

TDILL_EXPORT int tdill_ipc_accept_mem(int s, struct tdill_ipc_storage *mem,
                                      int64_t deadline)
{
    return accept_common(s, true, mem, deadline);
}

/******************************************************************************/
/*  Connecting                                                                */
/******************************************************************************/

/* Connects the new handle h, or closes it: on failure, and when the call
   is cancelled while it waits for room in the listener's backlog. */
static int connect_handle(int h, const struct sockaddr_un *sa, socklen_t len,
                          int64_t deadline)
{
    struct td_sock *s;
    td_call_hold(td_handle_undo_close, NULL, h);
    int rc = td_handle_begin(h, &td_conn_vfs, (void **)&s);
    if (rc == 0) {
        rc = td_sock_connect(s, (const struct sockaddr *)sa, len,
                             td_deadline_ns(deadline));
        td_handle_end(h);
    }
    td_call_drop();
    if (rc)
        td_handle_close(h);
    return rc == EBADF ? ECANCELED : rc; /* closed by another thread */
}

static int connect_new(const char *addr, void *mem, int64_t deadline, int *h)
{
    struct sockaddr_un sa;
    socklen_t len;
    int rc = make_addr(addr, &sa, &len);
    if (rc)
        return rc;
    /* 1. Make the socket and its handle first: waiting for room in the
       listener's backlog is a park like any other. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    rc = td_sock_make(fd, mem, &td_conn_vfs, h);
    if (rc) {
        close(fd);
        return rc;
    }
    /* 2. Connect. */
    return connect_handle(*h, &sa, len, deadline);
}

static int connect_common(const char *addr, void *mem, int64_t deadline)
{
    int h, rc = td_call_begin(TD_CANCEL_POINT | TD_MAY_WAIT);
    if (rc == 0)
        rc = connect_new(addr, mem, deadline, &h);
    td_call_end();
    return rc ? td_fail(rc) : h;
}

TDILL_EXPORT int tdill_ipc_connect(const char *addr, int64_t deadline)
{
    return connect_common(addr, NULL, deadline);
}

TDILL_EXPORT int tdill_ipc_connect_mem(const char *addr,
                                       struct tdill_ipc_storage *mem,
                                       int64_t deadline)
{
    if (!mem)
        return td_fail(EINVAL);
    return connect_common(addr, mem, deadline);
}

/******************************************************************************/
/*  Ending a connection                                                       */
/******************************************************************************/

/* Sends EOF; the sending side then fails with EPIPE. Returns 0, or the
   sending side's error (EBUSY, EPIPE if already done, ECONNRESET). */
static int half_close(struct td_sock *s)
{
    int rc = td_sock_enter(s, TD_OUT);
    if (rc)
        return rc;
    rc = shutdown(s->fd, SHUT_WR) < 0 ? ECONNRESET : 0;
    td_sock_leave(s, TD_OUT, rc ? rc : EPIPE);
    return rc;
}

/* A cancellation point though it never waits, like the rest of the family;
   a pending cancel acts before anything is done. */
TDILL_EXPORT int tdill_ipc_done(int h, int64_t deadline)
{
    (void)deadline; /* a half-close never has to wait */
    struct td_sock *s;
    td_call_begin(TD_CANCEL_POINT);
    int rc = td_handle_acquire(h, &td_conn_vfs, (void **)&s);
    if (rc == 0) {
        rc = half_close(s);
        td_handle_release(h);
    }
    td_call_end();
    return rc ? td_fail(rc) : 0;
}

/* ipc_close's orderly part: half-close, then drop inbound data until the
   peer's EOF. Returns 0 when both ends finished cleanly. */
static int close_orderly(struct td_sock *s, int64_t deadline)
{
    int rc = half_close(s);
    if (rc && rc != EPIPE)
        return rc; /* EBUSY, or the sending side was broken */
    rc = td_sock_enter(s, TD_IN);
    if (rc == 0) {
        rc = td_sock_drain(s, td_deadline_ns(deadline));
        td_sock_leave(s, TD_IN, rc);
    }
    return rc == EPIPE ? 0 : rc;
}

/* What ipc_close does before the handle goes: 0, or the error to report.
   ENOTSUP leaves the handle open. */
static int close_first(void *obj, const struct td_vfs *vfs, int canceled,
                       int64_t deadline)
{
    if (vfs == &td_listener_vfs)
        return 0; /* nothing to finish */
    if (vfs != &td_conn_vfs)
        return ENOTSUP;
    /* A cancelled coroutine still closes, but skips the orderly part. */
    return canceled ? canceled : close_orderly(obj, deadline);
}

/* ipc_close once it holds a reference on h. A thread cancelled while it
   drains still closes the handle: ipc_close always does. */
static int close_held(int h, void *obj, const struct td_vfs *vfs,
                      int canceled, int64_t deadline)
{
    td_call_hold(td_handle_undo_close, NULL, h);
    td_call_hold(td_handle_undo_release, NULL, h);
    int rc = close_first(obj, vfs, canceled, deadline);
    td_call_drop();
    td_call_drop();
    td_handle_release(h);
    if (rc == ENOTSUP)
        return rc;
    /* The handle goes whatever happened; if another thread closed it while
       we drained, our drain was cancelled and that is what we report. */
    if (td_handle_close(h) && !rc)
        rc = ECANCELED;
    return rc;
}

TDILL_EXPORT int tdill_ipc_close(int h, int64_t deadline)
{
    void *obj;
    const struct td_vfs *vfs;
    int canceled = td_call_begin(TD_CANCEL_POINT | TD_MAY_WAIT);
    int rc = td_handle_acquire_any(h, &obj, &vfs);
    if (rc == 0)
        rc = close_held(h, obj, vfs, canceled, deadline);
    td_call_end();
    return rc ? td_fail(rc) : 0;
}

/******************************************************************************/
/*  Credentials                                                               */
/******************************************************************************/

TDILL_EXPORT int tdill_ipc_peercred(int h, pid_t *pid, uid_t *uid, gid_t *gid)
{
    struct td_sock *s;
    int rc = td_handle_acquire(h, &td_conn_vfs, (void **)&s);
    if (rc)
        return td_fail(rc);
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(s->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        rc = errno;
    td_handle_release(h);
    if (rc)
        return td_fail(rc);
    if (pid)
        *pid = cred.pid;
    if (uid)
        *uid = cred.uid;
    if (gid)
        *gid = cred.gid;
    return 0;
}
