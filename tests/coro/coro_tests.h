/*
 * The coroutine front-end's test program: one Check suite, one file per
 * area. Coroutines report through static or heap memory (see
 * tdill_coro.h on Clang and pointers to the caller's locals).
 */
#ifndef TDILL_TESTS_CORO_H
#define TDILL_TESTS_CORO_H

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <tdill_coro.h>

/* Helpers (coro_util.c). The program runs in a temporary directory of its
   own, for socket paths; a hang fails the test after CT_TIMEOUT seconds. */
#define CT_PATH_MAX 4096
#define CT_TIMEOUT 30

int ct_main(Suite *s);
TCase *ct_tcase(const char *name);
/* A fresh path in the program's directory. */
const char *ct_path(char *buf, const char *tag);
/* A connected pair of handles; fails the test if it can't. */
void ct_pair(int s[2]);
/* Sleeps the whole thread, running none of its coroutines. */
void ct_sleep_ms(int ms);
uint64_t ct_rand(uint64_t *state);
/* Raises the soft limit on descriptors to the hard one. */
void ct_raise_nofile(void);
const char *ct_errname(int err);
/* True when Check runs every test in this one process (CK_FORK=no). */
int ct_nofork(void);

/* The call must fail with -1 and exactly errno err. */
#define CT_FAILS(expr, err)                                                   \
    do {                                                                      \
        errno = 0;                                                            \
        long ct_rc_ = (long)(expr);                                           \
        int ct_e_ = errno;                                                    \
        ck_assert_msg(ct_rc_ == -1 && ct_e_ == (err),                         \
                      "%s: expected -1 with %s, got %ld with %s", #expr,      \
                      ct_errname(err), ct_rc_, ct_errname(ct_e_));            \
    } while (0)

/* The call must return exactly 0. */
#define CT_OK(expr)                                                           \
    do {                                                                      \
        errno = 0;                                                            \
        long ct_rc_ = (long)(expr);                                           \
        int ct_e_ = errno;                                                    \
        ck_assert_msg(ct_rc_ == 0, "%s: expected 0, got %ld with %s", #expr,  \
                      ct_rc_, ct_errname(ct_e_));                             \
    } while (0)

/* The call must return a handle (>= 0), stored in var. */
#define CT_HANDLE(var, expr)                                                  \
    do {                                                                      \
        errno = 0;                                                            \
        (var) = (expr);                                                       \
        int ct_e_ = errno;                                                    \
        ck_assert_msg((var) >= 0, "%s: expected a handle, got %d with %s",    \
                      #expr, (int)(var), ct_errname(ct_e_));                  \
    } while (0)

void coro_add_basic(Suite *s);
void coro_add_cancel(Suite *s);
void coro_add_bundle(Suite *s);
void coro_add_threads(Suite *s);

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
