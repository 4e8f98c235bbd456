/* bsend/brecv: all-or-nothing, deadlines, dead directions, EOF, SIGPIPE. */
#include "util.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <stdlib.h>

#define BIG (16 * 1024 * 1024) /* more than any socket buffer holds */

/* The call fails with err at once: within a second (times tu_slowness),
   not after waiting for the peer. */
#define FAILS_AT_ONCE(expr, err)                                              \
    do {                                                                      \
        int64_t _t0 = now();                                                  \
        TU_FAILS(expr, err);                                                  \
        ck_assert_int_lt(now() - _t0, 1000 * tu_slowness());                  \
    } while (0)

START_TEST(bsend_then_brecv_delivers_the_same_bytes)
{
    int s[2];
    tu_pair(s);
    TU_OK(bsend(s[0], "hello, world", 12, -1));
    tu_expect_bytes(s[1], "hello, world", 12);
    TU_OK(bsend(s[1], "back", 4, now() + 1000));
    tu_expect_bytes(s[0], "back", 4);
    tu_close_pair(s);
}
END_TEST

START_TEST(brecv_returns_only_when_all_bytes_arrived)
{
    int s[2];
    tu_pair(s);
    struct tu_xfer x = {.h = s[0], .len = 3000, .seed = 7, .chunk = 10,
                        .deadline = -1};
    /* The sender trickles 10-byte pieces; one brecv must get them all. */
    tu_send_start(&x);
    unsigned char got[3000], want[3000];
    tu_fill(want, sizeof want, 7);
    TU_OK(brecv(s[1], got, sizeof got, now() + 10000));
    ck_assert_mem_eq(got, want, sizeof got);
    tu_xfer_join(&x);
    ck_assert_int_eq(x.rc, 0);
    tu_close_pair(s);
}
END_TEST

START_TEST(brecv_of_more_than_available_times_out_then_fails_with_econnreset)
{
    int s[2];
    tu_pair(s);
    char buf[10];
    TU_OK(bsend(s[0], "12345", 5, -1));
    TU_FAILS(brecv(s[1], buf, 10, now() + 50), ETIMEDOUT);
    TU_FAILS(brecv(s[1], buf, 5, -1), ECONNRESET);
    TU_FAILS(brecv(s[1], buf, 1, 0), ECONNRESET);
    tu_close_pair(s);
}
END_TEST

START_TEST(brecv_null_buffer_discards_bytes)
{
    int s[2];
    tu_pair(s);
    TU_OK(bsend(s[0], "0123456789", 10, -1));
    TU_OK(brecv(s[1], NULL, 4, now() + 5000));
    tu_expect_bytes(s[1], "456789", 6);
    /* A large discard too. */
    struct tu_xfer x = {.h = s[0], .len = 1 << 20, .seed = 3, .chunk = 0,
                        .deadline = -1};
    tu_send_start(&x);
    TU_OK(brecv(s[1], NULL, 1 << 20, now() + 10000));
    tu_xfer_join(&x);
    ck_assert_int_eq(x.rc, 0);
    TU_OK(bsend(s[0], "end", 3, -1));
    tu_expect_bytes(s[1], "end", 3);
    tu_close_pair(s);
}
END_TEST

START_TEST(zero_length_transfers_succeed_at_once)
{
    int s[2];
    tu_pair(s);
    char buf[4];
    TU_OK(bsend(s[0], buf, 0, 0));
    TU_OK(bsend(s[0], NULL, 0, -1));
    TU_OK(brecv(s[1], buf, 0, 0));
    TU_OK(brecv(s[1], NULL, 0, -1)); /* must not wait for anything */
    TU_OK(brecv(s[1], buf, 0, now() - 1000));
    /* Nothing was put on the wire. */
    TU_OK(bsend(s[0], "A", 1, -1));
    tu_expect_bytes(s[1], "A", 1);
    /* And nothing is waiting: a 0-byte receive did not eat the next byte. */
    TU_OK(bsend(s[0], "B", 1, -1));
    TU_OK(brecv(s[1], NULL, 0, 0));
    tu_expect_bytes(s[1], "B", 1);
    tu_close_pair(s);
}
END_TEST

START_TEST(zero_length_transfer_on_a_dead_direction_fails_with_econnreset)
{
    int s[2];
    tu_pair(s);
    char buf[4];
    TU_FAILS(brecv(s[1], buf, 1, 0), ETIMEDOUT);
    TU_FAILS(brecv(s[1], buf, 0, 0), ECONNRESET);
    TU_FAILS(brecv(s[1], NULL, 0, -1), ECONNRESET);
    char *big = malloc(BIG);
    memset(big, 1, BIG);
    TU_FAILS(bsend(s[0], big, BIG, 0), ETIMEDOUT);
    TU_FAILS(bsend(s[0], buf, 0, 0), ECONNRESET);
    free(big);
    tu_close_pair(s);
}
END_TEST

START_TEST(bsend_null_buffer_with_length_fails_with_einval_and_changes_nothing)
{
    int s[2];
    tu_pair(s);
    TU_FAILS(bsend(s[0], NULL, 1, -1), EINVAL);
    TU_FAILS(bsend(s[0], NULL, 100, 0), EINVAL);
    /* The direction is still alive and nothing was sent. */
    TU_OK(bsend(s[0], "ok", 2, -1));
    tu_expect_bytes(s[1], "ok", 2);
    tu_close_pair(s);
}
END_TEST

START_TEST(brecv_with_deadline_0_and_data_present_succeeds)
{
    int s[2];
    tu_pair(s);
    TU_OK(bsend(s[0], "abc", 3, -1));
    char buf[3];
    TU_OK(brecv(s[1], buf, 3, 0));
    ck_assert_mem_eq(buf, "abc", 3);
    tu_close_pair(s);
}
END_TEST

START_TEST(brecv_with_deadline_0_and_no_data_fails_with_etimedout_at_once)
{
    int s[2];
    tu_pair(s);
    char buf[3];
    FAILS_AT_ONCE(brecv(s[1], buf, 3, 0), ETIMEDOUT);
    tu_close_pair(s);
}
END_TEST

START_TEST(brecv_with_past_deadline_behaves_like_deadline_0)
{
    int s[2];
    tu_pair(s);
    char buf[3];
    TU_OK(bsend(s[0], "xyz", 3, -1));
    TU_OK(brecv(s[1], buf, 3, 1));
    ck_assert_mem_eq(buf, "xyz", 3);
    TU_OK(bsend(s[0], "uvw", 3, -1));
    TU_OK(brecv(s[1], buf, 3, now() - 1000));
    ck_assert_mem_eq(buf, "uvw", 3);
    FAILS_AT_ONCE(brecv(s[1], buf, 3, now() - 1), ETIMEDOUT);
    tu_close_pair(s);
    tu_pair(s);
    FAILS_AT_ONCE(brecv(s[1], buf, 3, 1), ETIMEDOUT);
    tu_close_pair(s);
}
END_TEST

START_TEST(brecv_with_negative_deadline_waits_until_data_arrives)
{
    int s[2];
    tu_pair(s);
    int64_t deadlines[] = {-1, -1000};
    for (int i = 0; i < 2; i++) {
        char buf[4] = "";
        struct tu_op op = {.kind = TU_BRECV, .h = s[1], .buf = buf, .len = 4,
                           .deadline = deadlines[i]};
        tu_op_start_blocked(&op);
        tu_sleep_ms(50);
        ck_assert(!tu_op_done(&op)); /* still waiting */
        TU_OK(bsend(s[0], "wake", 4, -1));
        tu_op_join(&op);
        TU_OP_OK(&op);
        ck_assert_int_eq(op.rc, 0);
        ck_assert_mem_eq(buf, "wake", 4);
    }
    tu_close_pair(s);
}
END_TEST

START_TEST(recv_after_timeout_fails_with_econnreset_but_sending_still_works)
{
    int s[2];
    tu_pair(s);
    char buf[4];
    TU_FAILS(brecv(s[0], buf, 4, now() + 20), ETIMEDOUT);
    TU_OK(bsend(s[1], "late", 4, -1));
    TU_FAILS(brecv(s[0], buf, 4, now() + 1000), ECONNRESET);
    /* The other direction of the same handle is alive. */
    TU_OK(bsend(s[0], "fine", 4, -1));
    tu_expect_bytes(s[1], "fine", 4);
    tu_close_pair(s);
}
END_TEST

START_TEST(send_after_timeout_fails_with_econnreset_but_receiving_still_works)
{
    int s[2];
    tu_pair(s);
    char *big = malloc(BIG);
    memset(big, 7, BIG);
    TU_FAILS(bsend(s[0], big, BIG, now() + 50), ETIMEDOUT);
    TU_FAILS(bsend(s[0], "x", 1, -1), ECONNRESET);
    TU_FAILS(bsend(s[0], "x", 1, 0), ECONNRESET);
    free(big);
    TU_OK(bsend(s[1], "hi", 2, -1));
    tu_expect_bytes(s[0], "hi", 2);
    tu_close_pair(s);
}
END_TEST

START_TEST(bsend_with_deadline_0_into_full_buffer_fails_with_etimedout)
{
    int s[2];
    tu_pair(s);
    char *big = malloc(BIG);
    memset(big, 7, BIG);
    FAILS_AT_ONCE(bsend(s[0], big, BIG, 0), ETIMEDOUT);
    TU_FAILS(bsend(s[0], "x", 1, -1), ECONNRESET);
    free(big);
    tu_close_pair(s);
}
END_TEST

START_TEST(brecv_after_peer_hclose_fails_with_epipe_after_all_data)
{
    int s[2];
    tu_pair(s);
    TU_OK(bsend(s[1], "abc", 3, -1));
    TU_OK(hclose(s[1]));
    tu_expect_bytes(s[0], "abc", 3);
    char c;
    TU_FAILS(brecv(s[0], &c, 1, now() + 5000), EPIPE);
    TU_FAILS(brecv(s[0], &c, 1, -1), EPIPE);
    TU_FAILS(brecv(s[0], &c, 1, 0), EPIPE);
    TU_FAILS(brecv(s[0], &c, 0, 0), EPIPE);
    TU_OK(hclose(s[0]));
}
END_TEST

START_TEST(brecv_of_more_than_remaining_before_eof_fails_with_epipe)
{
    int s[2];
    tu_pair(s);
    TU_OK(bsend(s[1], "abc", 3, -1));
    TU_OK(hclose(s[1]));
    char buf[10];
    TU_FAILS(brecv(s[0], buf, 10, now() + 5000), EPIPE);
    TU_FAILS(brecv(s[0], buf, 1, now() + 5000), EPIPE);
    TU_OK(hclose(s[0]));
}
END_TEST

START_TEST(blocked_brecv_fails_with_epipe_when_peer_closes)
{
    int s[2];
    tu_pair(s);
    char buf[8];
    struct tu_op op = {.kind = TU_BRECV, .h = s[0], .buf = buf, .len = 8,
                       .deadline = -1};
    tu_op_start_blocked(&op);
    TU_OK(bsend(s[1], "abc", 3, -1));
    TU_OK(hclose(s[1]));
    tu_op_join(&op);
    TU_OP_FAILED(&op, EPIPE);
    TU_OK(hclose(s[0]));
}
END_TEST

START_TEST(brecv_after_peer_ipc_done_fails_with_epipe_and_other_direction_works)
{
    int s[2];
    tu_pair(s);
    TU_OK(bsend(s[1], "last", 4, -1));
    TU_OK(ipc_done(s[1], -1));
    tu_expect_bytes(s[0], "last", 4);
    char c;
    TU_FAILS(brecv(s[0], &c, 1, now() + 5000), EPIPE);
    /* Half-closed: s[0] may still talk to s[1]. */
    TU_OK(bsend(s[0], "reply", 5, -1));
    tu_expect_bytes(s[1], "reply", 5);
    tu_close_pair(s);
}
END_TEST

START_TEST(bsend_after_own_ipc_done_fails_with_epipe)
{
    int s[2];
    tu_pair(s);
    TU_OK(ipc_done(s[0], -1));
    TU_FAILS(bsend(s[0], "x", 1, -1), EPIPE);
    struct iolist l = {"y", 1, NULL, 0};
    TU_FAILS(bsendl(s[0], &l, &l, -1), EPIPE);
    tu_close_pair(s);
}
END_TEST

START_TEST(brecv_from_peer_that_closed_with_unread_data_fails_with_econnreset)
{
    int s[2];
    tu_pair(s);
    /* s[1] closes without reading what s[0] sent: the kernel resets. */
    TU_OK(bsend(s[0], "unread", 6, -1));
    TU_OK(hclose(s[1]));
    char c;
    TU_FAILS(brecv(s[0], &c, 1, now() + 5000), ECONNRESET);
    TU_FAILS(brecv(s[0], &c, 1, now() + 5000), ECONNRESET);
    TU_OK(hclose(s[0]));
}
END_TEST

static void *send_then_done(void *arg)
{
    struct tu_xfer *x = arg;
    tu_sender(x);
    ipc_done(x->h, -1);
    return NULL;
}

START_TEST(discarding_an_endless_length_fails_with_epipe_at_eof)
{
    int s[2];
    tu_pair(s);
    struct tu_xfer x = {.h = s[1], .len = 1 << 20, .seed = 9, .chunk = 5000,
                        .deadline = now() + 10000};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, send_then_done, &x), 0);
    TU_FAILS(brecv(s[0], NULL, SIZE_MAX, now() + 10000), EPIPE);
    pthread_join(th, NULL);
    ck_assert_int_eq(x.rc, 0);
    tu_close_pair(s);
}
END_TEST

static void set_sigpipe(void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGPIPE, &sa, NULL), 0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    ck_assert_int_eq(pthread_sigmask(SIG_UNBLOCK, &set, NULL), 0);
}

/* Sends to peers that are gone in every way we know; must not die. */
static void send_to_closed_peers(void)
{
    int s[2];
    tu_pair(s);
    TU_OK(hclose(s[1]));
    TU_FAILS(bsend(s[0], "x", 1, -1), ECONNRESET);
    TU_FAILS(bsend(s[0], "x", 1, -1), ECONNRESET);
    TU_OK(hclose(s[0]));

    tu_pair(s);
    TU_OK(hclose(s[1]));
    struct iolist l = {"x", 1, NULL, 0};
    TU_FAILS(bsendl(s[0], &l, &l, now() + 1000), ECONNRESET);
    TU_OK(hclose(s[0]));

    tu_pair(s);
    TU_OK(hclose(s[1]));
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    TU_FAILS(ipc_sendfd(s[0], fd, now() + 1000), ECONNRESET);
    close(fd);
    TU_OK(hclose(s[0]));

    /* A sender blocked on a full buffer when the peer goes away. */
    tu_pair(s);
    char *big = malloc(BIG);
    memset(big, 3, BIG);
    struct tu_op op = {.kind = TU_BSEND, .h = s[0], .buf = big, .len = BIG,
                       .deadline = now() + 10000};
    tu_op_start_blocked(&op);
    TU_OK(hclose(s[1]));
    tu_op_join(&op);
    TU_OP_FAILED(&op, ECONNRESET);
    free(big);
    TU_OK(hclose(s[0]));
}

START_TEST(send_to_closed_peer_fails_with_econnreset_and_does_not_kill)
{
    set_sigpipe(SIG_DFL);
    send_to_closed_peers();
}
END_TEST

static volatile sig_atomic_t sigpipes;
static void count_sigpipe(int sig)
{
    (void)sig;
    sigpipes++;
}

START_TEST(send_to_closed_peer_raises_no_sigpipe)
{
    set_sigpipe(count_sigpipe);
    send_to_closed_peers();
    ck_assert_int_eq(sigpipes, 0);
    /* Nothing pending either, and our handler is still in place. */
    sigset_t pend;
    sigpending(&pend);
    ck_assert_int_eq(sigismember(&pend, SIGPIPE), 0);
    struct sigaction sa;
    sigaction(SIGPIPE, NULL, &sa);
    ck_assert_ptr_eq((void *)sa.sa_handler, (void *)count_sigpipe);
    sigset_t mask;
    pthread_sigmask(SIG_SETMASK, NULL, &mask);
    ck_assert_int_eq(sigismember(&mask, SIGPIPE), 0);
}
END_TEST

START_TEST(large_transfer_in_random_pieces_arrives_intact)
{
    int s[2];
    tu_pair(s);
    struct tu_xfer tx = {.h = s[0], .len = 6 << 20, .seed = 11,
                         .chunk = 100000, .deadline = now() + 20000};
    struct tu_xfer rx = {.h = s[1], .len = 6 << 20, .seed = 11,
                         .chunk = 70000, .deadline = now() + 20000};
    tu_send_start(&tx);
    tu_receiver(&rx);
    tu_xfer_join(&tx);
    ck_assert_int_eq(tx.rc, 0);
    ck_assert_int_eq(rx.rc, 0);
    ck_assert_int_eq(rx.mismatch, 0);
    tu_close_pair(s);
}
END_TEST

START_TEST(large_single_bsend_and_brecv_move_every_byte)
{
    int s[2];
    tu_pair(s);
    struct tu_xfer tx = {.h = s[1], .len = 8 << 20, .seed = 99, .chunk = 0,
                         .deadline = -1};
    struct tu_xfer rx = {.h = s[0], .len = 8 << 20, .seed = 99, .chunk = 0,
                         .deadline = now() + 20000};
    tu_send_start(&tx);
    tu_receiver(&rx);
    tu_xfer_join(&tx);
    ck_assert_int_eq(tx.rc, 0);
    ck_assert_int_eq(rx.rc, 0);
    ck_assert_int_eq(rx.mismatch, 0);
    /* Nothing more than was sent. */
    char c;
    TU_FAILS(brecv(s[0], &c, 1, 0), ETIMEDOUT);
    tu_close_pair(s);
}
END_TEST

START_TEST(bsend_returns_only_after_every_byte_left)
{
    int s[2];
    tu_pair(s);
    /* bsend of 4 MB cannot finish until the peer has taken most of it. */
    char *big = malloc(4 << 20);
    tu_fill(big, 4 << 20, 5);
    struct tu_op op = {.kind = TU_BSEND, .h = s[0], .buf = big,
                       .len = 4 << 20, .deadline = now() + 20000};
    tu_op_start_blocked(&op);
    ck_assert(!tu_op_done(&op));
    char *got = malloc(4 << 20);
    TU_OK(brecv(s[1], got, 4 << 20, now() + 20000));
    tu_op_join(&op);
    TU_OP_OK(&op);
    ck_assert_int_eq(op.rc, 0);
    ck_assert_mem_eq(got, big, 4 << 20);
    free(big);
    free(got);
    tu_close_pair(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bytestream");
    TCase *tc = tu_tcase("basics");
    tcase_add_test(tc, bsend_then_brecv_delivers_the_same_bytes);
    tcase_add_test(tc, brecv_returns_only_when_all_bytes_arrived);
    tcase_add_test(tc,
                   brecv_of_more_than_available_times_out_then_fails_with_econnreset);
    tcase_add_test(tc, brecv_null_buffer_discards_bytes);
    tcase_add_test(tc, zero_length_transfers_succeed_at_once);
    tcase_add_test(tc,
                   zero_length_transfer_on_a_dead_direction_fails_with_econnreset);
    tcase_add_test(tc,
                   bsend_null_buffer_with_length_fails_with_einval_and_changes_nothing);
    suite_add_tcase(s, tc);

    tc = tu_tcase("deadlines");
    tcase_add_test(tc, brecv_with_deadline_0_and_data_present_succeeds);
    tcase_add_test(tc,
                   brecv_with_deadline_0_and_no_data_fails_with_etimedout_at_once);
    tcase_add_test(tc, brecv_with_past_deadline_behaves_like_deadline_0);
    tcase_add_test(tc, brecv_with_negative_deadline_waits_until_data_arrives);
    tcase_add_test(tc,
                   recv_after_timeout_fails_with_econnreset_but_sending_still_works);
    tcase_add_test(tc,
                   send_after_timeout_fails_with_econnreset_but_receiving_still_works);
    tcase_add_test(tc, bsend_with_deadline_0_into_full_buffer_fails_with_etimedout);
    suite_add_tcase(s, tc);

    tc = tu_tcase("eof");
    tcase_add_test(tc, brecv_after_peer_hclose_fails_with_epipe_after_all_data);
    tcase_add_test(tc, brecv_of_more_than_remaining_before_eof_fails_with_epipe);
    tcase_add_test(tc, blocked_brecv_fails_with_epipe_when_peer_closes);
    tcase_add_test(tc,
                   brecv_after_peer_ipc_done_fails_with_epipe_and_other_direction_works);
    tcase_add_test(tc, bsend_after_own_ipc_done_fails_with_epipe);
    tcase_add_test(tc, discarding_an_endless_length_fails_with_epipe_at_eof);
    tcase_add_test(tc,
                   brecv_from_peer_that_closed_with_unread_data_fails_with_econnreset);
    suite_add_tcase(s, tc);

    tc = tu_tcase("sigpipe");
    tcase_add_test(tc, send_to_closed_peer_fails_with_econnreset_and_does_not_kill);
    tcase_add_test(tc, send_to_closed_peer_raises_no_sigpipe);
    suite_add_tcase(s, tc);

    tc = tu_tcase("large");
    tcase_add_test(tc, large_transfer_in_random_pieces_arrives_intact);
    tcase_add_test(tc, large_single_bsend_and_brecv_move_every_byte);
    tcase_add_test(tc, bsend_returns_only_after_every_byte_left);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
