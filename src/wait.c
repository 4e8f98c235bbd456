#include <errno.h>
#include <sched.h>
#include <time.h>

#include "now.h"
#include "wait.h"

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

int td_wait_pause(int tries, int polite)
{
    if (backend && backend->pause) {
        backend->pause();
        /* Others ran: one of them may have cancelled us. */
        return backend->enter();
    }
    if (tries > polite)
        sched_yield();
    return 0;
}

void td_waiter_init(struct td_waiter *w, uint32_t events)
{
    w->state = TD_WAITING;
    w->events = events;
    w->next = NULL;
    w->backend = backend;
    w->ctx = NULL;
    w->uncancellable = false;
    if (!backend) {
        pthread_once(&attr_once, init_attr);
        pthread_cond_init(&w->cond, &monotonic_attr);
    }
}

void td_waiter_fini(struct td_waiter *w)
{
    if (!w->backend)
        pthread_cond_destroy(&w->cond);
}

enum td_wait_state td_waiter_park(struct td_waiter *w, pthread_mutex_t *mu,
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

/* The waiter as the coroutine front-end (a separate library) sees it. NB:
   wrappers rather than exporting the td_ functions themselves, so that the
   core's own calls stay direct instead of going through the PLT. */
TDILL_EXPORT void tdill__waiter_init(struct td_waiter *w, uint32_t events)
{
    td_waiter_init(w, events);
}

TDILL_EXPORT void tdill__waiter_fini(struct td_waiter *w)
{
    td_waiter_fini(w);
}

TDILL_EXPORT enum td_wait_state tdill__waiter_park(struct td_waiter *w,
                                                   pthread_mutex_t *mu,
                                                   int64_t deadline_ns)
{
    return td_waiter_park(w, mu, deadline_ns);
}

TDILL_EXPORT void tdill__waiter_wake(struct td_waiter *w,
                                     enum td_wait_state state)
{
    td_waiter_wake(w, state);
}
