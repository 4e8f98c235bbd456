/*
 * Channels across threads and processes: hclose of an end with threads
 * blocked on it, races of deadlines, chdone and hclose against the traffic
 * (every value arrives exactly once), pthread_cancel in chsend, chrecv and
 * choose, and fork with threads blocked on channels.
 */
#include "chan_util.h"

#include <signal.h>
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

/******************************************************************************/
/*  hclose of an end with threads blocked on it                               */
/******************************************************************************/

START_TEST(hclose_of_an_end_fails_blocked_threads_with_ecanceled)
{
    static struct chstorage st;
    int ch[2];
    TU_OK(chmake_mem(&st, ch));
    struct ct_op rx[2] = {ct_recv_op(ch[1], -1), ct_recv_op(ch[1], -1)};
    struct ct_op tx = ct_send_op(ch[1], 1, -1);
    for (int i = 0; i < 2; i++)
        ct_op_start_blocked(&rx[i]);
    ct_op_start_blocked(&tx);
    int64_t start = now();
    TU_OK(hclose(ch[1]));
    ck_assert_int_le(now() - start, ct_prompt_ms());
    /* They have left the channel: the other end's close frees it, and the
       storage is the caller's again. */
    TU_OK(hclose(ch[0]));
    memset(&st, 0xEE, sizeof st);
    for (int i = 0; i < 2; i++) {
        ct_op_join(&rx[i]);
        CT_OP_FAILED(&rx[i], ECANCELED);
    }
    ct_op_join(&tx);
    CT_OP_FAILED(&tx, ECANCELED);
}
END_TEST

START_TEST(hclose_of_an_end_leaves_the_other_ends_waiters_alone)
{
    int ch[2];
    ct_make(ch);
    struct ct_op rx = ct_recv_op(ch[1], -1);
    ct_op_start_blocked(&rx);
    struct ct_op cl = ct_recv_op(ch[0], -1);
    ct_op_start_blocked(&cl);
    TU_OK(hclose(ch[0]));
    ct_op_join(&cl);
    CT_OP_FAILED(&cl, ECANCELED);
    /* The receiver on ch[1] is not woken... */
    tu_sleep_ms(50);
    ck_assert(!atomic_load(&rx.done));
    /* ...until its own end, the channel's last, is closed. */
    TU_OK(hclose(ch[1]));
    ct_op_join(&rx);
    CT_OP_FAILED(&rx, EPIPE);
}
END_TEST

START_TEST(choose_fails_with_ecanceled_when_another_thread_closes_its_end)
{
    int a[2], b[2];
    ct_make(a);
    ct_make(b);
    static int va = -1, vb = -1;
    static struct chclause cl[2];
    cl[0] = (struct chclause){CHRECV, a[1], &va, sizeof va};
    cl[1] = (struct chclause){CHRECV, b[1], &vb, sizeof vb};
    struct ct_op op = {.kind = CT_CHOOSE, .cl = cl, .n = 2, .deadline = -1};
    ct_op_start_blocked(&op);
    TU_OK(hclose(b[1]));
    ct_op_join(&op);
    ck_assert_msg(op.rc == -1 && op.err == ECANCELED, "choose: %d %s",
                  op.rc, tu_errname(op.err));
    /* Its clause on a was withdrawn, and a still works. */
    ct_no_receiver(a[0]);
    ct_passes(a[0], a[1], 5);
    ct_close_both(a);
    TU_OK(hclose(b[0]));
}
END_TEST

START_TEST(hclose_of_the_second_end_fails_blocked_threads_with_epipe)
{
    int ch[2];
    ct_make(ch);
    TU_OK(hclose(ch[0]));
    struct ct_op rx = ct_recv_op(ch[1], -1);
    ct_op_start_blocked(&rx);
    int v = -1;
    static struct chclause cl[1];
    static int cv;
    cl[0] = (struct chclause){CHSEND, ch[1], &cv, sizeof cv};
    struct ct_op chs = {.kind = CT_CHOOSE, .cl = cl, .n = 1, .deadline = -1};
    ct_op_start_blocked(&chs);
    TU_OK(hclose(ch[1]));
    ct_op_join(&rx);
    CT_OP_FAILED(&rx, EPIPE);
    ck_assert_int_eq(rx.val, -1);
    ct_op_join(&chs);
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
    ct_make(r.ch);
    ct_make(r.ch2);
    ct_make(r.idle);
    ct_make(r.spare);
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
    ct_close_both(r->ch);
    ct_close_both(r->ch2);
    ct_close_both(r->idle);
    ct_close_both(r->spare);
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
    ct_close_both(r->ch);
    ct_close_both(r->ch2);
    ct_close_both(r->idle);
    ct_close_both(r->spare);
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
    ct_close_both(r->ch2);
    TU_OK(hclose(r->spare[0]));
    ct_close_both(r->idle);
}
END_TEST

/******************************************************************************/
/*  pthread_cancel                                                            */
/******************************************************************************/

/* A thread that makes one channel call and can be cancelled in it. */
struct cx {
    enum ct_kind kind;
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
    case CT_SEND: c->rc = chsend(c->ch, &c->val, sizeof c->val, -1); break;
    case CT_RECV: c->rc = chrecv(c->ch, &c->val, sizeof c->val, -1); break;
    case CT_CHOOSE: c->rc = choose(c->cl, c->n, -1); break;
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
    ck_assert_int_le(now() - start, ct_prompt_ms());
}

static void chrecv_cancelled(int pending)
{
    int ch[2];
    ct_make(ch);
    /* A sender is already waiting when the cancel acts at entry; none is
       while the thread sleeps in the call. */
    struct ct_op tx = ct_send_op(ch[0], 61, -1);
    if (pending)
        ct_op_start_blocked(&tx);
    static struct cx c;
    c = (struct cx){.kind = CT_RECV, .ch = ch[1], .val = -1,
                    .pending = pending};
    cx_run_cancelled(&c);
    ck_assert_int_eq(c.val, -1);
    if (!pending) {
        /* Its clause was withdrawn: nobody receives now. */
        ct_no_receiver(ch[0]);
        ct_op_start_blocked(&tx);
    }
    /* The value is still there for the next receiver. */
    int v = -1;
    TU_OK(chrecv(ch[1], &v, sizeof v, now() + 5000));
    ck_assert_int_eq(v, 61);
    ct_op_join(&tx);
    CT_OP_OK(&tx);
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
    ct_make(ch);
    struct ct_op rx = ct_recv_op(ch[1], -1);
    if (pending)
        ct_op_start_blocked(&rx);
    static struct cx c;
    c = (struct cx){.kind = CT_SEND, .ch = ch[0], .val = 99,
                    .pending = pending};
    cx_run_cancelled(&c);
    if (!pending) {
        ct_no_sender(ch[1]);
        ct_op_start_blocked(&rx);
    }
    ck_assert(!atomic_load(&rx.done));
    int v = 62;
    TU_OK(chsend(ch[0], &v, sizeof v, now() + 5000));
    ct_op_join(&rx);
    CT_OP_OK(&rx);
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
    ct_make(a);
    ct_make(b);
    struct ct_op tx = ct_send_op(a[0], 63, -1);
    if (pending)
        ct_op_start_blocked(&tx);
    static struct cx c;
    static int in, out;
    in = -1;
    out = 64;
    c = (struct cx){.kind = CT_CHOOSE, .n = 2, .pending = pending};
    c.cl[0] = (struct chclause){CHRECV, a[1], &in, sizeof in};
    c.cl[1] = (struct chclause){CHSEND, b[0], &out, sizeof out};
    cx_run_cancelled(&c);
    ck_assert_int_eq(in, -1);
    /* Neither clause is left behind. */
    if (!pending) {
        ct_no_receiver(a[0]);
        ct_op_start_blocked(&tx);
    }
    ct_no_sender(b[1]);
    int v = -1;
    TU_OK(chrecv(a[1], &v, sizeof v, now() + 5000));
    ck_assert_int_eq(v, 63);
    ct_op_join(&tx);
    CT_OP_OK(&tx);
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
    ct_make(a);
    ct_make(b);
    ct_make(c);
    struct ct_op rx = ct_recv_op(a[1], -1), tx = ct_send_op(b[0], 71, -1);
    static int got = -1, dummy;
    static struct chclause cl[2];
    cl[0] = (struct chclause){CHRECV, c[1], &got, sizeof got};
    cl[1] = (struct chclause){CHRECV, a[0], &dummy, sizeof dummy};
    struct ct_op ch = {.kind = CT_CHOOSE, .cl = cl, .n = 2, .deadline = -1};
    ct_op_start_blocked(&rx);
    ct_op_start_blocked(&tx);
    ct_op_start_blocked(&ch);
    pid_t pid = tu_fork(10);
    if (pid == 0)
        _exit(child_finds_nobody(a[0], b[1], c[0]));
    ck_assert_int_eq(tu_reap(pid, 15000), 0);
    /* In the parent they are still blocked, and meet as usual. */
    ck_assert(!atomic_load(&rx.done) && !atomic_load(&tx.done) &&
              !atomic_load(&ch.done));
    int v = 72;
    TU_OK(chsend(a[0], &v, sizeof v, now() + 5000));
    TU_OK(chrecv(b[1], &v, sizeof v, now() + 5000));
    ck_assert_int_eq(v, 71);
    v = 73;
    TU_OK(chsend(c[0], &v, sizeof v, now() + 5000));
    ct_op_join(&rx);
    CT_OP_OK(&rx);
    ck_assert_int_eq(rx.val, 72);
    ct_op_join(&tx);
    CT_OP_OK(&tx);
    ct_op_join(&ch);
    ck_assert(ch.rc == 0 && ch.err == 0);
    ck_assert_int_eq(got, 73);
    ct_close_both(a);
    ct_close_both(b);
    ct_close_both(c);
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
    ct_make(a);
    struct ct_op rx = ct_recv_op(a[1], -1);
    ct_op_start_blocked(&rx);
    pid_t pid = tu_fork(10);
    if (pid == 0) {
        struct ct_op crx = ct_recv_op(a[1], now() + 5000);
        ct_op_start(&crx);
        int v = 81;
        int rc = chsend(a[0], &v, sizeof v, now() + 5000);
        pthread_join(crx.th, NULL);
        _exit(rc == 0 && crx.rc == 0 && crx.val == 81 ? 0 : 1);
    }
    ck_assert_int_eq(tu_reap(pid, 15000), 0);
    ck_assert(!atomic_load(&rx.done));
    int v = 82;
    TU_OK(chsend(a[0], &v, sizeof v, now() + 5000));
    ct_op_join(&rx);
    CT_OP_OK(&rx);
    ck_assert_int_eq(rx.val, 82);
    ct_close_both(a);
}
END_TEST

/******************************************************************************/

int main(void)
{
    Suite *s = suite_create("chan_threads");
    TCase *tc = tu_tcase("hclose");
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
