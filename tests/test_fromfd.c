/* ipc_fromfd and ipc_listener_fromfd: which raw descriptors they wrap,
   and that a refused descriptor is left exactly as it was. */
#include "util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct fdstate {
    int fl;
    int fd_flags;
};

static struct fdstate fd_state(int fd)
{
    return (struct fdstate){fcntl(fd, F_GETFL), fcntl(fd, F_GETFD)};
}

/* fromfd(fd) must fail with EINVAL and leave fd exactly as it was. */
static void assert_rejected(int fd, int listener, const char *what)
{
    struct fdstate st = fd_state(fd);
    int open_before = tu_fd_is_open(fd);
    struct ipc_storage cmem;
    struct ipc_listener_storage lmem;
    int rc[2];
    int err[2];
    errno = 0;
    rc[0] = listener ? ipc_listener_fromfd(fd) : ipc_fromfd(fd);
    err[0] = errno;
    errno = 0;
    rc[1] = listener ? ipc_listener_fromfd_mem(fd, &lmem)
                     : ipc_fromfd_mem(fd, &cmem);
    err[1] = errno;
    for (int i = 0; i < 2; i++)
        ck_assert_msg(rc[i] == -1 && err[i] == EINVAL,
                      "%s%s(%s): expected -1 with EINVAL, got %d with %s",
                      listener ? "ipc_listener_fromfd" : "ipc_fromfd",
                      i ? "_mem" : "", what, rc[i], tu_errname(err[i]));
    ck_assert_int_eq(tu_fd_is_open(fd), open_before);
    struct fdstate after = fd_state(fd);
    ck_assert_msg(after.fl == st.fl && after.fd_flags == st.fd_flags,
                  "%s: descriptor flags changed", what);
}

/* assert_rejected, then closes fd, which is still the caller's. */
static void assert_rejected_then_close(int fd, int listener, const char *what)
{
    assert_rejected(fd, listener, what);
    close(fd);
}

/* A descriptor number that is not open (it was a moment ago). */
static int closed_fd(void)
{
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    close(fd);
    return fd;
}

/* A bound AF_UNIX stream socket, listening if asked. */
static int raw_unix_socket(int do_bind, int do_listen)
{
    char path[TU_PATH_MAX];
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    if (do_bind) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", tu_path(path, "raw"));
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    }
    if (do_listen)
        ck_assert_int_eq(listen(fd, 8), 0);
    return fd;
}

/* A connected TCP pair on loopback, or -1s when there is no loopback. */
static void tcp_pair(int fds[3])
{
    fds[0] = fds[1] = fds[2] = -1;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(l, 4) != 0 || getsockname(l, (struct sockaddr *)&sa, &sl)) {
        if (l >= 0)
            close(l);
        return;
    }
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(c, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(c);
        close(l);
        return;
    }
    fds[0] = l;
    fds[1] = c;
    fds[2] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
}

START_TEST(ipc_fromfd_wraps_a_connected_unix_stream_socket)
{
    for (int cloexec = 0; cloexec < 2; cloexec++) {
        int sp[2];
        ck_assert_int_eq(
            socketpair(AF_UNIX, SOCK_STREAM | (cloexec ? SOCK_CLOEXEC : 0), 0,
                       sp),
            0);
        int h;
        TU_HANDLE(h, ipc_fromfd(sp[0]));
        /* Non-blocking now; close-on-exec as the caller left it. */
        ck_assert(fcntl(sp[0], F_GETFL) & O_NONBLOCK);
        ck_assert_int_eq(!!(fcntl(sp[0], F_GETFD) & FD_CLOEXEC), cloexec);
        TU_OK(bsend(h, "to raw", 6, now() + 5000));
        char buf[8];
        ck_assert_int_eq(read(sp[1], buf, 6), 6);
        ck_assert_mem_eq(buf, "to raw", 6);
        ck_assert_int_eq(write(sp[1], "to tdill", 8), 8);
        tu_expect_bytes(h, "to tdill", 8);
        /* The handle owns the descriptor. */
        TU_OK(hclose(h));
        ck_assert(!tu_fd_is_open(sp[0]));
        ck_assert_int_eq(read(sp[1], buf, 1), 0);
        close(sp[1]);
    }
    /* The accepted end of a listener works too, and the _mem variant. */
    int l = raw_unix_socket(1, 1);
    struct sockaddr_un sa;
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(getsockname(l, (struct sockaddr *)&sa, &sl), 0);
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_eq(connect(c, (struct sockaddr *)&sa, sl), 0);
    int a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    ck_assert_int_ge(a, 0);
    struct ipc_storage m1, m2;
    int h1, h2;
    TU_HANDLE(h1, ipc_fromfd_mem(c, &m1));
    TU_HANDLE(h2, ipc_fromfd_mem(a, &m2));
    tu_assert_connected(h1, h2);
    TU_OK(hclose(h1));
    TU_OK(hclose(h2));
    close(l);
}
END_TEST

START_TEST(ipc_fromfd_of_a_wrong_descriptor_fails_with_einval_and_leaves_it)
{
    int sp[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp), 0);
    assert_rejected(sp[0], 0, "AF_UNIX SOCK_DGRAM");
    ck_assert_int_eq(write(sp[0], "d", 1), 1); /* still ours and working */
    char c;
    ck_assert_int_eq(read(sp[1], &c, 1), 1);
    tu_close_raw_pair(sp);

    ck_assert_int_eq(
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
    assert_rejected(sp[0], 0, "AF_UNIX SOCK_SEQPACKET");
    tu_close_raw_pair(sp);

    assert_rejected_then_close(raw_unix_socket(0, 0), 0,
                               "unconnected AF_UNIX stream");
    assert_rejected_then_close(raw_unix_socket(1, 0), 0,
                               "bound unconnected AF_UNIX stream");
    assert_rejected_then_close(raw_unix_socket(1, 1), 0,
                               "listening AF_UNIX stream");

    int t[3];
    tcp_pair(t);
    if (t[0] >= 0) {
        assert_rejected(t[0], 0, "listening TCP");
        assert_rejected(t[1], 0, "connected TCP");
        ck_assert_int_eq(write(t[1], "t", 1), 1);
        ck_assert_int_eq(read(t[2], &c, 1), 1);
        for (int i = 0; i < 3; i++)
            close(t[i]);
    }
    assert_rejected_then_close(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
                               0, "unconnected TCP");

    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    assert_rejected(p[0], 0, "pipe");
    assert_rejected(p[1], 0, "pipe");
    tu_close_raw_pair(p);
    assert_rejected_then_close(open("/dev/null", O_RDWR), 0, "/dev/null");
    /* Not a descriptor at all. */
    assert_rejected(closed_fd(), 0, "closed fd");
    assert_rejected(-1, 0, "-1");
    assert_rejected(1 << 24, 0, "huge fd");
}
END_TEST

START_TEST(ipc_listener_fromfd_wraps_a_listening_unix_socket)
{
    int fd = raw_unix_socket(1, 1);
    struct sockaddr_un sa;
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    int ls;
    TU_HANDLE(ls, ipc_listener_fromfd(fd));
    ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
    ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    TU_FAILS(ipc_accept(ls, now() + 20), ETIMEDOUT);
    tu_assert_accepts(ls, sa.sun_path);
    TU_OK(hclose(ls));
    ck_assert(!tu_fd_is_open(fd));

    /* _mem, with close-on-exec off. */
    fd = raw_unix_socket(1, 1);
    sl = sizeof sa;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    ck_assert_int_eq(fcntl(fd, F_SETFD, 0), 0);
    struct ipc_listener_storage lmem;
    TU_HANDLE(ls, ipc_listener_fromfd_mem(fd, &lmem));
    ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
    tu_assert_accepts(ls, sa.sun_path);
    TU_OK(hclose(ls));
}
END_TEST

START_TEST(ipc_listener_fromfd_of_a_wrong_descriptor_fails_with_einval)
{
    assert_rejected_then_close(raw_unix_socket(0, 0), 1,
                               "unbound AF_UNIX stream");
    assert_rejected_then_close(raw_unix_socket(1, 0), 1,
                               "bound, not listening AF_UNIX stream");
    int sp[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp),
                     0);
    assert_rejected(sp[0], 1, "connected AF_UNIX stream");
    ck_assert_int_eq(write(sp[0], "s", 1), 1);
    char c;
    ck_assert_int_eq(read(sp[1], &c, 1), 1);
    tu_close_raw_pair(sp);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp), 0);
    assert_rejected(sp[0], 1, "AF_UNIX SOCK_DGRAM");
    tu_close_raw_pair(sp);
    int t[3];
    tcp_pair(t);
    if (t[0] >= 0) {
        assert_rejected(t[0], 1, "listening TCP");
        assert_rejected(t[1], 1, "connected TCP");
        for (int i = 0; i < 3; i++)
            close(t[i]);
    }
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    assert_rejected(p[0], 1, "pipe");
    tu_close_raw_pair(p);
    assert_rejected(closed_fd(), 1, "closed fd");
    assert_rejected(-1, 1, "-1");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fromfd");
    TCase *tc = tu_tcase("fromfd");
    tcase_add_test(tc, ipc_fromfd_wraps_a_connected_unix_stream_socket);
    tcase_add_test(tc,
                   ipc_fromfd_of_a_wrong_descriptor_fails_with_einval_and_leaves_it);
    tcase_add_test(tc, ipc_listener_fromfd_wraps_a_listening_unix_socket);
    tcase_add_test(tc,
                   ipc_listener_fromfd_of_a_wrong_descriptor_fails_with_einval);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
