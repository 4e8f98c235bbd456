/*
 * A system-call failure injector for the coverage tests: the program that
 * links inject.c gets wrappers of the C library functions below that
 * forward to the function found next (libc's, or a sanitizer's), except
 * that a thread can arm them to make its next call of one function fail
 * with a chosen errno, or stop in it until the test lets it go.
 *
 * It is failmalloc.c's idea for the kernel's refusals that no test can
 * provoke for real (listen, shutdown or fchmodat failing on a good socket,
 * epoll refusing a watch, accept4 interrupted). Arming is per thread, like
 * failmalloc's: the library's I/O threads, Check and other test threads
 * are never affected.
 */
#ifndef TDILL_INJECT_H
#define TDILL_INJECT_H

enum inj_fn {
    INJ_ACCEPT4,
    INJ_CONNECT,
    INJ_RECV, /* recv, or syscall(SYS_recvfrom, ...) */
    INJ_SHUTDOWN,
    INJ_LISTEN,
    INJ_FCHMOD,
    INJ_FCHMODAT,
    INJ_GETSOCKOPT, /* sel: optname */
    INJ_FCNTL,      /* sel: cmd */
    INJ_EPOLL_CREATE1,
    INJ_EPOLL_CTL, /* sel: op */
    INJ_CLOSE,
    INJ_MMAP,     /* sel: length */
    INJ_MPROTECT, /* sel: prot */
    INJ_PTHREAD_CONDATTR_INIT,
    INJ_PTHREAD_COND_INIT,
    INJ_N
};

enum inj_mode {
    INJ_FAIL,       /* fail with err without making the call */
    INJ_FAIL_AFTER, /* make the call, then report err whatever happened */
    INJ_BLOCK       /* stop until inj_release(), then make the call */
};

/* Any value of the selector argument. */
#define INJ_ANY (-1L)

/* The calling thread's next call of fn (whose selector argument, where the
   function has one, equals sel, or any with INJ_ANY) does what mode says.
   Once only: later calls go through. One function armed at a time per
   thread; arming replaces what was armed. */
void inj_arm(enum inj_fn fn, enum inj_mode mode, int err, long sel);

/* Stops; returns 1 if the armed call happened. */
int inj_disarm(void);

/* Calls of the armed function by this thread since inj_arm, the one that
   fired included (all of them, whatever their selector). */
long inj_calls(void);

/* INJ_BLOCK: waits until some thread has stopped in its armed call, and
   lets every stopped thread go on. */
void inj_wait_blocked(void);
void inj_release(void);

#endif
