/*
 * raw backend: plain blocking AF_UNIX stream sockets, read/write loops.
 * The physical limit the other backends are measured against.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench.h"

/* A new stream socket, and in *sa the address of path. */
static int unix_socket(const char *path, struct sockaddr_un *sa)
{
    if (strlen(path) >= sizeof(sa->sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    strcpy(sa->sun_path, path);
    return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

/* Gives up fd after a failed call: the caller sees that call's errno, not
   close's. */
static int close_failed(int fd)
{
    int err = errno;
    close(fd);
    errno = err;
    return -1;
}

static int raw_listen(const char *path, int backlog)
{
    struct sockaddr_un sa;
    int fd = unix_socket(path, &sa);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fd, backlog) < 0)
        return close_failed(fd);
    return fd;
}

static int raw_accept(int ls)
{
    for (;;) {
        int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0 || errno != EINTR)
            return fd;
    }
}

static int raw_connect(const char *path)
{
    struct sockaddr_un sa;
    int fd = unix_socket(path, &sa);
    if (fd < 0)
        return -1;
    /* A blocking connect waits while the listener's backlog is full. */
    while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        if (errno != EINTR)
            return close_failed(fd);
    return fd;
}

static int raw_pair(int c[2])
{
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c);
}

static int raw_send(int c, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = send(c, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int raw_recv(int c, void *buf, size_t len)
{
    char *p = buf;
    while (len) {
        ssize_t n = read(c, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = EPIPE;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The comparison point for tdill's deadlines: poll() with a timeout. */
static int raw_recv_timeout(int c, void *buf, size_t len, int ms,
                            int64_t *deadline_ns)
{
    int64_t deadline = now_ns() + (int64_t)ms * 1000000;
    *deadline_ns = deadline;
    char *p = buf;
    while (len) {
        int64_t left = deadline - now_ns();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd pfd = {.fd = c, .events = POLLIN};
        /* Round up: poll never returns before its timeout. */
        int rc = poll(&pfd, 1, (int)((left + 999999) / 1000000));
        if (rc < 0 && errno != EINTR)
            return -1;
        if (rc <= 0)
            continue;
        ssize_t n = read(c, p, len);
        if (n < 0 && errno != EINTR && errno != EAGAIN)
            return -1;
        if (n == 0) {
            errno = EPIPE;
            return -1;
        }
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        }
    }
    return 0;
}

static int raw_close(int c)
{
    return close(c);
}

const struct backend raw_backend = {
    .name = "raw",
    .listen = raw_listen,
    .accept = raw_accept,
    .connect = raw_connect,
    .pair = raw_pair,
    .send = raw_send,
    .recv = raw_recv,
    .recv_timeout = raw_recv_timeout,
    .close = raw_close,
    .lclose = raw_close,
};
