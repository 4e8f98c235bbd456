/*
 * Channels between plain threads: chmake, chmake_mem, chsend, chrecv and
 * chdone, one call at a time. The rules are libdill's (unbuffered
 * rendezvous, EMSGSIZE on both sides, EPIPE after chdone, arrival order)
 * with tdill's: any thread may use any end. test_choose covers choose,
 * test_chan_threads hclose, races, pthread_cancel and fork.
 */
#include "chan_util.h"

/******************************************************************************/
/*  Rendezvous                                                                */
/******************************************************************************/

START_TEST(chmake_gives_two_distinct_handles)
{
    int ch[2];
    ct_make(ch);
    ck_assert_int_ne(ch[0], ch[1]);
    ct_close_both(ch);
}
END_TEST

START_TEST(value_sent_on_one_end_is_received_on_the_other_both_ways)
{
    int ch[2];
    ct_make(ch);
    ct_passes(ch[0], ch[1], 42);
    ct_passes(ch[1], ch[0], 43);
    ct_close_both(ch);
}
END_TEST

START_TEST(chsend_blocks_until_a_receiver_takes_the_value)
{
    int ch[2];
    ct_make(ch);
    struct ct_op tx = ct_send_op(ch[0], 7, -1);
    ct_op_start_blocked(&tx);
    tu_sleep_ms(50);
    ck_assert(!atomic_load(&tx.done));
    int v = 0;
    TU_OK(chrecv(ch[1], &v, sizeof v, now() + 5000));
    ck_assert_int_eq(v, 7);
    ct_op_join(&tx);
    CT_OP_OK(&tx);
    ct_close_both(ch);
}
END_TEST

START_TEST(chrecv_blocks_until_a_sender_comes)
{
    int ch[2];
    ct_make(ch);
    struct ct_op rx = ct_recv_op(ch[1], -1);
    ct_op_start_blocked(&rx);
    tu_sleep_ms(50);
    ck_assert(!atomic_load(&rx.done));
    int v = 9;
    TU_OK(chsend(ch[0], &v, sizeof v, now() + 5000));
    ct_op_join(&rx);
    CT_OP_OK(&rx);
    ck_assert_int_eq(rx.val, 9);
    ct_close_both(ch);
}
END_TEST

START_TEST(calls_on_the_same_end_never_meet)
{
    int ch[2];
    ct_make(ch);
    struct ct_op rx = ct_recv_op(ch[0], -1);
    ct_op_start_blocked(&rx);
    int v = 1;
    TU_FAILS(chsend(ch[0], &v, sizeof v, now() + 100), ETIMEDOUT);
    ck_assert(!atomic_load(&rx.done));
    /* What the other end sends reaches it. */
    v = 2;
    TU_OK(chsend(ch[1], &v, sizeof v, now() + 5000));
    ct_op_join(&rx);
    CT_OP_OK(&rx);
    ck_assert_int_eq(rx.val, 2);
    ct_close_both(ch);
}
END_TEST

START_TEST(chsend_without_a_receiver_fails_with_etimedout_at_the_deadline)
{
    int ch[2];
    ct_make(ch);
    int v = 1;
    int64_t start = now();
    TU_FAILS(chsend(ch[0], &v, sizeof v, start + 100), ETIMEDOUT);
    ck_assert_int_ge(now() - start, 100);
    ck_assert_int_le(now() - start, 100 + ct_prompt_ms());
    /* Not queued for later: a receiver now finds nobody. */
    ct_no_sender(ch[1]);
    ct_close_both(ch);
}
END_TEST

START_TEST(chrecv_without_a_sender_fails_with_etimedout_at_the_deadline)
{
    int ch[2];
    ct_make(ch);
    int v = 1;
    int64_t start = now();
    TU_FAILS(chrecv(ch[1], &v, sizeof v, start + 100), ETIMEDOUT);
    ck_assert_int_ge(now() - start, 100);
    ck_assert_int_le(now() - start, 100 + ct_prompt_ms());
    ct_no_receiver(ch[0]);
    ct_close_both(ch);
}
END_TEST

START_TEST(deadline_zero_fails_at_once_when_nobody_waits)
{
    int ch[2];
    ct_make(ch);
    int v = 1;
    int64_t start = now();
    TU_FAILS(chsend(ch[0], &v, sizeof v, 0), ETIMEDOUT);
    TU_FAILS(chrecv(ch[1], &v, sizeof v, 0), ETIMEDOUT);
    /* A deadline in the past is the same. */
    TU_FAILS(chsend(ch[0], &v, sizeof v, now() - 1000), ETIMEDOUT);
    TU_FAILS(chrecv(ch[1], &v, sizeof v, now() - 1000), ETIMEDOUT);
    ck_assert_int_le(now() - start, ct_prompt_ms());
    ct_close_both(ch);
}
END_TEST

START_TEST(deadline_zero_meets_a_peer_already_waiting)
{
    int ch[2];
    ct_make(ch);
    struct ct_op rx = ct_recv_op(ch[1], -1);
    ct_op_start_blocked(&rx);
    int v = 5;
    TU_OK(chsend(ch[0], &v, sizeof v, 0));
    ct_op_join(&rx);
    CT_OP_OK(&rx);
    ck_assert_int_eq(rx.val, 5);

    struct ct_op tx = ct_send_op(ch[0], 6, -1);
    ct_op_start_blocked(&tx);
    TU_OK(chrecv(ch[1], &v, sizeof v, 0));
    ck_assert_int_eq(v, 6);
    ct_op_join(&tx);
    CT_OP_OK(&tx);
    ct_close_both(ch);
}
END_TEST

START_TEST(sizes_that_differ_fail_both_sides_with_emsgsize)
{
    int ch[2];
    ct_make(ch);
    /* The receiver waits first. */
    struct ct_op rx = ct_recv_op(ch[1], now() + 5000);
    ct_op_start_blocked(&rx);
    int64_t big = 1;
    TU_FAILS(chsend(ch[0], &big, sizeof big, now() + 5000), EMSGSIZE);
    ct_op_join(&rx);
    CT_OP_FAILED(&rx, EMSGSIZE);
    ck_assert_int_eq(rx.val, -1); /* nothing copied */

    /* The sender waits first. */
    struct ct_op tx = ct_send_op(ch[0], 3, now() + 5000);
    ct_op_start_blocked(&tx);
    big = -1;
    TU_FAILS(chrecv(ch[1], &big, sizeof big, now() + 5000), EMSGSIZE);
    ck_assert(big == -1);
    ct_op_join(&tx);
    CT_OP_FAILED(&tx, EMSGSIZE);

    /* Both were consumed by the failure; the channel goes on working. */
    ct_no_sender(ch[1]);
    ct_no_receiver(ch[0]);
    ct_passes(ch[0], ch[1], 4);
    ct_close_both(ch);
}
END_TEST

START_TEST(zero_length_values_with_null_pointers_pass)
{
    int ch[2];
    ct_make(ch);
    /* The other side is a choose, whose clause holds the NULL pointer. */
    static struct chclause cl, cs;
    cl = (struct chclause){CHRECV, ch[1], NULL, 0};
    struct ct_op rx = {.kind = CT_CHOOSE, .cl = &cl, .n = 1,
                       .deadline = now() + 5000};
    ct_op_start_blocked(&rx);
    TU_OK(chsend(ch[0], NULL, 0, now() + 5000));
    ct_op_join(&rx);
    ck_assert_int_eq(rx.rc, 0);

    cs = (struct chclause){CHSEND, ch[0], NULL, 0};
    struct ct_op tx = {.kind = CT_CHOOSE, .cl = &cs, .n = 1,
                       .deadline = now() + 5000};
    ct_op_start_blocked(&tx);
    TU_OK(chrecv(ch[1], NULL, 0, now() + 5000));
    ct_op_join(&tx);
    ck_assert_int_eq(tx.rc, 0);
    ct_close_both(ch);
}
END_TEST

START_TEST(nonzero_length_with_a_null_value_fails_with_einval)
{
    int ch[2];
    ct_make(ch);
    TU_FAILS(chsend(ch[0], NULL, 4, now() + 100), EINVAL);
    TU_FAILS(chrecv(ch[1], NULL, 4, now() + 100), EINVAL);
    /* Also when a peer is waiting: it is left waiting. */
    struct ct_op rx = ct_recv_op(ch[1], now() + 5000);
    ct_op_start_blocked(&rx);
    TU_FAILS(chsend(ch[0], NULL, sizeof(int), 0), EINVAL);
    ck_assert(!atomic_load(&rx.done));
    int v = 11;
    TU_OK(chsend(ch[0], &v, sizeof v, now() + 5000));
    ct_op_join(&rx);
    CT_OP_OK(&rx);
    ck_assert_int_eq(rx.val, 11);
    ct_close_both(ch);
}
END_TEST

START_TEST(chmake_with_null_fails_with_einval)
{
    TU_FAILS(chmake(NULL), EINVAL);
}
END_TEST

START_TEST(chmake_mem_with_null_fails_with_einval)
{
    int ch[2];
    struct chstorage st;
    TU_FAILS(chmake_mem(NULL, ch), EINVAL);
    TU_FAILS(chmake_mem(&st, NULL), EINVAL);
}
END_TEST

START_TEST(chmake_mem_channel_works_and_its_storage_is_reusable)
{
    static struct chstorage st;
    for (int round = 0; round < 3; round++) {
        int ch[2];
        TU_OK(chmake_mem(&st, ch));
        ct_passes(ch[0], ch[1], round);
        ct_passes(ch[1], ch[0], round + 100);
        ct_close_both(ch);
        memset(&st, 0xEE, sizeof st);
    }
}
END_TEST

START_TEST(dill_and_tdill_spellings_name_the_same_calls)
{
    int ch[2];
    TU_OK(tdill_chmake(ch));
    struct dill_chclause cl = {DILL_CHRECV, ch[1], NULL, 0};
    ck_assert_int_eq(DILL_CHSEND, TDILL_CHSEND);
    ck_assert_int_eq(CHRECV, TDILL_CHRECV);
    TU_FAILS(dill_choose(&cl, 1, 0), ETIMEDOUT);
    TU_FAILS(dill_chsend(ch[0], NULL, 0, 0), ETIMEDOUT);
    TU_OK(dill_chdone(ch[0]));
    TU_FAILS(tdill_chrecv(ch[1], NULL, 0, 0), EPIPE);
    ct_close_both(ch);
}
END_TEST

START_TEST(a_channel_costs_no_file_descriptor)
{
    enum { N = 50 };
    int before = tu_count_fds();
    int ch[N][2];
    for (int i = 0; i < N; i++)
        ct_make(ch[i]);
    ck_assert_int_eq(tu_count_fds(), before);
    /* Nor does waiting on one. */
    struct ct_op rx = ct_recv_op(ch[0][1], -1);
    ct_op_start_blocked(&rx);
    ck_assert_int_eq(tu_count_fds(), before);
    int v = 1;
    TU_OK(chsend(ch[0][0], &v, sizeof v, now() + 5000));
    ct_op_join(&rx);
    CT_OP_OK(&rx);
    for (int i = 0; i < N; i++)
        ct_close_both(ch[i]);
    ck_assert_int_eq(tu_count_fds(), before);
}
END_TEST

/******************************************************************************/
/*  Wrong handles                                                             */
/******************************************************************************/

START_TEST(calls_on_a_closed_end_fail_with_ebadf)
{
    int ch[2];
    ct_make(ch);
    TU_OK(hclose(ch[0]));
    int v = 0;
    TU_FAILS(chsend(ch[0], &v, sizeof v, 0), EBADF);
    TU_FAILS(chrecv(ch[0], &v, sizeof v, 0), EBADF);
    TU_FAILS(chdone(ch[0]), EBADF);
    struct chclause cl[] = {{CHRECV, ch[1], &v, sizeof v},
                            {CHRECV, ch[0], &v, sizeof v}};
    CT_CHOSE(choose(cl, 2, 0), 1, EBADF);
    TU_FAILS(hclose(ch[0]), EBADF);
    TU_OK(hclose(ch[1]));
    TU_FAILS(chsend(-1, &v, sizeof v, 0), EBADF);
    TU_FAILS(chrecv(123456, &v, sizeof v, 0), EBADF);
}
END_TEST

START_TEST(channel_calls_on_a_socket_handle_fail_with_enotsup)
{
    int s[2];
    tu_pair(s);
    int v = 0;
    TU_FAILS(chsend(s[0], &v, sizeof v, 0), ENOTSUP);
    TU_FAILS(chrecv(s[0], &v, sizeof v, 0), ENOTSUP);
    TU_FAILS(chdone(s[0]), ENOTSUP);
    struct chclause cl = {CHRECV, s[0], &v, sizeof v};
    CT_CHOSE(choose(&cl, 1, 0), 0, ENOTSUP);
    tu_close_pair(s);
}
END_TEST

START_TEST(bytestream_calls_on_a_channel_fail_with_enotsup)
{
    int ch[2];
    ct_make(ch);
    char buf[4] = "abc";
    TU_FAILS(bsend(ch[0], buf, 3, 0), ENOTSUP);
    TU_FAILS(brecv(ch[1], buf, 3, 0), ENOTSUP);
    /* And the channel is untouched. */
    ct_passes(ch[0], ch[1], 1);
    ct_close_both(ch);
}
END_TEST

/******************************************************************************/
/*  chdone                                                                    */
/******************************************************************************/

START_TEST(chdone_fails_later_senders_on_that_end_with_epipe)
{
    int ch[2];
    ct_make(ch);
    TU_OK(chdone(ch[0]));
    int v = 1;
    TU_FAILS(chsend(ch[0], &v, sizeof v, now() + 100), EPIPE);
    TU_FAILS(chsend(ch[0], &v, sizeof v, 0), EPIPE);
    ct_close_both(ch);
}
END_TEST

START_TEST(chdone_fails_later_receivers_on_the_other_end_with_epipe)
{
    int ch[2];
    ct_make(ch);
    TU_OK(chdone(ch[0]));
    int v = 1;
    TU_FAILS(chrecv(ch[1], &v, sizeof v, now() + 100), EPIPE);
    TU_FAILS(chrecv(ch[1], &v, sizeof v, -1), EPIPE);
    ct_close_both(ch);
}
END_TEST

START_TEST(chdone_fails_blocked_receivers_on_the_other_end_with_epipe)
{
    int ch[2];
    ct_make(ch);
    struct ct_op rx[2] = {ct_recv_op(ch[1], -1), ct_recv_op(ch[1], -1)};
    ct_op_start_blocked(&rx[0]);
    ct_op_start_blocked(&rx[1]);
    TU_OK(chdone(ch[0]));
    for (int i = 0; i < 2; i++) {
        ct_op_join(&rx[i]);
        CT_OP_FAILED(&rx[i], EPIPE);
    }
    ct_close_both(ch);
}
END_TEST

START_TEST(chdone_fails_blocked_senders_on_that_end_with_epipe)
{
    int ch[2];
    ct_make(ch);
    struct ct_op tx = ct_send_op(ch[0], 1, -1);
    ct_op_start_blocked(&tx);
    TU_OK(chdone(ch[0]));
    ct_op_join(&tx);
    CT_OP_FAILED(&tx, EPIPE);
    ct_close_both(ch);
}
END_TEST

START_TEST(second_chdone_fails_with_epipe)
{
    int ch[2];
    ct_make(ch);
    TU_OK(chdone(ch[0]));
    TU_FAILS(chdone(ch[0]), EPIPE);
    /* The other end's direction is its own. */
    TU_OK(chdone(ch[1]));
    TU_FAILS(chdone(ch[1]), EPIPE);
    ct_close_both(ch);
}
END_TEST

START_TEST(chdone_leaves_the_other_direction_working)
{
    int ch[2];
    ct_make(ch);
    /* A receiver on the done end itself stays blocked. */
    struct ct_op rx = ct_recv_op(ch[0], -1);
    ct_op_start_blocked(&rx);
    TU_OK(chdone(ch[0]));
    tu_sleep_ms(50);
    ck_assert(!atomic_load(&rx.done));
    int v = 77;
    TU_OK(chsend(ch[1], &v, sizeof v, now() + 5000));
    ct_op_join(&rx);
    CT_OP_OK(&rx);
    ck_assert_int_eq(rx.val, 77);
    /* A sender on the other end still finds later receivers. */
    ct_passes(ch[1], ch[0], 78);
    ct_close_both(ch);
}
END_TEST

/******************************************************************************/
/*  Arrival order                                                             */
/******************************************************************************/

START_TEST(blocked_receivers_are_served_in_arrival_order)
{
    int ch[2];
    ct_make(ch);
    struct ct_op rx[3];
    for (int i = 0; i < 3; i++) {
        rx[i] = ct_recv_op(ch[1], now() + 10000);
        ct_op_start_blocked(&rx[i]);
    }
    for (int i = 0; i < 3; i++) {
        int v = 10 + i;
        TU_OK(chsend(ch[0], &v, sizeof v, now() + 5000));
    }
    for (int i = 0; i < 3; i++) {
        ct_op_join(&rx[i]);
        CT_OP_OK(&rx[i]);
        ck_assert_int_eq(rx[i].val, 10 + i);
    }
    ct_close_both(ch);
}
END_TEST

START_TEST(blocked_senders_are_served_in_arrival_order)
{
    int ch[2];
    ct_make(ch);
    struct ct_op tx[3];
    for (int i = 0; i < 3; i++) {
        tx[i] = ct_send_op(ch[0], 20 + i, now() + 10000);
        ct_op_start_blocked(&tx[i]);
    }
    for (int i = 0; i < 3; i++) {
        int v = -1;
        TU_OK(chrecv(ch[1], &v, sizeof v, now() + 5000));
        ck_assert_int_eq(v, 20 + i);
    }
    for (int i = 0; i < 3; i++) {
        ct_op_join(&tx[i]);
        CT_OP_OK(&tx[i]);
    }
    ct_close_both(ch);
}
END_TEST

START_TEST(chooses_and_plain_receivers_share_one_arrival_order)
{
    int ch[2], other[2];
    ct_make(ch);
    ct_make(other);
    static int got = -1, dummy = -1;
    static struct chclause cl[2];
    cl[0] = (struct chclause){CHRECV, other[1], &dummy, sizeof dummy};
    cl[1] = (struct chclause){CHRECV, ch[1], &got, sizeof got};
    struct ct_op rx[3] = {ct_recv_op(ch[1], now() + 10000),
                          {.kind = CT_CHOOSE, .cl = cl, .n = 2,
                           .deadline = now() + 10000},
                          ct_recv_op(ch[1], now() + 10000)};
    for (int i = 0; i < 3; i++)
        ct_op_start_blocked(&rx[i]);
    for (int i = 0; i < 3; i++) {
        int v = 30 + i;
        TU_OK(chsend(ch[0], &v, sizeof v, now() + 5000));
    }
    for (int i = 0; i < 3; i++)
        ct_op_join(&rx[i]);
    CT_OP_OK(&rx[0]);
    ck_assert_int_eq(rx[0].val, 30);
    ck_assert(rx[1].rc == 1 && rx[1].err == 0);
    ck_assert_int_eq(got, 31);
    CT_OP_OK(&rx[2]);
    ck_assert_int_eq(rx[2].val, 32);
    ct_close_both(ch);
    ct_close_both(other);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("chan");
    TCase *tc = tu_tcase("rendezvous");
    tcase_add_test(tc, chmake_gives_two_distinct_handles);
    tcase_add_test(tc,
                   value_sent_on_one_end_is_received_on_the_other_both_ways);
    tcase_add_test(tc, chsend_blocks_until_a_receiver_takes_the_value);
    tcase_add_test(tc, chrecv_blocks_until_a_sender_comes);
    tcase_add_test(tc, calls_on_the_same_end_never_meet);
    tcase_add_test(
        tc, chsend_without_a_receiver_fails_with_etimedout_at_the_deadline);
    tcase_add_test(
        tc, chrecv_without_a_sender_fails_with_etimedout_at_the_deadline);
    tcase_add_test(tc, deadline_zero_fails_at_once_when_nobody_waits);
    tcase_add_test(tc, deadline_zero_meets_a_peer_already_waiting);
    tcase_add_test(tc, sizes_that_differ_fail_both_sides_with_emsgsize);
    tcase_add_test(tc, zero_length_values_with_null_pointers_pass);
    tcase_add_test(tc, nonzero_length_with_a_null_value_fails_with_einval);
    tcase_add_test(tc, chmake_with_null_fails_with_einval);
    tcase_add_test(tc, chmake_mem_with_null_fails_with_einval);
    tcase_add_test(tc, chmake_mem_channel_works_and_its_storage_is_reusable);
    tcase_add_test(tc, dill_and_tdill_spellings_name_the_same_calls);
    tcase_add_test(tc, a_channel_costs_no_file_descriptor);
    suite_add_tcase(s, tc);

    tc = tu_tcase("handles");
    tcase_add_test(tc, calls_on_a_closed_end_fail_with_ebadf);
    tcase_add_test(tc, channel_calls_on_a_socket_handle_fail_with_enotsup);
    tcase_add_test(tc, bytestream_calls_on_a_channel_fail_with_enotsup);
    suite_add_tcase(s, tc);

    tc = tu_tcase("chdone");
    tcase_add_test(tc, chdone_fails_later_senders_on_that_end_with_epipe);
    tcase_add_test(tc,
                   chdone_fails_later_receivers_on_the_other_end_with_epipe);
    tcase_add_test(tc,
                   chdone_fails_blocked_receivers_on_the_other_end_with_epipe);
    tcase_add_test(tc, chdone_fails_blocked_senders_on_that_end_with_epipe);
    tcase_add_test(tc, second_chdone_fails_with_epipe);
    tcase_add_test(tc, chdone_leaves_the_other_direction_working);
    suite_add_tcase(s, tc);

    tc = tu_tcase("order");
    tcase_add_test(tc, blocked_receivers_are_served_in_arrival_order);
    tcase_add_test(tc, blocked_senders_are_served_in_arrival_order);
    tcase_add_test(tc, chooses_and_plain_receivers_share_one_arrival_order);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
