/* ipc_sendfd/ipc_recvfd: order, errors, wire format, hostile peers. */
#include "util.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

START_TEST(sendfd_and_recvfd_keep_order_with_the_byte_stream)
{
    int s[2], p[2];
    tu_pair(s);
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    /* Everything is queued before the receiver reads anything. */
    TU_OK(bsend(s[0], "ABC", 3, -1));
    TU_OK(ipc_sendfd(s[0], p[1], -1));
    TU_OK(bsend(s[0], "DEF", 3, -1));
    ck_assert(tu_fd_is_open(p[1])); /* the sender keeps its copy */
    tu_expect_bytes(s[1], "AB", 2);
    tu_expect_bytes(s[1], "C", 1);
    int fd;
    TU_HANDLE(fd, ipc_recvfd(s[1], now() + 5000));
    ck_assert_int_ne(fd, p[1]);
    ck_assert(tu_same_file(fd, p[1]));
    tu_expect_bytes(s[1], "DEF", 3);
    ck_assert_int_eq(write(fd, "w", 1), 1);
    char c;
    ck_assert_int_eq(read(p[0], &c, 1), 1);
    ck_assert_int_eq(c, 'w');
    close(fd);
    tu_close_raw_pair(p);
    tu_close_pair(s);
}
END_TEST

START_TEST(blocked_recvfd_returns_the_descriptor_when_it_arrives)
{
    int s[2], p[2];
    tu_pair(s);
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    struct tu_op op = {.kind = TU_RECVFD, .h = s[1], .deadline = -1};
    tu_op_start_blocked(&op);
    TU_OK(ipc_sendfd(s[0], p[0], now() + 5000));
    tu_op_join(&op);
    TU_OP_OK(&op);
    ck_assert(tu_same_file(op.rc, p[0]));
    close(op.rc);
    tu_close_raw_pair(p);
    tu_close_pair(s);
}
END_TEST

START_TEST(descriptors_pass_in_sequence)
{
    int s[2], p[10][2];
    tu_pair(s);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(pipe2(p[i], O_CLOEXEC), 0);
        TU_OK(ipc_sendfd(s[0], p[i][i % 2], -1));
        TU_OK(bsend(s[0], &i, sizeof i, -1));
    }
    for (int i = 0; i < 10; i++) {
        int fd, j;
        TU_HANDLE(fd, ipc_recvfd(s[1], now() + 5000));
        ck_assert(tu_same_file(fd, p[i][i % 2]));
        TU_OK(brecv(s[1], &j, sizeof j, now() + 5000));
        ck_assert_int_eq(j, i);
        close(fd);
        tu_close_raw_pair(p[i]);
    }
    tu_close_pair(s);
}
END_TEST

START_TEST(received_descriptor_is_close_on_exec)
{
    int s[2], p[2];
    tu_pair(s);
    ck_assert_int_eq(pipe(p), 0); /* no close-on-exec here */
    TU_OK(ipc_sendfd(s[0], p[0], -1));
    int fd;
    TU_HANDLE(fd, ipc_recvfd(s[1], now() + 5000));
    ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    ck_assert_int_eq(fcntl(p[0], F_GETFD) & FD_CLOEXEC, 0);
    close(fd);
    tu_close_raw_pair(p);
    tu_close_pair(s);
}
END_TEST

START_TEST(a_passed_socket_can_be_wrapped_again)
{
    int s[2], inner[2];
    tu_pair(s);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, inner),
                     0);
    TU_OK(ipc_sendfd(s[0], inner[0], -1));
    close(inner[0]);
    int fd, h;
    TU_HANDLE(fd, ipc_recvfd(s[1], now() + 5000));
    TU_HANDLE(h, ipc_fromfd(fd));
    TU_OK(bsend(h, "via fd", 6, now() + 5000));
    char buf[6];
    ck_assert_int_eq(read(inner[1], buf, 6), 6);
    ck_assert_mem_eq(buf, "via fd", 6);
    TU_OK(hclose(h));
    close(inner[1]);
    tu_close_pair(s);
}
END_TEST

START_TEST(recvfd_when_the_next_byte_has_no_descriptor_fails_with_eproto)
{
    int s[2];
    tu_pair(s);
    TU_OK(bsend(s[0], "Xyz", 3, -1));
    TU_FAILS(ipc_recvfd(s[1], now() + 5000), EPROTO);
    /* The receive side is dead now; sending still works. */
    TU_FAILS(brecv(s[1], NULL, 2, now() + 5000), ECONNRESET);
    TU_FAILS(ipc_recvfd(s[1], now() + 5000), ECONNRESET);
    TU_OK(bsend(s[1], "ok", 2, -1));
    tu_expect_bytes(s[0], "ok", 2);
    tu_close_pair(s);
    /* The marker byte alone is not a descriptor either. */
    tu_pair(s);
    TU_OK(bsend(s[0], "\xCC", 1, -1));
    TU_FAILS(ipc_recvfd(s[1], now() + 5000), EPROTO);
    tu_close_pair(s);
}
END_TEST

START_TEST(sendfd_with_a_bad_descriptor_fails_with_einval_and_sends_nothing)
{
    int s[2];
    tu_pair(s);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    close(fd);
    TU_FAILS(ipc_sendfd(s[0], -1, -1), EINVAL);
    TU_FAILS(ipc_sendfd(s[0], fd, -1), EINVAL);
    TU_FAILS(ipc_sendfd(s[0], 1 << 24, 0), EINVAL);
    TU_OK(bsend(s[0], "Z", 1, -1));
    tu_expect_bytes(s[1], "Z", 1);
    tu_close_pair(s);
}
END_TEST

START_TEST(recvfd_times_out_with_etimedout_and_fails_with_epipe_at_eof)
{
    int s[2];
    tu_pair(s);
    TU_FAILS(ipc_recvfd(s[1], 0), ETIMEDOUT);
    TU_FAILS(ipc_recvfd(s[1], now() + 1000), ECONNRESET);
    tu_close_pair(s);
    tu_pair(s);
    TU_FAILS(ipc_recvfd(s[1], now() + 30), ETIMEDOUT);
    tu_close_pair(s);
    tu_pair(s);
    TU_OK(hclose(s[0]));
    TU_FAILS(ipc_recvfd(s[1], now() + 5000), EPIPE);
    TU_OK(hclose(s[1]));
}
END_TEST

START_TEST(sendfd_after_ipc_done_fails_with_epipe)
{
    int s[2];
    tu_pair(s);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    TU_OK(ipc_done(s[0], -1));
    TU_FAILS(ipc_sendfd(s[0], fd, -1), EPIPE);
    close(fd);
    tu_close_pair(s);
}
END_TEST

/* ---- the wire, raw peers ---------------------------------------------*/

/* Sends one message of len bytes carrying the fds, split over ncmsg
   SCM_RIGHTS control messages. */
static void raw_send_fds(int sock, const void *data, size_t len, int *fds,
                         int nfds, int ncmsg)
{
    size_t space = 0;
    int per = (nfds + ncmsg - 1) / ncmsg;
    for (int i = 0; i < ncmsg; i++)
        space += CMSG_SPACE(sizeof(int) * per);
    char *ctl = calloc(1, space);
    struct iovec iov = {(void *)data, len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                        .msg_controllen = space};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    size_t used = 0;
    int left = nfds;
    for (int i = 0; i < ncmsg; i++) {
        int n = left < per ? left : per;
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
        memcpy(CMSG_DATA(cm), fds + (nfds - left), sizeof(int) * n);
        used += CMSG_SPACE(sizeof(int) * n);
        left -= n;
        cm = CMSG_NXTHDR(&mh, cm);
    }
    mh.msg_controllen = used;
    ck_assert_int_eq(sendmsg(sock, &mh, MSG_NOSIGNAL), (ssize_t)len);
    free(ctl);
}

/* A raw peer sends n copies of a pipe end on one 0xCC byte, in ncmsg control
   messages; recvfd hands out exactly one and closes the rest. */
static void check_hostile(int n, int ncmsg)
{
    tu_warm_up();
    int raw, p[2];
    int h = tu_raw_peer(&raw);
    ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    int *dups = malloc(sizeof(int) * n);
    for (int i = 0; i < n; i++) {
        dups[i] = fcntl(p[1], F_DUPFD_CLOEXEC, 0);
        ck_assert_int_ge(dups[i], 0);
    }
    raw_send_fds(raw, "\xCC", 1, dups, n, ncmsg);
    for (int i = 0; i < n; i++)
        close(dups[i]);
    free(dups);
    ck_assert_int_eq(write(raw, "DEF", 3), 3);
    int before = tu_count_fds();
    int fd;
    TU_HANDLE(fd, ipc_recvfd(h, now() + 5000));
    ck_assert(tu_same_file(fd, p[1]));
    ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    ck_assert_msg(tu_count_fds() == before + 1,
                  "%d descriptors sent in %d cmsgs: %d kept open, not 1", n,
                  ncmsg, tu_count_fds() - before);
    tu_expect_bytes(h, "DEF", 3);
    close(fd);
    /* The pipe's write end is fully closed: only p[1] keeps it open. */
    close(p[1]);
    char c;
    ck_assert_int_eq(read(p[0], &c, 1), 0);
    close(p[0]);
    TU_OK(hclose(h));
    close(raw);
}

START_TEST(recvfd_of_one_descriptor_from_a_raw_peer_works)
{
    check_hostile(1, 1);
}
END_TEST

START_TEST(hostile_peer_sending_2_descriptors_leaks_nothing)
{
    check_hostile(2, 1);
}
END_TEST

START_TEST(hostile_peer_sending_3_descriptors_leaks_nothing)
{
    check_hostile(3, 1);
}
END_TEST

START_TEST(hostile_peer_sending_200_descriptors_leaks_nothing)
{
    check_hostile(200, 1);
}
END_TEST

START_TEST(hostile_peer_sending_several_cmsgs_leaks_nothing)
{
    check_hostile(4, 2);
    check_hostile(9, 3);
}
END_TEST

START_TEST(descriptors_arriving_during_brecv_are_closed)
{
    tu_warm_up();
    int raw, p[2];
    int h = tu_raw_peer(&raw);
    ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    int d[3];
    for (int i = 0; i < 3; i++)
        d[i] = fcntl(p[1], F_DUPFD_CLOEXEC, 0);
    ck_assert_int_eq(write(raw, "ABC", 3), 3);
    raw_send_fds(raw, "\xCC", 1, d, 3, 1);
    ck_assert_int_eq(write(raw, "DEF", 3), 3);
    for (int i = 0; i < 3; i++)
        close(d[i]);
    int before = tu_count_fds();
    char buf[7];
    TU_OK(brecv(h, buf, 7, now() + 5000));
    ck_assert_mem_eq(buf, "ABC\xCC" "DEF", 7);
    ck_assert_int_eq(tu_count_fds(), before);
    close(p[1]);
    char c;
    ck_assert_int_eq(read(p[0], &c, 1), 0); /* no copy of the end survives */
    close(p[0]);
    TU_OK(hclose(h));
    close(raw);
}
END_TEST

START_TEST(sendfd_puts_one_0xcc_byte_with_one_descriptor_on_the_wire)
{
    int raw, p[2];
    int h = tu_raw_peer(&raw);
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    TU_OK(bsend(h, "ab", 2, -1));
    TU_OK(ipc_sendfd(h, p[1], -1));
    TU_OK(bsend(h, "cd", 2, -1));
    char data[8];
    char ctl[CMSG_SPACE(sizeof(int) * 4)];
    /* The bytes before the descriptor. */
    ck_assert_int_eq(read(raw, data, 2), 2);
    ck_assert_mem_eq(data, "ab", 2);
    struct iovec iov = {data, 1};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                        .msg_controllen = sizeof ctl};
    ck_assert_int_eq(recvmsg(raw, &mh, MSG_CMSG_CLOEXEC), 1);
    ck_assert_int_eq((unsigned char)data[0], 0xCC);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    ck_assert_ptr_nonnull(cm);
    ck_assert_int_eq(cm->cmsg_level, SOL_SOCKET);
    ck_assert_int_eq(cm->cmsg_type, SCM_RIGHTS);
    ck_assert_uint_eq(cm->cmsg_len, CMSG_LEN(sizeof(int)));
    int fd;
    memcpy(&fd, CMSG_DATA(cm), sizeof fd);
    ck_assert(tu_same_file(fd, p[1]));
    ck_assert_ptr_null(CMSG_NXTHDR(&mh, cm));
    ck_assert_int_eq(read(raw, data, 2), 2);
    ck_assert_mem_eq(data, "cd", 2);
    close(fd);
    tu_close_raw_pair(p);
    TU_OK(hclose(h));
    close(raw);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fdpass");
    TCase *tc = tu_tcase("pass");
    tcase_add_test(tc, sendfd_and_recvfd_keep_order_with_the_byte_stream);
    tcase_add_test(tc, blocked_recvfd_returns_the_descriptor_when_it_arrives);
    tcase_add_test(tc, descriptors_pass_in_sequence);
    tcase_add_test(tc, received_descriptor_is_close_on_exec);
    tcase_add_test(tc, a_passed_socket_can_be_wrapped_again);
    suite_add_tcase(s, tc);

    tc = tu_tcase("errors");
    tcase_add_test(tc,
                   recvfd_when_the_next_byte_has_no_descriptor_fails_with_eproto);
    tcase_add_test(tc,
                   sendfd_with_a_bad_descriptor_fails_with_einval_and_sends_nothing);
    tcase_add_test(tc, recvfd_times_out_with_etimedout_and_fails_with_epipe_at_eof);
    tcase_add_test(tc, sendfd_after_ipc_done_fails_with_epipe);
    suite_add_tcase(s, tc);

    tc = tu_tcase("wire");
    tcase_add_test(tc, recvfd_of_one_descriptor_from_a_raw_peer_works);
    tcase_add_test(tc, hostile_peer_sending_2_descriptors_leaks_nothing);
    tcase_add_test(tc, hostile_peer_sending_3_descriptors_leaks_nothing);
    tcase_add_test(tc, hostile_peer_sending_200_descriptors_leaks_nothing);
    tcase_add_test(tc, hostile_peer_sending_several_cmsgs_leaks_nothing);
    tcase_add_test(tc, descriptors_arriving_during_brecv_are_closed);
    tcase_add_test(tc, sendfd_puts_one_0xcc_byte_with_one_descriptor_on_the_wire);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
