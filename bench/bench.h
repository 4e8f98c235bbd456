/*
 * tdill benchmark: the interface every backend implements, and what the
 * workloads and the driver share.
 *
 * A backend is a table of blocking calls on small integer ids, the common
 * ground of plain sockets, tdill and nng. Every workload is written once
 * against this table (workloads.c); main.c runs them, backend after backend,
 * each run in a fresh process, and report.c prints the report.
 */
#ifndef BENCH_H_INCLUDED
#define BENCH_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

struct backend {
    const char *name;
    /* Non-NULL when the backend was not built in: says why. */
    const char *missing;
    /* 1 when one listening address serves one peer at a time (nng pair0):
       workloads that hold many connections open then give each connection
       an address of its own. */
    int one_peer_per_addr;
    /* 1 when a handle may be used only by the thread that made it
       (libdill): workloads in which one thread would use another's handle
       report n/a, and tpc runs its connections as coroutines. */
    int per_thread_handles;
    /* 1 when the backend runs only where --backends names it; its columns
       are left out of the report otherwise. */
    int opt_in;
    /* Version of what is measured, for the report (may be NULL). */
    const char *(*version)(void);

    /* All calls block without a time limit and return -1 with errno set on
       failure. Ids are non-negative. */
    int (*listen)(const char *path, int backlog);
    int (*accept)(int ls);
    int (*connect)(const char *path);
    int (*pair)(int c[2]);
    int (*send)(int c, const void *buf, size_t len);
    /* Receives exactly len bytes (nng: one message of exactly len bytes). */
    int (*recv)(int c, void *buf, size_t len);
    /* Like recv, but gives up `ms` milliseconds from now with ETIMEDOUT.
       *deadline_ns receives the CLOCK_MONOTONIC instant (ns) at which the
       backend was asked to give up, as the backend itself computed it. */
    int (*recv_timeout)(int c, void *buf, size_t len, int ms,
                        int64_t *deadline_ns);
    /* Closes a connection. Everything sent on it before is still delivered
       to the peer. */
    int (*close)(int c);
    int (*lclose)(int ls);

    /* Optional (NULL: the backend has no coroutines). Starts fn(arg) as a
       coroutine on the calling thread and runs it until it first blocks;
       the caller goes on as the thread's other coroutine. Returns a handle
       for join, which waits until fn has returned and frees the handle. */
    int (*go)(void (*fn)(void *arg), void *arg);
    int (*join)(int h);

    /* Optional (NULL: the backend has no rendezvous channel). An unbuffered
       channel with two ends, c[0] and c[1]: what is sent on one end is
       received on the other, in either direction. chan_send returns once a
       receiver on the other end has taken the value, chan_recv once it has
       one; both sides pass the same len. chan_close closes one end. */
    int (*chan_make)(int c[2]);
    int (*chan_send)(int c, const void *buf, size_t len);
    int (*chan_recv)(int c, void *buf, size_t len);
    int (*chan_close)(int c);
};

extern const struct backend raw_backend;
extern const struct backend raw_mt_backend;
extern const struct backend tdill_backend;
extern const struct backend libdill_backend;
extern const struct backend nng_backend;

/* Sizes of one benchmark pass (main.c fills them for full/quick). */
struct params {
    int quick;
    long pp_roundtrips;     /* ping-pong round trips, 64-byte messages */
    long stream_bytes;      /* stream total, in 64 KiB sends */
    long small_ops;         /* 16-byte sends */
    long conns;             /* connection-rate iterations */
    int scale_conns;        /* scale: open connections */
    int scale_callers;      /* scale: threads blocked in recv */
    int scale_rounds;       /* scale: round trips per caller in the wave */
    int deadline_samples;   /* deadline precision: timeouts measured */
    int deadline_ms;        /* ... each this long */
    long overhead_rounds;   /* per-call overhead: 16-byte send+recv pairs */
    long tpc_rts;           /* thread per connection: round trips in all */
    int tpc_conns;          /* ... over this many connections (set by the
                               workload: tpc-8, tpc-64) */
    int scaling_pairs;      /* --scaling: thread pairs in this run */
    long scaling_rts;       /* --scaling: round trips, all pairs together */
    long scaling_bytes;     /* --scaling: stream bytes, all pairs together */
    int scaling_pin;        /* --pin: both threads of pair i on CPU i (mod) */
};

#define MAX_VALUES 4

struct result {
    int ok;
    /* The backend cannot run this workload (nng has no channel): its cell
       shows "n/a", and note says why. */
    int absent;
    double v[MAX_VALUES];
    /* User + system CPU microseconds per operation, of every process taking
       part, over the timed section (side.h); 0: not measured. */
    double cpu;
    char note[96];   /* informational, e.g. "9,000 conns: fd limit" */
    char err[160];   /* set when !ok */
};

/* Where the two sides of a workload run: two processes, two threads of one
   process, or two coroutines of one thread (backends without go() use two
   threads there: the nearest they have). */
enum mode { XPROC, XTHREAD, XCORO };

/* A workload runs inside its own process (see main.c) and fills *r. The
   directory `dir` is private to the run: socket paths go there. */
typedef void workload_fn(const struct backend *b, const struct params *p,
                         enum mode mode, const char *dir, struct result *r);

workload_fn wl_pingpong, wl_stream, wl_small, wl_connrate, wl_scale,
    wl_deadline, wl_scaling_pingpong, wl_scaling_stream, wl_chan_pingpong,
    wl_overhead, wl_tpc8, wl_tpc64;

int64_t now_ns(void);
/* Untimed ping-pong round trips before the timed ones (the report says how
   many). */
long wl_pp_warmup(const struct params *p);

/* Processes. Every run, and every server process of a run, is a fork()ed
   copy (bench_use_fork, the default) or, with --exec, this program started
   afresh (posix_spawn of /proc/self/exe), so that no process inherits any
   library state or runs any pthread_atfork handler. No backend is touched
   before a fork in either case. */
extern int bench_use_fork;
int server_main(int argc, char **argv, const struct backend *const *bs,
                int nb);
void hex_encode(const void *data, size_t len, char *out);
int hex_decode(const char *in, void *data, size_t len);
/* Where bench_fail reports, and under which name (main.c). */
int bench_result_fd(void);
void bench_set_result_fd(int fd, const char *label);

/* Ends the run at once with a failed result carrying this message (main.c):
   usable from any process or thread of the run. */
__attribute__((noreturn, format(printf, 1, 2))) void bench_fail(
    const char *fmt, ...);

#endif
