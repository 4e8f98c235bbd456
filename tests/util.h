/*
 * Helpers shared by the tdill test programs.
 *
 * Every program gets its own temporary directory (tu_dir) for socket paths,
 * created by tu_main() before the tests run and removed afterwards, so that
 * `make -j2 check` can run programs side by side.
 */
#ifndef TDILL_TESTS_UTIL_H
#define TDILL_TESTS_UTIL_H

#include <check.h>
#include <pthread.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include <tdill.h>

/* Room for any path the tests build. */
#define TU_PATH_MAX 4096

/* Default per-test timeout in seconds: a hang fails instead of blocking. */
#define TU_TIMEOUT 30

extern char tu_dir[];

/* Runs the suite (fork mode as Check decides), cleans up, returns the exit
   status for main(). */
int tu_main(Suite *s);

/* A TCase with TU_TIMEOUT. */
TCase *tu_tcase(const char *name);

/* A fresh path name inside tu_dir: "<tu_dir>/<tag>.<pid>.<counter>". */
const char *tu_path(char *buf, const char *tag);

/* Open descriptors of this process (the directory scan's own fd excluded). */
int tu_count_fds(void);
/* Fills fds[] (up to max) with the open descriptors; returns how many. */
int tu_list_fds(int *fds, int max);
/* "fd=target fd=target ..." for every open descriptor, into buf. */
const char *tu_describe_fds(char *buf, size_t size);
/* 1 if fd is open. */
int tu_fd_is_open(int fd);
/* 1 if descriptors a and b are the same open file. */
int tu_same_file(int a, int b);
/* Threads of this process (entries of /proc/self/task). */
int tu_count_threads(void);

/* Deterministic pseudo-random bytes: the same seed gives the same bytes. */
void tu_fill(void *buf, size_t len, uint64_t seed);
uint64_t tu_rand(uint64_t *state);

/* How much slower than a plain build this run is: 1 normally, more under
   the sanitizers, much more under valgrind (TDILL_TEST_VALGRIND=1). Only
   upper time bounds and waits for other threads scale with it. */
int tu_slowness(void);
/* 1 when running under valgrind (TDILL_TEST_VALGRIND set). */
int tu_valgrind(void);

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t tu_mono_ms(void);
void tu_sleep_ms(int ms);

/* Kernel thread id of the caller. */
pid_t tu_gettid(void);
/* Waits until thread tid sleeps in the kernel (state S) and then a little
   longer, so that a call it was about to make is most likely blocked. */
void tu_wait_sleeping(pid_t tid);

/* Raises the RLIMIT_NOFILE soft limit to the hard limit; returns the new
   soft limit. */
long tu_raise_nofile(void);

/* Makes socket(), socketpair(), accept() and accept4() fail with err in every
   thread of this process, for the rest of its life (a seccomp filter).
   Returns 0, or -1 if the kernel refuses the filter. */
int tu_inject_socket_errno(int err);

/* In a child made by fork(): dies by SIGALRM after seconds, instead of
   running Check's timeout handler (which kills the process group). */
void tu_child_alarm(unsigned seconds);

/* Makes the library set up everything it creates lazily for waiting (its
   I/O threads, its epoll instance), so that counts taken afterwards are
   stable. */
void tu_warm_up(void);

/* A tdill connection whose peer is a raw socket: returns the handle and
   stores the raw end in *raw_end. */
int tu_raw_peer(int *raw_end);

/* Creates a connected pair of tdill handles; fails the test if it can't. */
void tu_pair(int s[2]);
/* hcloses both handles of a pair; each must succeed. */
void tu_close_pair(int s[2]);
/* close()s both descriptors of a raw pipe or socketpair. */
void tu_close_raw_pair(int fd[2]);

/* Receives len bytes (at most 256) on h within 5 s; they must be want. */
void tu_expect_bytes(int h, const char *want, size_t len);
/* Both ends of a connection reach each other: a few bytes each way. */
void tu_assert_connected(int a, int b);
/* A client connecting to addr is accepted on listener ls, and the two reach
   each other; both are closed again. */
void tu_assert_accepts(int ls, const char *addr);

/* 1 if anything is at path (a socket, a file, a dangling link). */
int tu_path_exists(const char *path);

/* fork() that fails the test if it fails; the child dies by SIGALRM after
   seconds (tu_child_alarm), so a hung child cannot outlive the test. */
pid_t tu_fork(unsigned seconds);

/* Reaps pid within timeout_ms, killing it and failing the test if it has
   not ended by then. Returns its exit code, or 1000 + the signal that
   killed it. */
int tu_reap(pid_t pid, int timeout_ms);

/* The call must fail with -1 and exactly errno err. */
#define TU_FAILS(expr, err)                                                   \
    do {                                                                      \
        errno = 0;                                                            \
        long _tu_rc = (long)(expr);                                           \
        int _tu_e = errno;                                                    \
        ck_assert_msg(_tu_rc == -1 && _tu_e == (err),                         \
                      "%s: expected -1 with %s, got %ld with %s (%d)", #expr, \
                      tu_errname(err), _tu_rc, tu_errname(_tu_e), _tu_e);     \
    } while (0)

/* The call must return exactly 0. */
#define TU_OK(expr)                                                           \
    do {                                                                      \
        errno = 0;                                                            \
        long _tu_rc = (long)(expr);                                           \
        int _tu_e = errno;                                                    \
        ck_assert_msg(_tu_rc == 0, "%s: expected 0, got %ld with %s (%d)",    \
                      #expr, _tu_rc, tu_errname(_tu_e), _tu_e);               \
    } while (0)

/* The call must return a handle or descriptor (>= 0); yields it. */
#define TU_HANDLE(var, expr)                                                  \
    do {                                                                      \
        errno = 0;                                                            \
        (var) = (expr);                                                       \
        int _tu_e = errno;                                                    \
        ck_assert_msg((var) >= 0, "%s: expected a handle, got %d with %s",    \
                      #expr, (int)(var), tu_errname(_tu_e));                  \
    } while (0)

const char *tu_errname(int err);

/* A bulk transfer run by a thread: len bytes of tu_fill(seed), in pieces of
   random size 1..chunk (chunk 0: one call), by bsend or brecv. */
struct tu_xfer {
    int h;
    size_t len;
    uint64_t seed;
    size_t chunk;
    int64_t deadline;
    /* Results. */
    int rc;
    int err;
    int mismatch; /* receiver: the bytes differ from what was sent */
    pthread_t th;
};
void tu_send_start(struct tu_xfer *x);
void tu_recv_start(struct tu_xfer *x);
void tu_xfer_join(struct tu_xfer *x);
/* Same transfers in the calling thread. */
void *tu_sender(void *x);
void *tu_receiver(void *x);

/* One library call run by a thread, for tests that block, cancel or race. */
enum tu_op_kind {
    TU_BSEND,
    TU_BRECV,
    TU_BSENDL,
    TU_BRECVL,
    TU_ACCEPT,
    TU_ACCEPT_MEM,
    TU_CONNECT,
    TU_RECVFD,
    TU_SENDFD,
    TU_IPC_CLOSE,
    TU_IPC_DONE,
    TU_HCLOSE
};
struct tu_op {
    enum tu_op_kind kind;
    int h;
    void *buf;   /* bsend/brecv buffer; sendfd: unused */
    size_t len;  /* bsend/brecv length; sendfd: the fd */
    struct iolist *first, *last;
    const char *addr;
    void *mem;   /* ipc_accept_mem storage */
    int64_t deadline;
    /* Results. */
    int rc;
    int err;
    int64_t returned_at; /* now() right after the call */
    /* Internal. */
    pid_t tid;
    int started;
    int done;
    pthread_t th;
};
/* Starts the call in a new thread and returns at once. */
void tu_op_start(struct tu_op *op);
/* Starts the call and returns once the thread is asleep inside it. */
void tu_op_start_blocked(struct tu_op *op);
void tu_op_join(struct tu_op *op);
/* 1 once the call has returned (safe to ask while the thread runs). */
int tu_op_done(struct tu_op *op);
/* The joined call failed with exactly err / succeeded. */
#define TU_OP_FAILED(op, e)                                                   \
    ck_assert_msg((op)->rc == -1 && (op)->err == (e),                         \
                  "thread call: expected -1 with %s, got %d with %s",         \
                  tu_errname(e), (op)->rc, tu_errname((op)->err))
#define TU_OP_OK(op)                                                          \
    ck_assert_msg((op)->rc >= 0, "thread call: expected success, got %d "     \
                  "with %s", (op)->rc, tu_errname((op)->err))

#endif
