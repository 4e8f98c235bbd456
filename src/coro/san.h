#ifndef TDC_SAN_H
#define TDC_SAN_H

/*
 * Telling the sanitizers about stack switches. ASan must know which stack
 * is live (or it reports the new stack as overflow and loses its fake
 * frames); TSan keeps a shadow call stack and a clock per fiber; Valgrind
 * must know where stacks are, or it takes a jump between two neighbouring
 * stacks for a huge frame. Without them every hook is (next to) empty.
 */

#include "coro.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TDC_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define TDC_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TDC_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define TDC_TSAN 1
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define TDC_VALGRIND 1
#endif
#endif

#ifdef TDC_ASAN
#include <sanitizer/asan_interface.h>
#endif
#ifdef TDC_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* For a function that switches TSan fibers but returns on the new one: it
   must not push or pop TSan's shadow call stack. */
#if defined(__clang__)
#if __has_attribute(disable_sanitizer_instrumentation)
#define TDC_NO_TSAN __attribute__((disable_sanitizer_instrumentation))
#endif
#elif defined(__GNUC__)
#define TDC_NO_TSAN __attribute__((no_sanitize_thread))
#endif
#ifndef TDC_NO_TSAN
#define TDC_NO_TSAN
#endif

/* Before leaving the current context for `to`; dying: never coming back. */
static inline void tdc_san_leave(struct tdc_cr *from, struct tdc_cr *to,
                                 bool dying)
{
#ifdef TDC_ASAN
    __sanitizer_start_switch_fiber(dying ? NULL : &from->asan_fake, to->stk_lo,
                                   to->stk_len);
#else
    (void)from;
    (void)to;
    (void)dying;
#endif
}

/* The TSan half of a switch; separate because go() needs it later.
   NB: TDC_NO_TSAN, as the compiler may keep it out of line, and it starts
   on one fiber and returns on another. */
TDC_NO_TSAN static inline void tdc_san_fiber(struct tdc_cr *to)
{
#ifdef TDC_TSAN
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#else
    (void)to;
#endif
}

/* First thing on arrival in cur, coming from `from`. */
static inline void tdc_san_arrive(struct tdc_cr *cur, struct tdc_cr *from)
{
#ifdef TDC_ASAN
    const void *lo;
    size_t len;
    __sanitizer_finish_switch_fiber(cur->asan_fake, &lo, &len);
    /* NB: how we learn the extent of a thread's own stack. */
    if (from && from->stk_lo == NULL) {
        from->stk_lo = lo;
        from->stk_len = len;
    }
#else
    (void)cur;
    (void)from;
#endif
}

static inline void tdc_san_fiber_new(struct tdc_cr *cr, bool main)
{
#ifdef TDC_TSAN
    struct tdc_sched *s = cr->sched;
    if (main)
        cr->tsan_fiber = __tsan_get_current_fiber();
    else if (s->nfibers)
        cr->tsan_fiber = s->fibers[--s->nfibers];
    else
        cr->tsan_fiber = __tsan_create_fiber(0);
#else
    (void)cr;
    (void)main;
#endif
}

/* After the coroutine's last switch, from another context of its thread.
   NB: a fiber can be reused because the functions a coroutine is in when
   it switches away for good (go_epilogue, tdc_exit, tdc_schedule,
   switch_to) are TDC_NO_TSAN: its shadow call stack is empty by then. */
static inline void tdc_san_fiber_free(struct tdc_cr *cr)
{
#ifdef TDC_TSAN
    struct tdc_sched *s = cr->sched;
    if (s->nfibers < TDC_STACK_CACHE)
        s->fibers[s->nfibers++] = cr->tsan_fiber;
    else
        __tsan_destroy_fiber(cr->tsan_fiber);
#else
    (void)cr;
#endif
}

static inline void tdc_san_fibers_clear(struct tdc_sched *s)
{
#ifdef TDC_TSAN
    while (s->nfibers)
        __tsan_destroy_fiber(s->fibers[--s->nfibers]);
#else
    (void)s;
#endif
}

/* The coroutine's stack, for Valgrind (a no-op outside Valgrind). */
static inline void tdc_san_stack_new(struct tdc_cr *cr)
{
#ifdef TDC_VALGRIND
    cr->vg_stack = VALGRIND_STACK_REGISTER(
        cr->stk_lo, (const char *)cr->stk_lo + cr->stk_len - 1);
#else
    (void)cr;
#endif
}

static inline void tdc_san_stack_gone(struct tdc_cr *cr)
{
#ifdef TDC_VALGRIND
    VALGRIND_STACK_DEREGISTER(cr->vg_stack);
#else
    (void)cr;
#endif
}

#endif
