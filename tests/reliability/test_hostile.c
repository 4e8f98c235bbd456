/* Hostile descriptor-passing peers on a raw socket: descriptors riding on
   bytes that tdill discards, skips, drains or never reads; a receiver that
   truncates the control data of what tdill sends; descriptors bundled with
   more than one byte. Whatever the peer does, no descriptor leaks: after
   every test no copy of the passed pipe end survives anywhere, not even in
   flight in a socket. */
#include "rel.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* A pipe whose write end the peer passes around, and n copies of it. */
struct bait {
    int p[2];
    int dups[256];
    int n;
};

static void bait_make(struct bait *b, int n)
{
    ck_assert_int_eq(pipe2(b->p, O_CLOEXEC), 0);
    b->n = n;
    for (int i = 0; i < n; i++) {
        b->dups[i] = fcntl(b->p[1], F_DUPFD_CLOEXEC, 0);
        ck_assert_int_ge(b->dups[i], 0);
    }
}

/* Closes our own copies: from here on only passed copies may remain. */
static void bait_drop_ours(struct bait *b)
{
    for (int i = 0; i < b->n; i++)
        close(b->dups[i]);
    close(b->p[1]);
    b->n = 0;
}

static void bait_check_gone(struct bait *b)
{
    ck_assert_msg(rel_pipe_write_end_gone(b->p[0]),
                  "a passed descriptor is still open somewhere");
    close(b->p[0]);
}

static void send_with_fds(int raw, const char *data, size_t len,
                          struct bait *b, int first, int count)
{
    ck_assert_int_eq(rel_send_fds(raw, data, len, b->dups + first, count),
                     (ssize_t)len);
}

START_TEST(descriptors_on_bytes_that_brecv_discards_or_skips_are_closed)
{
    int raw;
    struct bait b;
    tu_warm_up();
    int h = tu_raw_peer(&raw);
    int fds = tu_count_fds();
    bait_make(&b, 12);
    /* "AB" [0xCC+3] "CD" [0xCC+2] "EF" [X+4] "GH" [Y+3] */
    send_with_fds(raw, "AB", 2, &b, 0, 0);
    send_with_fds(raw, "\xCC", 1, &b, 0, 3);
    send_with_fds(raw, "CD", 2, &b, 0, 0);
    send_with_fds(raw, "\xCC", 1, &b, 3, 2);
    send_with_fds(raw, "EF", 2, &b, 0, 0);
    send_with_fds(raw, "X", 1, &b, 5, 4);
    send_with_fds(raw, "GH", 2, &b, 0, 0);
    send_with_fds(raw, "Y", 1, &b, 9, 3);
    bait_drop_ours(&b);
    /* Discard "AB" 0xCC "C". */
    TU_OK(brecv(h, NULL, 4, now() + 5000));
    /* "D", skip 0xCC "EF", then "XGH". */
    char d[1], x[3];
    struct iolist l3 = {x, 3, NULL, 0};
    struct iolist l2 = {NULL, 3, &l3, 0};
    struct iolist l1 = {d, 1, &l2, 0};
    TU_OK(brecvl(h, &l1, &l3, now() + 5000));
    ck_assert_mem_eq(d, "D", 1);
    ck_assert_mem_eq(x, "XGH", 3);
    /* A skip-only list over the last one. */
    struct iolist skip = {NULL, 1, NULL, 0};
    TU_OK(brecvl(h, &skip, &skip, now() + 5000));
    bait_check_gone(&b);
    ck_assert_int_eq(tu_count_fds(), fds);
    TU_OK(hclose(h));
    close(raw);
}
END_TEST

START_TEST(descriptors_on_bytes_drained_to_the_end_of_stream_are_closed)
{
    int raw;
    struct bait b;
    tu_warm_up();
    int h = tu_raw_peer(&raw);
    int fds = tu_count_fds();
    bait_make(&b, 60);
    for (int i = 0; i < 20; i++)
        send_with_fds(raw,
                      "\xCC"
                      "abc",
                      4, &b, 3 * i, 3);
    bait_drop_ours(&b);
    ck_assert_int_eq(shutdown(raw, SHUT_WR), 0);
    TU_FAILS(brecvl(h, NULL, NULL, now() + 5000), EPIPE);
    bait_check_gone(&b);
    ck_assert_int_eq(tu_count_fds(), fds);
    TU_OK(hclose(h));
    close(raw);
}
END_TEST

START_TEST(descriptors_on_bytes_that_ipc_close_drops_are_closed)
{
    int raw;
    struct bait b;
    tu_warm_up();
    int fds = tu_count_fds();
    int h = tu_raw_peer(&raw);
    bait_make(&b, 40);
    for (int i = 0; i < 20; i++)
        send_with_fds(raw,
                      "\xCC"
                      "x",
                      2, &b, 2 * i, 2);
    bait_drop_ours(&b);
    ck_assert_int_eq(shutdown(raw, SHUT_WR), 0);
    TU_OK(ipc_close(h, now() + 5000));
    close(raw);
    bait_check_gone(&b);
    ck_assert_int_eq(tu_count_fds(), fds);
}
END_TEST

START_TEST(descriptors_in_flight_to_a_handle_closed_unread_are_released)
{
    int raw;
    struct bait b;
    tu_warm_up();
    int fds = tu_count_fds();
    int h = tu_raw_peer(&raw);
    bait_make(&b, 200);
    send_with_fds(raw, "\xCC", 1, &b, 0, 100);
    send_with_fds(raw, "data", 4, &b, 100, 100);
    bait_drop_ours(&b);
    TU_OK(hclose(h));
    close(raw);
    bait_check_gone(&b);
    ck_assert_int_eq(tu_count_fds(), fds);
}
END_TEST

START_TEST(a_hundred_messages_with_descriptors_read_by_one_brecv_leak_nothing)
{
    int raw;
    struct bait b;
    tu_warm_up();
    int h = tu_raw_peer(&raw);
    int fds = tu_count_fds();
    bait_make(&b, 5);
    for (int i = 0; i < 100; i++)
        send_with_fds(raw, "\xCC", 1, &b, 0, 5);
    bait_drop_ours(&b);
    /* One call, many kernel messages each carrying descriptors. */
    char buf[100];
    TU_OK(brecv(h, buf, 100, now() + 5000));
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq((unsigned char)buf[i], 0xCC);
    bait_check_gone(&b);
    ck_assert_int_eq(tu_count_fds(), fds);
    TU_OK(hclose(h));
    close(raw);
}
END_TEST

/* Descriptors belong to the message that carried them: recvfd takes those of
   the first byte of a two-byte message, and the second byte, which then
   carries none, answers EPROTO. Nothing leaks either way. */
START_TEST(
    recvfd_on_a_message_of_two_bytes_takes_its_descriptors_with_the_first)
{
    int raw;
    struct bait b;
    tu_warm_up();
    int h = tu_raw_peer(&raw);
    int fds = tu_count_fds();
    bait_make(&b, 4);
    send_with_fds(raw, "\xCC", 1, &b, 0, 1); /* a well-formed one first */
    send_with_fds(raw, "\xCC\xCC", 2, &b, 1, 3);
    int keep = dup(b.p[1]);
    bait_drop_ours(&b);
    int fd;
    TU_HANDLE(fd, ipc_recvfd(h, now() + 5000));
    ck_assert(tu_same_file(fd, keep));
    close(fd);
    TU_HANDLE(fd, ipc_recvfd(h, now() + 5000));
    ck_assert(tu_same_file(fd, keep));
    ck_assert_int_eq(tu_count_fds(), fds + 3); /* fd, keep, the read end */
    close(fd);
    TU_FAILS(ipc_recvfd(h, now() + 5000), EPROTO);
    TU_FAILS(ipc_recvfd(h, 0), ECONNRESET);
    close(keep);
    bait_check_gone(&b);
    ck_assert_int_eq(tu_count_fds(), fds);
    TU_OK(hclose(h));
    close(raw);
}
END_TEST

/* What tdill sends to a raw receiver whose control buffer is too small for
   the descriptor: the kernel drops the descriptor (MSG_CTRUNC) and installs
   it nowhere; the connection goes on in both directions. */
static void truncated_control(size_t ctl_len)
{
    int raw;
    struct bait b;
    int h = tu_raw_peer(&raw);
    int fds = tu_count_fds();
    bait_make(&b, 0);
    TU_OK(bsend(h, "ab", 2, now() + 5000));
    TU_OK(ipc_sendfd(h, b.p[1], now() + 5000));
    TU_OK(bsend(h, "cd", 2, now() + 5000));
    bait_drop_ours(&b);
    char data[4];
    ck_assert_int_eq(recv(raw, data, 2, MSG_WAITALL), 2);
    ck_assert_mem_eq(data, "ab", 2);
    union {
        struct cmsghdr h;
        char buf[64];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct iovec iov = {data, 1};
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = ctl_len ? ctl.buf : NULL,
                        .msg_controllen = ctl_len};
    ck_assert_int_eq(recvmsg(raw, &mh, MSG_CMSG_CLOEXEC), 1);
    ck_assert_int_eq((unsigned char)data[0], 0xCC);
    ck_assert_msg(mh.msg_flags & MSG_CTRUNC, "control length %zu: no CTRUNC",
                  ctl_len);
    bait_check_gone(&b);
    ck_assert_int_eq(tu_count_fds(), fds); /* nothing was installed */
    ck_assert_int_eq(recv(raw, data, 2, MSG_WAITALL), 2);
    ck_assert_mem_eq(data, "cd", 2);
    /* Both directions still work, descriptors included. */
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    TU_OK(ipc_sendfd(h, p[0], now() + 5000));
    char cbuf[CMSG_SPACE(sizeof(int))];
    mh = (struct msghdr){.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = cbuf,
                         .msg_controllen = sizeof cbuf};
    ck_assert_int_eq(recvmsg(raw, &mh, MSG_CMSG_CLOEXEC), 1);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    ck_assert_ptr_nonnull(cm);
    int got;
    memcpy(&got, CMSG_DATA(cm), sizeof got);
    ck_assert(tu_same_file(got, p[0]));
    close(got);
    ck_assert_int_eq(rel_send_fds(raw, "\xCC", 1, &p[1], 1), 1);
    int fd;
    TU_HANDLE(fd, ipc_recvfd(h, now() + 5000));
    ck_assert(tu_same_file(fd, p[1]));
    close(fd);
    close(p[0]);
    close(p[1]);
    TU_OK(hclose(h));
    close(raw);
}

START_TEST(raw_receiver_truncating_control_data_loses_only_that_descriptor)
{
    tu_warm_up();
    truncated_control(0);
    truncated_control(1);
    truncated_control(sizeof(struct cmsghdr));
    truncated_control(CMSG_LEN(sizeof(int)) - 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hostile");
    TCase *tc = tu_tcase("hostile");
    tcase_add_test(
        tc, descriptors_on_bytes_that_brecv_discards_or_skips_are_closed);
    tcase_add_test(
        tc, descriptors_on_bytes_drained_to_the_end_of_stream_are_closed);
    tcase_add_test(tc, descriptors_on_bytes_that_ipc_close_drops_are_closed);
    tcase_add_test(
        tc, descriptors_in_flight_to_a_handle_closed_unread_are_released);
    tcase_add_test(
        tc,
        a_hundred_messages_with_descriptors_read_by_one_brecv_leak_nothing);
    tcase_add_test(
        tc,
        recvfd_on_a_message_of_two_bytes_takes_its_descriptors_with_the_first);
    tcase_add_test(
        tc, raw_receiver_truncating_control_data_loses_only_that_descriptor);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
