/* Helpers shared by the reliability tests; see rel.h. */
#include "rel.h"
#include "../fdcount.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int child_msg_fd = -1;

void rel_child_fail(const char *file, int line, const char *fmt, ...)
{
    char msg[1024];
    int n = snprintf(msg, sizeof msg, "%s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    if (child_msg_fd >= 0) {
        ssize_t w = write(child_msg_fd, msg, strlen(msg));
        (void)w;
    } else {
        fprintf(stderr, "%s\n", msg);
    }
    exit(1);
}

int rel_in_child(void (*fn)(void *), void *arg, unsigned seconds)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    fflush(NULL); /* the child would print the parent's buffers again */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(p[0]);
        child_msg_fd = p[1];
        tu_child_alarm(seconds * (unsigned)tu_slowness());
        fn(arg);
        close(p[1]);
        exit(0); /* exit, not _exit: leak checkers look at the child too */
    }
    close(p[1]);
    char msg[1024];
    size_t got = 0;
    for (;;) {
        ssize_t n = read(p[0], msg + got, sizeof msg - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
        if (got == sizeof msg - 1)
            break;
    }
    msg[got] = 0;
    close(p[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        ck_assert_int_eq(errno, EINTR);
    ck_assert_msg(got == 0, "in the child: %s", msg);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 1, "child died: %s %d",
                  WIFSIGNALED(st) ? "signal" : "status",
                  WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    return WEXITSTATUS(st);
}

static int keep_epoll(int fd, const char *target, void *want_epoll)
{
    (void)fd;
    return fdcount_is_epoll(target) == *(int *)want_epoll;
}

int rel_count_fds_but_epoll(void)
{
    int want_epoll = 0;
    return fdcount(keep_epoll, &want_epoll);
}
int rel_count_epoll_fds(void)
{
    int want_epoll = 1;
    return fdcount(keep_epoll, &want_epoll);
}

int rel_exhaust_fds(int *fds, int max, int room)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    /* The limit bounds descriptor numbers, not how many are open. */
    int highest = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            highest = fd;
    rl.rlim_cur = (rlim_t)(highest + 1 + room);
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    int n = 0;
    for (;;) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return errno == EMFILE ? n : -1;
        if (n == max) {
            close(fd);
            return -1;
        }
        fds[n++] = fd;
    }
}

int rel_release_fds(int *fds, int n, int count)
{
    while (count-- > 0 && n > 0)
        close(fds[--n]);
    return n;
}

ssize_t rel_send_fds(int sock, const void *data, size_t len, const int *fds,
                     int nfds)
{
    size_t space = nfds ? CMSG_SPACE(sizeof(int) * (size_t)nfds) : 0;
    char *ctl = space ? calloc(1, space) : NULL;
    struct iovec iov = {(void *)data, len};
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = ctl,
                        .msg_controllen = space};
    if (nfds) {
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t rc = sendmsg(sock, &mh, MSG_NOSIGNAL);
    free(ctl);
    return rc;
}

int rel_pipe_write_end_gone(int rd)
{
    int fl = fcntl(rd, F_GETFL);
    fcntl(rd, F_SETFL, fl | O_NONBLOCK);
    char c;
    ssize_t n = read(rd, &c, 1);
    fcntl(rd, F_SETFL, fl);
    return n == 0;
}

double rel_env_seconds(const char *name, double dflt)
{
    const char *v = getenv(name);
    if (v && *v) {
        char *end;
        double d = strtod(v, &end);
        if (*end == 0 && d > 0)
            return d;
    }
    return dflt;
}
