#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "../poller.h"
#include "coro.h"
#include "san.h"

/*
 * The per-thread scheduler. There is no scheduler context: whichever
 * context blocks picks the next runnable one and switches to it directly,
 * and if none can run it sleeps the thread on its own stack until another
 * thread hands a context over or the nearest timer is due.
 *
 * Runnable contexts sit in `ready`, touched only by the owning thread.
 * Other threads (I/O threads, closers) put contexts in `remote` under mu
 * and signal cond; the owner moves them to `ready`.
 */

__thread struct tdc_sched *tdc_self;
static pthread_key_t key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

/* At thread exit. NB: coroutines still alive point at the scheduler (any
   thread may wake or close them), so then it must stay: it leaks. */
static void sched_free(void *p)
{
    struct tdc_sched *s = p;
    if (s->ncr)
        return;
    tdill__wait_backend_set(NULL, NULL);
    tdc_self = NULL;
    tdc_stack_cache_clear(s);
    tdc_san_fibers_clear(s);
    free(s->timers);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* Once a thread-exit destructor of ours exists, the front-end must stay
   loaded: see tdill__stay_resident. */
static bool have_key;

static void make_key(void)
{
    have_key = pthread_key_create(&key, sched_free) == 0;
    if (have_key)
        tdill__stay_resident((const void *)sched_free);
}

static int sched_init(struct tdc_sched *s)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr))
        return ENOMEM;
    /* NB: the nearest timer is a CLOCK_MONOTONIC deadline. */
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&s->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (rc)
        return ENOMEM;
    if (tdc_timers_reserve(s, 16)) {
        pthread_cond_destroy(&s->cond);
        return ENOMEM;
    }
    pthread_mutex_init(&s->mu, NULL);
    tdc_list_init(&s->ready);
    tdc_list_init(&s->remote);
    s->main.sched = s;
    s->main.timer = TDC_NO_TIMER;
    tdc_set_cur(s, &s->main);
    tdc_san_fiber_new(&s->main, true);
    return 0;
}

struct tdc_sched *tdc_sched_get(void)
{
    if (tdc_self)
        return tdc_self;
    pthread_once(&key_once, make_key);
    /* NB: without a key of its own the scheduler could not be freed at
       thread exit, and `key` would name somebody else's. */
    if (!have_key)
        return NULL;
    struct tdc_sched *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    if (sched_init(s) || pthread_setspecific(key, s)) {
        free(s->timers);
        free(s);
        return NULL;
    }
    tdc_self = s;
    tdill__wait_backend_set(&tdc_backend, &s->cur_canceled);
    return s;
}

/******************************************************************************/
/*  Runnable contexts                                                         */
/******************************************************************************/

void tdc_ready_push(struct tdc_sched *s, struct tdc_cr *cr)
{
    if (!tdc_linked(&cr->ready))
        tdc_list_push(&s->ready, &cr->ready);
}

void tdc_poke(struct tdc_cr *cr)
{
    struct tdc_sched *s = cr->sched;
    if (s == tdc_self) {
        tdc_ready_push(s, cr);
        return;
    }
    pthread_mutex_lock(&s->mu);
    if (!tdc_linked(&cr->remote))
        tdc_list_push(&s->remote, &cr->remote);
    atomic_store_explicit(&s->pending, true, memory_order_relaxed);
    if (s->sleeping)
        pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

void tdc_unqueue(struct tdc_cr *cr)
{
    struct tdc_sched *s = cr->sched;
    if (tdc_linked(&cr->ready))
        tdc_list_del(&cr->ready);
    pthread_mutex_lock(&s->mu);
    if (tdc_linked(&cr->remote))
        tdc_list_del(&cr->remote);
    pthread_mutex_unlock(&s->mu);
}

/* Moves what other threads handed over to the ready queue. */
static void take_remote(struct tdc_sched *s)
{
    if (!atomic_load_explicit(&s->pending, memory_order_relaxed))
        return;
    pthread_mutex_lock(&s->mu);
    while (!tdc_list_empty(&s->remote)) {
        struct tdc_cr *cr = tdc_of(s->remote.next, struct tdc_cr, remote);
        tdc_list_del(&cr->remote);
        tdc_ready_push(s, cr);
    }
    atomic_store_explicit(&s->pending, false, memory_order_relaxed);
    pthread_mutex_unlock(&s->mu);
}

/* Nothing can run: sleep until another thread hands a context over, or
   until deadline (the nearest timer). */
static void sleep_thread(struct tdc_sched *s, int64_t deadline)
{
    struct timespec ts = {0, 0};
    if (deadline != TD_NEVER) {
        ts.tv_sec = deadline / 1000000000;
        ts.tv_nsec = deadline % 1000000000;
    }
    /* NB: the condvar waits would be cancellation points, and a thread
       cancelled here would leave its coroutines and s->mu behind: none of
       the front-end's calls is one (coroutines are cancelled by hclose). */
    int cancel_state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    pthread_mutex_lock(&s->mu);
    s->sleeping = true;
    while (tdc_list_empty(&s->remote)) {
        if (deadline == TD_NEVER)
            pthread_cond_wait(&s->cond, &s->mu);
        else if (pthread_cond_timedwait(&s->cond, &s->mu, &ts) == ETIMEDOUT)
            break;
    }
    s->sleeping = false;
    pthread_mutex_unlock(&s->mu);
    pthread_setcancelstate(cancel_state, NULL);
}

/******************************************************************************/
/*  Switching                                                                 */
/******************************************************************************/

static void reap(struct tdc_sched *s)
{
    struct tdc_cr *cr = s->dying;
    s->dying = NULL;
    s->ncr--;
    tdc_san_stack_gone(cr);
    tdc_san_fiber_free(cr);
    tdc_bundle_leave(cr); /* last: cr's memory may go */
}

void tdc_after_switch(struct tdc_sched *s)
{
    tdc_san_arrive(s->cur, s->from);
    if (s->dying)
        reap(s);
}

/* TDC_NO_TSAN here and below: see tdc_san_fiber_free(). */
TDC_NO_TSAN static void switch_to(struct tdc_sched *s, struct tdc_cr *to)
{
    struct tdc_cr *from = s->cur;
    tdc_set_cur(s, to);
    s->from = from;
    tdc_san_leave(from, to, from == s->dying);
    tdc_san_fiber(to);
    tdc_ctx_swap(&from->ctx, &to->ctx);
    tdc_after_switch(s);
}

TDC_NO_TSAN void tdc_schedule(struct tdc_sched *s)
{
    for (;;) {
        take_remote(s);
        if (s->ntimers)
            tdc_timers_fire(s, td_now_ns());
        struct tdc_cr *next = NULL;
        if (!tdc_list_empty(&s->ready)) {
            next = tdc_of(s->ready.next, struct tdc_cr, ready);
            tdc_list_del(&next->ready);
        } else if (s->cur == s->dying) {
            /* NB: a finished coroutine must not sleep on: the context that
               reaps it may be the one that waits for it. The thread's own
               context is parked somewhere; it resumes spuriously, reaps,
               and sleeps in its place if it has nothing to do. */
            next = &s->main;
        }
        if (next) {
            if (next != s->cur)
                switch_to(s, next);
            return;
        }
        sleep_thread(s, tdc_timer_next(s));
    }
}

void tdc_block(struct tdc_sched *s, int64_t deadline)
{
    struct tdc_cr *cr = s->cur;
    if (deadline != TD_NEVER)
        tdc_timer_add(s, cr, deadline);
    tdc_schedule(s);
    if (cr->timer != TDC_NO_TIMER)
        tdc_timer_del(s, cr);
}

TDC_NO_TSAN _Noreturn void tdc_exit(struct tdc_sched *s)
{
    s->dying = s->cur;
    /* A stale wake-up may pick this context once more: just go on. */
    for (;;)
        tdc_schedule(s);
}
