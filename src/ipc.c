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
   it further); chmod then restores what the umask cut. The process-wide
   umask is never touched: other threads may depend on it. */
static int bind_with_mode(int fd, const struct sockaddr_un *sa, socklen_t len,
                          const mode_t *mode)
{
    if (mode && fchmod(fd, *mode) < 0)
        return errno;
    if (bind(fd, (const struct sockaddr *)sa, len) < 0)
        return errno;
    if (mode && chmod(sa->sun_path, *mode) < 0) {
        int err = errno;
        unlink(sa->sun_path);
        return err;
    }
    return 0;
}

static int listen_common(const char *addr, int backlog, void *mem,
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

TDILL_EXPORT int tdill_ipc_listen(const char *addr, int backlog)
{
    int h, rc = listen_common(addr, backlog, NULL, NULL, &h);
    return rc ? td_fail(rc) : h;
}

TDILL_EXPORT int tdill_ipc_listen_mem(const char *addr, int backlog,
                                      struct tdill_ipc_listener_storage *mem)
{
    if (!mem)
        return td_fail(EINVAL);
    int h, rc = listen_common(addr, backlog, mem, NULL, &h);
    return rc ? td_fail(rc) : h;
}

TDILL_EXPORT int tdill_ipc_listen_mode(const char *addr, int backlog,
                                       mode_t mode)
{
    int h, rc = listen_common(addr, backlog, NULL, &mode, &h);
    return rc ? td_fail(rc) : h;
}

/* want_mem: the caller is ipc_accept_mem, whose mem must not be NULL. */
static int accept_common(int ls, bool want_mem, void *mem, int64_t deadline)
{
    struct td_sock *s;
    int rc = td_sock_acquire(ls, &td_listener_vfs, &s);
    if (rc)
        return td_fail(rc);
    int fd, h;
    rc = want_mem && !mem ? EINVAL
                          : td_sock_accept(s, td_deadline_ns(deadline), &fd);
    td_handle_release(ls);
    if (rc)
        return td_fail(rc);
    rc = td_sock_make(fd, mem, &td_conn_vfs, &h);
    if (rc) {
        close(fd);
        return td_fail(rc);
    }
    return h;
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
/*  Connecting and wrapping                                                   */
/******************************************************************************/

static int connect_common(const char *addr, void *mem, int64_t deadline)
{
    struct sockaddr_un sa;
    socklen_t len;
    int rc = td_wait_enter();
    if (rc == 0)
        rc = make_addr(addr, &sa, &len);
    if (rc)
        return td_fail(rc);
    /* 1. Make the socket and its handle first: waiting for room in the
       listener's backlog is a park like any other. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return td_fail(errno);
    int h;
    rc = td_sock_make(fd, mem, &td_conn_vfs, &h);
    if (rc) {
        close(fd);
        return td_fail(rc);
    }
    /* 2. Connect. */
    struct td_sock *s;
    rc = td_handle_acquire(h, &td_conn_vfs, (void **)&s);
    if (rc)
        return td_fail(rc == EBADF ? ECANCELED : rc);
    rc = td_sock_connect(s, (struct sockaddr *)&sa, len,
                         td_deadline_ns(deadline));
    td_handle_release(h);
    if (rc) {
        td_handle_close(h);
        return td_fail(rc);
    }
    return h;
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

/* Is fd an AF_UNIX stream socket that is listening (or connected)? */
static int check_fd(int fd, int listening)
{
    int v;
    socklen_t len = sizeof(v);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0 || v != AF_UNIX)
        return EINVAL;
    len = sizeof(v);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0 || v != SOCK_STREAM)
        return EINVAL;
    len = sizeof(v);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0 ||
        !v != !listening)
        return EINVAL;
    if (!listening) {
        struct sockaddr_un peer;
        len = sizeof(peer);
        if (getpeername(fd, (struct sockaddr *)&peer, &len) < 0)
            return EINVAL;
    }
    return 0;
}

/* The descriptor is changed (made non-blocking) only once nothing can fail
   any more, so on failure the caller gets it back exactly as it was. */
static int fromfd_common(int fd, void *mem, const struct td_vfs *vfs)
{
    int rc = check_fd(fd, vfs == &td_listener_vfs);
    if (rc)
        return td_fail(rc);
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return td_fail(EINVAL);
    int h;
    rc = td_sock_make(fd, mem, vfs, &h);
    if (rc)
        return td_fail(rc);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    return h;
}

TDILL_EXPORT int tdill_ipc_fromfd(int fd)
{
    return fromfd_common(fd, NULL, &td_conn_vfs);
}

TDILL_EXPORT int tdill_ipc_fromfd_mem(int fd, struct tdill_ipc_storage *mem)
{
    if (!mem)
        return td_fail(EINVAL);
    return fromfd_common(fd, mem, &td_conn_vfs);
}

TDILL_EXPORT int tdill_ipc_listener_fromfd(int fd)
{
    return fromfd_common(fd, NULL, &td_listener_vfs);
}

TDILL_EXPORT int
tdill_ipc_listener_fromfd_mem(int fd, struct tdill_ipc_listener_storage *mem)
{
    if (!mem)
        return td_fail(EINVAL);
    return fromfd_common(fd, mem, &td_listener_vfs);
}

static int pair_common(void *mem0, void *mem1, int s[2])
{
    if (!s)
        return td_fail(EINVAL);
    int fds[2], h[2], rc;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                   fds) < 0)
        return td_fail(errno);
    rc = td_sock_make(fds[0], mem0, &td_conn_vfs, &h[0]);
    if (rc)
        goto error1;
    rc = td_sock_make(fds[1], mem1, &td_conn_vfs, &h[1]);
    if (rc)
        goto error2;
    s[0] = h[0];
    s[1] = h[1];
    return 0;
error2:
    td_handle_close(h[0]); /* closes fds[0] too */
    close(fds[1]);
    return td_fail(rc);
error1:
    close(fds[0]);
    close(fds[1]);
    return td_fail(rc);
}

TDILL_EXPORT int tdill_ipc_pair(int s[2])
{
    return pair_common(NULL, NULL, s);
}

TDILL_EXPORT int tdill_ipc_pair_mem(struct tdill_ipc_pair_storage *mem,
                                    int s[2])
{
    if (!mem)
        return td_fail(EINVAL);
    struct tdill_ipc_storage *halves = (struct tdill_ipc_storage *)mem;
    return pair_common(&halves[0], &halves[1], s);
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

TDILL_EXPORT int tdill_ipc_done(int h, int64_t deadline)
{
    (void)deadline; /* a half-close never has to wait */
    struct td_sock *s;
    int rc = td_handle_acquire(h, &td_conn_vfs, (void **)&s);
    if (rc)
        return td_fail(rc);
    rc = half_close(s);
    td_handle_release(h);
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
static int close_first(void *obj, const struct td_vfs *vfs, int64_t deadline)
{
    if (vfs == &td_listener_vfs)
        return 0; /* nothing to finish */
    if (vfs != &td_conn_vfs)
        return ENOTSUP;
    /* A cancelled coroutine still closes, but skips the orderly part. */
    int rc = td_wait_enter();
    return rc ? rc : close_orderly(obj, deadline);
}

TDILL_EXPORT int tdill_ipc_close(int h, int64_t deadline)
{
    void *obj;
    const struct td_vfs *vfs;
    int rc = td_handle_acquire_any(h, &obj, &vfs);
    if (rc)
        return td_fail(rc);
    rc = close_first(obj, vfs, deadline);
    td_handle_release(h);
    if (rc == ENOTSUP)
        return td_fail(rc);
    /* The handle goes whatever happened; if another thread closed it while
       we drained, our drain was cancelled and that is what we report. */
    if (td_handle_close(h) && !rc)
        rc = ECANCELED;
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
