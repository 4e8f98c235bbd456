#include <errno.h>

#include "coro.h"

/*
 * The wait backend the core's waiters use on a thread that runs coroutines.
 * The front-end's own waiters (bundle_wait, hclose on a bundle) are the
 * core's too: sched.c installs this backend together with the thread's
 * scheduler, so they park a coroutine where one runs and sleep the thread
 * on any other.
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
        if (td_expired(deadline))
            return TD_WAITING;
        pthread_mutex_unlock(mu);
        tdc_block(s, deadline);
        pthread_mutex_lock(mu);
    }
}

static enum td_wait_state backend_park(struct td_waiter *w,
                                       pthread_mutex_t *mu, int64_t deadline)
{
    struct tdc_sched *s = tdc_sched();
    /* A closer (of a handle's last reference, of a bundle) must wait even
       in a cancelled coroutine: what it waits for may be another coroutine
       here. */
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
    .park = backend_park,
    .wake = backend_wake,
    .pause = backend_pause,
};
