/*
 * tdill_coro -- libdill-style structured concurrency on top of tdill.
 *
 * Coroutines are cooperative and run on the thread that launched them, each
 * on its own stack. A blocking tdill call made inside one parks only that
 * coroutine; the thread runs its other coroutines meanwhile and sleeps only
 * when none of them can run. hclose() on a coroutine or bundle handle
 * cancels: the blocking call the coroutine is in, and every one it makes
 * afterwards, fails with ECANCELED; hclose returns once it has finished.
 * Socket handles work from plain threads and coroutines on any thread.
 *
 * Link with -ltdill_coro -ltdill. Supported on x86-64 and AArch64, with GCC
 * or Clang (go() is a statement expression).
 */
#ifndef TDILL_CORO_H_INCLUDED
#define TDILL_CORO_H_INCLUDED

/* What libdill.h includes: libdill programs use errno, malloc, exit, fork
   and the like without including their headers. */
#include <errno.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__linux__)
#include <alloca.h>
#endif

#include "tdill.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Stack of a coroutine started with go() or bundle_go(), in bytes. */
#define TDILL_STACK_SIZE (256 * 1024)

/* Opaque room for a bundle; see tdill_bundle_mem(). */
struct tdill_bundle_storage {
    char _[128];
} TDILL_ALIGN;

/* Marks a function meant to run as a coroutine: kept out of line, so its
   arguments are evaluated on the coroutine's stack, and (GCC) opaque to
   interprocedural analysis, so that a caller that passed it a pointer to
   one of its locals sees what the coroutine writes there later.
   NB: Clang has no such attribute; with Clang, locals a coroutine writes
   through a pointer must be visible outside the caller (static, on the
   heap, or their address stored elsewhere), as with libdill. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8
#define tdill_coroutine __attribute__((noinline, noipa))
#else
#define tdill_coroutine __attribute__((noinline))
#endif

/* go(fn(args)): starts fn(args) as a coroutine on this thread and runs it at
   once, until it first blocks or yields; returns its handle. The arguments
   are evaluated on the new stack when it starts.
   NB: as with libdill, pass values: what evaluating the arguments does to
   the caller's own local variables (go(f(i++))) may be lost, because the
   caller resumes with its registers as they were before go(). */
#define tdill_go(fn) tdill__go(fn, 0, -1, NULL, 0)
#define tdill_go_mem(fn, stk, len) tdill__go(fn, TDILL__GO_MEM, -1, stk, len)

/* The same in an existing bundle; returns 0 instead of a handle. */
#define tdill_bundle_go(b, fn) tdill__go(fn, TDILL__GO_BUNDLE, b, NULL, 0)
#define tdill_bundle_go_mem(b, fn, stk, len)                                  \
    tdill__go(fn, TDILL__GO_BUNDLE | TDILL__GO_MEM, b, stk, len)

/* Lets the thread's other coroutines run. ECANCELED if cancelled. */
TDILL_EXPORT int tdill_yield(void);

/* Sleeps until deadline (ms on now()'s clock; negative: forever, 0: yield).
   ECANCELED if cancelled. */
TDILL_EXPORT int tdill_msleep(int64_t deadline);

/* A group of coroutines; hclose() cancels them all and waits for them. */
TDILL_EXPORT int tdill_bundle(void);
TDILL_EXPORT int tdill_bundle_mem(struct tdill_bundle_storage *mem);

/* Waits until every coroutine in the bundle (or the one coroutine of a go()
   handle) has finished. ETIMEDOUT leaves them running. */
TDILL_EXPORT int tdill_bundle_wait(int b, int64_t deadline);

/******************************************************************************/
/*  How go() works; not API                                                   */
/******************************************************************************/

/* The library sets up the coroutine and makes it current; the macro saves
   the caller's context, moves the stack pointer to the new stack and
   evaluates the call there. The caller resumes later in the same macro.
   NB: the variable-length array (its size hidden from the optimiser)
   forces the compiler to address the caller's locals through the frame
   pointer, which survives the stack pointer's move. Unlike alloca(), its
   room is given back when the macro's block ends, so go() in a loop does
   not eat the caller's stack.
   NB: tdill__go_epilogue() never returns but is not declared noreturn: the
   compiler must believe the coroutine's path flows on into the caller's,
   or it assumes that whatever the call did to the caller's locals is over
   before the caller goes on. */
#define TDILL__GO_BUNDLE 1
#define TDILL__GO_MEM 2
TDILL_EXPORT int tdill__go_prologue(int flags, int b, void *stk, size_t len,
                                    void **ctx, void **sp);
/* NB: not declared returns_twice: the caller's context is resumed only
   where the macro branches on the result, with every callee-saved register
   as it was at the call, and the compiler then needs no more caution than
   for any call (and raises no -Wclobbered over the caller's variables). */
TDILL_EXPORT int tdill__ctx_save(void *ctx);
TDILL_EXPORT void tdill__go_begin(void);
TDILL_EXPORT int tdill__go_resumed(void);
TDILL_EXPORT void tdill__go_epilogue(void);

#if defined(__x86_64__)
#define TDILL__SETSP(sp)                                                      \
    __asm__ volatile("movq %0, %%rsp" : : "r"(sp) : "memory")
#elif defined(__aarch64__)
#define TDILL__SETSP(sp) __asm__ volatile("mov sp, %0" : : "r"(sp) : "memory")
#else
#error "tdill_coro.h: only x86-64 and AArch64 are supported"
#endif

#define tdill__go(fn, flags, b, stk, len)                                     \
    __extension__({                                                           \
        void *tdill__ctx, *tdill__sp;                                         \
        __SIZE_TYPE__ tdill__one = 1;                                         \
        __asm__ volatile("" : "+r"(tdill__one));                              \
        char tdill__vla[tdill__one];                                          \
        __asm__ volatile("" : : "r"(tdill__vla) : "memory");                  \
        int tdill__rc = tdill__go_prologue((flags), (b), (stk), (len),        \
                                           &tdill__ctx, &tdill__sp);          \
        if (tdill__rc == 0) {                                                 \
            if (!tdill__ctx_save(tdill__ctx)) {                               \
                TDILL__SETSP(tdill__sp);                                      \
                tdill__go_begin();                                            \
                fn;                                                           \
                tdill__go_epilogue();                                         \
            }                                                                 \
            tdill__rc = tdill__go_resumed();                                  \
        }                                                                     \
        tdill__rc;                                                            \
    })

/******************************************************************************/
/*  libdill's dill_ spellings                                                 */
/******************************************************************************/

#define dill_coroutine tdill_coroutine
#define dill_go(fn) tdill_go(fn)
#define dill_go_mem(fn, stk, len) tdill_go_mem(fn, stk, len)
#define dill_bundle_go(b, fn) tdill_bundle_go(b, fn)
#define dill_bundle_go_mem(b, fn, stk, len) tdill_bundle_go_mem(b, fn, stk, len)
#define dill_yield tdill_yield
#define dill_msleep tdill_msleep
#define dill_bundle tdill_bundle
#define dill_bundle_mem tdill_bundle_mem
#define dill_bundle_wait tdill_bundle_wait
#define dill_bundle_storage tdill_bundle_storage

/******************************************************************************/
/*  libdill's plain names                                                     */
/******************************************************************************/

/* Hidden by TDILL_DISABLE_RAW_NAMES or by libdill's DILL_DISABLE_RAW_NAMES. */
#if !defined(TDILL_DISABLE_RAW_NAMES) && !defined(DILL_DISABLE_RAW_NAMES)
#define coroutine tdill_coroutine
#define go(fn) tdill_go(fn)
#define go_mem(fn, stk, len) tdill_go_mem(fn, stk, len)
#define bundle_go(b, fn) tdill_bundle_go(b, fn)
#define bundle_go_mem(b, fn, stk, len) tdill_bundle_go_mem(b, fn, stk, len)
#define yield tdill_yield
#define msleep tdill_msleep
#define bundle tdill_bundle
#define bundle_mem tdill_bundle_mem
#define bundle_wait tdill_bundle_wait
#define bundle_storage tdill_bundle_storage
#endif

#ifdef __cplusplus
}
#endif

#endif
