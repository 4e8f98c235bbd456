#ifndef TDC_CORO_H
#define TDC_CORO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../api.h"
#include "../now.h"
#include "../wait.h"

/*
 * The coroutine front-end's internals (prefix tdc_). Each thread that runs
 * coroutines owns a scheduler; the thread's own stack is one more context
 * in it ("main"), so a plain thread that starts coroutines keeps working as
 * before while they run. The core sees none of this: it parks and wakes its
 * waiters through the td_wait_backend in wait.c.
 */

/******************************************************************************/
/*  Intrusive lists (an unlinked node has next == NULL)                       */
/******************************************************************************/

struct tdc_list {
    struct tdc_list *next, *prev;
};

static inline void tdc_list_init(struct tdc_list *l)
{
    l->next = l->prev = l;
}

static inline bool tdc_list_empty(const struct tdc_list *l)
{
    return l->next == l;
}

static inline bool tdc_linked(const struct tdc_list *n)
{
    return n->next != NULL;
}

static inline void tdc_list_push(struct tdc_list *l, struct tdc_list *n)
{
    n->prev = l->prev;
    n->next = l;
    l->prev->next = n;
    l->prev = n;
}

static inline void tdc_list_del(struct tdc_list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = NULL;
}

#define tdc_of(ptr, type, field)                                              \
    ((type *)(void *)((char *)(ptr)-offsetof(type, field)))

/******************************************************************************/
/*  Contexts and the scheduler                                                */
/******************************************************************************/

/* Saved registers; the layout belongs to ctx.S. */
struct tdc_ctx {
    void *reg[24];
};

void tdc_ctx_swap(struct tdc_ctx *from, struct tdc_ctx *to);

#define TDC_NO_TIMER SIZE_MAX
#define TDC_STACK_CACHE 16

struct tdc_sched;
struct tdc_bundle;

/* Something that can be suspended: a coroutine, or a thread's own stack. */
struct tdc_cr {
    struct tdc_ctx ctx;
    struct tdc_sched *sched; /* the thread it runs on, for good */
    struct tdc_list ready;   /* in sched->ready; owner thread only */
    struct tdc_list remote;  /* in sched->remote; under sched->mu */
    _Atomic bool canceled;
    int64_t deadline; /* while in the timer heap */
    size_t timer;     /* its index there, or TDC_NO_TIMER */
    int go_result;    /* what the go() this context is in returns */
    /* Coroutines only. bundle->mu protects member. */
    struct tdc_bundle *bundle;
    struct tdc_list member;
    void *mem;    /* the memory it runs in */
    bool mmapped; /* mem is a stack from stack.c, freed when it ends... */
    bool hosts;   /* ...unless its go() handle lives there too */
    /* The stack's extent and the sanitizers' per-fiber state. */
    const void *stk_lo;
    size_t stk_len;
    void *asan_fake;
    void *tsan_fiber;
    unsigned vg_stack;
};

struct tdc_sched {
    struct tdc_cr *cur;   /* the running context: set by tdc_set_cur */
    /* &cur->canceled, where the core reads it (tdill__wait_backend_set) */
    const _Atomic bool *cur_canceled;
    struct tdc_cr *from;  /* the one that switched to it */
    struct tdc_cr *dying; /* finished; the next context to run reaps it */
    struct tdc_cr main;   /* the thread's own stack */
    struct tdc_list ready;
    /* Contexts waiting with a deadline: a binary min-heap. */
    struct tdc_cr **timers;
    size_t ntimers, captimers;
    size_t ncr; /* coroutines started here, not yet reaped */
    void *cache[TDC_STACK_CACHE];
    size_t ncache;
    /* TSan builds only: fibers of reaped coroutines, for reuse, because
       TSan takes milliseconds to make one. */
    void *fibers[TDC_STACK_CACHE];
    size_t nfibers;
    /* mu protects remote and sleeping: other threads hand runnable
       contexts over through remote and signal cond if the thread sleeps. */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct tdc_list remote;
    bool sleeping;
    _Atomic bool pending; /* remote is not empty: a hint read without mu */
};

/* The calling thread's scheduler, or NULL if it never ran coroutines.
   NB: inline, for the reason wait.h gives for td_thread. */
extern __thread struct tdc_sched *tdc_self
    __attribute__((visibility("hidden")));

static inline struct tdc_sched *tdc_sched(void)
{
    return tdc_self;
}

/* Makes cr the running context. */
static inline void tdc_set_cur(struct tdc_sched *s, struct tdc_cr *cr)
{
    s->cur = cr;
    s->cur_canceled = &cr->canceled;
}

/* The same, made (and the wait backend installed) on first use; NULL if
   out of memory. */
struct tdc_sched *tdc_sched_get(void);

/* Makes cr runnable on its own thread. Any thread may call it; a context
   that is running or already runnable just gets a spurious resume later. */
void tdc_poke(struct tdc_cr *cr);
/* Runs other contexts until the current one is runnable again. Callers
   must treat the return as possibly spurious. */
void tdc_schedule(struct tdc_sched *s);
/* The same, also resuming at deadline (ns, TD_NEVER: none). */
void tdc_block(struct tdc_sched *s, int64_t deadline);
/* Where every resumed context starts: finishes the switch. */
void tdc_after_switch(struct tdc_sched *s);
/* Ends the current coroutine; the next context to run reaps it. */
_Noreturn void tdc_exit(struct tdc_sched *s);
/* Drops cr from the scheduler's queues before its memory goes. */
void tdc_unqueue(struct tdc_cr *cr);

/* The timer heap (timer.c). */
int tdc_timers_reserve(struct tdc_sched *s, size_t n);
void tdc_timer_add(struct tdc_sched *s, struct tdc_cr *cr, int64_t deadline);
void tdc_timer_del(struct tdc_sched *s, struct tdc_cr *cr);
int64_t tdc_timer_next(const struct tdc_sched *s);
/* Makes every context whose deadline is <= now runnable; true if any. */
bool tdc_timers_fire(struct tdc_sched *s, int64_t now);
void tdc_ready_push(struct tdc_sched *s, struct tdc_cr *cr);

/******************************************************************************/
/*  Waiting (wait.c)                                                          */
/******************************************************************************/

extern const struct td_wait_backend tdc_backend;

/* 0, or ECANCELED if the calling coroutine was cancelled. */
int tdc_check_canceled(void);

/******************************************************************************/
/*  Stacks (stack.c)                                                          */
/******************************************************************************/

/* A fresh stack of TDILL_STACK_SIZE bytes with a guard page at the bottom;
   [*lo, mem + TDILL_STACK_SIZE) is usable. 0 or ENOMEM. */
int tdc_stack_alloc(struct tdc_sched *s, void **mem, void **lo);
/* Gives a stack back, to the calling thread's cache if it has room. */
void tdc_stack_free(void *mem);
void tdc_stack_cache_clear(struct tdc_sched *s);
/* Marks memory a finished coroutine ran on as clean for ASan. */
void tdc_stack_forget(const void *lo, size_t len);

/******************************************************************************/
/*  Bundles (bundle.c)                                                        */
/******************************************************************************/

struct tdc_bundle {
    /* mu protects everything below. */
    pthread_mutex_t mu;
    struct tdc_list members;
    size_t count;
    struct td_waitlist waiters; /* in bundle_wait */
    int handle;                 /* members hold references on it */
    bool closing;
    bool heap; /* ours to free */
    /* A go() handle lives in its coroutine's memory, released on close. */
    void *stack;
    bool stack_mmapped;
};

extern const struct td_vfs tdc_bundle_vfs;

void tdc_bundle_init(struct tdc_bundle *b, bool heap);
/* Adds a new member; EBADF if the bundle is being closed. */
int tdc_bundle_join(struct tdc_bundle *b, struct tdc_cr *cr);
/* Removes a finished member and releases what it owns. */
void tdc_bundle_leave(struct tdc_cr *cr);

#endif
