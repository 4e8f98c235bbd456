#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "api.h"
#include "sock.h"
#include "tdill.h"

/*
 * IPC handles for sockets the program already has: ipc_fromfd and
 * ipc_listener_fromfd adopt a descriptor, ipc_pair makes a connected pair.
 * The handles are the same td_socks ipc.c makes.
 */

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

/* The descriptor is made non-blocking first and put back as it was if
   anything fails after, so on failure the caller gets it back unchanged. */
static int fromfd_common(int fd, void *mem, const struct td_vfs *vfs)
{
    int rc = check_fd(fd, vfs == &td_listener_vfs);
    if (rc)
        return td_fail(rc);
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return td_fail(EINVAL);
    int h;
    rc = td_sock_make(fd, mem, vfs, &h);
    if (rc) {
        fcntl(fd, F_SETFL, flags); /* undoes what just worked */
        return td_fail(rc);
    }
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

static int pair_new(void *mem0, void *mem1, int s[2])
{
    int fds[2], h[2], rc;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                   fds) < 0)
        return errno;
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
    return rc;
error1:
    close(fds[0]);
    close(fds[1]);
    return rc;
}

/* Not a cancellation point, but close() on its error paths is one. */
static int pair_common(void *mem0, void *mem1, int s[2])
{
    if (!s)
        return td_fail(EINVAL);
    td_call_begin(0);
    int rc = pair_new(mem0, mem1, s);
    td_call_end();
    return rc ? td_fail(rc) : 0;
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
