#include <assert.h>
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

__thread struct td_thread td_thread;

TDILL_EXPORT void tdill__wait_backend_set(const struct td_wait_backend *b,
                                          const _Atomic bool *const *canceled)
{
    td_thread.backend = b;
    td_thread.canceled = canceled;
}

int td_wait_pause_at(struct td_thread *t)
{
    const struct td_wait_backend *b = t->backend;
    if (!b) {
        sched_yield();
        return 0;
    }
    b->pause();
    return td_backend_canceled(t);
}

/******************************************************************************/
/*  Calls and pthread_cancel                                                  */
/******************************************************************************/

/* NB: under a backend too the call runs with cancellation off, or the
   library's own system calls would be cancellation points; the depth
   counts the calls of all the thread's coroutines, which may end in any
   order, so the program's state comes back when the last one ends. */
int td_call_begin(unsigned flags)
{
    struct td_thread *t = td_self();
    int rc = 0;
    if (t->backend && (flags & TD_MAY_WAIT))
        rc = td_backend_canceled(t);
    /* Like read(2): a pending cancel acts before anything is done. */
    if (!t->backend && !t->call.depth && (flags & TD_CANCEL_POINT))
        pthread_testcancel();
    if (t->call.depth++ == 0) {
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &t->call.cancel_state);
        t->call.nheld = 0;
    }
    return rc;
}

void td_call_end(void)
{
    struct td_thread *t = td_self();
    if (t->call.depth && --t->call.depth == 0)
        pthread_setcancelstate(t->call.cancel_state, NULL);
}

void td_call_hold_slow(td_undo_fn *undo, void *obj, int arg)
{
    struct td_thread *t = td_self();
    assert(t->call.nheld < TD_MAX_HELD);
    t->call.held[t->call.nheld++] = (struct td_held){undo, obj, arg};
}

/* The thread is being cancelled at its wait: let go of what the call
   holds, newest first. The program's own cleanup handlers run next and
   may call the library again. */
static void undo_call(void)
{
    struct td_thread *t = td_self();
    while (t->call.nheld > 0) {
        struct td_held *h = &t->call.held[--t->call.nheld];
        h->undo(h->obj, h->arg);
    }
    t->call.depth = 0;
    t->call.light = false;
}

/******************************************************************************/
/*  One waiter                                                                */
/******************************************************************************/

static void waiter_init(struct td_waiter *w, uint32_t events, bool cancellable)
{
    w->state = TD_WAITING;
    w->events = events;
    w->next = NULL;
    w->backend = td_thread.backend;
    w->ctx = NULL;
    w->uncancellable = !cancellable;
    /* NB: no condattr: pthread_cond_clockwait names the clock at each wait,
       so there is no setclock that could fail and silently leave deadlines
       on the wall clock, and the condvar holds no resources to destroy. */
    w->cond = (pthread_cond_t)PTHREAD_COND_INITIALIZER;
}

/* Sleeps on the waiter's condvar while it is waiting, until the deadline. */
static void sleep_on(struct td_waiter *w, pthread_mutex_t *mu,
                     int64_t deadline_ns)
{
    struct timespec ts;
    if (deadline_ns != TD_NEVER) {
        ts.tv_sec = deadline_ns / 1000000000;
        ts.tv_nsec = deadline_ns % 1000000000;
    }
    /* Spurious wake-ups happen: the state is the only truth. */
    while (w->state == TD_WAITING) {
        if (deadline_ns == TD_NEVER)
            pthread_cond_wait(&w->cond, mu);
        else if (pthread_cond_clockwait(&w->cond, mu, CLOCK_MONOTONIC,
                                        &ts) == ETIMEDOUT)
            break;
    }
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

struct parked {
    struct td_waitlist *l;
    struct td_waiter *w;
    pthread_mutex_t *mu; /* held again when a cancel acts in the wait */
};

static void on_cancel(void *arg)
{
    struct parked *p = arg;
    list_remove(p->l, p->w);
    pthread_mutex_unlock(p->mu);
    undo_call();
}

/* A plain thread's wait: the one place where a tdill call can be
   cancelled, and only if the call is a cancellation point (cancellable,
   inside td_call_begin) and the program had cancellation enabled. */
static void sleep_in(struct parked *p, int64_t deadline_ns, bool cancellable)
{
    int old;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    const struct td_thread *t = td_self();
    int program = t->call.light ? old : t->call.cancel_state;
    if (cancellable && t->call.depth && program == PTHREAD_CANCEL_ENABLE)
        pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
    pthread_cleanup_push(on_cancel, p);
    sleep_on(p->w, p->mu, deadline_ns);
    pthread_cleanup_pop(0);
    pthread_setcancelstate(old, NULL);
}

enum td_wait_state td_wait_in(struct td_waitlist *l, pthread_mutex_t *mu,
                              uint32_t events, int64_t deadline_ns,
                              bool cancellable)
{
    struct td_waiter w;
    waiter_init(&w, events, cancellable);
    list_append(l, &w);
    enum td_wait_state st;
    if (w.backend) {
        st = w.backend->park(&w, mu, deadline_ns);
    } else {
        struct parked p = {l, &w, mu};
        sleep_in(&p, deadline_ns, cancellable);
        st = w.state;
    }
    list_remove(l, &w);
    return st;
}

void td_wake_all(struct td_waitlist *l, enum td_wait_state state)
{
    for (struct td_waiter *w = l->first; w; w = w->next)
        td_waiter_wake(w, state);
}

TD_EXPORT_ALIAS(td_wait_in, tdill__wait_in);
TD_EXPORT_ALIAS(td_wake_all, tdill__wake_all);
