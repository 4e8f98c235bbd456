/*
 * An allocation-failure injector for the tests: the program that links
 * failmalloc.c gets malloc, calloc, realloc, aligned_alloc and free wrappers that forward to
 * the allocator found next (libc's, or a sanitizer's), except that a thread
 * can arm them to fail one chosen allocation with ENOMEM.
 *
 * Arming is per thread, so Check, the library's I/O threads and any helper
 * thread allocate normally; arm only around the library call under test.
 */
#ifndef TDILL_FAILMALLOC_H
#define TDILL_FAILMALLOC_H

/* The calling thread's nth allocation from now (n >= 1) fails, and every
   later one succeeds. n == 0 counts allocations without failing any. */
void fm_arm(long n);

/* Stops counting; returns how many allocations the thread attempted while
   armed (the failed one included). */
long fm_disarm(void);

/* 1 if the armed failure was injected since the last fm_arm. */
int fm_injected(void);

#endif
