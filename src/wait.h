#ifndef TD_WAIT_H
#define TD_WAIT_H

#include <pthread.h>
#include <stdint.h>

/*
 * How a caller waits: one td_waiter per blocked operation, on the caller's
 * stack, so an idle connection pays nothing for it. The waiter sleeps on the
 * mutex of the object it waits on; whoever changes the waiter's state holds
 * that mutex and calls td_waiter_wake(). This file is the seam where another
 * way of waiting (a coroutine scheduler) can be plugged in.
 */

enum td_wait_state {
    TD_WAITING = 0,
    TD_READY,    /* the awaited event happened: retry the operation */
    TD_CANCELED, /* the object is being closed */
};

struct td_waiter {
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    enum td_wait_state state;
    uint32_t events;          /* what the waiter waits for (EPOLLIN, ...) */
    struct td_waiter *next;   /* in the object's list of waiters */
};

void td_waiter_init(struct td_waiter *w, uint32_t events);
void td_waiter_fini(struct td_waiter *w);

/* Sleeps while w->state is TD_WAITING. mu must be held and is held again
   on return. deadline_ns is absolute on CLOCK_MONOTONIC, TD_NEVER for none.
   Returns the new state, or TD_WAITING if the deadline passed first. */
enum td_wait_state td_waiter_park(struct td_waiter *w, pthread_mutex_t *mu,
                                  int64_t deadline_ns);

/* Sets the state and wakes the sleeper. The object's mutex must be held:
   the waiter lives on the sleeper's stack and is gone once it unlocks. */
void td_waiter_wake(struct td_waiter *w, enum td_wait_state state);

#endif
