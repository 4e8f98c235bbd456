/*
 * tdill-bench: runs every workload on every backend and reports.
 *
 *   tdill-bench [--quick] [--scaling] [--runs N] [--only ID,...]
 *               [--backends NAME,...] [--timeout S] [--out DIR] [--exec]
 *
 * Every figure is the median of several runs, interleaved (raw, tdill, nng,
 * raw, tdill, nng, ...) so that slow drifts of the machine hit all backends
 * alike. Every run is a fresh process (its servers are its children), killed
 * if it gives no result in time, so a hang or a crash becomes a row marked
 * ERR instead of a stuck benchmark.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static const struct backend *backends[] = {
    &raw_backend, &tdill_backend, &nng_backend,
};
#define NB (int)(sizeof(backends) / sizeof(backends[0]))
enum { RAW, TDILL, NNG };

/******************************************************************************/
/*  What is measured, and the targets                                         */
/******************************************************************************/

enum target { T_NONE, T_RATIO_MAX, T_RATIO_MIN, T_ABS_MAX, T_ABS_MIN };

struct metric {
    const char *label;
    int idx;          /* in struct result's v[] */
    int lower_better;
    enum target target;
    double goal;
    int vs_nng;       /* is "tdill ahead of nng" checked on this row */
    int no_ratio;     /* tdill/raw means nothing here (raw has no threads) */
    int integer;      /* a count: printed without decimals */
};

struct workload {
    const char *id;
    const char *title;
    workload_fn *fn;
    enum mode mode;
    int nm;
    struct metric m[MAX_VALUES];
};

#define PP_METRICS(target)                                                   \
    3, {{"mean (us)", 0, 1, target, 1.25, 1, 0, 0},                          \
        {"p50 (us)", 1, 1, T_NONE, 0, 1, 0, 0},                              \
        {"p99 (us)", 2, 1, T_NONE, 0, 1, 0, 0}}

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
    {"scale", "scale, x-process", wl_scale, XPROC,
     4, {{"wave k round trips/s", 0, 0, T_NONE, 0, 1, 0, 0},
         {"library threads", 1, 1, T_ABS_MAX, 4, 1, 1, 1},
         {"bytes per idle conn", 2, 1, T_ABS_MAX, 1024, 1, 1, 1},
         {"connections open", 3, 0, T_ABS_MIN, 10000, 0, 1, 1}}},
    {"deadline", "deadline lateness, 1 ms brecv", wl_deadline, XTHREAD,
     3, {{"p50 late (us)", 0, 1, T_NONE, 0, 1, 0, 0},
         {"p99 late (us)", 1, 1, T_ABS_MAX, 1000, 1, 0, 0},
         {"max late (us)", 2, 1, T_NONE, 0, 1, 0, 0}}},
};
#define NW (int)(sizeof(workloads) / sizeof(workloads[0]))

static const struct workload scaling_workloads[] = {
    {"scaling-pp", "ping-pong 64 B", wl_scaling_pingpong, XTHREAD,
     RATE_METRIC("M round trips/s", T_NONE, 0)},
    {"scaling-stream", "stream 64 KiB", wl_scaling_stream, XTHREAD,
     RATE_METRIC("GB/s", T_NONE, 0)},
};
#define NSW 2
static const int scaling_pairs[] = {1, 2, 4, 8, 16};
#define NSP 5

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

void bench_fail(const char *fmt, ...)
{
    struct result r;
    memset(&r, 0, sizeof(r));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r.err, sizeof(r.err), fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  [%s] %s\n", run_label, r.err);
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
    pid_t pid;
    if (bench_use_fork) {
        pid = fork();
        if (pid == 0) {
            setpgid(0, 0); /* its servers join the group: killed together */
            close(fd[0]);
            bench_set_result_fd(fd[1], label);
            w->fn(b, p, w->mode, dir, &r);
            if (write(fd[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
                _exit(4);
            _exit(0);
        }
    } else {
        /* A fresh copy of this program (see run_main), in a process group
           of its own that its servers join: killed together. */
        char params[2 * sizeof(*p) + 1], res[16];
        hex_encode(p, sizeof(*p), params);
        snprintf(res, sizeof(res), "%d", fd[1]);
        char *argv[] = {"tdill-bench", "--run", (char *)w->id,
                        (char *)b->name, dir, params, res, NULL};
        posix_spawnattr_t attr;
        posix_spawnattr_init(&attr);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
        posix_spawnattr_setpgroup(&attr, 0);
        fcntl(fd[1], F_SETFD, 0);
        extern char **environ;
        int rc = posix_spawn(&pid, "/proc/self/exe", NULL, &attr, argv,
                             environ);
        posix_spawnattr_destroy(&attr);
        if (rc) {
            errno = rc;
            pid = -1;
        }
    }
    close(fd[1]);
    if (pid < 0) {
        close(fd[0]);
        snprintf(r.err, sizeof(r.err), "fork: %s", strerror(errno));
        return r;
    }
    setpgid(pid, pid);
    struct pollfd pfd = {.fd = fd[0], .events = POLLIN};
    int rc;
    while ((rc = poll(&pfd, 1, timeout_s * 1000)) < 0 && errno == EINTR)
        ;
    ssize_t got = 0;
    if (rc > 0) {
        while (got < (ssize_t)sizeof(r)) {
            ssize_t n = read(fd[0], (char *)&r + got, sizeof(r) - (size_t)got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += n;
        }
    }
    close(fd[0]);
    kill(-pid, SIGKILL);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    remove_dir(dir);
    if (rc == 0) {
        memset(&r, 0, sizeof(r));
        snprintf(r.err, sizeof(r.err), "HANG: no result within %d s",
                 timeout_s);
        fprintf(stderr, "\n  [%s] %s\n", label, r.err);
    } else if (got != (ssize_t)sizeof(r)) {
        memset(&r, 0, sizeof(r));
        snprintf(r.err, sizeof(r.err), "run died (wait status %d)", st);
        fprintf(stderr, "\n  [%s] %s\n", label, r.err);
    }
    return r;
}

/******************************************************************************/
/*  Medians and the report                                                    */
/******************************************************************************/

struct cell {
    int have;           /* backend measured */
    int ok;             /* all its runs succeeded */
    double med[MAX_VALUES];
    double *runs[MAX_VALUES];
    char err[160];
    char note[96];
};

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
    }
    for (int r = 0; r < runs; r++) {
        for (int bi = 0; bi < NB; bi++) {
            struct cell *c = &cells[bi];
            if (!c->have || !c->ok)
                continue; /* one failure marks the figure: skip the rest */
            struct result res = run_once(backends[bi], w, p, timeout_s);
            if (!res.ok) {
                c->ok = 0;
                snprintf(c->err, sizeof(c->err), "%s", res.err);
                printf("%s:ERR ", backends[bi]->name);
                continue;
            }
            if (res.note[0])
                snprintf(c->note, sizeof(c->note), "%s", res.note);
            for (int i = 0; i < MAX_VALUES; i++)
                c->runs[i][r] = res.v[i];
            printf(".");
            fflush(stdout);
        }
    }
    printf(" %.1f s\n", (double)(now_ns() - started) / 1e9);
    for (int bi = 0; bi < NB; bi++)
        if (cells[bi].ok)
            for (int i = 0; i < MAX_VALUES; i++)
                cells[bi].med[i] = median(cells[bi].runs[i], runs);
}

static void fmt_val(char *out, size_t n, double v)
{
    double a = fabs(v);
    if (a >= 1000)
        snprintf(out, n, "%.0f", v);
    else if (a >= 100)
        snprintf(out, n, "%.1f", v);
    else if (a >= 10)
        snprintf(out, n, "%.2f", v);
    else
        snprintf(out, n, "%.3f", v);
}

static void fmt_cell(char *out, size_t n, const struct cell *c,
                     const struct metric *m)
{
    if (!c->have)
        snprintf(out, n, "-");
    else if (!c->ok)
        snprintf(out, n, "ERR");
    else if (m->integer)
        snprintf(out, n, "%.0f", c->med[m->idx]);
    else
        fmt_val(out, n, c->med[m->idx]);
}

struct row {
    char name[96];
    char v[NB][24];
    char ratio[16];
    char target[40];
    char vs_nng[8];
    double tdill_ratio, nng_ratio; /* NAN where none */
    int has_target, pass;
};

static void make_row(struct row *row, const char *name, const struct metric *m,
                     const struct cell *cells, int full)
{
    memset(row, 0, sizeof(*row));
    snprintf(row->name, sizeof(row->name), "%s", name);
    for (int bi = 0; bi < NB; bi++)
        fmt_cell(row->v[bi], sizeof(row->v[bi]), &cells[bi], m);
    const struct cell *raw = &cells[RAW], *td = &cells[TDILL];
    const struct cell *nn = NB > NNG ? &cells[NNG] : NULL;
    row->tdill_ratio = row->nng_ratio = NAN;
    int ratio_ok = !m->no_ratio && raw->ok && raw->med[m->idx] != 0;
    if (ratio_ok && td->ok)
        row->tdill_ratio = td->med[m->idx] / raw->med[m->idx];
    if (ratio_ok && nn && nn->ok)
        row->nng_ratio = nn->med[m->idx] / raw->med[m->idx];
    if (isnan(row->tdill_ratio))
        snprintf(row->ratio, sizeof(row->ratio), "-");
    else
        snprintf(row->ratio, sizeof(row->ratio), "%.2f", row->tdill_ratio);

    const char *verdict = NULL;
    char goal[24];
    snprintf(goal, sizeof(goal), "%g", m->goal);
    switch (m->target) {
    case T_NONE:
        snprintf(row->target, sizeof(row->target), "-");
        break;
    case T_RATIO_MAX:
    case T_RATIO_MIN:
        row->has_target = 1;
        row->pass = !isnan(row->tdill_ratio) &&
                    (m->target == T_RATIO_MAX ? row->tdill_ratio <= m->goal
                                              : row->tdill_ratio >= m->goal);
        verdict = row->pass ? "PASS" : "MISS";
        snprintf(row->target, sizeof(row->target), "ratio %s %s %s",
                 m->target == T_RATIO_MAX ? "<=" : ">=", goal, verdict);
        break;
    case T_ABS_MAX:
    case T_ABS_MIN:
        if (m->target == T_ABS_MIN && !full) {
            snprintf(row->target, sizeof(row->target), ">= %s (full run)",
                     goal);
            break;
        }
        row->has_target = 1;
        row->pass = td->ok && (m->target == T_ABS_MAX
                                   ? td->med[m->idx] <= m->goal
                                   : td->med[m->idx] >= m->goal);
        verdict = row->pass ? "PASS" : "MISS";
        snprintf(row->target, sizeof(row->target), "%s %s %s",
                 m->target == T_ABS_MAX ? "<=" : ">=", goal, verdict);
        break;
    }
    if (!m->vs_nng || !nn || !nn->have)
        snprintf(row->vs_nng, sizeof(row->vs_nng), "-");
    else if (!td->ok)
        snprintf(row->vs_nng, sizeof(row->vs_nng), "MISS");
    else if (!nn->ok)
        snprintf(row->vs_nng, sizeof(row->vs_nng), "PASS*");
    else {
        double t = td->med[m->idx], n = nn->med[m->idx];
        int ahead = m->lower_better ? t <= n : t >= n;
        snprintf(row->vs_nng, sizeof(row->vs_nng), "%s",
                 ahead ? "PASS" : "MISS");
    }
}

static void print_rows(FILE *f, int md, const struct row *rows, int nrows)
{
    const char *hdr[] = {"workload / metric", "raw", "tdill", "nng",
                         "tdill/raw", "target (tdill)", "tdill vs nng"};
    if (md) {
        fprintf(f, "| %s | %s | %s | %s | %s | %s | %s |\n", hdr[0], hdr[1],
                hdr[2], hdr[3], hdr[4], hdr[5], hdr[6]);
        fprintf(f, "|---|--:|--:|--:|--:|---|---|\n");
    } else {
        fprintf(f, "%-54s %10s %10s %10s %9s  %-22s %s\n", hdr[0], hdr[1],
                hdr[2], hdr[3], hdr[4], hdr[5], hdr[6]);
    }
    for (int i = 0; i < nrows; i++) {
        const struct row *r = &rows[i];
        if (md)
            fprintf(f, "| %s | %s | %s | %s | %s | %s | %s |\n", r->name,
                    r->v[RAW], r->v[TDILL], r->v[NNG], r->ratio, r->target,
                    r->vs_nng);
        else
            fprintf(f, "%-54s %10s %10s %10s %9s  %-22s %s\n", r->name,
                    r->v[RAW], r->v[TDILL], r->v[NNG], r->ratio, r->target,
                    r->vs_nng);
    }
}

static int have_gnuplot(void)
{
    return system("command -v gnuplot >/dev/null 2>&1") == 0;
}

/* Runs a gnuplot script, with pngcairo where it exists, else png. */
static int gnuplot(const char *script_path, const char *png)
{
    char cmd[1024];
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof(cmd),
                 "gnuplot -e \"set terminal %s size 1400,800; "
                 "set output '%s'\" '%s' 2>/dev/null",
                 i ? "png" : "pngcairo noenhanced font ',10'", png,
                 script_path);
        if (system(cmd) == 0)
            return 0;
    }
    return -1;
}

static void write_chart(const char *out, const struct row *rows, int nrows)
{
    char dat[512], gp[512], png[512];
    snprintf(dat, sizeof(dat), "%s/chart.dat", out);
    snprintf(gp, sizeof(gp), "%s/chart.gp", out);
    snprintf(png, sizeof(png), "%s/chart.png", out);
    if (!have_gnuplot()) {
        printf("gnuplot not found: no chart (apt-get install gnuplot-nox)\n");
        return;
    }
    FILE *f = fopen(dat, "w");
    if (!f)
        return;
    for (int i = 0; i < nrows; i++) {
        if (isnan(rows[i].tdill_ratio))
            continue;
        fprintf(f, "\"%s\"\t%.4f\t", rows[i].name, rows[i].tdill_ratio);
        if (isnan(rows[i].nng_ratio))
            fprintf(f, "?\n");
        else
            fprintf(f, "%.4f\n", rows[i].nng_ratio);
    }
    fclose(f);
    f = fopen(gp, "w");
    if (!f)
        return;
    fprintf(f,
            "set datafile separator '\\t'\n"
            "set datafile missing '?'\n"
            "set title 'tdill and nng as a ratio to raw sockets (same run)."
            " Rows in us: lower is better; the others: higher is better'\n"
            "set style data histograms\n"
            "set style histogram clustered gap 1\n"
            "set style fill solid 0.8 border -1\n"
            "set logscale y 2\n"
            "set autoscale y\n"
            "set ylabel 'ratio to raw (log scale)'\n"
            "set grid ytics\n"
            "set xtics rotate by 35 right\n"
            "set bmargin 14\n"
            "set lmargin 18\n"
            "set key top left\n"
            "set arrow from graph 0, first 1 to graph 1, first 1 nohead "
            "lw 2 dt 2\n"
            "plot '%s' using 2:xtic(1) title 'tdill / raw' lc rgb '#1f77b4', "
            "'' using 3 title 'nng / raw' lc rgb '#ff7f0e'\n",
            dat);
    fclose(f);
    if (gnuplot(gp, png) == 0)
        printf("chart: %s\n", png);
    else
        printf("gnuplot failed: no chart\n");
}

static void describe_machine(FILE *f, const struct params *p)
{
    struct utsname u;
    uname(&u);
    char cpu[160] = "?";
    FILE *c = fopen("/proc/cpuinfo", "r");
    if (c) {
        char line[256];
        while (fgets(line, sizeof(line), c))
            if (!strncmp(line, "model name", 10)) {
                char *v = strchr(line, ':');
                if (v) {
                    snprintf(cpu, sizeof(cpu), "%s", v + 2);
                    cpu[strcspn(cpu, "\n")] = 0;
                }
                break;
            }
        fclose(c);
    }
    time_t t = time(NULL);
    char when[64];
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", localtime(&t));
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    const char *io = getenv("TDILL_IO_THREADS");
    fprintf(f, "- when: %s\n", when);
    fprintf(f, "- machine: %s %s %s, %ld CPUs online, %s\n", u.sysname,
            u.release, u.machine, sysconf(_SC_NPROCESSORS_ONLN), cpu);
    fprintf(f, "- mode: %s, median of %d interleaved runs per figure; "
               "processes made by %s\n",
            p->quick ? "quick" : "full", runs,
            bench_use_fork ? "fork()" : "posix_spawn() of the program");
    fprintf(f, "- TDILL_IO_THREADS: %s\n", io ? io : "unset (default 2)");
    fprintf(f, "- RLIMIT_NOFILE: %ld\n", (long)rl.rlim_cur);
    fprintf(f, "- backends:");
    for (int bi = 0; bi < NB; bi++) {
        const struct backend *b = backends[bi];
        if (b->missing)
            fprintf(f, " %s (not built: %s);", b->name, b->missing);
        else
            fprintf(f, " %s%s%s%s;", b->name, b->version ? " (" : "",
                    b->version ? b->version() : "", b->version ? ")" : "");
    }
    fprintf(f, "\n");
}

static void describe_params(FILE *f, const struct params *p)
{
    fprintf(f,
            "- ping-pong: %ld round trips of 64 B (after %ld untimed)\n"
            "- stream: %ld MiB in 64 KiB sends, received in 64 KiB receives\n"
            "- small ops: %ld sends of 16 B, received as 16 B receives\n"
            "- connections: %ld x (connect, send 1 B, close); the server "
            "accepts, receives 1 B, closes\n"
            "- scale: %d connections from one process to two server "
            "processes, %d threads blocked in recv, then %d round trips of "
            "64 B on each of their connections; memory = RSS growth / "
            "connections, before any caller thread exists; library threads "
            "= /proc/self/task - main - callers\n"
            "- deadline: %d receives with a %d ms deadline on fresh idle "
            "pairs, lateness = return time - deadline (raw: poll(); nng: "
            "NNG_OPT_RECVTIMEO)\n",
            p->pp_roundtrips, p->pp_roundtrips / 10 < 1000 ? p->pp_roundtrips / 10 : 1000,
            p->stream_bytes >> 20, p->small_ops, p->conns, p->scale_conns,
            p->scale_callers, p->scale_rounds, p->deadline_samples,
            p->deadline_ms);
}

static void write_runs(FILE *f, const char *name, const struct metric *m,
                       const struct cell *cells)
{
    fprintf(f, "| %s |", name);
    for (int bi = 0; bi < NB; bi++) {
        const struct cell *c = &cells[bi];
        fprintf(f, " ");
        if (!c->have)
            fprintf(f, "-");
        else if (!c->ok)
            fprintf(f, "ERR: %s", c->err);
        else
            for (int r = 0; r < runs; r++) {
                char v[24];
                if (m->integer)
                    snprintf(v, sizeof(v), "%.0f", c->runs[m->idx][r]);
                else
                    fmt_val(v, sizeof(v), c->runs[m->idx][r]);
                fprintf(f, "%s%s", r ? ", " : "", v);
            }
        fprintf(f, " |");
    }
    fprintf(f, "\n");
}

static FILE *open_out(const char *out, const char *name, char *path, size_t n)
{
    mkdir(out, 0755);
    snprintf(path, n, "%s/%s", out, name);
    FILE *f = fopen(path, "w");
    if (!f)
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
    return f;
}

/******************************************************************************/
/*  The two modes: the main benchmark and --scaling                           */
/******************************************************************************/

static int selected(const char *only, const char *id)
{
    if (!only)
        return 1;
    size_t n = strlen(id);
    for (const char *p = only; *p;) {
        size_t len = strcspn(p, ",");
        if (len && len <= n && !strncmp(p, id, len))
            return 1; /* a prefix of the id selects it: "pp" = both */
        p += len + (p[len] == ',');
    }
    return 0;
}

static int main_bench(const struct params *p, const char *only,
                      const char *out, int timeout_s)
{
    struct row rows[64];
    int nrows = 0;
    static struct cell cells[NW][NB];
    int done[NW] = {0};
    int full = !p->quick;
    for (int w = 0; w < NW; w++) {
        if (!selected(only, workloads[w].id))
            continue;
        measure(&workloads[w], p, timeout_s, workloads[w].title, cells[w]);
        done[w] = 1;
    }
    char notes[NW * NB][200];
    int nnotes = 0;
    for (int w = 0; w < NW; w++) {
        if (!done[w])
            continue;
        for (int m = 0; m < workloads[w].nm; m++) {
            char name[96];
            snprintf(name, sizeof(name), "%s: %s", workloads[w].title,
                     workloads[w].m[m].label);
            make_row(&rows[nrows++], name, &workloads[w].m[m], cells[w],
                     full);
        }
        for (int bi = 0; bi < NB; bi++) {
            if (cells[w][bi].note[0])
                snprintf(notes[nnotes++], sizeof(notes[0]), "%s, %s: %s",
                         workloads[w].title, backends[bi]->name,
                         cells[w][bi].note);
            else if (cells[w][bi].have && !cells[w][bi].ok)
                snprintf(notes[nnotes++], sizeof(notes[0]), "%s, %s: %s",
                         workloads[w].title, backends[bi]->name,
                         cells[w][bi].err);
        }
    }
    int targets = 0, passed = 0, vs = 0, vs_passed = 0;
    for (int i = 0; i < nrows; i++) {
        targets += rows[i].has_target;
        passed += rows[i].has_target && rows[i].pass;
        vs += rows[i].vs_nng[0] == 'P' || rows[i].vs_nng[0] == 'M';
        vs_passed += rows[i].vs_nng[0] == 'P';
    }

    printf("\n");
    print_rows(stdout, 0, rows, nrows);
    printf("\ntargets met: %d of %d; tdill ahead of nng: %d of %d rows\n",
           passed, targets, vs_passed, vs);
    for (int i = 0; i < nnotes; i++)
        printf("note: %s\n", notes[i]);
    if (!enabled[NNG] && backends[NNG]->missing)
        printf("note: nng skipped: %s\n", backends[NNG]->missing);

    char path[512];
    FILE *f = open_out(out, "report.md", path, sizeof(path));
    if (f) {
        fprintf(f, "# tdill benchmark\n\n");
        describe_machine(f, p);
        describe_params(f, p);
        fprintf(f, "\nFigures are medians. Ratios are tdill/raw from the same"
                   " run. \"tdill vs nng\" is PASS where tdill is at least as"
                   " good as nng (PASS* where nng failed).\n\n");
        print_rows(f, 1, rows, nrows);
        fprintf(f, "\nTargets met: %d of %d; tdill ahead of nng: %d of %d "
                   "rows.\n",
                passed, targets, vs_passed, vs);
        if (nnotes) {
            fprintf(f, "\nNotes:\n\n");
            for (int i = 0; i < nnotes; i++)
                fprintf(f, "- %s\n", notes[i]);
        }
        fprintf(f, "\n## Every run\n\n| figure |");
        for (int bi = 0; bi < NB; bi++)
            fprintf(f, " %s |", backends[bi]->name);
        fprintf(f, "\n|---|");
        for (int bi = 0; bi < NB; bi++)
            fprintf(f, "---|");
        fprintf(f, "\n");
        for (int w = 0; w < NW; w++) {
            if (!done[w])
                continue;
            for (int m = 0; m < workloads[w].nm; m++) {
                char name[96];
                snprintf(name, sizeof(name), "%s: %s", workloads[w].title,
                         workloads[w].m[m].label);
                write_runs(f, name, &workloads[w].m[m], cells[w]);
            }
        }
        fclose(f);
        printf("report: %s\n", path);
    }
    write_chart(out, rows, nrows);
    return 0;
}

static int scaling_bench(const struct params *base, const char *out,
                         int timeout_s)
{
    static struct cell cells[NSW][NSP][NB];
    struct params p = *base;
    for (int s = 0; s < NSW; s++)
        for (int k = 0; k < NSP; k++) {
            char label[96];
            p.scaling_pairs = scaling_pairs[k];
            snprintf(label, sizeof(label), "%s, %d pair%s",
                     scaling_workloads[s].title, scaling_pairs[k],
                     scaling_pairs[k] > 1 ? "s" : "");
            measure(&scaling_workloads[s], &p, timeout_s, label, cells[s][k]);
        }
    struct row rows[NSW * NSP];
    int nrows = 0;
    for (int s = 0; s < NSW; s++)
        for (int k = 0; k < NSP; k++) {
            char name[96];
            snprintf(name, sizeof(name), "%s, %2d pairs: %s",
                     scaling_workloads[s].title, scaling_pairs[k],
                     scaling_workloads[s].m[0].label);
            make_row(&rows[nrows++], name, &scaling_workloads[s].m[0],
                     cells[s][k], 0);
        }
    printf("\n");
    print_rows(stdout, 0, rows, nrows);

    char path[512];
    FILE *f = open_out(out, "scaling.md", path, sizeof(path));
    if (f) {
        fprintf(f, "# tdill benchmark: multi-core scaling\n\n");
        describe_machine(f, &p);
        fprintf(f,
                "- N thread pairs in one process, each on its own pair "
                "connection; ping-pong: %ld round trips of 64 B in all; "
                "stream: %ld MiB in all, 64 KiB sends; aggregate throughput "
                "from the first start to the last finish\n\n",
                p.scaling_rts, p.scaling_bytes >> 20);
        print_rows(f, 1, rows, nrows);
        fclose(f);
        printf("report: %s\n", path);
    }
    if (!have_gnuplot()) {
        printf("gnuplot not found: no chart\n");
        return 0;
    }
    char dat[512], gp[512], png[512];
    snprintf(dat, sizeof(dat), "%s/scaling.dat", out);
    snprintf(gp, sizeof(gp), "%s/scaling.gp", out);
    snprintf(png, sizeof(png), "%s/scaling.png", out);
    f = fopen(dat, "w");
    if (!f)
        return 0;
    for (int s = 0; s < NSW; s++) {
        fprintf(f, "# %s\n", scaling_workloads[s].title);
        for (int k = 0; k < NSP; k++) {
            fprintf(f, "%d", scaling_pairs[k]);
            for (int bi = 0; bi < NB; bi++) {
                const struct cell *c = &cells[s][k][bi];
                if (c->ok)
                    fprintf(f, " %.4f", c->med[0]);
                else
                    fprintf(f, " ?");
            }
            fprintf(f, "\n");
        }
        fprintf(f, "\n\n");
    }
    fclose(f);
    f = fopen(gp, "w");
    if (!f)
        return 0;
    fprintf(f, "set datafile missing '?'\nset multiplot layout 1,2\n"
               "set logscale x 2\nset xlabel 'thread pairs'\nset grid\n"
               "set key top left\nset yrange [0:*]\n");
    for (int s = 0; s < NSW; s++) {
        fprintf(f, "set title '%s (aggregate)'\nset ylabel '%s'\nplot ",
                scaling_workloads[s].title, scaling_workloads[s].m[0].label);
        for (int bi = 0; bi < NB; bi++)
            fprintf(f, "%s'%s' index %d using 1:%d with linespoints lw 2 "
                       "title '%s'",
                    bi ? ", " : "", dat, s, bi + 2, backends[bi]->name);
        fprintf(f, "\n");
    }
    fprintf(f, "unset multiplot\n");
    fclose(f);
    if (gnuplot(gp, png) == 0)
        printf("chart: %s\n", png);
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
        if (!strcmp(backends[i]->name, argv[3]))
            b = backends[i];
    static struct params p;
    if (!w || !b || hex_decode(argv[5], &p, sizeof(p)) < 0)
        return 2;
    static char label[96];
    snprintf(label, sizeof(label), "%s %s", w->id, b->name);
    int fd = atoi(argv[6]);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    bench_set_result_fd(fd, label);
    signal(SIGPIPE, SIG_IGN);
    struct result r;
    memset(&r, 0, sizeof(r));
    w->fn(b, &p, w->mode, argv[4], &r);
    if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
        _exit(4);
    _exit(0);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tdill-bench [--quick] [--scaling] [--runs N] "
            "[--only ID,...]\n"
            "                   [--backends NAME,...] [--timeout S] "
            "[--out DIR] [--exec]\n"
            "  --quick     smaller sizes and 3 runs: under a minute\n"
            "  --scaling   1..16 thread pairs on pair connections instead\n"
            "  --exec      start every process as a fresh copy of this program\n"
            "              (posix_spawn) instead of fork()ing it\n"
            "  --only      workloads whose id starts with one of these:\n"
            "             ");
    for (int w = 0; w < NW; w++)
        fprintf(f, " %s", workloads[w].id);
    fprintf(f, "\n  --out       where report.md and chart.png go "
               "(default bench/results)\n");
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--run"))
        return run_main(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "--server"))
        return server_main(argc, argv, backends, NB);
    int quick = 0, scaling = 0, timeout_s = 0;
    const char *only = NULL, *only_backends = NULL, *out = "bench/results";
    runs = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick"))
            quick = 1;
        else if (!strcmp(a, "--scaling"))
            scaling = 1;
        else if (!strcmp(a, "--exec"))
            bench_use_fork = 0;
        else if (!strcmp(a, "--runs") && v)
            runs = atoi(argv[++i]);
        else if (!strcmp(a, "--only") && v)
            only = argv[++i];
        else if (!strcmp(a, "--backends") && v)
            only_backends = argv[++i];
        else if (!strcmp(a, "--timeout") && v)
            timeout_s = atoi(argv[++i]);
        else if (!strcmp(a, "--out") && v)
            out = argv[++i];
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (runs <= 0)
        runs = quick ? 3 : 5;
    if (timeout_s <= 0)
        timeout_s = quick ? 30 : 180;
    struct params p;
    set_params(&p, quick);

    for (int bi = 0; bi < NB; bi++) {
        enabled[bi] = !backends[bi]->missing &&
                      (!only_backends || strstr(only_backends,
                                                backends[bi]->name));
        if (backends[bi]->missing)
            printf("%s: skipped: %s\n", backends[bi]->name,
                   backends[bi]->missing);
    }

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
    int rc = scaling ? scaling_bench(&p, out, timeout_s)
                     : main_bench(&p, only, out, timeout_s);
    rmdir(base_dir);
    printf("elapsed: %.1f s\n", (double)(now_ns() - t0) / 1e9);
    return rc;
}
