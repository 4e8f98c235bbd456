/*
 * Channels between plain threads: chmake, chmake_mem, chsend, chrecv,
 * chdone, choose; hclose of an end, pthread_cancel, fork. The rules are
 * libdill's (unbuffered rendezvous, EMSGSIZE, EPIPE after chdone, choose's
 * index and errno) with tdill's: any thread may use any end.
 */
#include "util.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_THREAD__)
#define CH_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CH_TSAN 1
#endif
#endif
#ifndef CH_TSAN
#define CH_TSAN 0
#endif

/* How long a wait that should end at once may take, in ms. */
static int prompt_ms(void)
{
    return 1000 * tu_slowness();
}

/******************************************************************************/
/*  A channel call made by another thread                                     */
/******************************************************************************/

enum ch_kind { CH_SEND, CH_RECV, CH_CHOOSE };

struct ch_op {
    enum ch_kind kind;
    int ch;
    int val; /* sent, or received */
    struct chclause *cl;
    int n;
    int64_t deadline;
    /* Results. */
    int rc, err;
    /* Internal. */
    pid_t tid;
    atomic_int started, done;
    pthread_t th;
};

static void *ch_op_main(void *arg)
{
    struct ch_op *op = arg;
    op->tid = tu_gettid();
    atomic_store(&op->started, 1);
    int *p = &op->val;
    errno = 0;
    switch (op->kind) {
    case CH_SEND: op->rc = chsend(op->ch, p, sizeof *p, op->deadline); break;
    case CH_RECV: op->rc = chrecv(op->ch, p, sizeof *p, op->deadline); break;
    case CH_CHOOSE: op->rc = choose(op->cl, op->n, op->deadline); break;
    }
    op->err = errno;
    atomic_store(&op->done, 1);
    return NULL;
}

static void ch_op_start(struct ch_op *op)
{
    op->rc = -2;
    op->err = 0;
    atomic_store(&op->started, 0);
    atomic_store(&op->done, 0);
    ck_assert_int_eq(pthread_create(&op->th, NULL, ch_op_main, op), 0);
}

/* Starts the call and returns once its thread sleeps inside it. */
static void ch_op_start_blocked(struct ch_op *op)
{
    ch_op_start(op);
    while (!atomic_load(&op->started))
        tu_sleep_ms(1);
    tu_wait_sleeping(op->tid);
    ck_assert_msg(!atomic_load(&op->done), "the call returned %d (%s) "
                  "instead of blocking", op->rc, tu_errname(op->err));
}

static void ch_op_join(struct ch_op *op)
{
    ck_assert_int_eq(pthread_join(op->th, NULL), 0);
}

static struct ch_op op_send(int ch, int val, int64_t deadline)
{
    return (struct ch_op){.kind = CH_SEND, .ch = ch, .val = val,
                          .deadline = deadline};
}

static struct ch_op op_recv(int ch, int64_t deadline)
{
    return (struct ch_op){.kind = CH_RECV, .ch = ch, .val = -1,
                          .deadline = deadline};
}

#define OP_OK(op)                                                             \
    ck_assert_msg((op)->rc == 0, "thread call: expected 0, got %d with %s",   \
                  (op)->rc, tu_errname((op)->err))
#define OP_FAILED(op, e)                                                      \
    ck_assert_msg((op)->rc == -1 && (op)->err == (e),                         \
                  "thread call: expected -1 with %s, got %d with %s",         \
                  tu_errname(e), (op)->rc, tu_errname((op)->err))
/* choose returned index i with errno e. */
#define CHOSE(expr, i, e)                                                     \
    do {                                                                      \
        errno = 0;                                                            \
        int _ch_rc = (expr);                                                  \
        int _ch_e = errno;                                                    \
        ck_assert_msg(_ch_rc == (i) && _ch_e == (e),                          \
                      "%s: expected %d with %s, got %d with %s", #expr, (i),  \
                      tu_errname(e), _ch_rc, tu_errname(_ch_e));              \
    } while (0)

static void make(int ch[2])
{
    ch[0] = ch[1] = -1;
    TU_OK(chmake(ch));
    ck_assert_int_ge(ch[0], 0);
    ck_assert_int_ge(ch[1], 0);
}

static void close_both(int ch[2])
{
    TU_OK(hclose(ch[0]));
    TU_OK(hclose(ch[1]));
}

/* Nobody is waiting on the end ch with the value's direction: a send with
   deadline 0 finds no receiver. */
static void assert_no_receiver(int ch)
{
    int v = 0;
    TU_FAILS(chsend(ch, &v, sizeof v, 0), ETIMEDOUT);
}

static void assert_no_sender(int ch)
{
    int v = 0;
    TU_FAILS(chrecv(ch, &v, sizeof v, 0), ETIMEDOUT);
}

/* A value passes from end from to end to (a receiver thread takes it). */
static void assert_passes(int from, int to, int val)
{
    struct ch_op rx = op_recv(to, now() + 5000);
    ch_op_start(&rx);
    TU_OK(chsend(from, &val, sizeof val, now() + 5000));
    ch_op_join(&rx);
    OP_OK(&rx);
    ck_assert_int_eq(rx.val, val);
}

/******************************************************************************/
/*  Rendezvous                                                                */
/******************************************************************************/

START_TEST(chmake_gives_two_distinct_handles)
{
    int ch[2];
    make(ch);
    ck_assert_int_ne(ch[0], ch[1]);
    close_both(ch);
}
END_TEST

START_TEST(value_sent_on_one_end_is_received_on_the_other_both_ways)
{
    int ch[2];
    make(ch);
    assert_passes(ch[0], ch[1], 42);
    assert_passes(ch[1], ch[0], 43);
    close_both(ch);
}
END_TEST

START_TEST(chsend_blocks_until_a_receiver_takes_the_value)
{
    int ch[2];
    make(ch);
    struct ch_op tx = op_send(ch[0], 7, -1);
    ch_op_start_blocked(&tx);
    tu_sleep_ms(50);
    ck_assert(!atomic_load(&tx.done));
    int v = 0;
    TU_OK(chrecv(ch[1], &v, sizeof v, now() + 5000));
    ck_assert_int_eq(v, 7);
    ch_op_join(&tx);
    OP_OK(&tx);
    close_both(ch);
}
END_TEST

START_TEST(chrecv_blocks_until_a_sender_comes)
{
    int ch[2];
    make(ch);
    struct ch_op rx = op_recv(ch[1], -1);
    ch_op_start_blocked(&rx);
    tu_sleep_ms(50);
    ck_assert(!atomic_load(&rx.done));
    int v = 9;
    TU_OK(chsend(ch[0], &v, sizeof v, now() + 5000));
    ch_op_join(&rx);
    OP_OK(&rx);
    ck_assert_int_eq(rx.val, 9);
    close_both(ch);
}
END_TEST

START_TEST(calls_on_the_same_end_never_meet)
{
    int ch[2];
    make(ch);
    struct ch_op rx = op_recv(ch[0], -1);
    ch_op_start_blocked(&rx);
    int v = 1;
    TU_FAILS(chsend(ch[0], &v, sizeof v, now() + 100), ETIMEDOUT);
    ck_assert(!atomic_load(&rx.done));
    /* What the other end sends reaches it. */
    v = 2;
    TU_OK(chsend(ch[1], &v, sizeof v, now() + 5000));
    ch_op_join(&rx);
    OP_OK(&rx);
    ck_assert_int_eq(rx.val, 2);
    close_both(ch);
}
END_TEST

START_TEST(chsend_without_a_receiver_fails_with_etimedout_at_the_deadline)
{
    int ch[2];
    make(ch);
    int v = 1;
    int64_t start = now();
    TU_FAILS(chsend(ch[0], &v, sizeof v, start + 100), ETIMEDOUT);
    ck_assert_int_ge(now() - start, 100);
    ck_assert_int_le(now() - start, 100 + prompt_ms());
    /* Not queued for later: a receiver now finds nobody. */
    assert_no_sender(ch[1]);
    close_both(ch);
}
END_TEST

START_TEST(chrecv_without_a_sender_fails_with_etimedout_at_the_deadline)
{
    int ch[2];
    make(ch);
    int v = 1;
    int64_t start = now();
    TU_FAILS(chrecv(ch[1], &v, sizeof v, start + 100), ETIMEDOUT);
    ck_assert_int_ge(now() - start, 100);
    ck_assert_int_le(now() - start, 100 + prompt_ms());
    assert_no_receiver(ch[0]);
    close_both(ch);
}
END_TEST

START_TEST(deadline_zero_fails_at_once_when_nobody_waits)
{
    int ch[2];
    make(ch);
    int v = 1;
    int64_t start = now();
    TU_FAILS(chsend(ch[0], &v, sizeof v, 0), ETIMEDOUT);
    TU_FAILS(chrecv(ch[1], &v, sizeof v, 0), ETIMEDOUT);
    /* A deadline in the past is the same. */
    TU_FAILS(chsend(ch[0], &v, sizeof v, now() - 1000), ETIMEDOUT);
    TU_FAILS(chrecv(ch[1], &v, sizeof v, now() - 1000), ETIMEDOUT);
    ck_assert_int_le(now() - start, prompt_ms());
    close_both(ch);
}
END_TEST

START_TEST(deadline_zero_meets_a_peer_already_waiting)
{
    int ch[2];
    make(ch);
    struct ch_op rx = op_recv(ch[1], -1);
    ch_op_start_blocked(&rx);
    int v = 5;
    TU_OK(chsend(ch[0], &v, sizeof v, 0));
    ch_op_join(&rx);
    OP_OK(&rx);
    ck_assert_int_eq(rx.val, 5);

    struct ch_op tx = op_send(ch[0], 6, -1);
    ch_op_start_blocked(&tx);
    TU_OK(chrecv(ch[1], &v, sizeof v, 0));
    ck_assert_int_eq(v, 6);
    ch_op_join(&tx);
    OP_OK(&tx);
    close_both(ch);
}
END_TEST

START_TEST(sizes_that_differ_fail_both_sides_with_emsgsize)
{
    int ch[2];
    make(ch);
    /* The receiver waits first. */
    struct ch_op rx = op_recv(ch[1], now() + 5000);
    ch_op_start_blocked(&rx);
    int64_t big = 1;
    TU_FAILS(chsend(ch[0], &big, sizeof big, now() + 5000), EMSGSIZE);
    ch_op_join(&rx);
    OP_FAILED(&rx, EMSGSIZE);
    ck_assert_int_eq(rx.val, -1); /* nothing copied */

    /* The sender waits first. */
    struct ch_op tx = op_send(ch[0], 3, now() + 5000);
    ch_op_start_blocked(&tx);
    big = -1;
    TU_FAILS(chrecv(ch[1], &big, sizeof big, now() + 5000), EMSGSIZE);
    ck_assert(big == -1);
    ch_op_join(&tx);
    OP_FAILED(&tx, EMSGSIZE);

    /* Both were consumed by the failure; the channel goes on working. */
    assert_no_sender(ch[1]);
    assert_no_receiver(ch[0]);
    assert_passes(ch[0], ch[1], 4);
    close_both(ch);
}
END_TEST

START_TEST(zero_length_values_with_null_pointers_pass)
{
    int ch[2];
    make(ch);
    /* The other side is a choose, whose clause holds the NULL pointer. */
    static struct chclause cl, cs;
    cl = (struct chclause){CHRECV, ch[1], NULL, 0};
    struct ch_op rx = {.kind = CH_CHOOSE, .cl = &cl, .n = 1,
                       .deadline = now() + 5000};
    ch_op_start_blocked(&rx);
    TU_OK(chsend(ch[0], NULL, 0, now() + 5000));
    ch_op_join(&rx);
    ck_assert_int_eq(rx.rc, 0);

    cs = (struct chclause){CHSEND, ch[0], NULL, 0};
    struct ch_op tx = {.kind = CH_CHOOSE, .cl = &cs, .n = 1,
                       .deadline = now() + 5000};
    ch_op_start_blocked(&tx);
    TU_OK(chrecv(ch[1], NULL, 0, now() + 5000));
    ch_op_join(&tx);
    ck_assert_int_eq(tx.rc, 0);
    close_both(ch);
}
END_TEST

START_TEST(nonzero_length_with_a_null_value_fails_with_einval)
{
    int ch[2];
    make(ch);
    TU_FAILS(chsend(ch[0], NULL, 4, now() + 100), EINVAL);
    TU_FAILS(chrecv(ch[1], NULL, 4, now() + 100), EINVAL);
    /* Also when a peer is waiting: it is left waiting. */
    struct ch_op rx = op_recv(ch[1], now() + 5000);
    ch_op_start_blocked(&rx);
    TU_FAILS(chsend(ch[0], NULL, sizeof(int), 0), EINVAL);
    ck_assert(!atomic_load(&rx.done));
    int v = 11;
    TU_OK(chsend(ch[0], &v, sizeof v, now() + 5000));
    ch_op_join(&rx);
    OP_OK(&rx);
    ck_assert_int_eq(rx.val, 11);
    close_both(ch);
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
        assert_passes(ch[0], ch[1], round);
        assert_passes(ch[1], ch[0], round + 100);
        close_both(ch);
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
    close_both(ch);
}
END_TEST

START_TEST(a_channel_costs_no_file_descriptor)
{
    enum { N = 50 };
    int before = tu_count_fds();
    int ch[N][2];
    for (int i = 0; i < N; i++)
        make(ch[i]);
    ck_assert_int_eq(tu_count_fds(), before);
    /* Nor does waiting on one. */
    struct ch_op rx = op_recv(ch[0][1], -1);
    ch_op_start_blocked(&rx);
    ck_assert_int_eq(tu_count_fds(), before);
    int v = 1;
    TU_OK(chsend(ch[0][0], &v, sizeof v, now() + 5000));
    ch_op_join(&rx);
    OP_OK(&rx);
    for (int i = 0; i < N; i++)
        close_both(ch[i]);
    ck_assert_int_eq(tu_count_fds(), before);
}
END_TEST

/******************************************************************************/
/*  Wrong handles                                                             */
/******************************************************************************/

START_TEST(calls_on_a_closed_end_fail_with_ebadf)
{
    int ch[2];
    make(ch);
    TU_OK(hclose(ch[0]));
    int v = 0;
    TU_FAILS(chsend(ch[0], &v, sizeof v, 0), EBADF);
    TU_FAILS(chrecv(ch[0], &v, sizeof v, 0), EBADF);
    TU_FAILS(chdone(ch[0]), EBADF);
    struct chclause cl[] = {{CHRECV, ch[1], &v, sizeof v},
                            {CHRECV, ch[0], &v, sizeof v}};
    CHOSE(choose(cl, 2, 0), 1, EBADF);
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
    CHOSE(choose(&cl, 1, 0), 0, ENOTSUP);
    tu_close_pair(s);
}
END_TEST

START_TEST(bytestream_calls_on_a_channel_fail_with_enotsup)
{
    int ch[2];
    make(ch);
    char buf[4] = "abc";
    TU_FAILS(bsend(ch[0], buf, 3, 0), ENOTSUP);
    TU_FAILS(brecv(ch[1], buf, 3, 0), ENOTSUP);
    /* And the channel is untouched. */
    assert_passes(ch[0], ch[1], 1);
    close_both(ch);
}
END_TEST

/******************************************************************************/
/*  chdone                                                                    */
/******************************************************************************/

START_TEST(chdone_fails_later_senders_on_that_end_with_epipe)
{
    int ch[2];
    make(ch);
    TU_OK(chdone(ch[0]));
    int v = 1;
    TU_FAILS(chsend(ch[0], &v, sizeof v, now() + 100), EPIPE);
    TU_FAILS(chsend(ch[0], &v, sizeof v, 0), EPIPE);
    close_both(ch);
}
END_TEST

START_TEST(chdone_fails_later_receivers_on_the_other_end_with_epipe)
{
    int ch[2];
    make(ch);
    TU_OK(chdone(ch[0]));
    int v = 1;
    TU_FAILS(chrecv(ch[1], &v, sizeof v, now() + 100), EPIPE);
    TU_FAILS(chrecv(ch[1], &v, sizeof v, -1), EPIPE);
    close_both(ch);
}
END_TEST

START_TEST(chdone_fails_blocked_receivers_on_the_other_end_with_epipe)
{
    int ch[2];
    make(ch);
    struct ch_op rx[2] = {op_recv(ch[1], -1), op_recv(ch[1], -1)};
    ch_op_start_blocked(&rx[0]);
    ch_op_start_blocked(&rx[1]);
    TU_OK(chdone(ch[0]));
    for (int i = 0; i < 2; i++) {
        ch_op_join(&rx[i]);
        OP_FAILED(&rx[i], EPIPE);
    }
    close_both(ch);
}
END_TEST

START_TEST(chdone_fails_blocked_senders_on_that_end_with_epipe)
{
    int ch[2];
    make(ch);
    struct ch_op tx = op_send(ch[0], 1, -1);
    ch_op_start_blocked(&tx);
    TU_OK(chdone(ch[0]));
    ch_op_join(&tx);
    OP_FAILED(&tx, EPIPE);
    close_both(ch);
}
END_TEST

START_TEST(second_chdone_fails_with_epipe)
{
    int ch[2];
    make(ch);
    TU_OK(chdone(ch[0]));
    TU_FAILS(chdone(ch[0]), EPIPE);
    /* The other end's direction is its own. */
    TU_OK(chdone(ch[1]));
    TU_FAILS(chdone(ch[1]), EPIPE);
    close_both(ch);
}
END_TEST

START_TEST(chdone_leaves_the_other_direction_working)
{
    int ch[2];
    make(ch);
    /* A receiver on the done end itself stays blocked. */
    struct ch_op rx = op_recv(ch[0], -1);
    ch_op_start_blocked(&rx);
    TU_OK(chdone(ch[0]));
    tu_sleep_ms(50);
    ck_assert(!atomic_load(&rx.done));
    int v = 77;
    TU_OK(chsend(ch[1], &v, sizeof v, now() + 5000));
    ch_op_join(&rx);
    OP_OK(&rx);
    ck_assert_int_eq(rx.val, 77);
    /* A sender on the other end still finds later receivers. */
    assert_passes(ch[1], ch[0], 78);
    close_both(ch);
}
END_TEST

/******************************************************************************/
/*  choose                                                                    */
/******************************************************************************/

START_TEST(choose_returns_the_index_of_the_clause_that_happened)
{
    int a[2], b[2];
    make(a);
    make(b);
    struct ch_op tx = op_send(b[0], 21, -1);
    ch_op_start_blocked(&tx);
    int va = -1, vb = -1;
    struct chclause cl[] = {{CHRECV, a[1], &va, sizeof va},
                            {CHRECV, b[1], &vb, sizeof vb}};
    CHOSE(choose(cl, 2, now() + 5000), 1, 0);
    ck_assert_int_eq(vb, 21);
    ck_assert_int_eq(va, -1);
    ch_op_join(&tx);
    OP_OK(&tx);
    close_both(a);
    close_both(b);
}
END_TEST

START_TEST(choose_blocks_until_a_clause_can_happen)
{
    int a[2], b[2];
    make(a);
    make(b);
    static int va = -1, vb = -1;
    static struct chclause cl[2];
    cl[0] = (struct chclause){CHRECV, a[1], &va, sizeof va};
    cl[1] = (struct chclause){CHRECV, b[1], &vb, sizeof vb};
    struct ch_op ch = {.kind = CH_CHOOSE, .cl = cl, .n = 2, .deadline = -1};
    ch_op_start_blocked(&ch);
    tu_sleep_ms(30);
    ck_assert(!atomic_load(&ch.done));
    int v = 31;
    TU_OK(chsend(b[0], &v, sizeof v, now() + 5000));
    ch_op_join(&ch);
    ck_assert_msg(ch.rc == 1 && ch.err == 0, "choose: %d %s", ch.rc,
                  tu_errname(ch.err));
    ck_assert_int_eq(vb, 31);
    /* The other clause was withdrawn: a sender on a finds nobody. */
    assert_no_receiver(a[0]);
    close_both(a);
    close_both(b);
}
END_TEST

START_TEST(choose_send_clause_hands_its_value_to_a_receiver)
{
    int a[2], b[2];
    make(a);
    make(b);
    struct ch_op rx = op_recv(b[1], -1);
    ch_op_start_blocked(&rx);
    int va = 1, vb = 2;
    struct chclause cl[] = {{CHSEND, a[0], &va, sizeof va},
                            {CHSEND, b[0], &vb, sizeof vb}};
    CHOSE(choose(cl, 2, now() + 5000), 1, 0);
    ch_op_join(&rx);
    OP_OK(&rx);
    ck_assert_int_eq(rx.val, 2);
    close_both(a);
    close_both(b);
}
END_TEST

START_TEST(choose_prefers_the_earliest_ready_clause)
{
    int a[2], b[2];
    make(a);
    make(b);
    struct ch_op ta = op_send(a[0], 100, -1), tb = op_send(b[0], 200, -1);
    ch_op_start_blocked(&ta);
    ch_op_start_blocked(&tb);
    int va = -1, vb = -1;
    /* Both are ready; the first in the array wins, whatever the order in
       which the senders came. */
    struct chclause ba[] = {{CHRECV, b[1], &vb, sizeof vb},
                            {CHRECV, a[1], &va, sizeof va}};
    CHOSE(choose(ba, 2, now() + 5000), 0, 0);
    ck_assert_int_eq(vb, 200);
    ck_assert_int_eq(va, -1);
    ch_op_join(&tb);
    OP_OK(&tb);
    ck_assert(!atomic_load(&ta.done));

    tb = op_send(b[0], 201, -1);
    ch_op_start_blocked(&tb);
    struct chclause ab[] = {{CHRECV, a[1], &va, sizeof va},
                            {CHRECV, b[1], &vb, sizeof vb}};
    CHOSE(choose(ab, 2, now() + 5000), 0, 0);
    ck_assert_int_eq(va, 100);
    ch_op_join(&ta);
    OP_OK(&ta);
    TU_OK(chrecv(b[1], &vb, sizeof vb, now() + 5000));
    ck_assert_int_eq(vb, 201);
    ch_op_join(&tb);
    close_both(a);
    close_both(b);
}
END_TEST

START_TEST(choose_with_deadline_zero_fails_at_once_when_nothing_is_ready)
{
    int a[2];
    make(a);
    int v = 0;
    struct chclause cl[] = {{CHRECV, a[1], &v, sizeof v},
                            {CHSEND, a[1], &v, sizeof v}};
    int64_t start = now();
    CHOSE(choose(cl, 2, 0), -1, ETIMEDOUT);
    ck_assert_int_le(now() - start, prompt_ms());
    /* Nothing stays queued. */
    assert_no_receiver(a[0]);
    assert_no_sender(a[0]);
    close_both(a);
}
END_TEST

START_TEST(choose_with_deadline_zero_takes_a_ready_clause)
{
    int a[2];
    make(a);
    struct ch_op tx = op_send(a[0], 8, -1);
    ch_op_start_blocked(&tx);
    int v = 0;
    struct chclause cl = {CHRECV, a[1], &v, sizeof v};
    CHOSE(choose(&cl, 1, 0), 0, 0);
    ck_assert_int_eq(v, 8);
    ch_op_join(&tx);
    OP_OK(&tx);
    close_both(a);
}
END_TEST

START_TEST(choose_fails_with_etimedout_at_the_deadline)
{
    int a[2];
    make(a);
    int v = 0;
    struct chclause cl = {CHRECV, a[1], &v, sizeof v};
    int64_t start = now();
    CHOSE(choose(&cl, 1, start + 100), -1, ETIMEDOUT);
    ck_assert_int_ge(now() - start, 100);
    ck_assert_int_le(now() - start, 100 + prompt_ms());
    assert_no_receiver(a[0]);
    close_both(a);
}
END_TEST

START_TEST(choose_with_no_clauses_waits_until_the_deadline)
{
    int64_t start = now();
    CHOSE(choose(NULL, 0, start + 50), -1, ETIMEDOUT);
    ck_assert_int_ge(now() - start, 50);
    CHOSE(choose(NULL, 0, 0), -1, ETIMEDOUT);
}
END_TEST

START_TEST(choose_with_a_bad_count_or_array_fails_with_einval)
{
    int a[2];
    make(a);
    int v = 0;
    struct chclause cl = {CHRECV, a[1], &v, sizeof v};
    CHOSE(choose(&cl, -1, 0), -1, EINVAL);
    CHOSE(choose(NULL, 1, 0), -1, EINVAL);
    close_both(a);
}
END_TEST

/* Clause bad of the choose [recv from a waiting sender, bad] returns index
   1 with err, and the sender is still waiting with its value. */
static void choose_fails_at_once(struct chclause bad, int err)
{
    int a[2];
    make(a);
    struct ch_op tx = op_send(a[0], 55, -1);
    ch_op_start_blocked(&tx);
    int v = -1;
    struct chclause cl[] = {{CHRECV, a[1], &v, sizeof v}, bad};
    CHOSE(choose(cl, 2, now() + 5000), 1, err);
    ck_assert_int_eq(v, -1);
    ck_assert(!atomic_load(&tx.done));
    TU_OK(chrecv(a[1], &v, sizeof v, now() + 5000));
    ck_assert_int_eq(v, 55);
    ch_op_join(&tx);
    OP_OK(&tx);
    close_both(a);
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
    make(b);
    choose_fails_at_once((struct chclause){3, b[1], &v, sizeof v}, EINVAL);
    choose_fails_at_once((struct chclause){0, b[1], &v, sizeof v}, EINVAL);
    close_both(b);
}
END_TEST

START_TEST(choose_with_a_null_value_and_a_length_returns_its_index_with_einval)
{
    int b[2];
    make(b);
    choose_fails_at_once((struct chclause){CHSEND, b[0], NULL, 4}, EINVAL);
    close_both(b);
}
END_TEST

START_TEST(choose_with_a_done_channel_returns_its_index_with_epipe)
{
    int b[2];
    make(b);
    TU_OK(chdone(b[0]));
    int v = 0;
    struct chclause cl[] = {{CHRECV, b[0], &v, sizeof v},
                            {CHRECV, b[1], &v, sizeof v}};
    CHOSE(choose(cl, 2, now() + 5000), 1, EPIPE);
    struct chclause cs[] = {{CHSEND, b[0], &v, sizeof v}};
    CHOSE(choose(cs, 1, -1), 0, EPIPE);
    close_both(b);
}
END_TEST

START_TEST(choose_with_a_size_mismatch_returns_its_index_with_emsgsize)
{
    int a[2], b[2];
    make(a);
    make(b);
    struct ch_op tx = op_send(b[0], 66, -1);
    ch_op_start_blocked(&tx);
    int v = -1;
    int64_t big = -1;
    struct chclause cl[] = {{CHRECV, a[1], &v, sizeof v},
                            {CHRECV, b[1], &big, sizeof big}};
    CHOSE(choose(cl, 2, now() + 5000), 1, EMSGSIZE);
    ck_assert(big == -1);
    ch_op_join(&tx);
    OP_FAILED(&tx, EMSGSIZE);
    close_both(a);
    close_both(b);
}
END_TEST

START_TEST(choose_with_many_clauses_finds_the_ready_one)
{
    enum { N = 20 };
    int ch[N][2], v[N];
    struct chclause cl[N];
    for (int i = 0; i < N; i++) {
        make(ch[i]);
        v[i] = -1;
        cl[i] = (struct chclause){CHRECV, ch[i][1], &v[i], sizeof v[i]};
    }
    struct ch_op tx = op_send(ch[17][0], 1717, -1);
    ch_op_start_blocked(&tx);
    CHOSE(choose(cl, N, now() + 5000), 17, 0);
    ck_assert_int_eq(v[17], 1717);
    ch_op_join(&tx);
    OP_OK(&tx);
    /* Blocked with many clauses, then woken by one. */
    static struct chclause cl2[N];
    memcpy(cl2, cl, sizeof cl);
    struct ch_op rx = {.kind = CH_CHOOSE, .cl = cl2, .n = N, .deadline = -1};
    ch_op_start_blocked(&rx);
    int x = 333;
    TU_OK(chsend(ch[3][0], &x, sizeof x, now() + 5000));
    ch_op_join(&rx);
    ck_assert(rx.rc == 3 && rx.err == 0);
    ck_assert_int_eq(v[3], 333);
    for (int i = 0; i < N; i++) {
        assert_no_receiver(ch[i][0]);
        close_both(ch[i]);
    }
}
END_TEST

START_TEST(choose_on_both_directions_of_one_channel)
{
    int a[2];
    make(a);
    struct ch_op rx = op_recv(a[0], -1);
    ch_op_start_blocked(&rx);
    int in = -1, out = 12;
    /* Receiving at a[1] has no sender; sending from a[1] has a receiver. */
    struct chclause cl[] = {{CHRECV, a[1], &in, sizeof in},
                            {CHSEND, a[1], &out, sizeof out}};
    CHOSE(choose(cl, 2, now() + 5000), 1, 0);
    ch_op_join(&rx);
    OP_OK(&rx);
    ck_assert_int_eq(rx.val, 12);
    ck_assert_int_eq(in, -1);
    close_both(a);
}
END_TEST

/******************************************************************************/
/*  Arrival order                                                             */
/******************************************************************************/

START_TEST(blocked_receivers_are_served_in_arrival_order)
{
    int ch[2];
    make(ch);
    struct ch_op rx[3];
    for (int i = 0; i < 3; i++) {
        rx[i] = op_recv(ch[1], now() + 10000);
        ch_op_start_blocked(&rx[i]);
    }
    for (int i = 0; i < 3; i++) {
        int v = 10 + i;
        TU_OK(chsend(ch[0], &v, sizeof v, now() + 5000));
    }
    for (int i = 0; i < 3; i++) {
        ch_op_join(&rx[i]);
        OP_OK(&rx[i]);
        ck_assert_int_eq(rx[i].val, 10 + i);
    }
    close_both(ch);
}
END_TEST

START_TEST(blocked_senders_are_served_in_arrival_order)
{
    int ch[2];
    make(ch);
    struct ch_op tx[3];
    for (int i = 0; i < 3; i++) {
        tx[i] = op_send(ch[0], 20 + i, now() + 10000);
        ch_op_start_blocked(&tx[i]);
    }
    for (int i = 0; i < 3; i++) {
        int v = -1;
        TU_OK(chrecv(ch[1], &v, sizeof v, now() + 5000));
        ck_assert_int_eq(v, 20 + i);
    }
    for (int i = 0; i < 3; i++) {
        ch_op_join(&tx[i]);
        OP_OK(&tx[i]);
    }
    close_both(ch);
}
END_TEST

START_TEST(chooses_and_plain_receivers_share_one_arrival_order)
{
    int ch[2], other[2];
    make(ch);
    make(other);
    static int got = -1, dummy = -1;
    static struct chclause cl[2];
    cl[0] = (struct chclause){CHRECV, other[1], &dummy, sizeof dummy};
    cl[1] = (struct chclause){CHRECV, ch[1], &got, sizeof got};
    struct ch_op rx[3] = {op_recv(ch[1], now() + 10000),
                          {.kind = CH_CHOOSE, .cl = cl, .n = 2,
                           .deadline = now() + 10000},
                          op_recv(ch[1], now() + 10000)};
    for (int i = 0; i < 3; i++)
        ch_op_start_blocked(&rx[i]);
    for (int i = 0; i < 3; i++) {
        int v = 30 + i;
        TU_OK(chsend(ch[0], &v, sizeof v, now() + 5000));
    }
    for (int i = 0; i < 3; i++)
        ch_op_join(&rx[i]);
    OP_OK(&rx[0]);
    ck_assert_int_eq(rx[0].val, 30);
    ck_assert(rx[1].rc == 1 && rx[1].err == 0);
    ck_assert_int_eq(got, 31);
    OP_OK(&rx[2]);
    ck_assert_int_eq(rx[2].val, 32);
    close_both(ch);
    close_both(other);
}
END_TEST

/******************************************************************************/
/*  hclose of an end with threads blocked on it                               */
/******************************************************************************/

START_TEST(hclose_of_an_end_fails_blocked_threads_with_ecanceled)
{
    static struct chstorage st;
    int ch[2];
    TU_OK(chmake_mem(&st, ch));
    struct ch_op rx[2] = {op_recv(ch[1], -1), op_recv(ch[1], -1)};
    struct ch_op tx = op_send(ch[1], 1, -1);
    for (int i = 0; i < 2; i++)
        ch_op_start_blocked(&rx[i]);
    ch_op_start_blocked(&tx);
    int64_t start = now();
    TU_OK(hclose(ch[1]));
    ck_assert_int_le(now() - start, prompt_ms());
    /* They have left the channel: the other end's close frees it, and the
       storage is the caller's again. */
    TU_OK(hclose(ch[0]));
    memset(&st, 0xEE, sizeof st);
    for (int i = 0; i < 2; i++) {
        ch_op_join(&rx[i]);
        OP_FAILED(&rx[i], ECANCELED);
    }
    ch_op_join(&tx);
    OP_FAILED(&tx, ECANCELED);
}
END_TEST

START_TEST(hclose_of_an_end_leaves_the_other_ends_waiters_alone)
{
    int ch[2];
    make(ch);
    struct ch_op rx = op_recv(ch[1], -1);
    ch_op_start_blocked(&rx);
    struct ch_op cl = op_recv(ch[0], -1);
    ch_op_start_blocked(&cl);
    TU_OK(hclose(ch[0]));
    ch_op_join(&cl);
    OP_FAILED(&cl, ECANCELED);
    /* The receiver on ch[1] is not woken... */
    tu_sleep_ms(50);
    ck_assert(!atomic_load(&rx.done));
    /* ...until its own end, the channel's last, is closed. */
    TU_OK(hclose(ch[1]));
    ch_op_join(&rx);
    OP_FAILED(&rx, EPIPE);
}
END_TEST

START_TEST(choose_fails_with_ecanceled_when_another_thread_closes_its_end)
{
    int a[2], b[2];
    make(a);
    make(b);
    static int va = -1, vb = -1;
    static struct chclause cl[2];
    cl[0] = (struct chclause){CHRECV, a[1], &va, sizeof va};
    cl[1] = (struct chclause){CHRECV, b[1], &vb, sizeof vb};
    struct ch_op op = {.kind = CH_CHOOSE, .cl = cl, .n = 2, .deadline = -1};
    ch_op_start_blocked(&op);
    TU_OK(hclose(b[1]));
    ch_op_join(&op);
    ck_assert_msg(op.rc == -1 && op.err == ECANCELED, "choose: %d %s",
                  op.rc, tu_errname(op.err));
    /* Its clause on a was withdrawn, and a still works. */
    assert_no_receiver(a[0]);
    assert_passes(a[0], a[1], 5);
    close_both(a);
    TU_OK(hclose(b[0]));
}
END_TEST

START_TEST(hclose_of_the_second_end_fails_blocked_threads_with_epipe)
{
    int ch[2];
    make(ch);
    TU_OK(hclose(ch[0]));
    struct ch_op rx = op_recv(ch[1], -1);
    ch_op_start_blocked(&rx);
    int v = -1;
    static struct chclause cl[1];
    static int cv;
    cl[0] = (struct chclause){CHSEND, ch[1], &cv, sizeof cv};
    struct ch_op chs = {.kind = CH_CHOOSE, .cl = cl, .n = 1, .deadline = -1};
    ch_op_start_blocked(&chs);
    TU_OK(hclose(ch[1]));
    ch_op_join(&rx);
    OP_FAILED(&rx, EPIPE);
    ck_assert_int_eq(rx.val, -1);
    ch_op_join(&chs);
    ck_assert_msg(chs.rc == 0 && chs.err == EPIPE, "choose: %d %s", chs.rc,
                  tu_errname(chs.err));
    TU_FAILS(chrecv(ch[1], &v, sizeof v, 0), EBADF);
}
END_TEST


/******************************************************************************/
/*  Races: every value arrives exactly once                                   */
/******************************************************************************/

enum { RACE_MAX = 4000, RACE_THREADS = 3 };

/* Sender threads take values 0..n-1 in turn and send each, by chsend on
   one channel or by a choose over two that also waits on an idle channel,
   until it is taken; receiver threads take them by chrecv or choose. What
   ends them depends on the test; every value counted as sent must have
   arrived once, and no other. */
struct race {
    int ch[2];    /* values go from ch[0] to ch[1] */
    int ch2[2];   /* and from ch2[0] to ch2[1], by chooses only */
    int idle[2];  /* nobody ever sends on it */
    int spare[2]; /* some receivers' chooses include spare[1] */
    int n;
    int forever;  /* senders wait without a deadline */
    int ending;   /* EPIPE, ECANCELED, EBADF end a thread (else errors) */
    atomic_int use_spare;
    atomic_int next, stop, bad, seed;
    atomic_uchar sent[RACE_MAX], got[RACE_MAX];
};

static int64_t race_deadline(uint64_t *st)
{
    int r = (int)(tu_rand(st) % 4);
    return r == 0 ? 0 : now() + r - 1;
}

/* Outcome of one try: 0, or an errno value. */
static int race_send_once(struct race *r, int v, uint64_t *st)
{
    int64_t d = r->forever ? -1 : race_deadline(st);
    if (tu_rand(st) % 2)
        return chsend(r->ch[0], &v, sizeof v, d) == 0 ? 0 : errno;
    int dummy;
    struct chclause cl[] = {{CHRECV, r->idle[1], &dummy, sizeof dummy},
                            {CHSEND, r->ch[0], &v, sizeof v},
                            {CHSEND, r->ch2[0], &v, sizeof v}};
    int i = choose(cl, 3, d);
    int err = errno;
    return i == 0 ? EPROTO : err;
}

static int race_recv_once(struct race *r, int *v, uint64_t *st)
{
    int64_t d = race_deadline(st);
    int spare = atomic_load(&r->use_spare) && tu_rand(st) % 2;
    if (!spare && tu_rand(st) % 2)
        return chrecv(r->ch[1], v, sizeof *v, d) == 0 ? 0 : errno;
    int dummy;
    struct chclause cl[] = {{CHRECV, r->idle[1], &dummy, sizeof dummy},
                            {CHRECV, r->ch2[1], v, sizeof *v},
                            {CHRECV, r->ch[1], v, sizeof *v},
                            {CHRECV, r->spare[1], &dummy, sizeof dummy}};
    int i = choose(cl, spare ? 4 : 3, d);
    int err = errno;
    if (i == 0 || (i == 3 && err != EBADF))
        return EPROTO;
    if ((i == 3 && err == EBADF) || (i == -1 && err == ECANCELED)) {
        /* The spare channel's end was closed under the choose. */
        return EAGAIN;
    }
    return err;
}

static int race_is_end(struct race *r, int err)
{
    return r->ending &&
           (err == EPIPE || err == ECANCELED || err == EBADF);
}

static void *race_sender(void *arg)
{
    struct race *r = arg;
    uint64_t st = (uint64_t)atomic_fetch_add(&r->seed, 1);
    for (;;) {
        int v = atomic_fetch_add(&r->next, 1);
        if (v >= r->n)
            return NULL;
        for (;;) {
            if (atomic_load(&r->stop))
                return NULL;
            int err = race_send_once(r, v, &st);
            if (err == 0) {
                atomic_store(&r->sent[v], 1);
                break;
            }
            if (err == ETIMEDOUT)
                continue;
            if (!race_is_end(r, err))
                atomic_fetch_add(&r->bad, 1);
            return NULL;
        }
    }
}

static void *race_receiver(void *arg)
{
    struct race *r = arg;
    uint64_t st = (uint64_t)atomic_fetch_add(&r->seed, 1) + 1000;
    while (!atomic_load(&r->stop)) {
        int v = -1;
        int err = race_recv_once(r, &v, &st);
        if (err == 0) {
            if (v < 0 || v >= r->n || atomic_fetch_add(&r->got[v], 1) != 0)
                atomic_fetch_add(&r->bad, 1);
            continue;
        }
        if (err == EAGAIN && r->ending) {
            atomic_store(&r->use_spare, 0);
            continue;
        }
        if (err == ETIMEDOUT)
            continue;
        if (!race_is_end(r, err))
            atomic_fetch_add(&r->bad, 1);
        return NULL;
    }
    return NULL;
}

static struct race *race_new(int n, int forever, int ending)
{
    static struct race r;
    memset(&r, 0, sizeof r);
    make(r.ch);
    make(r.ch2);
    make(r.idle);
    make(r.spare);
    r.n = n < RACE_MAX ? n : RACE_MAX;
    r.forever = forever;
    r.ending = ending;
    return &r;
}

static void race_start(struct race *r, pthread_t *snd, pthread_t *rcv)
{
    for (int i = 0; i < RACE_THREADS; i++) {
        ck_assert_int_eq(pthread_create(&rcv[i], NULL, race_receiver, r), 0);
        ck_assert_int_eq(pthread_create(&snd[i], NULL, race_sender, r), 0);
    }
}

static void race_join(pthread_t *t)
{
    for (int i = 0; i < RACE_THREADS; i++)
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
}

/* Returns how many values were delivered. */
static int race_check(struct race *r)
{
    int delivered = 0;
    int bad = atomic_load(&r->bad);
    ck_assert_msg(bad == 0, "%d values out of range, received twice, or "
                  "calls that failed unexpectedly", bad);
    for (int i = 0; i < r->n; i++) {
        int s = atomic_load(&r->sent[i]), g = atomic_load(&r->got[i]);
        ck_assert_msg(g == s, "value %d: sent %d, received %d times", i, s,
                      g);
        delivered += s;
    }
    return delivered;
}

START_TEST(deadline_races_never_lose_or_duplicate_a_value)
{
    struct race *r = race_new(RACE_MAX / tu_slowness(), 0, 0);
    atomic_store(&r->use_spare, 1); /* never closed: it just waits */
    pthread_t snd[RACE_THREADS], rcv[RACE_THREADS];
    race_start(r, snd, rcv);
    race_join(snd);
    atomic_store(&r->stop, 1);
    race_join(rcv);
    /* Each sender retried until its value was taken. */
    ck_assert_int_eq(race_check(r), r->n);
    close_both(r->ch);
    close_both(r->ch2);
    close_both(r->idle);
    close_both(r->spare);
}
END_TEST

START_TEST(chdone_racing_senders_and_receivers_loses_no_value)
{
    struct race *r = race_new(RACE_MAX / tu_slowness(), 1, 1);
    pthread_t snd[RACE_THREADS], rcv[RACE_THREADS];
    race_start(r, snd, rcv);
    tu_sleep_ms(20);
    TU_OK(chdone(r->ch[0]));
    TU_OK(chdone(r->ch2[0]));
    /* Senders and receivers all end by EPIPE, or having sent everything. */
    race_join(snd);
    race_join(rcv);
    race_check(r);
    TU_FAILS(chdone(r->ch[0]), EPIPE);
    close_both(r->ch);
    close_both(r->ch2);
    close_both(r->idle);
    close_both(r->spare);
}
END_TEST

START_TEST(cross_thread_hclose_racing_chooses_loses_no_value)
{
    struct race *r = race_new(RACE_MAX / tu_slowness(), 0, 1);
    atomic_store(&r->use_spare, 1);
    pthread_t snd[RACE_THREADS], rcv[RACE_THREADS];
    race_start(r, snd, rcv);
    tu_sleep_ms(10);
    /* Receivers' chooses that include it fail with ECANCELED, or EBADF
       later, and take nothing. */
    TU_OK(hclose(r->spare[1]));
    tu_sleep_ms(10);
    /* Senders blocked on their end fail with ECANCELED, later EBADF. */
    TU_OK(hclose(r->ch[0]));
    race_join(snd);
    atomic_store(&r->stop, 1);
    race_join(rcv);
    race_check(r);
    TU_OK(hclose(r->ch[1]));
    close_both(r->ch2);
    TU_OK(hclose(r->spare[0]));
    close_both(r->idle);
}
END_TEST

/******************************************************************************/
/*  pthread_cancel                                                            */
/******************************************************************************/

/* A thread that makes one channel call and can be cancelled in it. */
struct cx {
    enum ch_kind kind;
    int ch;
    int val;
    struct chclause cl[2];
    int n;
    int pending; /* the thread cancels itself just before the call */
    /* Results. */
    int rc, err;
    atomic_int ready, returned, cleaned;
    pid_t tid;
    pthread_t th;
};

static void cx_cleanup(void *arg)
{
    atomic_store(&((struct cx *)arg)->cleaned, 1);
}

/* NB: not instrumented by AddressSanitizer, as sf_main in the safety
   suites: a cancellation leaves instrumented frames by longjmp, and the
   redzones they leave behind trip libasan's own check in the
   __asan_handle_no_return() before __pthread_unwind_next(). */
__attribute__((no_sanitize_address)) static void *cx_main(void *arg)
{
    struct cx *c = arg;
    c->tid = tu_gettid();
    pthread_cleanup_push(cx_cleanup, c);
    atomic_store(&c->ready, 1);
    if (c->pending)
        pthread_cancel(pthread_self());
    switch (c->kind) {
    case CH_SEND: c->rc = chsend(c->ch, &c->val, sizeof c->val, -1); break;
    case CH_RECV: c->rc = chrecv(c->ch, &c->val, sizeof c->val, -1); break;
    case CH_CHOOSE: c->rc = choose(c->cl, c->n, -1); break;
    }
    c->err = errno;
    atomic_store(&c->returned, 1);
    pthread_cleanup_pop(0);
    return NULL;
}

/* Cancels the thread: at entry to the call (pending) or once it sleeps in
   it; it must end cancelled in the call, without returning from it. */
static void cx_run_cancelled(struct cx *c)
{
    ck_assert_int_eq(pthread_create(&c->th, NULL, cx_main, c), 0);
    if (!c->pending) {
        while (!atomic_load(&c->ready))
            tu_sleep_ms(1);
        tu_wait_sleeping(c->tid);
        ck_assert_int_eq(pthread_cancel(c->th), 0);
    }
    void *res = NULL;
    ck_assert_int_eq(pthread_join(c->th, &res), 0);
    ck_assert_msg(res == PTHREAD_CANCELED && !atomic_load(&c->returned),
                  "the call returned %d (%s) instead of being cancelled",
                  c->rc, tu_errname(c->err));
    ck_assert(atomic_load(&c->cleaned));
}

/* Closes an end; that must not wait for anything. */
static void hclose_promptly(int h)
{
    int64_t start = now();
    TU_OK(hclose(h));
    ck_assert_int_le(now() - start, prompt_ms());
}

static void chrecv_cancelled(int pending)
{
    int ch[2];
    make(ch);
    /* A sender is already waiting when the cancel acts at entry; none is
       while the thread sleeps in the call. */
    struct ch_op tx = op_send(ch[0], 61, -1);
    if (pending)
        ch_op_start_blocked(&tx);
    static struct cx c;
    c = (struct cx){.kind = CH_RECV, .ch = ch[1], .val = -1,
                    .pending = pending};
    cx_run_cancelled(&c);
    ck_assert_int_eq(c.val, -1);
    if (!pending) {
        /* Its clause was withdrawn: nobody receives now. */
        assert_no_receiver(ch[0]);
        ch_op_start_blocked(&tx);
    }
    /* The value is still there for the next receiver. */
    int v = -1;
    TU_OK(chrecv(ch[1], &v, sizeof v, now() + 5000));
    ck_assert_int_eq(v, 61);
    ch_op_join(&tx);
    OP_OK(&tx);
    hclose_promptly(ch[0]);
    hclose_promptly(ch[1]);
}

START_TEST(chrecv_with_a_cancel_pending_acts_at_entry_and_takes_no_value)
{
    chrecv_cancelled(1);
}
END_TEST

START_TEST(chrecv_cancelled_while_blocked_withdraws_and_takes_no_value)
{
    chrecv_cancelled(0);
}
END_TEST

static void chsend_cancelled(int pending)
{
    int ch[2];
    make(ch);
    struct ch_op rx = op_recv(ch[1], -1);
    if (pending)
        ch_op_start_blocked(&rx);
    static struct cx c;
    c = (struct cx){.kind = CH_SEND, .ch = ch[0], .val = 99,
                    .pending = pending};
    cx_run_cancelled(&c);
    if (!pending) {
        assert_no_sender(ch[1]);
        ch_op_start_blocked(&rx);
    }
    ck_assert(!atomic_load(&rx.done));
    int v = 62;
    TU_OK(chsend(ch[0], &v, sizeof v, now() + 5000));
    ch_op_join(&rx);
    OP_OK(&rx);
    ck_assert_int_eq(rx.val, 62);
    hclose_promptly(ch[0]);
    hclose_promptly(ch[1]);
}

START_TEST(chsend_with_a_cancel_pending_acts_at_entry_and_hands_no_value)
{
    chsend_cancelled(1);
}
END_TEST

START_TEST(chsend_cancelled_while_blocked_withdraws_its_value)
{
    chsend_cancelled(0);
}
END_TEST

static void choose_cancelled(int pending)
{
    int a[2], b[2];
    make(a);
    make(b);
    struct ch_op tx = op_send(a[0], 63, -1);
    if (pending)
        ch_op_start_blocked(&tx);
    static struct cx c;
    static int in, out;
    in = -1;
    out = 64;
    c = (struct cx){.kind = CH_CHOOSE, .n = 2, .pending = pending};
    c.cl[0] = (struct chclause){CHRECV, a[1], &in, sizeof in};
    c.cl[1] = (struct chclause){CHSEND, b[0], &out, sizeof out};
    cx_run_cancelled(&c);
    ck_assert_int_eq(in, -1);
    /* Neither clause is left behind. */
    if (!pending) {
        assert_no_receiver(a[0]);
        ch_op_start_blocked(&tx);
    }
    assert_no_sender(b[1]);
    int v = -1;
    TU_OK(chrecv(a[1], &v, sizeof v, now() + 5000));
    ck_assert_int_eq(v, 63);
    ch_op_join(&tx);
    OP_OK(&tx);
    hclose_promptly(a[0]);
    hclose_promptly(a[1]);
    hclose_promptly(b[0]);
    hclose_promptly(b[1]);
}

START_TEST(choose_with_a_cancel_pending_acts_at_entry)
{
    choose_cancelled(1);
}
END_TEST

START_TEST(choose_cancelled_while_blocked_withdraws_every_clause)
{
    choose_cancelled(0);
}
END_TEST

/******************************************************************************/
/*  fork                                                                      */
/******************************************************************************/

/* Reaps pid within timeout_ms (killing it otherwise); returns its exit
   code, or 1000 + signal. */
static int reap(pid_t pid, int timeout_ms)
{
    int64_t end = tu_mono_ms() + timeout_ms;
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        ck_assert_int_ne(r, -1);
        if (r == pid)
            break;
        if (tu_mono_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            ck_abort_msg("child %d hung", (int)pid);
        }
        tu_sleep_ms(5);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
}

/* In the child: nobody of the parent's threads is there to meet. */
static int child_finds_nobody(int a, int b, int c)
{
    int v = 1;
    if (chsend(a, &v, sizeof v, now() + 100) != -1 || errno != ETIMEDOUT)
        return 1;
    if (chsend(a, &v, sizeof v, 0) != -1 || errno != ETIMEDOUT)
        return 2;
    v = -1;
    if (chrecv(b, &v, sizeof v, now() + 100) != -1 || errno != ETIMEDOUT)
        return 3;
    if (v != -1)
        return 4;
    if (chsend(c, &v, sizeof v, 0) != -1 || errno != ETIMEDOUT)
        return 5;
    return 0;
}

START_TEST(fork_child_does_not_meet_the_parents_blocked_threads)
{
    int a[2], b[2], c[2];
    make(a);
    make(b);
    make(c);
    struct ch_op rx = op_recv(a[1], -1), tx = op_send(b[0], 71, -1);
    static int got = -1, dummy;
    static struct chclause cl[2];
    cl[0] = (struct chclause){CHRECV, c[1], &got, sizeof got};
    cl[1] = (struct chclause){CHRECV, a[0], &dummy, sizeof dummy};
    struct ch_op ch = {.kind = CH_CHOOSE, .cl = cl, .n = 2, .deadline = -1};
    ch_op_start_blocked(&rx);
    ch_op_start_blocked(&tx);
    ch_op_start_blocked(&ch);
    pid_t pid = tu_fork(10);
    if (pid == 0)
        _exit(child_finds_nobody(a[0], b[1], c[0]));
    ck_assert_int_eq(reap(pid, 15000), 0);
    /* In the parent they are still blocked, and meet as usual. */
    ck_assert(!atomic_load(&rx.done) && !atomic_load(&tx.done) &&
              !atomic_load(&ch.done));
    int v = 72;
    TU_OK(chsend(a[0], &v, sizeof v, now() + 5000));
    TU_OK(chrecv(b[1], &v, sizeof v, now() + 5000));
    ck_assert_int_eq(v, 71);
    v = 73;
    TU_OK(chsend(c[0], &v, sizeof v, now() + 5000));
    ch_op_join(&rx);
    OP_OK(&rx);
    ck_assert_int_eq(rx.val, 72);
    ch_op_join(&tx);
    OP_OK(&tx);
    ch_op_join(&ch);
    ck_assert(ch.rc == 0 && ch.err == 0);
    ck_assert_int_eq(got, 73);
    close_both(a);
    close_both(b);
    close_both(c);
}
END_TEST

START_TEST(fork_child_can_use_a_channel_with_its_own_threads)
{
#if CH_TSAN
    /* ThreadSanitizer does not follow a threaded parent's child into
       threads of its own. */
    fprintf(stderr, "ThreadSanitizer: threads in a forked child skipped\n");
    return;
#endif
    int a[2];
    make(a);
    struct ch_op rx = op_recv(a[1], -1);
    ch_op_start_blocked(&rx);
    pid_t pid = tu_fork(10);
    if (pid == 0) {
        struct ch_op crx = op_recv(a[1], now() + 5000);
        ch_op_start(&crx);
        int v = 81;
        int rc = chsend(a[0], &v, sizeof v, now() + 5000);
        pthread_join(crx.th, NULL);
        _exit(rc == 0 && crx.rc == 0 && crx.val == 81 ? 0 : 1);
    }
    ck_assert_int_eq(reap(pid, 15000), 0);
    ck_assert(!atomic_load(&rx.done));
    int v = 82;
    TU_OK(chsend(a[0], &v, sizeof v, now() + 5000));
    ch_op_join(&rx);
    OP_OK(&rx);
    ck_assert_int_eq(rx.val, 82);
    close_both(a);
}
END_TEST

/******************************************************************************/

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

    tc = tu_tcase("choose");
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

    tc = tu_tcase("order");
    tcase_add_test(tc, blocked_receivers_are_served_in_arrival_order);
    tcase_add_test(tc, blocked_senders_are_served_in_arrival_order);
    tcase_add_test(tc, chooses_and_plain_receivers_share_one_arrival_order);
    suite_add_tcase(s, tc);

    tc = tu_tcase("hclose");
    tcase_add_test(tc, hclose_of_an_end_fails_blocked_threads_with_ecanceled);
    tcase_add_test(tc, hclose_of_an_end_leaves_the_other_ends_waiters_alone);
    tcase_add_test(
        tc, choose_fails_with_ecanceled_when_another_thread_closes_its_end);
    tcase_add_test(tc,
                   hclose_of_the_second_end_fails_blocked_threads_with_epipe);
    suite_add_tcase(s, tc);

    tc = tu_tcase("races");
    tcase_add_test(tc, deadline_races_never_lose_or_duplicate_a_value);
    tcase_add_test(tc, chdone_racing_senders_and_receivers_loses_no_value);
    tcase_add_test(tc, cross_thread_hclose_racing_chooses_loses_no_value);
    suite_add_tcase(s, tc);

    tc = tu_tcase("pthread_cancel");
    tcase_add_test(
        tc, chrecv_with_a_cancel_pending_acts_at_entry_and_takes_no_value);
    tcase_add_test(
        tc, chrecv_cancelled_while_blocked_withdraws_and_takes_no_value);
    tcase_add_test(
        tc, chsend_with_a_cancel_pending_acts_at_entry_and_hands_no_value);
    tcase_add_test(tc, chsend_cancelled_while_blocked_withdraws_its_value);
    tcase_add_test(tc, choose_with_a_cancel_pending_acts_at_entry);
    tcase_add_test(tc, choose_cancelled_while_blocked_withdraws_every_clause);
    suite_add_tcase(s, tc);

    tc = tu_tcase("fork");
    tcase_add_test(tc, fork_child_does_not_meet_the_parents_blocked_threads);
    tcase_add_test(tc, fork_child_can_use_a_channel_with_its_own_threads);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
