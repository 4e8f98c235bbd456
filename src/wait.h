#ifndef TD_WAIT_H
#define TD_WAIT_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "tdill.h"

/*
 * How a caller waits: one td_waiter per blocked operation, on the caller's
 * stack, so an idle object pays nothing for it. A waiter sits in its
 * object's td_waitlist and sleeps on the mutex that protects that list;
 * whoever changes the waiter's state holds the mutex and wakes it.
 *
 * This is the seam where another way of waiting plugs in: a thread that runs
 * coroutines installs a td_wait_backend, and its waiters then park the
 * coroutine instead of the thread. The core knows nothing more about it.
 */

enum td_wait_state {
    TD_WAITING = 0,
    TD_READY,    /* the awaited event happened: retry the operation */
    TD_CANCELED, /* the object is being closed, or the waiter cancelled */
};

struct td_wait_backend;

struct td_waiter {
    pthread_cond_t cond; /* waited on with CLOCK_MONOTONIC; unused under a
                            backend */
    enum td_wait_state state;
    uint32_t events;        /* what the waiter waits for (EPOLLIN, ...) */
    struct td_waiter *next; /* in its td_waitlist */
    const struct td_wait_backend *backend; /* NULL: the thread sleeps */
    void *ctx;                             /* the backend's own */
    /* Set for waits that must not end early in a cancelled coroutine (a
       closer waiting for the last reference, hclose on a bundle): the
       backend then parks normally. */
    bool uncancellable;
};

/* An object's blocked callers, oldest first. The object's mutex protects
   it. Zero-initialised is empty. */
struct td_waitlist {
    struct td_waiter *first;
};

struct td_wait_backend {
    /* Instead of sleeping on the condvar. Called and returns with mu held.
       Returns the state the call should act on. */
    enum td_wait_state (*park)(struct td_waiter *w, pthread_mutex_t *mu,
                               int64_t deadline_ns);
    /* Instead of signalling the condvar; w->state is already set and the
       object's mutex is held. May be called from any thread. */
    void (*wake)(struct td_waiter *w);
    /* Between two tries of an operation that would block, before parking:
       let others run (the thread's other coroutines). No lock is held. */
    void (*pause)(void);
};

/* Installs b for the calling thread (NULL: plain blocking), with where the
   backend keeps the cancel flag of what runs now (a coroutine cancelled by
   closing its handle): calls that may wait fail with ECANCELED while it is
   set. Exported for the coroutine front-end only; not public API. */
TDILL_EXPORT void tdill__wait_backend_set(const struct td_wait_backend *b,
                                          const _Atomic bool *const *canceled);

/*
 * Calls and pthread_cancel. Every public call that may wait, or reach a
 * cancellation point of the C library (close, connect, send, ...), runs
 * between td_call_begin and td_call_end. In a plain thread that turns
 * cancellation off for the call, so the library's own system calls are
 * never cancellation points; a call that is one (TD_CANCEL_POINT) first
 * acts on a pending cancel, before it holds anything, and lets a cancel act
 * at its wait, like read(2). What the call holds by then it has declared
 * with td_call_hold: the wait's cancellation cleanup undoes that, newest
 * first, as if the call had failed. Under a backend (a thread that runs
 * coroutines) calls are never cancelled and nothing is recorded: a
 * coroutine is cancelled by closing its handle, and a call that may wait
 * (TD_MAY_WAIT) then fails at once with ECANCELED.
 */
#define TD_CANCEL_POINT 1u
#define TD_MAY_WAIT 2u

/* 0, or the error the call must fail with before doing anything. Either
   way the call has begun and ends with td_call_end. */
int td_call_begin(unsigned flags);
void td_call_end(void);

typedef void td_undo_fn(void *obj, int arg);

/* The calling thread's waiting state: its backend and its current call.
   NB: declared here, not hidden in wait.c, so that the small functions
   below are inline. Each function of a shared library that reads a
   thread-local variable first calls into the dynamic linker to find it:
   once per helper, that was a tenth of a coroutine channel round trip;
   inline, it is once per call. */
#define TD_MAX_HELD 4
struct td_held {
    td_undo_fn *undo;
    void *obj;
    int arg;
};

struct td_thread {
    const struct td_wait_backend *backend;
    const _Atomic bool *const *canceled; /* the backend's; see above */
    struct {
        int depth;        /* nested td_call_begin; 0: not in a call */
        int cancel_state; /* the program's, restored by the outermost end */
        bool light;       /* td_call_begin_light: cancel_state left alone */
        int nheld;
        struct td_held held[TD_MAX_HELD];
    } call;
};
extern __thread struct td_thread td_thread
    __attribute__((visibility("hidden")));

/* The calling thread's state. A function that calls the helpers below
   more than once takes it once and passes it on (the _at forms). NB: the
   empty asm hides where the pointer came from; knowing, the compiler looks
   the thread-local up again after every call rather than keep it in a
   register, and in a shared library each look-up is a call. */
static inline struct td_thread *td_self(void)
{
    struct td_thread *t = &td_thread;
    __asm__("" : "+r"(t));
    return t;
}

/* Under a backend: 0, or ECANCELED if what runs now was cancelled. NB: a
   load, not a call into the backend, as it happens on every call. */
static inline int td_backend_canceled(const struct td_thread *t)
{
    return atomic_load_explicit(*t->canceled, memory_order_acquire)
               ? ECANCELED
               : 0;
}

/* td_call_begin for a call that reaches no cancellation point of the C
   library but its wait (the channel calls): the cancel state is not
   touched, which spares two atomic operations a call. NB: never nested in
   a plain thread (such a call makes no other call), and under a backend
   it takes no part in the depth count, which other coroutines' calls may
   be relying on. */
static inline int td_call_begin_light(struct td_thread *t, unsigned flags)
{
    if (t->backend)
        return (flags & TD_MAY_WAIT) ? td_backend_canceled(t) : 0;
    if (flags & TD_CANCEL_POINT)
        pthread_testcancel();
    t->call.depth = 1;
    t->call.light = true;
    t->call.nheld = 0;
    return 0;
}

static inline void td_call_end_light(struct td_thread *t)
{
    if (!t->backend) {
        t->call.depth = 0;
        t->call.light = false;
    }
}

/* True in a plain thread outside any call: where a transfer that
   completes at once may run before td_call_begin, needing none of it (see
   bsock.c). Never under ThreadSanitizer (see td_sys_send in sock.c). */
static inline bool td_call_outside(void)
{
#ifdef __SANITIZE_THREAD__
    return false;
#else
    return !td_thread.backend && !td_thread.call.depth;
#endif
}

/* Declares, and gives up, something the call holds, with the function that
   undoes it when the call is cancelled at its wait. LIFO. Not under a
   backend: coroutines' calls interleave, and their waits are never where
   a thread is cancelled. */
void td_call_hold_slow(td_undo_fn *undo, void *obj, int arg);

static inline void td_call_hold_at(struct td_thread *t, td_undo_fn *undo,
                                   void *obj, int arg)
{
    if (t->call.depth && !t->backend)
        td_call_hold_slow(undo, obj, arg);
}

static inline void td_call_drop_at(struct td_thread *t)
{
    if (t->call.depth && !t->backend)
        t->call.nheld--;
}

static inline void td_call_hold(td_undo_fn *undo, void *obj, int arg)
{
    td_call_hold_at(td_self(), undo, obj, arg);
}

static inline void td_call_drop(void)
{
    td_call_drop_at(td_self());
}

/* Between two tries of an operation, while spinning before a park: gives
   the CPU away (to the thread's other coroutines under a backend, to other
   threads otherwise). Returns 0, or the error to fail with if the caller
   was cancelled meanwhile. */
int td_wait_pause_at(struct td_thread *t);

static inline int td_wait_pause(void)
{
    return td_wait_pause_at(td_self());
}

/* Waits in l for events: adds a waiter, sleeps until somebody wakes it,
   the deadline passes or (if cancellable, under a backend) the caller is
   cancelled, and removes it. mu protects l; it is held on entry and on
   return. deadline_ns is absolute on CLOCK_MONOTONIC, TD_NEVER for none.
   Returns the state to act on, TD_WAITING if the deadline passed first. */
enum td_wait_state td_wait_in(struct td_waitlist *l, pthread_mutex_t *mu,
                              uint32_t events, int64_t deadline_ns,
                              bool cancellable);

/* Sets the state of a waiter still waiting and wakes it. Needs the mutex
   of its list: the waiter lives on the sleeper's stack and is gone once
   the sleeper has it back. */
void td_waiter_wake(struct td_waiter *w, enum td_wait_state state);

/* The same for every waiter in l. */
void td_wake_all(struct td_waitlist *l, enum td_wait_state state);

/* For the coroutine front-end only (not public API): its bundles wait
   like the core's objects. */
TDILL_EXPORT enum td_wait_state
tdill__wait_in(struct td_waitlist *l, pthread_mutex_t *mu, uint32_t events,
               int64_t deadline_ns, bool cancellable);
TDILL_EXPORT void tdill__wake_all(struct td_waitlist *l,
                                  enum td_wait_state state);

#endif
