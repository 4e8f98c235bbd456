/*
 * The coroutine front-end's test program: one Check suite, one file per
 * area. Coroutines report through static or heap memory (see
 * tdill_coro.h on Clang and pointers to the caller's locals).
 */
#ifndef TDILL_TESTS_CORO_H
#define TDILL_TESTS_CORO_H

#include <stdlib.h>
#include <string.h>

#include <tdill_coro.h>

#include "../util.h"

/* True when Check runs every test in this one process (CK_FORK=no). */
static inline int ct_nofork(void)
{
    const char *f = getenv("CK_FORK");
    return f && strcmp(f, "no") == 0;
}

void coro_add_basic(Suite *s);
void coro_add_cancel(Suite *s);
void coro_add_bundle(Suite *s);
void coro_add_threads(Suite *s);
void coro_add_chan(Suite *s);

/* go() argument passing, compiled as the build says (go_args.c) and at -O0
   (go_args_O0.c). 0, or the number of the check that failed. */
int go_args_check(void);
int go_args_check_O0(void);

/* The tdill_* names with TDILL_DISABLE_RAW_NAMES; 0 on success. */
int coro_raw_names_off_check(void);

/* Sanitizers change timing and memory use; some checks relax under them. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CORO_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CORO_SANITIZED 1
#endif
#endif
#ifndef CORO_SANITIZED
#define CORO_SANITIZED 0
#endif
/* TSan in particular does not follow a multithreaded program into fork(). */
#if defined(__SANITIZE_THREAD__)
#define CORO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CORO_TSAN 1
#endif
#endif
#ifndef CORO_TSAN
#define CORO_TSAN 0
#endif

/* The process's resident memory in bytes (/proc/self/statm). */
long coro_rss(void);
/* Lines in /proc/self/maps: how many mappings the process has. */
int coro_count_maps(void);

#endif
