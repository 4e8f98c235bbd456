#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api.h"
#include "now.h"
#include "sock.h"
#include "tdill.h"

/*
 * Passing descriptors over a connection (ipc_sendfd, ipc_recvfd): one byte
 * carrying one SCM_RIGHTS descriptor, the framing libdill uses, so the two
 * interoperate. The byte keeps the descriptor in order with the stream.
 * Neither call spins before parking: see notes/decisions.md.
 */

/* The most descriptors the kernel passes in one message (SCM_MAX_FD). */
#define MAX_PASSED_FDS 253
#define PASSED_FD_BYTE 0xCC

static int try_sendfd(int fd, void *arg)
{
    if (sendmsg(fd, arg, MSG_NOSIGNAL | MSG_DONTWAIT) == 1)
        return 0;
    /* The descriptor was closed under us; nothing was sent. */
    return errno == EBADF ? EINVAL : td_stream_errno(errno);
}

static int sendfd(struct td_sock *s, int fd, int64_t deadline)
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
    return td_sock_run(s, try_sendfd, &m, EPOLLOUT, NULL, deadline);
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

static int try_recvfd(int fd, void *arg)
{
    unsigned char byte;
    struct iovec iov = {&byte, 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * MAX_PASSED_FDS)];
    } ctl;
    struct msghdr m = {.msg_iov = &iov,
                       .msg_iovlen = 1,
                       .msg_control = ctl.buf,
                       .msg_controllen = sizeof(ctl)};
    ssize_t n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0)
        return td_stream_errno(errno);
    return n ? take_passed_fds(&m, arg) : EPIPE;
}

TDILL_EXPORT int tdill_ipc_sendfd(int h, int fd, int64_t deadline)
{
    struct td_sock *s;
    int rc = td_handle_begin(h, &td_conn_vfs, (void **)&s);
    if (rc)
        return td_fail(rc);
    if (fd < 0 || fcntl(fd, F_GETFD) < 0)
        rc = EINVAL;
    if (rc == 0)
        rc = td_sock_enter(s, TD_OUT);
    if (rc == 0) {
        rc = sendfd(s, fd, td_deadline_ns(deadline));
        td_sock_leave(s, TD_OUT, rc);
    }
    td_handle_end(h);
    return rc ? td_fail(rc) : 0;
}

TDILL_EXPORT int tdill_ipc_recvfd(int h, int64_t deadline)
{
    struct td_sock *s;
    int fd = -1;
    int rc = td_handle_begin(h, &td_conn_vfs, (void **)&s);
    if (rc)
        return td_fail(rc);
    rc = td_sock_enter(s, TD_IN);
    if (rc == 0) {
        rc = td_sock_run(s, try_recvfd, &fd, EPOLLIN | EPOLLRDHUP, NULL,
                         td_deadline_ns(deadline));
        td_sock_leave(s, TD_IN, rc);
    }
    td_handle_end(h);
    return rc ? td_fail(rc) : fd;
}
