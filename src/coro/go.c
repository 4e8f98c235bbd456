#include <errno.h>
#include <string.h>

#include "../handle.h"
#include "coro.h"
#include "san.h"
#include "tdill_coro.h"

/*
 * go(), yield() and msleep(). A coroutine runs in one block of memory (our
 * stack or the caller's): its record sits at the top, and with go() the
 * handle's bundle sits above it, so starting a coroutine allocates nothing
 * but the stack. The go() macro does the one thing that must happen in the
 * caller's frame: saving its context and moving onto the new stack.
 */

/* The least stack go_mem() accepts below the records. NB: a 4096-byte
   block, which libdill accepts (its tests/bundle.c runs a coroutine on
   one), must leave this much below our records (512 bytes for go_mem) and
   the alignment of the top (up to 63). And no less: the first call through
   a lazily bound PLT slot on the coroutine's stack (tdill__go_begin, from
   the program) saves the vector registers there, over 3 KiB with AVX-512. */
#define MIN_STACK 3456
#define ALIGN 64

static size_t rounded(size_t n)
{
    return (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
}

/* Carves the records out of the top of [lo, hi) and fills in the
   coroutine's. Returns the new stack pointer, or NULL if too small. */
static char *carve(struct tdc_sched *s, char *lo, char *hi, bool bundled,
                   struct tdc_cr **cr, struct tdc_bundle **b)
{
    char *top = (char *)((uintptr_t)hi & ~(uintptr_t)(ALIGN - 1));
    if (!bundled) {
        top -= rounded(sizeof(struct tdc_bundle));
        *b = (struct tdc_bundle *)(void *)top;
    }
    top -= rounded(sizeof(struct tdc_cr));
    if (top < lo || (size_t)(top - lo) < MIN_STACK)
        return NULL;
    *cr = (struct tdc_cr *)(void *)top;
    memset(*cr, 0, sizeof(**cr));
    (*cr)->sched = s;
    (*cr)->timer = TDC_NO_TIMER;
    (*cr)->stk_lo = lo;
    (*cr)->stk_len = (size_t)(top - lo);
    return top;
}

/* A go() handle: a bundle of one in the coroutine's own memory. */
static int new_bundle(struct tdc_cr *cr, struct tdc_bundle *b, int *h)
{
    tdc_bundle_init(b, false);
    b->stack = cr->mmapped ? cr->mem : NULL;
    cr->hosts = true;
    int rc = tdill__hmake(&tdc_bundle_vfs, b, &b->handle);
    if (rc) {
        pthread_mutex_destroy(&b->mu);
        return rc;
    }
    *h = b->handle;
    return 0;
}

/* Finds the coroutine's bundle: a new one in its own memory for go() (the
   handle goes to *h), or the caller's; and joins it. The reference taken
   here is the member's (see tdc_bundle_join). */
static int enter_bundle(struct tdc_cr *cr, struct tdc_bundle **b, int bh,
                        bool bundled, int *h)
{
    if (!bundled) {
        int rc = new_bundle(cr, *b, h);
        if (rc)
            return rc;
        bh = *h;
    }
    int rc = tdill__hacquire(bh, &tdc_bundle_vfs, (void **)b);
    if (rc == 0 && (rc = tdc_bundle_join(*b, cr)))
        tdill__hrelease(bh);
    return rc;
}

/* Makes cr the running context, with the caller first in line to run
   again; returns where the go() macro must save the caller's context. */
static struct tdc_ctx *make_current(struct tdc_sched *s, struct tdc_cr *cr,
                                    int go_result)
{
    struct tdc_cr *parent = s->cur;
    s->ncr++;
    parent->go_result = go_result;
    tdc_ready_push(s, parent);
    tdc_set_cur(s, cr);
    s->from = parent;
    tdc_san_leave(parent, cr, false);
    return &parent->ctx;
}

/* flags: TDILL__GO_BUNDLE (bundle_go: in bundle bh, returns 0 rather than
   a handle), TDILL__GO_MEM (runs in stk, len rather than a stack of ours). */
TDILL_EXPORT int tdill__go_prologue(int flags, int bh, void *stk, size_t len,
                                    void **ctx, void **sp)
{
    bool bundled = flags & TDILL__GO_BUNDLE;
    struct tdc_sched *s = tdc_sched_get();
    if (!s)
        return td_fail(ENOMEM);
    int h = 0, rc = tdc_check_canceled();
    if (rc == 0 && (flags & TDILL__GO_MEM) && !stk)
        rc = EINVAL;
    if (rc == 0)
        rc = tdc_timers_reserve(s, s->ncr + 2);
    if (rc)
        return td_fail(rc);
    /* 1. Memory: the caller's or a stack of ours, records at its top. */
    void *mem = stk, *lo = stk;
    if (!stk && (rc = tdc_stack_alloc(s, &mem, &lo)))
        return td_fail(rc);
    char *hi = (char *)mem + (stk ? len : TDILL_STACK_SIZE);
    struct tdc_cr *cr;
    struct tdc_bundle *b;
    char *top = carve(s, lo, hi, bundled, &cr, &b);
    if (!top) {
        rc = EINVAL;
        goto error;
    }
    cr->mem = mem;
    cr->mmapped = !stk;
    tdc_san_fiber_new(cr, false);
    tdc_san_stack_new(cr);
    /* 2. The bundle it belongs to. */
    rc = enter_bundle(cr, &b, bh, bundled, &h);
    if (rc)
        goto error;
    /* 3. It runs at once; the caller runs again once it blocks. */
    *ctx = make_current(s, cr, h);
    *sp = top;
    return 0;
error:
    if (top) {
        tdc_san_stack_gone(cr);
        tdc_san_fiber_free(cr);
    }
    if (!stk)
        tdc_stack_free(mem);
    return td_fail(rc);
}

/* The first thing the new coroutine runs, on its own stack.
   NB: no TSan instrumentation here: the function starts on the caller's
   TSan fiber and ends on the coroutine's, so it must not touch TSan's
   shadow call stack (which is also why the call is not in a helper). */
TDC_NO_TSAN TDILL_EXPORT void tdill__go_begin(void)
{
    struct tdc_sched *s = tdc_sched();
#ifdef TDC_TSAN
    __tsan_switch_to_fiber(s->cur->tsan_fiber, 0);
#endif
    tdc_san_arrive(s->cur, s->from);
}

/* Where the caller of go() resumes. */
TDILL_EXPORT int tdill__go_resumed(void)
{
    struct tdc_sched *s = tdc_sched();
    tdc_after_switch(s);
    return s->cur->go_result;
}

/* TDC_NO_TSAN: see tdc_san_fiber_free(). */
TDC_NO_TSAN TDILL_EXPORT void tdill__go_epilogue(void)
{
    tdc_exit(tdc_sched());
}

TDILL_EXPORT int tdill_yield(void)
{
    struct tdc_sched *s = tdc_sched_get();
    if (!s)
        return td_fail(ENOMEM);
    if (tdc_check_canceled())
        return td_fail(ECANCELED);
    tdc_ready_push(s, s->cur);
    tdc_schedule(s);
    return 0;
}

TDILL_EXPORT int tdill_msleep(int64_t deadline)
{
    if (deadline == 0)
        return tdill_yield();
    struct tdc_sched *s = tdc_sched_get();
    if (!s)
        return td_fail(ENOMEM);
    int64_t dl = td_deadline_ns(deadline);
    for (;;) {
        if (tdc_check_canceled())
            return td_fail(ECANCELED);
        if (td_expired(dl))
            return 0;
        tdc_block(s, dl);
    }
}
