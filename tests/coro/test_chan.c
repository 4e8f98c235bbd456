/* Channels in coroutines: a blocked call parks only its coroutine; values
   pass between coroutines of one thread, of several threads, and plain
   threads; cancelling a coroutine fails its channel call with ECANCELED
   and it takes nothing afterwards. */
#include "coro_tests.h"

#include <pthread.h>
#include <stdatomic.h>

static void make(int ch[2])
{
    TU_OK(chmake(ch));
}

static void close_both(int ch[2])
{
    TU_OK(hclose(ch[0]));
    TU_OK(hclose(ch[1]));
}

static pthread_t spawn(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, fn, arg), 0);
    return t;
}

/* What the coroutine under test saw. */
static int rc1, err1, val1;

static void reset(void)
{
    rc1 = -2;
    err1 = 0;
    val1 = -1;
}

/******************************************************************************/
/*  One thread                                                                */
/******************************************************************************/

static int rallies;

/* Sends i and expects i + 1 back, n times. */
static coroutine void pinger(int ch, int n)
{
    for (int i = 0; i < n; i++) {
        int v = i;
        if (chsend(ch, &v, sizeof v, -1) || chrecv(ch, &v, sizeof v, -1) ||
            v != i + 1)
            return;
        rallies++;
    }
}

static coroutine void ponger(int ch, int n)
{
    for (int i = 0; i < n; i++) {
        int v;
        if (chrecv(ch, &v, sizeof v, -1))
            return;
        v++;
        if (chsend(ch, &v, sizeof v, -1))
            return;
    }
}

START_TEST(two_coroutines_of_one_thread_ping_pong_over_a_channel)
{
    int ch[2];
    make(ch);
    rallies = 0;
    int threads = tu_count_threads();
    int a, b;
    TU_HANDLE(a, go(pinger(ch[0], 2000)));
    TU_HANDLE(b, go(ponger(ch[1], 2000)));
    TU_OK(bundle_wait(a, now() + 10000));
    TU_OK(bundle_wait(b, now() + 10000));
    ck_assert_int_eq(rallies, 2000);
    /* No helper thread was involved. */
    ck_assert_int_eq(tu_count_threads(), threads);
    TU_OK(hclose(a));
    TU_OK(hclose(b));
    close_both(ch);
}
END_TEST

static int ticks;

static coroutine void ticker(void)
{
    while (msleep(now() + 1) == 0)
        ticks++;
}

static coroutine void receive_one(int ch)
{
    rc1 = chrecv(ch, &val1, sizeof val1, -1);
    err1 = errno;
}

START_TEST(coroutine_blocked_in_chrecv_lets_the_others_run)
{
    int ch[2];
    make(ch);
    reset();
    ticks = 0;
    int r, t;
    TU_HANDLE(r, go(receive_one(ch[1])));
    TU_HANDLE(t, go(ticker()));
    TU_OK(msleep(now() + 50));
    ck_assert_int_eq(rc1, -2);
    ck_assert_int_ge(ticks, 5);
    int v = 17;
    TU_OK(chsend(ch[0], &v, sizeof v, now() + 5000));
    TU_OK(bundle_wait(r, now() + 5000));
    ck_assert(rc1 == 0 && val1 == 17);
    TU_OK(hclose(r));
    TU_OK(hclose(t));
    close_both(ch);
}
END_TEST

static coroutine void send_later(int ch, int v)
{
    msleep(now() + 20);
    chsend(ch, &v, sizeof v, -1);
}

START_TEST(thread_blocked_in_chrecv_runs_its_coroutines)
{
    int ch[2];
    make(ch);
    int w;
    TU_HANDLE(w, go(send_later(ch[0], 23)));
    int v = -1;
    TU_OK(chrecv(ch[1], &v, sizeof v, now() + 5000));
    ck_assert_int_eq(v, 23);
    TU_OK(hclose(w));
    close_both(ch);
}
END_TEST

static struct chclause ccl[2];

static coroutine void choose_two(int64_t deadline)
{
    rc1 = choose(ccl, 2, deadline);
    err1 = errno;
}

START_TEST(choose_in_a_coroutine_takes_the_clause_that_becomes_ready)
{
    int a[2], b[2];
    make(a);
    make(b);
    reset();
    static int va, vb;
    va = vb = -1;
    ccl[0] = (struct chclause){CHRECV, a[1], &va, sizeof va};
    ccl[1] = (struct chclause){CHRECV, b[1], &vb, sizeof vb};
    int c, w;
    TU_HANDLE(c, go(choose_two(-1)));
    TU_HANDLE(w, go(send_later(b[0], 29)));
    ck_assert_int_eq(rc1, -2);
    TU_OK(bundle_wait(c, now() + 5000));
    ck_assert_msg(rc1 == 1 && err1 == 0, "choose: %d %s", rc1,
                  tu_errname(err1));
    ck_assert(vb == 29 && va == -1);
    /* The clause on a was withdrawn. */
    int v = 0;
    TU_FAILS(chsend(a[0], &v, sizeof v, 0), ETIMEDOUT);
    TU_OK(hclose(c));
    TU_OK(hclose(w));
    close_both(a);
    close_both(b);
}
END_TEST

START_TEST(choose_in_a_coroutine_keeps_its_deadline)
{
    int a[2], b[2];
    make(a);
    make(b);
    reset();
    static int va, vb;
    ccl[0] = (struct chclause){CHRECV, a[1], &va, sizeof va};
    ccl[1] = (struct chclause){CHSEND, b[0], &vb, sizeof vb};
    ticks = 0;
    int64_t start = now();
    int c, t;
    TU_HANDLE(c, go(choose_two(start + 50)));
    TU_HANDLE(t, go(ticker()));
    TU_OK(bundle_wait(c, now() + 5000));
    ck_assert(rc1 == -1 && err1 == ETIMEDOUT);
    ck_assert_int_ge(now() - start, 50);
    ck_assert_int_ge(ticks, 5); /* the thread ran the ticker meanwhile */
    TU_OK(hclose(c));
    TU_OK(hclose(t));
    close_both(a);
    close_both(b);
}
END_TEST

/******************************************************************************/
/*  Across threads                                                            */
/******************************************************************************/

enum { CROSS = 1000 };

struct peer {
    int ch;
    int n;
    int errors;
};

/* A plain thread: sends 0..n-1 and expects each back plus one. */
static void *plain_pinger(void *arg)
{
    struct peer *p = arg;
    for (int i = 0; i < p->n; i++) {
        int v = i;
        if (chsend(p->ch, &v, sizeof v, now() + 10000) ||
            chrecv(p->ch, &v, sizeof v, now() + 10000) || v != i + 1)
            p->errors++;
    }
    return NULL;
}

START_TEST(coroutine_and_a_plain_thread_exchange_values)
{
    int ch[2];
    make(ch);
    int cr;
    TU_HANDLE(cr, go(ponger(ch[1], CROSS)));
    static struct peer p;
    p = (struct peer){ch[0], CROSS, 0};
    pthread_t t = spawn(plain_pinger, &p);
    TU_OK(bundle_wait(cr, now() + 20000));
    pthread_join(t, NULL);
    ck_assert_int_eq(p.errors, 0);
    TU_OK(hclose(cr));
    close_both(ch);
}
END_TEST

static _Atomic int remote_rallies;

static coroutine void counting_pinger(int ch, int n)
{
    for (int i = 0; i < n; i++) {
        int v = i;
        if (chsend(ch, &v, sizeof v, -1) || chrecv(ch, &v, sizeof v, -1) ||
            v != i + 1)
            return;
        atomic_fetch_add(&remote_rallies, 1);
    }
}

/* Runs a pinger coroutine on its own thread until it has finished. */
static void *pinger_thread(void *arg)
{
    struct peer *p = arg;
    int cr = go(counting_pinger(p->ch, p->n));
    if (cr < 0 || bundle_wait(cr, now() + 20000) || hclose(cr))
        p->errors++;
    return NULL;
}

START_TEST(coroutines_of_two_threads_exchange_values)
{
    int ch[2];
    make(ch);
    atomic_store(&remote_rallies, 0);
    static struct peer p;
    p = (struct peer){ch[0], CROSS, 0};
    int cr;
    TU_HANDLE(cr, go(ponger(ch[1], CROSS)));
    pthread_t t = spawn(pinger_thread, &p);
    TU_OK(bundle_wait(cr, now() + 20000));
    pthread_join(t, NULL);
    ck_assert_int_eq(p.errors, 0);
    ck_assert_int_eq(atomic_load(&remote_rallies), CROSS);
    TU_OK(hclose(cr));
    close_both(ch);
}
END_TEST

/* A plain thread blocked in choose is woken by a coroutine's send. */
static struct chclause tcl[2];
static int tva, tvb, trc, terr;

static void *plain_choose(void *arg)
{
    (void)arg;
    trc = choose(tcl, 2, now() + 10000);
    terr = errno;
    return NULL;
}

START_TEST(plain_threads_choose_meets_a_coroutines_send)
{
    int a[2], b[2];
    make(a);
    make(b);
    tva = tvb = -1;
    tcl[0] = (struct chclause){CHRECV, a[1], &tva, sizeof tva};
    tcl[1] = (struct chclause){CHRECV, b[1], &tvb, sizeof tvb};
    pthread_t t = spawn(plain_choose, NULL);
    int w;
    TU_HANDLE(w, go(send_later(b[0], 37)));
    TU_OK(bundle_wait(w, now() + 5000));
    pthread_join(t, NULL);
    ck_assert_msg(trc == 1 && terr == 0, "choose: %d %s", trc,
                  tu_errname(terr));
    ck_assert_int_eq(tvb, 37);
    TU_OK(hclose(w));
    close_both(a);
    close_both(b);
}
END_TEST

/******************************************************************************/
/*  Cancellation                                                              */
/******************************************************************************/

START_TEST(cancelled_coroutine_blocked_in_chrecv_fails_with_ecanceled)
{
    int ch[2];
    make(ch);
    reset();
    int cr;
    TU_HANDLE(cr, go(receive_one(ch[1])));
    TU_OK(msleep(now() + 10));
    ck_assert_int_eq(rc1, -2);
    TU_OK(hclose(cr));
    ck_assert(rc1 == -1 && err1 == ECANCELED);
    /* Its clause is gone: a sender finds nobody, and its value is left for
       the next receiver. */
    int v = 41;
    TU_FAILS(chsend(ch[0], &v, sizeof v, now() + 20), ETIMEDOUT);
    ck_assert_int_eq(val1, -1);
    reset();
    TU_HANDLE(cr, go(receive_one(ch[1])));
    TU_OK(chsend(ch[0], &v, sizeof v, now() + 5000));
    TU_OK(bundle_wait(cr, now() + 5000));
    ck_assert(rc1 == 0 && val1 == 41);
    TU_OK(hclose(cr));
    close_both(ch);
}
END_TEST

/* The sender is a plain thread, blocked before and after the cancel. */
struct sender {
    int ch, val, rc, err;
    int64_t deadline;
};

static void *plain_send(void *arg)
{
    struct sender *s = arg;
    s->rc = chsend(s->ch, &s->val, sizeof s->val, s->deadline);
    s->err = errno;
    return NULL;
}

START_TEST(cancelled_coroutine_takes_no_value_from_another_threads_sender)
{
    int ch[2];
    make(ch);
    reset();
    int cr;
    TU_HANDLE(cr, go(receive_one(ch[1])));
    TU_OK(hclose(cr));
    ck_assert(rc1 == -1 && err1 == ECANCELED);
    static struct sender s;
    s = (struct sender){ch[0], 43, -2, 0, now() + 10000};
    pthread_t t = spawn(plain_send, &s);
    TU_OK(msleep(now() + 30));
    ck_assert_int_eq(s.rc, -2); /* still waiting for a receiver */
    int v = -1;
    TU_OK(chrecv(ch[1], &v, sizeof v, now() + 5000));
    ck_assert_int_eq(v, 43);
    pthread_join(t, NULL);
    ck_assert_int_eq(s.rc, 0);
    ck_assert_int_eq(val1, -1);
    close_both(ch);
}
END_TEST

static coroutine void send_one(int ch, int v)
{
    val1 = v;
    rc1 = chsend(ch, &val1, sizeof val1, -1);
    err1 = errno;
}

START_TEST(cancelled_coroutine_blocked_in_chsend_fails_and_hands_nothing)
{
    int ch[2];
    make(ch);
    reset();
    int cr;
    TU_HANDLE(cr, go(send_one(ch[0], 47)));
    ck_assert_int_eq(rc1, -2);
    TU_OK(hclose(cr));
    ck_assert(rc1 == -1 && err1 == ECANCELED);
    int v = -1;
    TU_FAILS(chrecv(ch[1], &v, sizeof v, now() + 20), ETIMEDOUT);
    ck_assert_int_eq(v, -1);
    close_both(ch);
}
END_TEST

START_TEST(cancelled_coroutine_blocked_in_choose_fails_and_withdraws)
{
    int a[2], b[2];
    make(a);
    make(b);
    reset();
    static int va, vb;
    va = -1;
    vb = 53;
    ccl[0] = (struct chclause){CHRECV, a[1], &va, sizeof va};
    ccl[1] = (struct chclause){CHSEND, b[0], &vb, sizeof vb};
    int cr;
    TU_HANDLE(cr, go(choose_two(-1)));
    TU_OK(hclose(cr));
    ck_assert(rc1 == -1 && err1 == ECANCELED);
    int v = 0;
    TU_FAILS(chsend(a[0], &v, sizeof v, 0), ETIMEDOUT);
    TU_FAILS(chrecv(b[1], &v, sizeof v, 0), ETIMEDOUT);
    ck_assert_int_eq(va, -1);
    close_both(a);
    close_both(b);
}
END_TEST

static int after_cancel[3];

static coroutine void channel_calls_after_cancel(int tx, int rx)
{
    msleep(-1); /* cancelled here */
    int v = 1;
    after_cancel[0] = chsend(tx, &v, sizeof v, 0) == -1 ? errno : 0;
    after_cancel[1] = chrecv(rx, &v, sizeof v, -1) == -1 ? errno : 0;
    struct chclause cl = {CHRECV, rx, &v, sizeof v};
    after_cancel[2] = choose(&cl, 1, now() + 1000) == -1 ? errno : 0;
}

static int plain_rc, plain_val;

static void *plain_recv(void *arg)
{
    plain_val = -1;
    plain_rc = chrecv(*(int *)arg, &plain_val, sizeof plain_val,
                      now() + 10000);
    return NULL;
}

START_TEST(cancelled_coroutine_fails_channel_calls_even_with_peers_waiting)
{
    int a[2], b[2];
    make(a);
    make(b);
    /* A sender waits on a, a receiver on b: the coroutine's calls would
       succeed at once. */
    static struct sender s;
    s = (struct sender){a[0], 61, -2, 0, now() + 10000};
    static int rx_end;
    rx_end = b[1];
    pthread_t ts = spawn(plain_send, &s), tr = spawn(plain_recv, &rx_end);
    TU_OK(msleep(now() + 30));
    memset(after_cancel, 0xff, sizeof after_cancel);
    int cr;
    TU_HANDLE(cr, go(channel_calls_after_cancel(b[0], a[1])));
    TU_OK(hclose(cr));
    for (int i = 0; i < 3; i++)
        ck_assert_msg(after_cancel[i] == ECANCELED, "call %d: %s", i,
                      tu_errname(after_cancel[i]));
    /* The peers are still waiting, with their values. */
    int v = -1;
    TU_OK(chrecv(a[1], &v, sizeof v, now() + 5000));
    ck_assert_int_eq(v, 61);
    v = 62;
    TU_OK(chsend(b[0], &v, sizeof v, now() + 5000));
    pthread_join(ts, NULL);
    pthread_join(tr, NULL);
    ck_assert_int_eq(s.rc, 0);
    ck_assert(plain_rc == 0 && plain_val == 62);
    close_both(a);
    close_both(b);
}
END_TEST

START_TEST(value_handed_to_a_coroutine_before_its_cancel_is_delivered)
{
    int ch[2];
    make(ch);
    reset();
    int cr;
    TU_HANDLE(cr, go(receive_one(ch[1])));
    /* Meets the parked receiver at once; the coroutine has not run since. */
    int v = 67;
    TU_OK(chsend(ch[0], &v, sizeof v, 0));
    TU_OK(hclose(cr));
    /* The send succeeded, so the receive did: the value is not lost. */
    ck_assert_msg(rc1 == 0 && val1 == 67, "chrecv: %d %s, value %d", rc1,
                  tu_errname(err1), val1);
    close_both(ch);
}
END_TEST

static int closer_rc;

static coroutine void close_handle(int h)
{
    closer_rc = hclose(h);
}

START_TEST(hclose_of_an_end_by_another_coroutine_fails_the_blocked_one)
{
    int ch[2];
    make(ch);
    reset();
    closer_rc = -2;
    int r, c;
    TU_HANDLE(r, go(receive_one(ch[1])));
    TU_HANDLE(c, go(close_handle(ch[1])));
    TU_OK(bundle_wait(c, now() + 5000));
    ck_assert_int_eq(closer_rc, 0);
    TU_OK(bundle_wait(r, now() + 5000));
    ck_assert(rc1 == -1 && err1 == ECANCELED);
    TU_OK(hclose(r));
    TU_OK(hclose(c));
    TU_OK(hclose(ch[0]));
}
END_TEST

struct remote {
    int ch;
    _Atomic int blocked, finished;
    int rc, err;
};

static coroutine void remote_receive(struct remote *r)
{
    int v;
    atomic_store(&r->blocked, 1);
    r->rc = chrecv(r->ch, &v, sizeof v, -1);
    r->err = errno;
    atomic_store(&r->finished, 1);
}

static void *remote_thread(void *arg)
{
    struct remote *r = arg;
    int cr = go(remote_receive(r));
    if (cr >= 0) {
        bundle_wait(cr, now() + 10000);
        hclose(cr);
    }
    return NULL;
}

START_TEST(hclose_of_an_end_from_another_thread_fails_a_coroutine_in_chrecv)
{
    int ch[2];
    make(ch);
    static struct remote r;
    r = (struct remote){.ch = ch[1], .rc = -2};
    pthread_t t = spawn(remote_thread, &r);
    while (!atomic_load(&r.blocked))
        tu_sleep_ms(1);
    tu_sleep_ms(20);
    ck_assert(!atomic_load(&r.finished));
    TU_OK(hclose(ch[1]));
    pthread_join(t, NULL);
    ck_assert(r.rc == -1 && r.err == ECANCELED);
    TU_OK(hclose(ch[0]));
}
END_TEST

/******************************************************************************/
/*  Many threads and coroutines on shared channels                            */
/******************************************************************************/

enum { MIX_THREADS = 3, MIX_CORO = 4, MIX_MAX = 20000 };

struct mix {
    int ch[2][2]; /* two channels, values from [k][0] to [k][1] */
    int n;
    _Atomic int next, errors;
    _Atomic unsigned char got[MIX_MAX];
};

/* Sends its share of the values, each by chsend or choose, with short
   deadlines, retrying until it is taken. */
static void mix_produce(struct mix *m, uint64_t seed)
{
    uint64_t st = seed;
    for (;;) {
        int v = atomic_fetch_add(&m->next, 1);
        if (v >= m->n)
            return;
        for (;;) {
            int64_t d = now() + (int64_t)(tu_rand(&st) % 3);
            int k = (int)(tu_rand(&st) % 2), rc, err;
            if (tu_rand(&st) % 2) {
                rc = chsend(m->ch[k][0], &v, sizeof v, d);
                err = errno;
            } else {
                struct chclause cl[] = {{CHSEND, m->ch[k][0], &v, sizeof v},
                                        {CHSEND, m->ch[!k][0], &v, sizeof v}};
                rc = choose(cl, 2, d) >= 0 ? 0 : -1;
                err = errno;
                if (rc == 0 && err != 0)
                    rc = -1;
            }
            if (rc == 0)
                break;
            if (err != ETIMEDOUT) {
                atomic_fetch_add(&m->errors, 1);
                return;
            }
        }
    }
}

/* Receives until chdone has ended both channels. */
static void mix_consume(struct mix *m, uint64_t seed)
{
    uint64_t st = seed;
    int done[2] = {0, 0};
    while (!done[0] || !done[1]) {
        int v = -1, k = done[0] ? 1 : done[1] ? 0 : (int)(tu_rand(&st) % 2);
        int64_t d = now() + 1 + (int64_t)(tu_rand(&st) % 3);
        int rc, err;
        if (done[0] || done[1] || tu_rand(&st) % 2) {
            rc = chrecv(m->ch[k][1], &v, sizeof v, d);
            err = errno;
        } else {
            struct chclause cl[] = {{CHRECV, m->ch[0][1], &v, sizeof v},
                                    {CHRECV, m->ch[1][1], &v, sizeof v}};
            int i = choose(cl, 2, d);
            err = errno;
            rc = i >= 0 && err == 0 ? 0 : -1;
            if (i >= 0)
                k = i;
        }
        if (rc == 0) {
            if (v < 0 || v >= m->n || atomic_fetch_add(&m->got[v], 1) != 0)
                atomic_fetch_add(&m->errors, 1);
        } else if (err == EPIPE) {
            done[k] = 1;
        } else if (err != ETIMEDOUT) {
            atomic_fetch_add(&m->errors, 1);
            return;
        }
    }
}

static coroutine void mix_producer(struct mix *m, uint64_t seed)
{
    mix_produce(m, seed);
}

static coroutine void mix_consumer(struct mix *m, uint64_t seed)
{
    mix_consume(m, seed);
}

struct mix_job {
    struct mix *m;
    int id;
    int consumers; /* this thread runs consumers (else producers) */
};

/* A thread with MIX_CORO coroutines; job id 0 of each kind is a plain
   thread instead. */
static void *mix_thread(void *arg)
{
    struct mix_job *j = arg;
    uint64_t seed = (uint64_t)j->id * 7919u + (uint64_t)j->consumers;
    if (j->id == 0) {
        if (j->consumers)
            mix_consume(j->m, seed);
        else
            mix_produce(j->m, seed);
        return NULL;
    }
    int b = bundle();
    if (b < 0) {
        atomic_fetch_add(&j->m->errors, 1);
        return NULL;
    }
    for (int i = 0; i < MIX_CORO; i++) {
        int rc = j->consumers
                     ? bundle_go(b, mix_consumer(j->m, seed + (uint64_t)i))
                     : bundle_go(b, mix_producer(j->m, seed + (uint64_t)i));
        if (rc)
            atomic_fetch_add(&j->m->errors, 1);
    }
    bundle_wait(b, -1);
    hclose(b);
    return NULL;
}

START_TEST(coroutines_and_plain_threads_share_channels_each_value_once)
{
    static struct mix m;
    memset(&m, 0, sizeof m);
    m.n = MIX_MAX / tu_slowness();
    make(m.ch[0]);
    make(m.ch[1]);
    struct mix_job prod[MIX_THREADS], cons[MIX_THREADS];
    pthread_t tp[MIX_THREADS], tc[MIX_THREADS];
    for (int i = 0; i < MIX_THREADS; i++) {
        cons[i] = (struct mix_job){&m, i, 1};
        prod[i] = (struct mix_job){&m, i, 0};
        tc[i] = spawn(mix_thread, &cons[i]);
        tp[i] = spawn(mix_thread, &prod[i]);
    }
    for (int i = 0; i < MIX_THREADS; i++)
        pthread_join(tp[i], NULL);
    TU_OK(chdone(m.ch[0][0]));
    TU_OK(chdone(m.ch[1][0]));
    for (int i = 0; i < MIX_THREADS; i++)
        pthread_join(tc[i], NULL);
    int errors = atomic_load(&m.errors);
    ck_assert_msg(errors == 0, "%d values out of range, received twice, or "
                  "calls that failed unexpectedly", errors);
    for (int v = 0; v < m.n; v++)
        ck_assert_msg(atomic_load(&m.got[v]) == 1, "value %d received %d "
                      "times", v, atomic_load(&m.got[v]));
    close_both(m.ch[0]);
    close_both(m.ch[1]);
}
END_TEST

void coro_add_chan(Suite *s)
{
    TCase *tc = tu_tcase("chan");
    tcase_add_test(tc, two_coroutines_of_one_thread_ping_pong_over_a_channel);
    tcase_add_test(tc, coroutine_blocked_in_chrecv_lets_the_others_run);
    tcase_add_test(tc, thread_blocked_in_chrecv_runs_its_coroutines);
    tcase_add_test(tc,
                   choose_in_a_coroutine_takes_the_clause_that_becomes_ready);
    tcase_add_test(tc, choose_in_a_coroutine_keeps_its_deadline);
    tcase_add_test(tc, coroutine_and_a_plain_thread_exchange_values);
    tcase_add_test(tc, coroutines_of_two_threads_exchange_values);
    tcase_add_test(tc, plain_threads_choose_meets_a_coroutines_send);
    tcase_add_test(
        tc, coroutines_and_plain_threads_share_channels_each_value_once);
    suite_add_tcase(s, tc);

    tc = tu_tcase("chan_cancel");
    tcase_add_test(tc,
                   cancelled_coroutine_blocked_in_chrecv_fails_with_ecanceled);
    tcase_add_test(
        tc, cancelled_coroutine_takes_no_value_from_another_threads_sender);
    tcase_add_test(
        tc, cancelled_coroutine_blocked_in_chsend_fails_and_hands_nothing);
    tcase_add_test(tc,
                   cancelled_coroutine_blocked_in_choose_fails_and_withdraws);
    tcase_add_test(
        tc,
        cancelled_coroutine_fails_channel_calls_even_with_peers_waiting);
    tcase_add_test(tc,
                   value_handed_to_a_coroutine_before_its_cancel_is_delivered);
    tcase_add_test(
        tc, hclose_of_an_end_by_another_coroutine_fails_the_blocked_one);
    tcase_add_test(
        tc, hclose_of_an_end_from_another_thread_fails_a_coroutine_in_chrecv);
    suite_add_tcase(s, tc);
}
