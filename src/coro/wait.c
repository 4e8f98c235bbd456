#include <errno.h>
#include <time.h>

#include "coro.h"

/*
 * The wait backend the core's waiters use on a thread that runs coroutines,
 * and the front-end's own waiters (bundle_wait, hclose on a bundle), which
 * must also work on threads that never ran a coroutine.
 *
 * A parked context is resumed by tdc_poke() from whichever thread changed
 * the waiter's state; it also resumes at its deadline, on cancellation, and
 * now and then for no reason (a stale hand-over), so it always re-checks.
 */

static bool is_canceled(const struct tdc_cr *cr)
{
    return atomic_load_explicit(&cr->canceled, memory_order_acquire);
}

int tdc_check_canceled(void)
{
    struct tdc_sched *s = tdc_sched();
    return s && is_canceled(s->cur) ? ECANCELED : 0;
}

/* Parks the current context until w changes state, the deadline passes or,
   if cancellable, the context is cancelled. Called and returns with mu. */
static enum td_wait_state park_here(struct tdc_sched *s, struct td_waiter *w,
                                    pthread_mutex_t *mu, int64_t deadline,
                                    bool cancellable)
{
    struct tdc_cr *cr = s->cur;
    w->ctx = cr;
    for (;;) {
        if (cancellable && is_canceled(cr))
            return TD_CANCELED;
        if (w->state != TD_WAITING)
            return w->state;
        if (deadline != TD_NEVER && tdc_now_ns() >= deadline)
            return TD_WAITING;
        pthread_mutex_unlock(mu);
        tdc_block(s, deadline);
        pthread_mutex_lock(mu);
    }
}

static int backend_enter(void)
{
    return tdc_check_canceled();
}

static enum td_wait_state backend_park(struct td_waiter *w,
                                       pthread_mutex_t *mu, int64_t deadline)
{
    struct tdc_sched *s = tdc_sched();
    /* A closer waiting for a handle's last reference must wait even in a
       cancelled coroutine: the holder may be another coroutine here. */
    return park_here(s, w, mu, deadline, !w->uncancellable);
}

static void backend_wake(struct td_waiter *w)
{
    tdc_poke(w->ctx);
}

/* While the core spins before parking: the peer may well be a coroutine of
   this thread, which can only make progress if we step aside. */
static void backend_pause(void)
{
    struct tdc_sched *s = tdc_sched();
    tdc_ready_push(s, s->cur);
    tdc_schedule(s);
}

const struct td_wait_backend tdc_backend = {
    .enter = backend_enter,
    .park = backend_park,
    .wake = backend_wake,
    .pause = backend_pause,
};

/******************************************************************************/
/*  The front-end's own waiters                                               */
/******************************************************************************/

void tdc_waiter_init(struct td_waiter *w)
{
    w->state = TD_WAITING;
    w->events = 0;
    w->next = NULL;
    w->ctx = NULL;
    w->uncancellable = false;
    w->backend = tdc_sched() ? &tdc_backend : NULL;
    if (!w->backend) {
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&w->cond, &attr);
        pthread_condattr_destroy(&attr);
    }
}

void tdc_waiter_fini(struct td_waiter *w)
{
    if (!w->backend)
        pthread_cond_destroy(&w->cond);
}

enum td_wait_state tdc_waiter_park(struct td_waiter *w, pthread_mutex_t *mu,
                                   int64_t deadline, bool cancellable)
{
    if (w->backend)
        return park_here(tdc_sched(), w, mu, deadline, cancellable);
    struct timespec ts = {0, 0};
    if (deadline != TD_NEVER) {
        ts.tv_sec = deadline / 1000000000;
        ts.tv_nsec = deadline % 1000000000;
    }
    while (w->state == TD_WAITING) {
        if (deadline == TD_NEVER)
            pthread_cond_wait(&w->cond, mu);
        else if (pthread_cond_timedwait(&w->cond, mu, &ts) == ETIMEDOUT)
            break;
    }
    return w->state;
}

void tdc_waiter_wake(struct td_waiter *w, enum td_wait_state state)
{
    if (w->state != TD_WAITING)
        return;
    w->state = state;
    if (w->backend)
        tdc_poke(w->ctx);
    else
        pthread_cond_signal(&w->cond);
}
