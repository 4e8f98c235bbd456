/*
 * The two sides of a workload, and what the workload files share.
 *
 * Two-sided workloads run a server side and a client side, either in two
 * processes (XPROC: the server is forked), in two threads of one process
 * (XTHREAD) or in two coroutines of one thread (XCORO, where the backend
 * has go()). The sides synchronise over a plain socketpair, the "control
 * channel", which no backend touches; its reads never block in XCORO,
 * because the server coroutine writes before it first parks.
 */
#ifndef BENCH_SIDE_H_INCLUDED
#define BENCH_SIDE_H_INCLUDED

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/types.h>

#include "bench.h"

/* Control channel: every call either completes or ends the run. */
void ctl_write(int fd, const void *buf, size_t len);
void ctl_read(int fd, void *buf, size_t len);
void ctl_put(int fd, char tag);
void ctl_expect(int fd, char tag);

/* The server sides, by number: a server process started with --exec finds
   its function by this number (run_side). */
enum server_fn {
    SRV_PINGPONG,
    SRV_SINK,
    SRV_CONN,
    SRV_SCALE,
    SRV_CHAN_PP,
    SRV_TPC
};

struct side {
    const struct backend *b;
    const struct params *p;
    enum server_fn fn;
    char addr[160]; /* where the server listens */
    const char *dir;
    void *arg;      /* workload-specific, plain data */
    size_t arg_size;
    int k;          /* which server, where there are several */
    int ctl;        /* the server's end of the control channel */
    int peer_ctl;   /* the client's end */
    enum mode mode;
    pid_t pid;
    pthread_t th;
    int coro;       /* XCORO: the server coroutine's handle */
};

/* Starts the server side, in a child process, a thread or a coroutine. */
void start_server(struct side *s, enum mode mode);
void join_server(struct side *s);
/* Runs the server side s->fn in the calling thread. */
void run_side(struct side *s);

/* The server sides (workloads.c). */
void pp_server(struct side *s);
void sink_server(struct side *s);
void conn_server(struct side *s);
void scale_server(struct side *s);
void chan_pp_server(struct side *s);
void tpc_server(struct side *s); /* tpc.c */

/* Ends the run when a backend call fails; `b` is the backend in scope. */
#define CHECK(what, call)                                                    \
    do {                                                                     \
        if ((call) < 0)                                                      \
            bench_fail("%s: %s: %s", b->name, what, strerror(errno));        \
    } while (0)

int cmp_i64(const void *a, const void *b);
/* Nearest-rank percentile of sorted samples. */
int64_t pct(const int64_t *s, long n, double q);
double secs(int64_t ns);
/* Untimed iterations before n timed ones: 10 %, at most cap. */
long warm(long n, long cap);
/* Marks r as a workload this backend cannot run, for the reason `why`. */
void not_here(struct result *r, const char *why);
/* A thread with a small stack (many of them may run at once). */
pthread_t spawn(void *(*fn)(void *), void *arg);
/* The same, on the pin-th CPU this process may use (modulo their count);
   pin < 0: wherever the scheduler puts it. */
pthread_t spawn_on(void *(*fn)(void *), void *arg, int pin);

/* CPU time. A workload counts the user + system CPU time of every process
   taking part over its timed section: each process reads its own (every
   thread of it, the library's included) at the start and at the end of the
   section as it sees it, and a server process sends its share to the
   client over the control channel. */
int64_t cpu_now(void); /* this process's CPU time so far, microseconds */
/* Server side: sends the CPU time used since `since` where the server is a
   process of its own (XPROC); in one process the client's count has it. */
void cpu_send(const struct side *s, int64_t since);
/* The same, for a server that counted its CPU time `used` itself. */
void cpu_send_used(const struct side *s, int64_t used);
/* Client side: what cpu_send sent (0 unless XPROC). */
int64_t cpu_recv(const struct side *s);
/* Microseconds of CPU time per operation. */
double cpu_per_op(int64_t cpu_us, long ops);

#endif
