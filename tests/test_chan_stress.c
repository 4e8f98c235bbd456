/*
 * Channel stress: producer and consumer threads on shared channels, by
 * chsend, chrecv and choose with short deadlines, while the main thread
 * ends one channel with chdone and closes, one after the other, an end of
 * each of several spare channels that some chooses include. Every value
 * (a unique integer) must arrive exactly once: a bitmap of received values
 * is checked at the end.
 *
 * The run is ROUNDS rounds on fresh channels, so that chdone and hclose
 * race the traffic several times. TDILL_CHAN_STRESS_VALUES sets how many
 * values pass in all (default 400000, divided by tu_slowness() under
 * sanitizers and valgrind).
 */
#include "util.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

enum {
    PRODUCERS = 4,
    CONSUMERS = 6,
    DATA = 3,     /* channels that live until the end */
    CHANS = DATA + 1, /* and one that chdone ends halfway */
    DOOMED = DATA,
    SPARES = 32, /* closed one after the other while chooses include them */
    ROUNDS = 10,
    DEFAULT_VALUES = 400000
};

struct stress {
    int ch[CHANS][2]; /* values go from ch[k][0] to ch[k][1] */
    int spare[SPARES][2]; /* nobody sends on them; spare[j][1] is closed
                             under the chooses */
    int n;
    atomic_int produced;    /* values sent so far */
    atomic_uchar *sent;     /* n flags: the send succeeded */
    atomic_uchar *received; /* n counters */
    atomic_int errors;
    char first_error[256];
    atomic_int seed;
    atomic_int producer_ids;
    /* How often each way of passing a value, or failing, was seen. */
    atomic_int by_choose, by_call, timeouts, epipes, cancels, badfs;
};

static void stress_error(struct stress *s, const char *what, int rc, int err)
{
    if (atomic_fetch_add(&s->errors, 1) == 0)
        snprintf(s->first_error, sizeof s->first_error, "%s: %d with %s",
                 what, rc, tu_errname(err));
}

/* What a thread knows about the channels: the ones it saw end. */
struct view {
    int dead[CHANS];
    int spare_dead[SPARES];
    uint64_t rng;
};

static int live_count(const struct view *w)
{
    int n = 0;
    for (int k = 0; k < CHANS; k++)
        n += !w->dead[k];
    return n;
}

static int64_t short_deadline(struct view *w)
{
    int r = (int)(tu_rand(&w->rng) % 5);
    return r == 0 ? 0 : now() + r;
}

/* One try at passing *v through channel clauses of op (CHSEND: from end 0,
   CHRECV: at end 1): a choose over the live channels, in a random
   rotation, and sometimes a spare; or one call on one of them. Returns
   0 when the value passed, else the errno value, with the channel it
   concerns in *k (-1 - j: spare j; -1 also: the whole choose), and the
   spare it included in *sp (-1: none). */
static int try_once(struct stress *s, struct view *w, int op, int *v, int *k,
                    int *sp)
{
    int live[CHANS], nl = 0;
    for (int i = 0; i < CHANS; i++)
        if (!w->dead[i])
            live[nl++] = i;
    int end = op == CHSEND ? 0 : 1;
    int64_t d = short_deadline(w);
    *sp = (int)(tu_rand(&w->rng) % SPARES);
    if (w->spare_dead[*sp])
        *sp = -1;
    if (tu_rand(&w->rng) % 3 == 0) {
        *sp = -1;
        *k = live[tu_rand(&w->rng) % (uint64_t)nl];
        int rc = op == CHSEND ? chsend(s->ch[*k][end], v, sizeof *v, d)
                              : chrecv(s->ch[*k][end], v, sizeof *v, d);
        if (rc == 0)
            atomic_fetch_add(&s->by_call, 1);
        return rc == 0 ? 0 : errno;
    }
    struct chclause cl[CHANS + 1];
    int which[CHANS + 1], n = 0, dummy;
    int rot = (int)(tu_rand(&w->rng) % (uint64_t)nl);
    int spare_at = *sp < 0 ? -1 : (int)(tu_rand(&w->rng) % (nl + 2));
    if (spare_at > nl)
        *sp = -1;
    for (int i = 0; i <= nl; i++) {
        if (i == spare_at) {
            cl[n] = (struct chclause){CHRECV, s->spare[*sp][1], &dummy,
                                      sizeof dummy};
            which[n++] = -1 - *sp;
        }
        if (i < nl) {
            int c = live[(i + rot) % nl];
            cl[n] = (struct chclause){op, s->ch[c][end], v, sizeof *v};
            which[n++] = c;
        }
    }
    int i = choose(cl, n, d);
    int err = errno;
    *k = i >= 0 ? which[i] : -1;
    if (i >= 0 && err == 0) {
        if (*k < 0)
            return EPROTO; /* the spare carried something */
        atomic_fetch_add(&s->by_choose, 1);
    }
    return i >= 0 && err == 0 ? 0 : err;
}

/* What the thread learns from a failed try; 0 to go on, -1 to give up. */
static int learn(struct stress *s, struct view *w, int err, int k, int sp,
                 const char *who)
{
    if (err == ETIMEDOUT) {
        atomic_fetch_add(&s->timeouts, 1);
        return 0;
    }
    if (err == EPIPE && k >= 0) {
        atomic_fetch_add(&s->epipes, 1);
        w->dead[k] = 1;
        return 0;
    }
    /* The spare's end was closed under the choose (-1 ECANCELED), or
       before it (its index, EBADF). */
    if (sp >= 0 && ((err == ECANCELED && k == -1) ||
                    (err == EBADF && k == -1 - sp))) {
        atomic_fetch_add(err == ECANCELED ? &s->cancels : &s->badfs, 1);
        w->spare_dead[sp] = 1;
        return 0;
    }
    stress_error(s, who, k, err);
    return -1;
}

static void *producer(void *arg)
{
    struct stress *s = arg;
    struct view w = {.rng = (uint64_t)atomic_fetch_add(&s->seed, 1)};
    int id = atomic_fetch_add(&s->producer_ids, 1);
    for (int v = id; v < s->n; v += PRODUCERS) {
        for (;;) {
            if (live_count(&w) == 0) {
                stress_error(s, "producer: every channel ended", v, 0);
                return NULL;
            }
            int val = v, k, sp;
            int err = try_once(s, &w, CHSEND, &val, &k, &sp);
            if (err == 0) {
                if (atomic_exchange(&s->sent[v], 1) != 0)
                    stress_error(s, "producer: sent twice", v, 0);
                atomic_fetch_add(&s->produced, 1);
                break;
            }
            if (learn(s, &w, err, k, sp, "producer") < 0)
                return NULL;
        }
    }
    return NULL;
}

static void *consumer(void *arg)
{
    struct stress *s = arg;
    struct view w = {.rng = (uint64_t)atomic_fetch_add(&s->seed, 1)};
    /* Until chdone has ended every channel. */
    while (live_count(&w) > 0) {
        int v = -1, k, sp;
        int err = try_once(s, &w, CHRECV, &v, &k, &sp);
        if (err == 0) {
            if (v < 0 || v >= s->n)
                stress_error(s, "consumer: a value never sent", v, 0);
            else if (atomic_fetch_add(&s->received[v], 1) != 0)
                stress_error(s, "consumer: a value received twice", v, 0);
            continue;
        }
        if (learn(s, &w, err, k, sp, "consumer") < 0)
            return NULL;
    }
    return NULL;
}

static int values(void)
{
    const char *e = getenv("TDILL_CHAN_STRESS_VALUES");
    int n = e && *e ? atoi(e) : DEFAULT_VALUES / tu_slowness();
    return n > 100 ? n : 100;
}

/* Waits until count reaches at least want (or the producers gave up). */
static void wait_produced(struct stress *s, int want)
{
    while (atomic_load(&s->produced) < want && atomic_load(&s->errors) == 0)
        tu_sleep_ms(1);
}

/* One round on fresh channels: chdone of one a third of the way, then
   hclose of the spares' ends one after the other. */
static void round_of(struct stress *s, int n, int64_t *ms)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    s->sent = calloc((size_t)n, sizeof *s->sent);
    s->received = calloc((size_t)n, sizeof *s->received);
    ck_assert(s->sent && s->received);
    for (int k = 0; k < CHANS; k++)
        TU_OK(chmake(s->ch[k]));
    for (int j = 0; j < SPARES; j++)
        TU_OK(chmake(s->spare[j]));
    int64_t start = now();

    pthread_t p[PRODUCERS], c[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++)
        ck_assert_int_eq(pthread_create(&c[i], NULL, consumer, s), 0);
    for (int i = 0; i < PRODUCERS; i++)
        ck_assert_int_eq(pthread_create(&p[i], NULL, producer, s), 0);

    wait_produced(s, n / 3);
    TU_OK(chdone(s->ch[DOOMED][0]));
    for (int j = 0; j < SPARES; j++) {
        wait_produced(s, n / 3 + n / 2 * j / SPARES);
        TU_OK(hclose(s->spare[j][1]));
    }

    for (int i = 0; i < PRODUCERS; i++)
        ck_assert_int_eq(pthread_join(p[i], NULL), 0);
    /* Every value is sent; chdone now ends the consumers. */
    for (int k = 0; k < DATA; k++)
        TU_OK(chdone(s->ch[k][0]));
    for (int i = 0; i < CONSUMERS; i++)
        ck_assert_int_eq(pthread_join(c[i], NULL), 0);
    *ms = now() - start;

    ck_assert_msg(atomic_load(&s->errors) == 0, "%d errors, the first: %s",
                  atomic_load(&s->errors), s->first_error);
    int missing = 0, first_missing = -1;
    for (int v = 0; v < n; v++) {
        ck_assert_msg(atomic_load(&s->sent[v]) == 1, "value %d not sent", v);
        int r = atomic_load(&s->received[v]);
        ck_assert_msg(r <= 1, "value %d received %d times", v, r);
        if (r == 0 && missing++ == 0)
            first_missing = v;
    }
    ck_assert_msg(missing == 0, "%d values sent but never received (the "
                  "first: %d)", missing, first_missing);
    ck_assert_int_eq(atomic_load(&s->by_choose) + atomic_load(&s->by_call),
                     2 * n);

    for (int k = 0; k < CHANS; k++) {
        TU_OK(hclose(s->ch[k][0]));
        TU_OK(hclose(s->ch[k][1]));
    }
    for (int j = 0; j < SPARES; j++) {
        TU_FAILS(hclose(s->spare[j][1]), EBADF);
        TU_OK(hclose(s->spare[j][0]));
    }
    free(s->sent);
    free(s->received);
}

START_TEST(every_value_arrives_exactly_once_through_chooses_chdone_and_hclose)
{
    static struct stress s;
    int total = values();
    int per = total / ROUNDS > 100 ? total / ROUNDS : 100;
    long long ms = 0, by_choose = 0, by_call = 0, timeouts = 0, epipes = 0,
              cancels = 0, badfs = 0;
    for (int r = 0; r < ROUNDS; r++) {
        int64_t t;
        round_of(&s, per, &t);
        ms += t;
        by_choose += atomic_load(&s.by_choose);
        by_call += atomic_load(&s.by_call);
        timeouts += atomic_load(&s.timeouts);
        epipes += atomic_load(&s.epipes);
        cancels += atomic_load(&s.cancels);
        badfs += atomic_load(&s.badfs);
    }
    fprintf(stderr, "chan stress: %d rounds of %d values in %lld ms (%lld "
            "by choose, %lld by chsend/chrecv; %lld timeouts, %lld EPIPE, "
            "spare closed: %lld ECANCELED, %lld EBADF)\n", ROUNDS, per, ms,
            by_choose, by_call, timeouts, epipes, cancels, badfs);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("chan_stress");
    TCase *tc = tu_tcase("stress");
    tcase_set_timeout(tc, 60 * tu_slowness());
    tcase_add_test(
        tc,
        every_value_arrives_exactly_once_through_chooses_chdone_and_hclose);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
