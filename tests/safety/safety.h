/*
 * Helpers of the safety suites (tests/safety/): tdill inside a larger
 * program. Threads that are cancelled while they are in a tdill call,
 * calls that must not hang (a hang fails the test with a message instead of
 * Check's timeout), and child processes that must end in time.
 */
#ifndef TDILL_TESTS_SAFETY_H
#define TDILL_TESTS_SAFETY_H

#include <stdatomic.h>
#include <sys/types.h>

#include "../util.h"

/* How long a call that must be prompt may take, in ms; scaled by
   tu_slowness(). */
#define SF_PROMPT_MS 500
/* How long a call may take before the test calls it hung, in ms; scaled. */
#define SF_HANG_MS 5000

/* ---- threads that are cancelled --------------------------------------- */

enum sf_how {
    SF_PLAIN,    /* deferred cancellation, enabled: the default */
    SF_PENDING,  /* the thread cancels itself just before fn: the cancel is
                    pending when fn starts */
    SF_DISABLED, /* cancellation disabled while fn runs, enabled after */
};

/* A thread that runs fn(arg), then pthread_testcancel(). */
struct sf_thread {
    int (*fn)(void *arg);
    void *arg;
    enum sf_how how;
    /* Results. */
    int rc;              /* what fn returned, once returned is set */
    int err;             /* errno after fn */
    atomic_int returned; /* fn returned */
    atomic_int cleaned;  /* the cleanup handler it pushed ran */
    atomic_int survived; /* it got past pthread_testcancel() */
    /* Internal. */
    atomic_int started;
    pid_t tid;
    pthread_t th;
};

/* fn for an sf_thread that makes the library call described by a struct
   tu_op (arg); returns the call's result. */
int sf_op(void *op);

/* Starts the thread; returns at once. */
void sf_start(struct sf_thread *t, enum sf_how how, int (*fn)(void *),
              void *arg);
/* Starts the thread making op, and returns once it sleeps in the call. */
void sf_start_blocked(struct sf_thread *t, enum sf_how how, struct tu_op *op);
/* The thread must end by cancellation within SF_HANG_MS, with its cleanup
   handler run; what names the call in failure messages. */
void sf_join_cancelled(struct sf_thread *t, const char *what);
/* The same, and fn must not have returned: the cancel acted inside it. */
void sf_join_cancelled_in_call(struct sf_thread *t, const char *what);

/* ---- calls that must not hang ----------------------------------------- */

/* Makes the call op describes in a thread; fails the test if it has not
   returned within SF_HANG_MS. Returns its result with errno set. */
int sf_timed(struct tu_op op, const char *what);

#define SF_BRECV(H, B, L, D)                                                  \
    sf_timed((struct tu_op){.kind = TU_BRECV, .h = (H), .buf = (B),           \
                            .len = (L), .deadline = (D)},                     \
             "brecv(" #H ")")
#define SF_BSEND(H, B, L, D)                                                  \
    sf_timed((struct tu_op){.kind = TU_BSEND, .h = (H), .buf = (void *)(B),   \
                            .len = (L), .deadline = (D)},                     \
             "bsend(" #H ")")
#define SF_ACCEPT(H, D)                                                       \
    sf_timed((struct tu_op){.kind = TU_ACCEPT, .h = (H), .deadline = (D)},    \
             "ipc_accept(" #H ")")
#define SF_RECVFD(H, D)                                                       \
    sf_timed((struct tu_op){.kind = TU_RECVFD, .h = (H), .deadline = (D)},    \
             "ipc_recvfd(" #H ")")
#define SF_SENDFD(H, FD, D)                                                   \
    sf_timed((struct tu_op){.kind = TU_SENDFD, .h = (H),                      \
                            .len = (size_t)(FD), .deadline = (D)},            \
             "ipc_sendfd(" #H ")")

/* hclose(h) must succeed within SF_PROMPT_MS. */
void sf_hclose_promptly(int h);

/* ---- pieces of test setup --------------------------------------------- */

/* Two connected handles made with ipc_fromfd, where s[0] cannot send: the
   socket buffers towards s[1] are full. */
void sf_full_pair(int s[2]);

/* Fills listener path (backlog 1) until a connect would have to wait; the
   connections go to conns[] (up to max); returns how many. */
int sf_fill_backlog(const char *path, int *conns, int max);

/* ---- child processes -------------------------------------------------- */

/* Reaps pid within ms (scaled; it is killed after that, and the test
   fails); returns its exit code, or 1000 + the signal that killed it. */
int sf_reap(pid_t pid, int ms);

/* A fork made by some thread: what the child runs, and what the parent
   saw. */
struct sf_fork {
    int (*child)(void); /* the child's exit code (it _exits with it) */
    unsigned alarm_s;   /* the child dies by SIGALRM after this (scaled) */
    /* Results, in the parent. */
    pid_t pid;
    int64_t took_ms;    /* how long fork() took in the parent */
    atomic_int done;    /* fork() returned in the parent */
    /* Internal. */
    int in_thread;
    pthread_t th;
};
/* Forks now, in the calling thread. */
void sf_fork_now(struct sf_fork *f);
/* Forks in a new thread; returns at once. */
void sf_fork_in_thread(struct sf_fork *f);
/* fork() must have returned within ms (scaled) and the child must exit 0
   within ms after that. Joins the thread of sf_fork_in_thread(). */
void sf_fork_check(struct sf_fork *f, int ms, const char *what);

#endif
