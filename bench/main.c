/*
 * tdill-bench: runs every workload on every backend and reports.
 *
 *   tdill-bench [--quick] [--scaling [--pin]] [--runs N] [--only ID,...]
 *               [--backends NAME,...] [--timeout S] [--out DIR] [--exec]
 *
 * Every figure is the median of several runs, interleaved (raw, tdill, nng,
 * raw, tdill, nng, ...) so that slow drifts of the machine hit all backends
 * alike. Every run is a fresh process (its servers are its children), killed
 * if it gives no result in time, so a hang or a crash becomes a row marked
 * ERR instead of a stuck benchmark. report.c turns the figures into the
 * report.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report.h"

const struct backend *const bench_backends[NB] = {
    [RAW] = &raw_backend,
    [TDILL] = &tdill_backend,
    [LIBDILL] = &libdill_backend,
    [NNG] = &nng_backend,
    [RAW_MT] = &raw_mt_backend,
};
int bench_shown[NB];

/******************************************************************************/
/*  What is measured, and the targets                                         */
/******************************************************************************/

#define PP_METRICS(target)                                                   \
    3, {{"mean (us)", 0, 1, target, 1.25, 1, 0, 0},                          \
        {"p50 (us)", 1, 1, T_NONE, 0, 1, 0, 0},                              \
        {"p99 (us)", 2, 1, T_NONE, 0, 1, 0, 0}}

/* Channel ping-pong: as PP_METRICS, with its own goal; nng has no channel,
   so there is no "tdill vs nng". */
#define CHAN_METRICS(target, goal)                                           \
    3, {{"mean (us)", 0, 1, target, goal, 0, 0, 0},                          \
        {"p50 (us)", 1, 1, T_NONE, 0, 0, 0, 0},                              \
        {"p99 (us)", 2, 1, T_NONE, 0, 0, 0, 0}}

/* A workload measured as one rate, higher being better. */
#define RATE_METRIC(label, target, goal)                                     \
    1, {{label, 0, 0, target, goal, 1, 0, 0}}

static const struct workload workloads[] = {
    {"pp-xproc", "ping-pong 64 B, x-process", wl_pingpong, XPROC,
     PP_METRICS(T_RATIO_MAX)},
    {"pp-xthread", "ping-pong 64 B, x-thread", wl_pingpong, XTHREAD,
     PP_METRICS(T_RATIO_MAX)},
    {"pp-coro", "ping-pong 64 B, x-coro (raw, nng: x-thread)",
     wl_pingpong, XCORO, PP_METRICS(T_NONE)},
    /* raw's channel is a mutex+condvar hand-off. Between coroutines the
       target (issue 15) is libdill's channels: tdill/libdill <= 1.5. */
    {"chan-xthread", "chan ping-pong 64 B, x-thread", wl_chan_pingpong,
     XTHREAD, CHAN_METRICS(T_RATIO_MAX, 1.2)},
    {"chan-coro", "chan ping-pong 64 B, x-coro (raw: x-thread)",
     wl_chan_pingpong, XCORO, CHAN_METRICS(T_LIBDILL_MAX, 1.5)},
    {"stream-xproc", "stream 64 KiB sends, x-process", wl_stream, XPROC,
     RATE_METRIC("GB/s", T_RATIO_MIN, 0.95)},
    {"stream-xthread", "stream 64 KiB sends, x-thread", wl_stream, XTHREAD,
     RATE_METRIC("GB/s", T_RATIO_MIN, 0.95)},
    {"small-xproc", "small ops 16 B, x-process", wl_small, XPROC,
     RATE_METRIC("Mops/s", T_RATIO_MIN, 0.85)},
    {"small-xthread", "small ops 16 B, x-thread", wl_small, XTHREAD,
     RATE_METRIC("Mops/s", T_RATIO_MIN, 0.85)},
    {"conn-xproc", "connect+1 B+close, x-process", wl_connrate, XPROC,
     RATE_METRIC("conn/s", T_RATIO_MIN, 0.85)},
    {"conn-xthread", "connect+1 B+close, x-thread", wl_connrate, XTHREAD,
     RATE_METRIC("conn/s", T_RATIO_MIN, 0.85)},
    {"tpc-8", "thread per conn, 8 conns, x-process", wl_tpc8, XPROC,
     RATE_METRIC("k round trips/s", T_NONE, 0)},
    {"tpc-64", "thread per conn, 64 conns, x-process", wl_tpc64,
     XPROC, RATE_METRIC("k round trips/s", T_NONE, 0)},
    {"scale", "scale, x-process", wl_scale, XPROC,
     4, {{"wave k round trips/s", 0, 0, T_NONE, 0, 1, 0, 0},
         {"library threads", 1, 1, T_ABS_MAX, 4, 1, 1, 1},
         {"bytes per idle conn", 2, 1, T_ABS_MAX, 1024, 1, 1, 1},
         {"connections open", 3, 0, T_ABS_MIN, 10000, 0, 1, 1}}},
    {"deadline", "deadline lateness, 1 ms brecv", wl_deadline, XTHREAD,
     3, {{"p50 late (us)", 0, 1, T_NONE, 0, 1, 0, 0},
         {"p99 late (us)", 1, 1, T_ABS_MAX, 1000, 1, 0, 0},
         {"max late (us)", 2, 1, T_NONE, 0, 1, 0, 0}}},
    /* The tax: the backend's call minus plain send/recv in the same
       process; raw's shows what its own read/send loop adds. */
    {"overhead", "per-call overhead, 16 B", wl_overhead, XTHREAD,
     3, {{"ns per call", 0, 1, T_NONE, 0, 1, 0, 0},
         {"plain send/recv, ns per call", 1, 1, T_NONE, 0, 0, 1, 0},
         {"tax over plain, ns per call", 2, 1, T_NONE, 0, 0, 1, 0}}},
};
#define NW (int)(sizeof(workloads) / sizeof(workloads[0]))

static const struct workload scaling_workloads[] = {
    {"scaling-pp", "ping-pong 64 B", wl_scaling_pingpong, XTHREAD,
     RATE_METRIC("M round trips/s", T_NONE, 0)},
    {"scaling-stream", "stream 64 KiB", wl_scaling_stream, XTHREAD,
     RATE_METRIC("GB/s", T_NONE, 0)},
};
#define NSW 2
static const int scaling_pairs[] = {1, 2, 4, 8, 16, 64};
#define NSP 6

static void set_params(struct params *p, int quick)
{
    *p = (struct params){
        .quick = quick,
        .pp_roundtrips = quick ? 5000 : 100000,
        .stream_bytes = quick ? 512L << 20 : 1L << 30,
        .small_ops = quick ? 50000 : 2000000,
        .conns = quick ? 1000 : 20000,
        .scale_conns = quick ? 1000 : 10000,
        .scale_callers = quick ? 100 : 1000,
        .scale_rounds = quick ? 20 : 100,
        .deadline_samples = quick ? 100 : 1000,
        .deadline_ms = 1,
        .overhead_rounds = quick ? 100000 : 1000000,
        .tpc_rts = quick ? 40000 : 200000,
        .scaling_rts = quick ? 40000 : 400000,
        .scaling_bytes = quick ? 256L << 20 : 2L << 30,
    };
}

/******************************************************************************/
/*  One run, isolated in its own process                                      */
/******************************************************************************/

static int result_fd = -1;
static const char *run_label = "";

int bench_result_fd(void)
{
    return result_fd;
}

void bench_set_result_fd(int fd, const char *label)
{
    result_fd = fd;
    run_label = label;
}

/* A failed result, said at once on stderr under the run's label too: the
   table that gives the reason comes only when every run is done. */
static void set_failed(struct result *r, const char *label, const char *fmt,
                       va_list ap)
{
    memset(r, 0, sizeof(*r));
    vsnprintf(r->err, sizeof(r->err), fmt, ap);
    fprintf(stderr, "\n  [%s] %s\n", label, r->err);
}

__attribute__((format(printf, 3, 4))) static void
run_failed(struct result *r, const char *label, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_failed(r, label, fmt, ap);
    va_end(ap);
}

void bench_fail(const char *fmt, ...)
{
    struct result r;
    va_list ap;
    va_start(ap, fmt);
    set_failed(&r, run_label, fmt, ap);
    va_end(ap);
    if (result_fd >= 0) {
        /* Under PIPE_BUF: one atomic write, even with several failing. */
        ssize_t n = write(result_fd, &r, sizeof(r));
        (void)n;
    }
    _exit(3);
}

static char base_dir[64];
static int run_seq;

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char path[512];
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' &&
            (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* In the run's own process: runs the workload and hands its result to the
   driver on fd. */
__attribute__((noreturn)) static void run_workload(
    const struct workload *w, const struct backend *b, const struct params *p,
    const char *dir, int fd)
{
    struct result r;
    memset(&r, 0, sizeof(r));
    w->fn(b, p, w->mode, dir, &r);
    if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
        _exit(4);
    _exit(0);
}

/* A fresh copy of this program (see run_main), in a process group of its
   own that its servers join: killed together. */
static pid_t spawn_run(const struct backend *b, const struct workload *w,
                       const struct params *p, const char *dir, int fd)
{
    char params[2 * sizeof(*p) + 1], res[16];
    hex_encode(p, sizeof(*p), params);
    snprintf(res, sizeof(res), "%d", fd);
    char *argv[] = {"tdill-bench", "--run", (char *)w->id, (char *)b->name,
                    (char *)dir, params, res, NULL};
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    fcntl(fd, F_SETFD, 0);
    extern char **environ;
    pid_t pid;
    int rc = posix_spawn(&pid, "/proc/self/exe", NULL, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    if (rc) {
        errno = rc;
        return -1;
    }
    return pid;
}

/* Starts the run's process, which writes its result to fd[1]. */
static pid_t start_run(const struct backend *b, const struct workload *w,
                       const struct params *p, const char *dir,
                       const char *label, int fd[2])
{
    if (!bench_use_fork)
        return spawn_run(b, w, p, dir, fd[1]);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0); /* its servers join the group: killed together */
        close(fd[0]);
        bench_set_result_fd(fd[1], label);
        run_workload(w, b, p, dir, fd[1]);
    }
    return pid;
}

/* Waits up to timeout_s for the run's result on fd. Returns poll's answer
   (0: nothing came in time) and in *got the bytes read into *r. */
static int read_result(int fd, int timeout_s, struct result *r, ssize_t *got)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int rc;
    while ((rc = poll(&pfd, 1, timeout_s * 1000)) < 0 && errno == EINTR)
        ;
    *got = 0;
    if (rc <= 0)
        return rc;
    while (*got < (ssize_t)sizeof(*r)) {
        ssize_t n = read(fd, (char *)r + *got, sizeof(*r) - (size_t)*got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        *got += n;
    }
    return rc;
}

static struct result run_once(const struct backend *b, const struct workload *w,
                              const struct params *p, int timeout_s)
{
    struct result r;
    memset(&r, 0, sizeof(r));
    char dir[128], label[96];
    snprintf(dir, sizeof(dir), "%s/r%d", base_dir, run_seq++);
    snprintf(label, sizeof(label), "%s %s", w->id, b->name);
    if (mkdir(dir, 0700) < 0) {
        snprintf(r.err, sizeof(r.err), "mkdir %s: %s", dir, strerror(errno));
        return r;
    }
    int fd[2];
    if (pipe2(fd, O_CLOEXEC) < 0) {
        snprintf(r.err, sizeof(r.err), "pipe: %s", strerror(errno));
        return r;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = start_run(b, w, p, dir, label, fd);
    close(fd[1]);
    if (pid < 0) {
        close(fd[0]);
        snprintf(r.err, sizeof(r.err), "fork: %s", strerror(errno));
        return r;
    }
    setpgid(pid, pid);
    ssize_t got;
    int rc = read_result(fd[0], timeout_s, &r, &got);
    close(fd[0]);
    kill(-pid, SIGKILL);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    remove_dir(dir);
    if (rc == 0)
        run_failed(&r, label, "HANG: no result within %d s", timeout_s);
    else if (got != (ssize_t)sizeof(r))
        run_failed(&r, label, "run died (wait status %d)", st);
    return r;
}

/******************************************************************************/
/*  Medians                                                                   */
/******************************************************************************/

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
    double *s = malloc(sizeof(*s) * (size_t)n);
    memcpy(s, v, sizeof(*s) * (size_t)n);
    qsort(s, (size_t)n, sizeof(*s), cmp_d);
    double m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    free(s);
    return m;
}

static int enabled[NB];
static int runs;

/* Runs workload w (on every enabled backend, `runs` times, interleaved). */
static void measure(const struct workload *w, const struct params *p,
                    int timeout_s, const char *label, struct cell *cells)
{
    printf("%-54s", label);
    fflush(stdout);
    int64_t started = now_ns();
    for (int bi = 0; bi < NB; bi++) {
        struct cell *c = &cells[bi];
        memset(c, 0, sizeof(*c));
        c->have = enabled[bi];
        c->ok = c->have;
        for (int i = 0; i < MAX_VALUES; i++)
            c->runs[i] = calloc((size_t)runs, sizeof(double));
        c->cpu_runs = calloc((size_t)runs, sizeof(double));
    }
    for (int r = 0; r < runs; r++) {
        for (int bi = 0; bi < NB; bi++) {
            struct cell *c = &cells[bi];
            if (!c->have || !c->ok)
                continue; /* one failure marks the figure: skip the rest */
            struct result res = run_once(bench_backends[bi], w, p, timeout_s);
            if (res.ok && res.absent) {
                /* Nothing to measure on this backend: "n/a" and the note. */
                c->have = c->ok = 0;
                c->absent = 1;
                snprintf(c->note, sizeof(c->note), "%s", res.note);
                printf("-");
                continue;
            }
            if (!res.ok) {
                c->ok = 0;
                snprintf(c->err, sizeof(c->err), "%s", res.err);
                printf("%s:ERR ", bench_backends[bi]->name);
                continue;
            }
            if (res.note[0])
                snprintf(c->note, sizeof(c->note), "%s", res.note);
            for (int i = 0; i < MAX_VALUES; i++)
                c->runs[i][r] = res.v[i];
            c->cpu_runs[r] = res.cpu;
            printf(".");
            fflush(stdout);
        }
    }
    printf(" %.1f s\n", (double)(now_ns() - started) / 1e9);
    for (int bi = 0; bi < NB; bi++) {
        if (!cells[bi].ok)
            continue;
        for (int i = 0; i < MAX_VALUES; i++)
            cells[bi].med[i] = median(cells[bi].runs[i], runs);
        cells[bi].cpu_med = median(cells[bi].cpu_runs, runs);
    }
}

/******************************************************************************/
/*  The two modes: the main benchmark and --scaling                           */
/******************************************************************************/

/* Walks a comma-separated list: copies its next name into name[n] and
   returns where the rest begins, or NULL at its end. */
static const char *next_name(const char *p, char *name, size_t n)
{
    if (!*p)
        return NULL;
    size_t len = strcspn(p, ",");
    snprintf(name, n, "%.*s", (int)len, p);
    return p + len + (p[len] == ',');
}

static int selected(const char *only, const char *id)
{
    if (!only)
        return 1;
    char name[64];
    for (const char *p = only; (p = next_name(p, name, sizeof(name)));)
        if (*name && !strncmp(id, name, strlen(name)))
            return 1; /* a prefix of the id selects it: "pp" = both */
    return 0;
}

static int main_bench(const struct run_setup *s, const char *only,
                      int timeout_s)
{
    static struct measured m[NW];
    int n = 0;
    for (int w = 0; w < NW; w++) {
        if (!selected(only, workloads[w].id))
            continue;
        m[n].w = &workloads[w];
        measure(&workloads[w], s->p, timeout_s, workloads[w].title,
                m[n].cells);
        n++;
    }
    report_bench(s, m, n);
    return 0;
}

static int scaling_bench(const struct run_setup *s, int timeout_s)
{
    static struct measured m[NSW * NSP];
    struct params p = *s->p;
    for (int w = 0; w < NSW; w++)
        for (int k = 0; k < NSP; k++) {
            struct measured *x = &m[w * NSP + k];
            char label[96];
            x->w = &scaling_workloads[w];
            x->pairs = p.scaling_pairs = scaling_pairs[k];
            snprintf(label, sizeof(label), "%s, %d pair%s", x->w->title,
                     x->pairs, x->pairs > 1 ? "s" : "");
            measure(x->w, &p, timeout_s, label, x->cells);
        }
    report_scaling(s, m, NSW, NSP);
    return 0;
}

/******************************************************************************/
/*  main                                                                      */
/******************************************************************************/

/* A run in its own process: --run WORKLOAD BACKEND DIR PARAMS RESULT_FD */
static int run_main(int argc, char **argv)
{
    if (argc != 7)
        return 2;
    const struct workload *w = NULL;
    for (int i = 0; i < NW; i++)
        if (!strcmp(workloads[i].id, argv[2]))
            w = &workloads[i];
    for (int i = 0; i < NSW; i++)
        if (!strcmp(scaling_workloads[i].id, argv[2]))
            w = &scaling_workloads[i];
    const struct backend *b = NULL;
    for (int i = 0; i < NB; i++)
        if (!strcmp(bench_backends[i]->name, argv[3]))
            b = bench_backends[i];
    static struct params p;
    if (!w || !b || hex_decode(argv[5], &p, sizeof(p)) < 0)
        return 2;
    static char label[96];
    snprintf(label, sizeof(label), "%s %s", w->id, b->name);
    int fd = atoi(argv[6]);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    bench_set_result_fd(fd, label);
    signal(SIGPIPE, SIG_IGN);
    run_workload(w, b, &p, argv[4], fd);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tdill-bench [--quick] [--scaling [--pin]] [--runs N] "
            "[--only ID,...]\n"
            "                   [--backends NAME,...] [--timeout S] "
            "[--out DIR] [--exec]\n"
            "  --quick     smaller sizes and 3 runs: under a minute\n"
            "  --scaling   1..64 thread pairs on pair connections instead\n"
            "  --pin       with --scaling: both threads of pair i on CPU i\n"
            "              (modulo the CPUs), not where the scheduler puts "
            "them\n"
            "  --exec      start every process as a fresh copy of this program\n"
            "              (posix_spawn) instead of fork()ing it\n"
            "  --only      workloads whose id starts with one of these:\n"
            "             ");
    for (int w = 0; w < NW; w++)
        fprintf(f, " %s", workloads[w].id);
    fprintf(f, "\n  --backends  only these (default: all built but the "
               "opt-in raw-mt):\n             ");
    for (int bi = 0; bi < NB; bi++)
        fprintf(f, " %s", bench_backends[bi]->name);
    fprintf(f, "\n  --out       where report.md and chart.png go "
               "(default bench/results)\n");
}

/* Is the backend called b one of those in list? */
static int named(const char *list, const char *b)
{
    char name[64];
    for (const char *p = list; (p = next_name(p, name, sizeof(name)));)
        if (!strcmp(name, b))
            return 1;
    return 0;
}

/* The first name in list that no backend has (copied into name[n]), or
   NULL. */
static const char *unknown_backend(const char *list, char *name, size_t n)
{
    for (const char *p = list; (p = next_name(p, name, n));) {
        int known = 0;
        for (int bi = 0; bi < NB; bi++)
            known |= !strcmp(name, bench_backends[bi]->name);
        if (!known)
            return name;
    }
    return NULL;
}

struct options {
    int quick, scaling, pin, timeout_s;
    const char *only, *only_backends, *out;
};

/* Fills *o, `runs` and bench_use_fork from the command line. Returns -1 to
   go on, else the exit status (after printing the usage). */
static int parse_args(int argc, char **argv, struct options *o)
{
    *o = (struct options){.out = "bench/results"};
    runs = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick"))
            o->quick = 1;
        else if (!strcmp(a, "--scaling"))
            o->scaling = 1;
        else if (!strcmp(a, "--pin"))
            o->pin = 1;
        else if (!strcmp(a, "--exec"))
            bench_use_fork = 0;
        else if (!strcmp(a, "--runs") && v)
            runs = atoi(argv[++i]);
        else if (!strcmp(a, "--only") && v)
            o->only = argv[++i];
        else if (!strcmp(a, "--backends") && v)
            o->only_backends = argv[++i];
        else if (!strcmp(a, "--timeout") && v)
            o->timeout_s = atoi(argv[++i]);
        else if (!strcmp(a, "--out") && v)
            o->out = argv[++i];
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    char name[64];
    if (o->only_backends &&
        unknown_backend(o->only_backends, name, sizeof(name))) {
        fprintf(stderr, "tdill-bench: no backend is called \"%s\"\n", name);
        return 2;
    }
    if (o->pin && !o->scaling) {
        fprintf(stderr, "tdill-bench: --pin goes with --scaling\n");
        return 2;
    }
    if (runs <= 0)
        runs = o->quick ? 3 : 5;
    if (o->timeout_s <= 0)
        o->timeout_s = o->quick ? 30 : 180;
    return -1;
}

/* The backends built in, less those --backends leaves out; an opt-in
   backend only where --backends names it. */
static void enable_backends(const char *only_backends)
{
    for (int bi = 0; bi < NB; bi++) {
        const struct backend *b = bench_backends[bi];
        int chosen = only_backends ? named(only_backends, b->name)
                                   : !b->opt_in;
        enabled[bi] = !b->missing && chosen;
        bench_shown[bi] = !b->opt_in || chosen;
        if (b->missing)
            printf("%s: not built, %s\n", b->name, b->missing);
    }
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--run"))
        return run_main(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "--server"))
        return server_main(argc, argv, bench_backends, NB);
    struct options o;
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    struct params p;
    set_params(&p, o.quick);
    p.scaling_pin = o.pin;
    enable_backends(o.only_backends);

    /* Scale needs a descriptor per connection: take all we may. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    snprintf(base_dir, sizeof(base_dir), "/tmp/tdill-bench.XXXXXX");
    if (!mkdtemp(base_dir)) {
        perror("mkdtemp");
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    int64_t t0 = now_ns();
    struct run_setup s = {&p, runs, o.out};
    rc = o.scaling ? scaling_bench(&s, o.timeout_s)
                   : main_bench(&s, o.only, o.timeout_s);
    rmdir(base_dir);
    printf("elapsed: %.1f s\n", (double)(now_ns() - t0) / 1e9);
    return rc;
}
