/*
 * The stress test. For STRESS_SECONDS (20 s by default, 8 under the
 * sanitizers, 5 under valgrind) worker threads pick random operations on a
 * shared set of connection slots: sends and receives of random sizes, in
 * one piece or as iolists, with random deadlines (0, past, a few ms, none);
 * descriptor passing; ipc_done, ipc_close and hclose of handles other
 * threads are using; pairs, connects and accepts that fill the slots again;
 * stale and wrong-kind handles. Each direction carries the frames of
 * stress.h, and the receiver checks every byte it gets.
 *
 * A failed transfer kills only its direction (SPEC), so the checks are on
 * what completed: every received byte is the byte the sender must have
 * sent at that offset, every completed frame passes its own header and
 * checksum, and no direction ever completes more frames than its sender
 * completed (the all-or-nothing rule seen from the far end). Afterwards no
 * call is stuck, and descriptors and threads are back to their baseline
 * (taken after the library started its fixed I/O threads).
 */
#include "stress.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAXW 16

/******************************************************************************/
/*  Workers and the watchdog                                                  */
/******************************************************************************/

static struct worker workers[MAXW];
static int nworkers;
static _Atomic int stop, stop_watchdog;
static _Atomic int64_t stopped_at;

/* A call with a deadline must be back soon after it; any call must be back
   soon after the end of the run, when everything gets closed. */
static void *watchdog_main(void *arg)
{
    (void)arg;
    int64_t grace = 2000 * tu_slowness();
    while (!atomic_load(&stop_watchdog)) {
        tu_sleep_ms(100);
        int64_t t = now(), stop_t = atomic_load(&stopped_at);
        for (int i = 0; i < nworkers; i++) {
            struct worker *w = &workers[i];
            int64_t began = atomic_load(&w->started);
            int64_t dl = atomic_load(&w->deadline);
            unsigned seq = atomic_load(&w->seq);
            if (!began || w->reported == seq)
                continue;
            int64_t limit = dl >= 0 ? (dl > began ? dl : began) + grace : -1;
            if (stop_t && (limit < 0 || limit > stop_t + 5 * grace))
                limit = stop_t + 5 * grace;
            if (limit >= 0 && t > limit) {
                w->reported = seq;
                st_failure("worker %d: %s on handle %d still blocked %lld "
                           "ms after it should have returned",
                           i, st_op_names[atomic_load(&w->op)],
                           atomic_load(&w->h), (long long)(t - limit + grace));
            }
        }
    }
    return NULL;
}

/******************************************************************************/
/*  The run                                                                   */
/******************************************************************************/

/* What a worker picks, and how often. Closes are rare: each ends both
   directions of a connection. */
static const struct {
    void (*fn)(struct worker *);
    int weight;
} mix[] = {
    {st_op_send, 300},    {st_op_recv, 300},
    {st_op_done, 3},      {st_op_close_orderly, 1},
    {st_op_close_now, 1}, {st_op_rogue_hclose, 1},
    {st_op_reap, 20},     {st_op_pair, 12},
    {st_op_connect, 12},  {st_op_accept, 16},
    {st_op_stale, 10},    {st_op_wrong_kind, 4},
    {st_op_peercred, 3},  {st_op_swap_listener, 2},
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    int total = 0;
    for (size_t i = 0; i < sizeof mix / sizeof mix[0]; i++)
        total += mix[i].weight;
    while (!atomic_load(&stop)) {
        int r = (int)st_rndn(w, (size_t)total);
        for (size_t i = 0;; i++) {
            if (r < mix[i].weight) {
                mix[i].fn(w);
                break;
            }
            r -= mix[i].weight;
        }
    }
    return NULL;
}

/* Stops the workers: calls with no deadline return only when their handle
   is closed, so close everything until every worker is back. */
static void stop_workers(struct worker *boss)
{
    atomic_store(&stopped_at, now());
    atomic_store(&stop, 1);
    int joined[MAXW] = {0}, left = nworkers;
    int64_t give_up = now() + 60000 * tu_slowness();
    while (left) {
        st_swap_listener(boss, 0);
        for (int i = 0; i < NSLOT; i++)
            st_begin_teardown(&st.conns[i], 1, INT64_MAX);
        for (int i = 0; i < nworkers; i++) {
            if (joined[i])
                continue;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 20 * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            if (pthread_timedjoin_np(workers[i].th, NULL, &ts) == 0) {
                joined[i] = 1;
                left--;
            }
        }
        /* The watchdog has said what is stuck; we cannot clean up. */
        const char *first;
        st_failures(&first);
        ck_assert_msg(now() < give_up,
                      "%d workers never came back; first failure: %s", left,
                      first);
    }
    for (int i = 0; i < NSLOT; i++)
        st_begin_teardown(&st.conns[i], 1, INT64_MAX);
}

static void report(double secs, uint64_t seed)
{
    long total = 0;
    for (int i = 0; i < NOPS; i++)
        total += atomic_load(&st.tally[i][0]);
    printf("stress: %.1f s, %d threads, seed %#llx: %ld operations "
           "(%.0f/s)\n",
           secs, nworkers, (unsigned long long)seed, total, total / secs);
    for (int i = 0; i < NOPS; i++)
        printf("  %-16s %10ld calls %10ld succeeded %8.1f s in calls\n",
               st_op_names[i], atomic_load(&st.tally[i][0]),
               atomic_load(&st.tally[i][1]),
               atomic_load(&st.tally_us[i]) / 1e6);
    printf("  verified: %ld frames, %ld bytes, %ld descriptors; "
           "%ld connections made\n",
           atomic_load(&st.frames_ok), atomic_load(&st.bytes_ok),
           atomic_load(&st.fds_ok), atomic_load(&st.conns_made));
    fflush(stdout);
}

START_TEST(
    random_operations_from_many_threads_keep_every_stream_intact_and_leak_nothing)
{
    double dflt = tu_valgrind() ? 5 : tu_slowness() > 1 ? 8 : 20;
    double secs = rel_env_seconds("STRESS_SECONDS", dflt);
    const char *env_seed = getenv("STRESS_SEED");
    uint64_t seed = env_seed ? strtoull(env_seed, NULL, 0)
                             : (uint64_t)time(NULL) ^ (uint64_t)getpid();
    nworkers = tu_valgrind() ? 4 : 8;
    /* Baseline once the library runs its fixed I/O threads. */
    tu_warm_up();
    int fds0 = tu_count_fds(), threads0 = tu_count_threads();
    char fds_desc[4096], now_desc[4096];
    tu_describe_fds(fds_desc, sizeof fds_desc);

    st.marker_fd = memfd_create("tdill-stress-marker", MFD_CLOEXEC);
    ck_assert_int_ge(st.marker_fd, 0);
    st_setup_slots();
    struct worker boss = {.id = -1, .rng = seed ^ 0xb055};
    st_swap_listener(&boss, 1);
    pthread_t watchdog;
    ck_assert_int_eq(pthread_create(&watchdog, NULL, watchdog_main, NULL), 0);
    for (int i = 0; i < nworkers; i++) {
        struct worker *w = &workers[i];
        w->id = i;
        w->rng = seed + (uint64_t)i * 0x1234567;
        w->scratch = malloc(SF_MAXFRAME);
        ck_assert_int_eq(pthread_create(&w->th, NULL, worker_main, w), 0);
    }
    int64_t start = now();
    while (now() - start < (int64_t)(secs * 1000))
        tu_sleep_ms(50);
    stop_workers(&boss);
    double took = (now() - start) / 1000.0;
    atomic_store(&stop_watchdog, 1);
    pthread_join(watchdog, NULL);
    for (int i = 0; i < nworkers; i++)
        free(workers[i].scratch);
    st_free_slots();
    close(st.marker_fd);
    report(took, seed);

    const char *first;
    int failures = st_failures(&first);
    ck_assert_msg(failures == 0, "%d failures; first: %s", failures, first);
    ck_assert_msg(tu_count_fds() == fds0, "descriptors before: %s\nafter: %s",
                  fds_desc, tu_describe_fds(now_desc, sizeof now_desc));
    ck_assert_int_eq(tu_count_threads(), threads0);
    /* The run did real work. */
    ck_assert_int_gt(atomic_load(&st.frames_ok), 100);
    ck_assert_int_gt(atomic_load(&st.fds_ok), 0);
    ck_assert_int_gt(atomic_load(&st.tally[OP_ACCEPT][1]), 0);
    ck_assert_int_gt(atomic_load(&st.tally[OP_PAIR][1]), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stress");
    TCase *tc = tcase_create("stress");
    double secs = rel_env_seconds("STRESS_SECONDS", 20);
    tcase_set_timeout(tc, secs + 60.0 * tu_slowness());
    tcase_add_test(
        tc,
        random_operations_from_many_threads_keep_every_stream_intact_and_leak_nothing);
    suite_add_tcase(s, tc);
    return tu_main(s);
}
