/*
 * What a coroutine switch costs next to a thread wake-up. Not a test: run
 * it by hand (tests/coro/switch_cost [rounds]).
 *
 *   yield        two coroutines yielding to each other: one switch each
 *   go+hclose    starting a coroutine that returns at once, and closing it
 *   condvar      two threads handing a turn over through a condvar: one
 *                wake-up each
 *   pair/coro    1-byte ping-pong over an ipc_pair between two coroutines
 *                of one thread
 *   pair/thread  the same between two plain threads
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <tdill_coro.h>

static long rounds = 1000000;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static coroutine void yielder(long n)
{
    for (long i = 0; i < n; i++)
        yield();
}

static coroutine void nothing(void)
{
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int turn;

static void *turn_taker(void *arg)
{
    int me = (int)(long)arg;
    pthread_mutex_lock(&mu);
    for (long i = 0; i < rounds / 10; i++) {
        while (turn != me)
            pthread_cond_wait(&cv, &mu);
        turn = !me;
        pthread_cond_signal(&cv);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

static coroutine void bouncer(int s, long n)
{
    char c = 0;
    for (long i = 0; i < n; i++)
        if (brecv(s, &c, 1, -1) || bsend(s, &c, 1, -1))
            return;
}

static void *bounce_thread(void *arg)
{
    bouncer((int)(long)arg, rounds / 10);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        rounds = atol(argv[1]);
    /* 1. yield: 2 * rounds switches. */
    double t = now_ns();
    int a = go(yielder(rounds)), b = go(yielder(rounds));
    bundle_wait(a, -1);
    bundle_wait(b, -1);
    double yield_ns = (now_ns() - t) / (2.0 * rounds);
    hclose(a);
    hclose(b);
    /* 2. go + hclose. */
    long n = rounds / 10;
    t = now_ns();
    for (long i = 0; i < n; i++)
        hclose(go(nothing()));
    double go_ns = (now_ns() - t) / n;
    /* 3. condvar hand-over between two threads: 2 * n wake-ups. */
    pthread_t t1, t2;
    t = now_ns();
    pthread_create(&t1, NULL, turn_taker, (void *)0L);
    pthread_create(&t2, NULL, turn_taker, (void *)1L);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    double cond_ns = (now_ns() - t) / (2.0 * n);
    /* 4. ping-pong over sockets, coroutines on one thread. */
    int s[2];
    ipc_pair(s);
    t = now_ns();
    a = go(bouncer(s[0], n));
    char c = 0;
    for (long i = 0; i < n; i++)
        if (bsend(s[1], &c, 1, -1) || brecv(s[1], &c, 1, -1))
            break;
    double pair_coro_us = (now_ns() - t) / n / 1e3;
    hclose(a);
    /* 5. the same between two plain threads. */
    t = now_ns();
    pthread_create(&t1, NULL, bounce_thread, (void *)(long)s[0]);
    for (long i = 0; i < n; i++)
        if (bsend(s[1], &c, 1, -1) || brecv(s[1], &c, 1, -1))
            break;
    pthread_join(t1, NULL);
    double pair_thread_us = (now_ns() - t) / n / 1e3;
    hclose(s[0]);
    hclose(s[1]);
    printf("yield (one switch)        %8.1f ns\n", yield_ns);
    printf("go + hclose               %8.1f ns\n", go_ns);
    printf("condvar (one wake-up)     %8.1f ns\n", cond_ns);
    printf("pair round trip, coro     %8.2f us\n", pair_coro_us);
    printf("pair round trip, threads  %8.2f us\n", pair_thread_us);
    return 0;
}
