/*
 * choose between plain threads: the index of the clause that happened,
 * the earliest ready clause first, deadlines, and clauses that fail at
 * once (every handle is checked before anything happens).
 */
#include "chan_util.h"

START_TEST(choose_returns_the_index_of_the_clause_that_happened)
{
    int a[2], b[2];
    ct_make(a);
    ct_make(b);
    struct ct_op tx = ct_send_op(b[0], 21, -1);
    ct_op_start_blocked(&tx);
    int va = -1, vb = -1;
    struct chclause cl[] = {{CHRECV, a[1], &va, sizeof va},
                            {CHRECV, b[1], &vb, sizeof vb}};
    CT_CHOSE(choose(cl, 2, now() + 5000), 1, 0);
    ck_assert_int_eq(vb, 21);
    ck_assert_int_eq(va, -1);
    ct_op_join(&tx);
    CT_OP_OK(&tx);
    ct_close_both(a);
    ct_close_both(b);
}
END_TEST

START_TEST(choose_blocks_until_a_clause_can_happen)
{
    int a[2], b[2];
    ct_make(a);
    ct_make(b);
    static int va = -1, vb = -1;
    static struct chclause cl[2];
    cl[0] = (struct chclause){CHRECV, a[1], &va, sizeof va};
    cl[1] = (struct chclause){CHRECV, b[1], &vb, sizeof vb};
    struct ct_op ch = {.kind = CT_CHOOSE, .cl = cl, .n = 2, .deadline = -1};
    ct_op_start_blocked(&ch);
    tu_sleep_ms(30);
    ck_assert(!atomic_load(&ch.done));
    int v = 31;
    TU_OK(chsend(b[0], &v, sizeof v, now() + 5000));
    ct_op_join(&ch);
    ck_assert_msg(ch.rc == 1 && ch.err == 0, "choose: %d %s", ch.rc,
                  tu_errname(ch.err));
    ck_assert_int_eq(vb, 31);
    /* The other clause was withdrawn: a sender on a finds nobody. */
    ct_no_receiver(a[0]);
    ct_close_both(a);
    ct_close_both(b);
}
END_TEST

START_TEST(choose_send_clause_hands_its_value_to_a_receiver)
{
    int a[2], b[2];
    ct_make(a);
    ct_make(b);
    struct ct_op rx = ct_recv_op(b[1], -1);
    ct_op_start_blocked(&rx);
    int va = 1, vb = 2;
    struct chclause cl[] = {{CHSEND, a[0], &va, sizeof va},
                            {CHSEND, b[0], &vb, sizeof vb}};
    CT_CHOSE(choose(cl, 2, now() + 5000), 1, 0);
    ct_op_join(&rx);
    CT_OP_OK(&rx);
    ck_assert_int_eq(rx.val, 2);
    ct_close_both(a);
    ct_close_both(b);
}
END_TEST

START_TEST(choose_prefers_the_earliest_ready_clause)
{
    int a[2], b[2];
    ct_make(a);
    ct_make(b);
    struct ct_op ta = ct_send_op(a[0], 100, -1), tb = ct_send_op(b[0], 200, -1);
    ct_op_start_blocked(&ta);
    ct_op_start_blocked(&tb);
    int va = -1, vb = -1;
    /* Both are ready; the first in the array wins, whatever the order in
       which the senders came. */
    struct chclause ba[] = {{CHRECV, b[1], &vb, sizeof vb},
                            {CHRECV, a[1], &va, sizeof va}};
    CT_CHOSE(choose(ba, 2, now() + 5000), 0, 0);
    ck_assert_int_eq(vb, 200);
    ck_assert_int_eq(va, -1);
    ct_op_join(&tb);
    CT_OP_OK(&tb);
    ck_assert(!atomic_load(&ta.done));

    tb = ct_send_op(b[0], 201, -1);
    ct_op_start_blocked(&tb);
    struct chclause ab[] = {{CHRECV, a[1], &va, sizeof va},
                            {CHRECV, b[1], &vb, sizeof vb}};
    CT_CHOSE(choose(ab, 2, now() + 5000), 0, 0);
    ck_assert_int_eq(va, 100);
    ct_op_join(&ta);
    CT_OP_OK(&ta);
    TU_OK(chrecv(b[1], &vb, sizeof vb, now() + 5000));
    ck_assert_int_eq(vb, 201);
    ct_op_join(&tb);
    ct_close_both(a);
    ct_close_both(b);
}
END_TEST

START_TEST(choose_with_deadline_zero_fails_at_once_when_nothing_is_ready)
{
    int a[2];
    ct_make(a);
    int v = 0;
    struct chclause cl[] = {{CHRECV, a[1], &v, sizeof v},
                            {CHSEND, a[1], &v, sizeof v}};
    int64_t start = now();
    CT_CHOSE(choose(cl, 2, 0), -1, ETIMEDOUT);
    ck_assert_int_le(now() - start, ct_prompt_ms());
    /* Nothing stays queued. */
    ct_no_receiver(a[0]);
    ct_no_sender(a[0]);
    ct_close_both(a);
}
END_TEST

START_TEST(choose_with_deadline_zero_takes_a_ready_clause)
{
    int a[2];
    ct_make(a);
    struct ct_op tx = ct_send_op(a[0], 8, -1);
    ct_op_start_blocked(&tx);
    int v = 0;
    struct chclause cl = {CHRECV, a[1], &v, sizeof v};
    CT_CHOSE(choose(&cl, 1, 0), 0, 0);
    ck_assert_int_eq(v, 8);
    ct_op_join(&tx);
    CT_OP_OK(&tx);
    ct_close_both(a);
}
END_TEST

START_TEST(choose_fails_with_etimedout_at_the_deadline)
{
    int a[2];
    ct_make(a);
    int v = 0;
    struct chclause cl = {CHRECV, a[1], &v, sizeof v};
    int64_t start = now();
    CT_CHOSE(choose(&cl, 1, start + 100), -1, ETIMEDOUT);
    ck_assert_int_ge(now() - start, 100);
    ck_assert_int_le(now() - start, 100 + ct_prompt_ms());
    ct_no_receiver(a[0]);
    ct_close_both(a);
}
END_TEST

START_TEST(choose_with_no_clauses_waits_until_the_deadline)
{
    int64_t start = now();
    CT_CHOSE(choose(NULL, 0, start + 50), -1, ETIMEDOUT);
    ck_assert_int_ge(now() - start, 50);
    CT_CHOSE(choose(NULL, 0, 0), -1, ETIMEDOUT);
}
END_TEST

START_TEST(choose_with_a_bad_count_or_array_fails_with_einval)
{
    int a[2];
    ct_make(a);
    int v = 0;
    struct chclause cl = {CHRECV, a[1], &v, sizeof v};
    CT_CHOSE(choose(&cl, -1, 0), -1, EINVAL);
    CT_CHOSE(choose(NULL, 1, 0), -1, EINVAL);
    ct_close_both(a);
}
END_TEST

/* Clause bad of the choose [recv from a waiting sender, bad] returns index
   1 with err, and the sender is still waiting with its value. */
static void choose_fails_at_once(struct chclause bad, int err)
{
    int a[2];
    ct_make(a);
    struct ct_op tx = ct_send_op(a[0], 55, -1);
    ct_op_start_blocked(&tx);
    int v = -1;
    struct chclause cl[] = {{CHRECV, a[1], &v, sizeof v}, bad};
    CT_CHOSE(choose(cl, 2, now() + 5000), 1, err);
    ck_assert_int_eq(v, -1);
    ck_assert(!atomic_load(&tx.done));
    TU_OK(chrecv(a[1], &v, sizeof v, now() + 5000));
    ck_assert_int_eq(v, 55);
    ct_op_join(&tx);
    CT_OP_OK(&tx);
    ct_close_both(a);
}

START_TEST(choose_checks_every_handle_first_ebadf)
{
    int v;
    choose_fails_at_once((struct chclause){CHRECV, 99999, &v, sizeof v},
                         EBADF);
}
END_TEST

START_TEST(choose_checks_every_handle_first_enotsup)
{
    int s[2], v;
    tu_pair(s);
    choose_fails_at_once((struct chclause){CHRECV, s[0], &v, sizeof v},
                         ENOTSUP);
    tu_close_pair(s);
}
END_TEST

START_TEST(choose_with_a_bad_op_returns_its_index_with_einval)
{
    int b[2], v;
    ct_make(b);
    choose_fails_at_once((struct chclause){3, b[1], &v, sizeof v}, EINVAL);
    choose_fails_at_once((struct chclause){0, b[1], &v, sizeof v}, EINVAL);
    ct_close_both(b);
}
END_TEST

START_TEST(choose_with_a_null_value_and_a_length_returns_its_index_with_einval)
{
    int b[2];
    ct_make(b);
    choose_fails_at_once((struct chclause){CHSEND, b[0], NULL, 4}, EINVAL);
    ct_close_both(b);
}
END_TEST

START_TEST(choose_with_a_done_channel_returns_its_index_with_epipe)
{
    int b[2];
    ct_make(b);
    TU_OK(chdone(b[0]));
    int v = 0;
    struct chclause cl[] = {{CHRECV, b[0], &v, sizeof v},
                            {CHRECV, b[1], &v, sizeof v}};
    CT_CHOSE(choose(cl, 2, now() + 5000), 1, EPIPE);
    struct chclause cs[] = {{CHSEND, b[0], &v, sizeof v}};
    CT_CHOSE(choose(cs, 1, -1), 0, EPIPE);
    ct_close_both(b);
}
END_TEST

START_TEST(choose_with_a_size_mismatch_returns_its_index_with_emsgsize)
{
    int a[2], b[2];
    ct_make(a);
    ct_make(b);
    struct ct_op tx = ct_send_op(b[0], 66, -1);
    ct_op_start_blocked(&tx);
    int v = -1;
    int64_t big = -1;
    struct chclause cl[] = {{CHRECV, a[1], &v, sizeof v},
                            {CHRECV, b[1], &big, sizeof big}};
    CT_CHOSE(choose(cl, 2, now() + 5000), 1, EMSGSIZE);
    ck_assert(big == -1);
    ct_op_join(&tx);
    CT_OP_FAILED(&tx, EMSGSIZE);
    ct_close_both(a);
    ct_close_both(b);
}
END_TEST

START_TEST(choose_with_many_clauses_finds_the_ready_one)
{
    enum { N = 20 };
    int ch[N][2], v[N];
    struct chclause cl[N];
    for (int i = 0; i < N; i++) {
        ct_make(ch[i]);
        v[i] = -1;
        cl[i] = (struct chclause){CHRECV, ch[i][1], &v[i], sizeof v[i]};
    }
    struct ct_op tx = ct_send_op(ch[17][0], 1717, -1);
    ct_op_start_blocked(&tx);
    CT_CHOSE(choose(cl, N, now() + 5000), 17, 0);
    ck_assert_int_eq(v[17], 1717);
    ct_op_join(&tx);
    CT_OP_OK(&tx);
    /* Blocked with many clauses, then woken by one. */
    static struct chclause cl2[N];
    memcpy(cl2, cl, sizeof cl);
    struct ct_op rx = {.kind = CT_CHOOSE, .cl = cl2, .n = N, .deadline = -1};
    ct_op_start_blocked(&rx);
    int x = 333;
    TU_OK(chsend(ch[3][0], &x, sizeof x, now() + 5000));
    ct_op_join(&rx);
    ck_assert(rx.rc == 3 && rx.err == 0);
    ck_assert_int_eq(v[3], 333);
    for (int i = 0; i < N; i++) {
        ct_no_receiver(ch[i][0]);
        ct_close_both(ch[i]);
    }
}
END_TEST

START_TEST(choose_on_both_directions_of_one_channel)
{
    int a[2];
    ct_make(a);
    struct ct_op rx = ct_recv_op(a[0], -1);
    ct_op_start_blocked(&rx);
    int in = -1, out = 12;
    /* Receiving at a[1] has no sender; sending from a[1] has a receiver. */
    struct chclause cl[] = {{CHRECV, a[1], &in, sizeof in},
                            {CHSEND, a[1], &out, sizeof out}};
    CT_CHOSE(choose(cl, 2, now() + 5000), 1, 0);
    ct_op_join(&rx);
    CT_OP_OK(&rx);
    ck_assert_int_eq(rx.val, 12);
    ck_assert_int_eq(in, -1);
    ct_close_both(a);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("choose");
    TCase *tc = tu_tcase("choose");
    tcase_add_test(tc, choose_returns_the_index_of_the_clause_that_happened);
    tcase_add_test(tc, choose_blocks_until_a_clause_can_happen);
    tcase_add_test(tc, choose_send_clause_hands_its_value_to_a_receiver);
    tcase_add_test(tc, choose_prefers_the_earliest_ready_clause);
    tcase_add_test(
        tc, choose_with_deadline_zero_fails_at_once_when_nothing_is_ready);
    tcase_add_test(tc, choose_with_deadline_zero_takes_a_ready_clause);
    tcase_add_test(tc, choose_fails_with_etimedout_at_the_deadline);
    tcase_add_test(tc, choose_with_no_clauses_waits_until_the_deadline);
    tcase_add_test(tc, choose_with_a_bad_count_or_array_fails_with_einval);
    tcase_add_test(tc, choose_checks_every_handle_first_ebadf);
    tcase_add_test(tc, choose_checks_every_handle_first_enotsup);
    tcase_add_test(tc, choose_with_a_bad_op_returns_its_index_with_einval);
    tcase_add_test(
        tc,
        choose_with_a_null_value_and_a_length_returns_its_index_with_einval);
    tcase_add_test(tc,
                   choose_with_a_done_channel_returns_its_index_with_epipe);
    tcase_add_test(
        tc, choose_with_a_size_mismatch_returns_its_index_with_emsgsize);
    tcase_add_test(tc, choose_with_many_clauses_finds_the_ready_one);
    tcase_add_test(tc, choose_on_both_directions_of_one_channel);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
