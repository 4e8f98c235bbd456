/*
 * chan_pool -- a pool of worker threads fed through one channel.
 *
 *   chan_pool [-p PRODUCERS] [-w WORKERS] [-n JOBS] [-t TIMEOUT_MS]
 *
 * PRODUCERS threads each send JOBS jobs on the job channel. WORKERS
 * threads receive them at its other end, each job going to whichever
 * worker is free first, compute the answer (the length of a Collatz
 * sequence) and send it on the result channel, where the main thread
 * collects the results and checks that every job was answered exactly
 * once, and correctly. All the producers share one end of the job channel
 * and all the workers the other: a channel end takes any number of
 * threads at once.
 *
 * Nobody counts messages to know when to stop: the end of the input flows
 * through the pool with chdone().
 *   - The last producer to finish calls chdone() on its end of the job
 *     channel. The workers' chrecv() then fails with EPIPE, and they stop.
 *   - The last worker to stop calls chdone() on its end of the result
 *     channel. The main thread's chrecv() then fails with EPIPE: every
 *     result is in.
 * A channel has no buffer, so a value whose chsend() succeeded has been
 * received, and chdone() never loses one.
 *
 * Deadlines. A worker waits for a job at most IDLE_MS at a time; a timeout
 * does a channel no harm, so the worker notes the idle spell and waits
 * again. The producers, the workers' sends and the main thread's receives
 * wait at most TIMEOUT_MS. If the main thread times out, the pool has
 * stalled: it closes the four channel ends, which makes every call blocked
 * on them in the other threads fail at once (with ECANCELED, or with EPIPE
 * on the second end of a channel to be closed), joins the threads and
 * exits with an error.
 *
 * Exit status: 0 if every result arrived exactly once and was right.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tdill.h>

#define MAX_THREADS 64
#define IDLE_MS 250

struct job {
    uint32_t producer, seq;
    uint64_t n;
};

struct result {
    uint32_t producer, seq;
    uint32_t worker;
    uint32_t steps;
};

struct producer {
    pthread_t thread;
    uint32_t id;
    uint32_t sent;
    int err;
};

struct worker {
    pthread_t thread;
    uint32_t id;
    uint32_t done;
    uint32_t idle; /* times IDLE_MS passed without a job */
    int err;
};

static int jobs[2];    /* producers send on [0], workers receive on [1] */
static int results[2]; /* workers send on [0], main receives on [1] */

static unsigned nproducers = 4, nworkers = 3;
static uint32_t njobs = 1000;
static int64_t timeout_ms = 5000;

static atomic_uint producers_left, workers_left;

/******************************************************************************/
/*  The work                                                                  */
/******************************************************************************/

/* The input of a job, derived from who sent it, so that the main thread
   can check an answer without sharing anything with the producers. */
static uint64_t job_input(uint32_t producer, uint32_t seq)
{
    uint64_t x = ((uint64_t)producer << 32) | seq;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return 1 + x % 1000000;
}

static uint32_t collatz_steps(uint64_t n)
{
    uint32_t steps = 0;
    while (n != 1) {
        n = n % 2 ? 3 * n + 1 : n / 2;
        steps++;
    }
    return steps;
}

/******************************************************************************/
/*  The threads                                                               */
/******************************************************************************/

static void *producer_main(void *arg)
{
    struct producer *p = arg;
    for (uint32_t i = 0; i < njobs; i++) {
        struct job j = {p->id, i, job_input(p->id, i)};
        /* Returns once a worker has taken the job. */
        if (chsend(jobs[0], &j, sizeof(j), now() + timeout_ms) < 0) {
            p->err = errno;
            break;
        }
        p->sent++;
    }
    /* The last producer out ends the stream of jobs; the others' sends
       have all returned by then, so none of them fails with EPIPE. */
    if (atomic_fetch_sub(&producers_left, 1) == 1)
        chdone(jobs[0]);
    return NULL;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (;;) {
        struct job j;
        if (chrecv(jobs[1], &j, sizeof(j), now() + IDLE_MS) < 0) {
            if (errno == ETIMEDOUT) {
                w->idle++; /* nothing lost: wait again */
                continue;
            }
            if (errno != EPIPE) /* EPIPE: no more jobs */
                w->err = errno;
            break;
        }
        struct result r = {j.producer, j.seq, w->id, collatz_steps(j.n)};
        if (chsend(results[0], &r, sizeof(r), now() + timeout_ms) < 0) {
            w->err = errno;
            break;
        }
        w->done++;
    }
    if (atomic_fetch_sub(&workers_left, 1) == 1)
        chdone(results[0]);
    return NULL;
}

/******************************************************************************/
/*  The main thread                                                           */
/******************************************************************************/

/* Calls blocked on an end fail with ECANCELED when it closes, or with
   EPIPE when it is the second end of its channel to close; later calls on
   a closed end fail with EBADF. */
static void close_all(void)
{
    hclose(jobs[0]);
    hclose(jobs[1]);
    hclose(results[0]);
    hclose(results[1]);
}

static unsigned parse(const char *s, unsigned lo, unsigned hi)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "chan_pool: '%s' is not a number from %u to %u\n", s,
                lo, hi);
        exit(2);
    }
    return (unsigned)v;
}

static void options(int argc, char **argv)
{
    int c;
    while ((c = getopt(argc, argv, "p:w:n:t:")) != -1) {
        switch (c) {
        case 'p':
            nproducers = parse(optarg, 1, MAX_THREADS);
            break;
        case 'w':
            nworkers = parse(optarg, 1, MAX_THREADS);
            break;
        case 'n':
            njobs = parse(optarg, 0, 1000000);
            break;
        case 't':
            timeout_ms = parse(optarg, 1, 3600000);
            break;
        default:
            fprintf(stderr, "usage: chan_pool [-p PRODUCERS] [-w WORKERS] "
                            "[-n JOBS] [-t TIMEOUT_MS]\n");
            exit(2);
        }
    }
}

/* Receives results until the workers' chdone (EPIPE) or an error; marks
   each job in seen[] and counts what is wrong. Returns the errno that
   ended it. */
static int collect(unsigned char *seen, uint64_t *got, uint64_t *bad)
{
    struct result r;
    while (chrecv(results[1], &r, sizeof(r), now() + timeout_ms) == 0) {
        (*got)++;
        if (r.producer >= nproducers || r.seq >= njobs ||
            r.worker >= nworkers) {
            (*bad)++;
            continue;
        }
        uint64_t k = (uint64_t)r.producer * njobs + r.seq;
        if (seen[k] || r.steps != collatz_steps(job_input(r.producer, r.seq)))
            (*bad)++;
        seen[k] = 1;
    }
    return errno;
}

int main(int argc, char **argv)
{
    options(argc, argv);
    uint64_t total = (uint64_t)nproducers * njobs;
    unsigned char *seen = calloc(total ? total : 1, 1);
    if (!seen) {
        perror("chan_pool: calloc");
        return 1;
    }
    if (chmake(jobs) < 0 || chmake(results) < 0) {
        perror("chan_pool: chmake");
        return 1;
    }
    printf("chan_pool: %u producers, %u workers, %" PRIu64 " jobs\n",
           nproducers, nworkers, total);

    /* 1. Start the pool, then the producers. */
    static struct worker w[MAX_THREADS];
    static struct producer p[MAX_THREADS];
    int64_t start = now();
    atomic_store(&workers_left, nworkers);
    atomic_store(&producers_left, nproducers);
    for (unsigned i = 0; i < nworkers; i++) {
        w[i].id = i;
        if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) {
            fprintf(stderr, "chan_pool: cannot start a worker\n");
            return 1;
        }
    }
    for (unsigned i = 0; i < nproducers; i++) {
        p[i].id = i;
        if (pthread_create(&p[i].thread, NULL, producer_main, &p[i]) != 0) {
            fprintf(stderr, "chan_pool: cannot start a producer\n");
            return 1;
        }
    }

    /* 2. Collect until the end of the stream; on a stall, stop the pool. */
    uint64_t got = 0, bad = 0;
    int err = collect(seen, &got, &bad);
    if (err != EPIPE) {
        fprintf(stderr, "chan_pool: no result: %s; stopping the pool\n",
                strerror(err));
        close_all(); /* wakes every blocked producer and worker */
    }
    for (unsigned i = 0; i < nproducers; i++)
        pthread_join(p[i].thread, NULL);
    for (unsigned i = 0; i < nworkers; i++)
        pthread_join(w[i].thread, NULL);
    int64_t elapsed = now() - start;
    if (err == EPIPE)
        close_all();

    /* 3. Report. */
    bool ok = err == EPIPE && got == total && bad == 0;
    for (unsigned i = 0; i < nproducers; i++)
        if (p[i].err) {
            printf("  producer %u: sent %" PRIu32 " jobs, then %s\n", i,
                   p[i].sent, strerror(p[i].err));
            ok = false;
        }
    for (unsigned i = 0; i < nworkers; i++) {
        printf("  worker %u: %" PRIu32 " jobs, %" PRIu32 " idle spells", i,
               w[i].done, w[i].idle);
        if (w[i].err) {
            printf(", then %s", strerror(w[i].err));
            ok = false;
        }
        printf("\n");
    }
    if (ok)
        printf("chan_pool: all %" PRIu64 " results arrived once and were "
               "right, in %" PRId64 " ms\n",
               got, elapsed);
    else
        printf("chan_pool: FAILED: %" PRIu64 " of %" PRIu64
               " results, %" PRIu64 " wrong or repeated\n",
               got, total, bad);
    free(seen);
    return ok ? 0 : 1;
}
