#include <errno.h>
#include <sched.h>
#include <time.h>

#include "api.h"
#include "now.h"
#include "wait.h"

/*
 * How a caller waits (see wait.h): the waiter, the lists of waiters every
 * waitable object keeps, and the per-thread backend that replaces sleeping
 * on a condvar where coroutines run.
 */

static __thread const struct td_wait_backend *backend;

/* A condattr is the same for every waiter: build it once. */
static pthread_condattr_t monotonic_attr;
static pthread_once_t attr_once = PTHREAD_ONCE_INIT;

static void init_attr(void)
{
    pthread_condattr_init(&monotonic_attr);
    /* NB: without this a wall-clock jump would stretch or cut deadlines. */
    pthread_condattr_setclock(&monotonic_attr, CLOCK_MONOTONIC);
}

TDILL_EXPORT void tdill__wait_backend_set(const struct td_wait_backend *b)
{
    backend = b;
}

int td_wait_enter(void)
{
    return backend ? backend->enter() : 0;
}

int td_wait_pause(void)
{
    if (backend && backend->pause) {
        backend->pause();
        /* Others ran: one of them may have cancelled us. */
        return backend->enter();
    }
    sched_yield();
    return 0;
}

/******************************************************************************/
/*  One waiter                                                                */
/******************************************************************************/

static void waiter_init(struct td_waiter *w, uint32_t events, bool cancellable)
{
    w->state = TD_WAITING;
    w->events = events;
    w->next = NULL;
    w->backend = backend;
    w->ctx = NULL;
    w->uncancellable = !cancellable;
    if (!backend) {
        pthread_once(&attr_once, init_attr);
        pthread_cond_init(&w->cond, &monotonic_attr);
    }
}

static void waiter_fini(struct td_waiter *w)
{
    if (!w->backend)
        pthread_cond_destroy(&w->cond);
}

static enum td_wait_state waiter_park(struct td_waiter *w, pthread_mutex_t *mu,
                                      int64_t deadline_ns)
{
    if (w->backend)
        return w->backend->park(w, mu, deadline_ns);
    struct timespec ts;
    if (deadline_ns != TD_NEVER) {
        ts.tv_sec = deadline_ns / 1000000000;
        ts.tv_nsec = deadline_ns % 1000000000;
    }
    /* Spurious wake-ups happen: the state is the only truth. */
    while (w->state == TD_WAITING) {
        if (deadline_ns == TD_NEVER) {
            pthread_cond_wait(&w->cond, mu);
        } else if (pthread_cond_timedwait(&w->cond, mu, &ts) == ETIMEDOUT) {
            break;
        }
    }
    return w->state;
}

void td_waiter_wake(struct td_waiter *w, enum td_wait_state state)
{
    if (w->state != TD_WAITING)
        return;
    w->state = state;
    if (w->backend)
        w->backend->wake(w);
    else
        pthread_cond_signal(&w->cond);
}

/******************************************************************************/
/*  Lists of waiters                                                          */
/******************************************************************************/

/* NB: appended, so that wake-ups that serve one waiter serve the oldest. */
static void list_append(struct td_waitlist *l, struct td_waiter *w)
{
    struct td_waiter **p = &l->first;
    while (*p)
        p = &(*p)->next;
    *p = w;
}

static void list_remove(struct td_waitlist *l, struct td_waiter *w)
{
    struct td_waiter **p = &l->first;
    while (*p != w)
        p = &(*p)->next;
    *p = w->next;
}

enum td_wait_state td_wait_in(struct td_waitlist *l, pthread_mutex_t *mu,
                              uint32_t events, int64_t deadline_ns,
                              bool cancellable)
{
    struct td_waiter w;
    waiter_init(&w, events, cancellable);
    list_append(l, &w);
    enum td_wait_state st = waiter_park(&w, mu, deadline_ns);
    list_remove(l, &w);
    waiter_fini(&w);
    return st;
}

void td_wake_all(struct td_waitlist *l, enum td_wait_state state)
{
    for (struct td_waiter *w = l->first; w; w = w->next)
        td_waiter_wake(w, state);
}

TD_EXPORT_ALIAS(td_wait_in, tdill__wait_in);
TD_EXPORT_ALIAS(td_wake_all, tdill__wake_all);
