/*
 * The report, from the figures main.c collected: the table on the terminal,
 * report.md (scaling.md for --scaling) with every run's figures, and, where
 * gnuplot is installed, the chart (chart.c).
 *
 * A row is one metric of one workload: its median on every backend, the
 * ratio tdill/raw, the verdict on tdill's target and on tdill against nng.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "report.h"

/******************************************************************************/
/*  Rows                                                                      */
/******************************************************************************/

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

/* One figure of metric m: a count is printed without decimals. */
static void fmt_figure(char *out, size_t n, const struct metric *m, double v)
{
    if (m->integer)
        snprintf(out, n, "%.0f", v);
    else
        fmt_val(out, n, v);
}

/* m: NULL for a CPU cell (a backend that has no figure there). */
static void fmt_cell(char *out, size_t n, const struct cell *c,
                     const struct metric *m)
{
    if (c->absent)
        snprintf(out, n, "n/a");
    else if (!c->have)
        snprintf(out, n, "-");
    else if (!c->ok)
        snprintf(out, n, "ERR");
    else if (!m)
        snprintf(out, n, "?");
    else
        fmt_figure(out, n, m, c->med[m->idx]);
}

/* x/y of two backends' figures (NAN where either has none), written to out
   ("-" for none). */
static double ratio_of(const struct cell *cx, double x, const struct cell *cy,
                       double y, char *out, size_t n)
{
    double ratio = cx->ok && cy->ok && y != 0 ? x / y : NAN;
    if (isnan(ratio))
        snprintf(out, n, "-");
    else
        snprintf(out, n, "%.2f", ratio);
    return ratio;
}

/* The CPU columns: every backend's CPU time per operation and tdill/raw. */
static void set_cpu(struct row *row, const struct cell *cells)
{
    for (int bi = 0; bi < NB; bi++) {
        const struct cell *c = &cells[bi];
        if (c->have && c->ok && c->cpu_med > 0)
            fmt_val(row->cpu[bi], sizeof(row->cpu[bi]), c->cpu_med);
        else
            fmt_cell(row->cpu[bi], sizeof(row->cpu[bi]), c, NULL);
    }
    if (cells[RAW].cpu_med > 0 && cells[TDILL].cpu_med > 0)
        ratio_of(&cells[TDILL], cells[TDILL].cpu_med, &cells[RAW],
                 cells[RAW].cpu_med, row->cpu_ratio, sizeof(row->cpu_ratio));
    else
        snprintf(row->cpu_ratio, sizeof(row->cpu_ratio), "-");
}

/* tdill/raw and tdill/libdill for the ratio columns; libdill/raw and
   nng/raw too for the chart. */
static void set_ratios(struct row *row, const struct metric *m,
                       const struct cell *cells)
{
    const struct cell *raw = &cells[RAW], *td = &cells[TDILL];
    const struct cell *ld = &cells[LIBDILL], *nn = &cells[NNG];
    double r = raw->med[m->idx], t = td->med[m->idx], l = ld->med[m->idx];
    char scratch[16];
    row->tdill_ratio = row->libdill_ratio = row->nng_ratio = NAN;
    row->tdill_libdill = NAN;
    snprintf(row->ratio, sizeof(row->ratio), "-");
    snprintf(row->ld_ratio, sizeof(row->ld_ratio), "-");
    if (m->no_ratio)
        return;
    row->tdill_ratio = ratio_of(td, t, raw, r, row->ratio, sizeof(row->ratio));
    row->tdill_libdill =
        ratio_of(td, t, ld, l, row->ld_ratio, sizeof(row->ld_ratio));
    row->libdill_ratio = ratio_of(ld, l, raw, r, scratch, sizeof(scratch));
    row->nng_ratio =
        ratio_of(nn, nn->med[m->idx], raw, r, scratch, sizeof(scratch));
}

/* A target on a ratio: `what` <= or >= the goal. A ratio that could not be
   taken (NAN) misses, unless the other side is a backend not built (where
   `missing` is set): then there is no verdict. */
static void ratio_target(struct row *row, const struct metric *m,
                         const char *what, double ratio, const char *missing)
{
    char goal[24];
    int max = m->target != T_RATIO_MIN;
    snprintf(goal, sizeof(goal), "%g", m->goal);
    if (isnan(ratio) && missing) {
        snprintf(row->target, sizeof(row->target), "%s %s %s %s", what,
                 max ? "<=" : ">=", goal, missing);
        return;
    }
    row->has_target = 1;
    row->pass = !isnan(ratio) && (max ? ratio <= m->goal : ratio >= m->goal);
    snprintf(row->target, sizeof(row->target), "%s %s %s %s", what,
             max ? "<=" : ">=", goal, row->pass ? "PASS" : "MISS");
}

/* A target on tdill's figure itself. A minimum count (connections open) is
   a target of full runs only: quick runs open fewer on purpose. */
static void abs_target(struct row *row, const struct metric *m,
                       const struct cell *td, int full)
{
    int max = m->target == T_ABS_MAX;
    char goal[24];
    snprintf(goal, sizeof(goal), "%g", m->goal);
    if (!max && !full) {
        snprintf(row->target, sizeof(row->target), ">= %s (full run)", goal);
        return;
    }
    row->has_target = 1;
    row->pass = td->ok && (max ? td->med[m->idx] <= m->goal
                               : td->med[m->idx] >= m->goal);
    snprintf(row->target, sizeof(row->target), "%s %s %s",
             max ? "<=" : ">=", goal, row->pass ? "PASS" : "MISS");
}

/* The target column. */
static void set_target(struct row *row, const struct metric *m,
                       const struct cell *cells, int full)
{
    switch (m->target) {
    case T_NONE:
        snprintf(row->target, sizeof(row->target), "-");
        break;
    case T_RATIO_MAX:
    case T_RATIO_MIN:
        ratio_target(row, m, "ratio", row->tdill_ratio, NULL);
        break;
    case T_LIBDILL_MAX:
        ratio_target(row, m, "tdill/libdill", row->tdill_libdill,
                     cells[LIBDILL].have ? NULL : "(none)");
        break;
    case T_ABS_MAX:
    case T_ABS_MIN:
        abs_target(row, m, &cells[TDILL], full);
        break;
    }
}

/* The "tdill vs nng" column: PASS* where nng failed and tdill did not. */
static void set_vs_nng(struct row *row, const struct metric *m,
                       const struct cell *td, const struct cell *nn)
{
    if (!m->vs_nng || !nn->have)
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

/* with_cpu: the row of the workload's first metric, which shows the CPU
   time per operation beside it. */
static void make_row(struct row *row, const char *name, const struct metric *m,
                     const struct cell *cells, int full, int with_cpu)
{
    memset(row, 0, sizeof(*row));
    snprintf(row->name, sizeof(row->name), "%s", name);
    for (int bi = 0; bi < NB; bi++)
        fmt_cell(row->v[bi], sizeof(row->v[bi]), &cells[bi], m);
    set_ratios(row, m, cells);
    if (with_cpu)
        set_cpu(row, cells);
    set_target(row, m, cells, full);
    set_vs_nng(row, m, &cells[TDILL], &cells[NNG]);
}

/* One cell: md, a markdown cell; else right-aligned in `width` (left-
   aligned where width is negative). */
static void put_col(FILE *f, int md, int width, const char *s)
{
    if (md)
        fprintf(f, " %s |", s);
    else
        fprintf(f, " %*s", width, s);
}

/* One line of the table (the header is a row of column names too). */
static void print_line(FILE *f, int md, const struct row *r)
{
    fprintf(f, md ? "| %s |" : "%-54s", r->name);
    for (int bi = 0; bi < NB; bi++)
        if (bench_shown[bi])
            put_col(f, md, 10, r->v[bi]);
    put_col(f, md, 9, r->ratio);
    put_col(f, md, 13, r->ld_ratio);
    for (int bi = 0; bi < NB; bi++)
        if (bench_shown[bi])
            put_col(f, md, 11, r->cpu[bi]);
    put_col(f, md, 9, r->cpu_ratio);
    put_col(f, md, md ? 0 : -28, r->target);
    put_col(f, md, md ? 0 : -1, r->vs_nng);
    fprintf(f, "\n");
}

static void header_row(struct row *h, int md)
{
    memset(h, 0, sizeof(*h));
    snprintf(h->name, sizeof(h->name), "workload / metric");
    for (int bi = 0; bi < NB; bi++) {
        const char *name = bench_backends[bi]->name;
        snprintf(h->v[bi], sizeof(h->v[bi]), "%s", name);
        snprintf(h->cpu[bi], sizeof(h->cpu[bi]),
                 md ? "CPU us/op %s" : "cpu %s", name);
    }
    snprintf(h->ratio, sizeof(h->ratio), "tdill/raw");
    snprintf(h->ld_ratio, sizeof(h->ld_ratio), "tdill/libdill");
    snprintf(h->cpu_ratio, sizeof(h->cpu_ratio), "%s",
             md ? "CPU tdill/raw" : "cpu t/raw");
    snprintf(h->target, sizeof(h->target), "target (tdill)");
    snprintf(h->vs_nng, sizeof(h->vs_nng), "tdill vs nng");
}

/* md: a markdown table; else aligned columns for the terminal. */
static void print_rows(FILE *f, int md, const struct row *rows, int nrows)
{
    struct row h;
    header_row(&h, md);
    print_line(f, md, &h);
    if (md) {
        int shown = 0;
        for (int bi = 0; bi < NB; bi++)
            shown += bench_shown[bi];
        fprintf(f, "|---|");
        for (int i = 0; i < 2 * shown + 3; i++)
            fprintf(f, "--:|");
        fprintf(f, "---|---|\n");
    }
    for (int i = 0; i < nrows; i++)
        print_line(f, md, &rows[i]);
    if (!md)
        fprintf(f, "cpu: user + system CPU microseconds per operation, "
                   "every process of the run, timed section only\n");
}

/******************************************************************************/
/*  The markdown reports                                                      */
/******************************************************************************/

static void cpu_model(char *cpu, size_t n)
{
    snprintf(cpu, n, "?");
    FILE *c = fopen("/proc/cpuinfo", "r");
    if (!c)
        return;
    char line[256];
    while (fgets(line, sizeof(line), c))
        if (!strncmp(line, "model name", 10)) {
            char *v = strchr(line, ':');
            if (v) {
                snprintf(cpu, n, "%s", v + 2);
                cpu[strcspn(cpu, "\n")] = 0;
            }
            break;
        }
    fclose(c);
}

static void describe_backends(FILE *f)
{
    fprintf(f, "- backends:");
    for (int bi = 0; bi < NB; bi++) {
        const struct backend *b = bench_backends[bi];
        if (!bench_shown[bi])
            continue;
        if (b->missing)
            fprintf(f, " %s (not built, %s);", b->name, b->missing);
        else
            fprintf(f, " %s%s%s%s;", b->name, b->version ? " (" : "",
                    b->version ? b->version() : "", b->version ? ")" : "");
    }
    fprintf(f, "\n");
}

static void describe_machine(FILE *f, const struct run_setup *s)
{
    struct utsname u;
    uname(&u);
    char cpu[160];
    cpu_model(cpu, sizeof(cpu));
    time_t t = time(NULL);
    char when[64];
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", localtime(&t));
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    const char *io = getenv("TDILL_IO_THREADS");
    fprintf(f, "- when: %s\n", when);
    fprintf(f, "- machine: %s %s %s, %ld CPUs online, %s\n", u.sysname,
            u.release, u.machine, sysconf(_SC_NPROCESSORS_ONLN), cpu);
    fprintf(f,
            "- mode: %s, median of %d interleaved runs per figure; "
            "processes made by %s\n",
            s->p->quick ? "quick" : "full", s->runs,
            bench_use_fork ? "fork()" : "posix_spawn() of the program");
    fprintf(f, "- TDILL_IO_THREADS: %s\n", io ? io : "unset (default 2)");
    fprintf(f, "- RLIMIT_NOFILE: %ld\n", (long)rl.rlim_cur);
    describe_backends(f);
}

static void describe_params(FILE *f, const struct params *p)
{
    fprintf(f,
            "- ping-pong: %ld round trips of 64 B (after %ld untimed)\n"
            "- channel ping-pong: as many round trips of a 64 B value over "
            "the two ends of one unbuffered channel (tdill, libdill: chmake, "
            "chsend, chrecv; raw: a mutex+condvar hand-off; nng: none)\n"
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
            "NNG_OPT_RECVTIMEO)\n"
            "- thread per connection (tpc-N): N connections between two "
            "processes, %ld round trips of 64 B in all, each connection "
            "served by a thread of its own on both sides (libdill: a "
            "coroutine of one thread); aggregate rate from a barrier after "
            "the warm-up to the last reply\n"
            "- per-call overhead: %ld x (send 16 B on one end of a pair, "
            "receive them on the other) in one thread, never waiting; the "
            "same with plain send(2)/recv(2) on a socketpair in the same "
            "process, alternating blocks; tax = the backend's ns per call "
            "minus plain's\n",
            p->pp_roundtrips, wl_pp_warmup(p), p->stream_bytes >> 20,
            p->small_ops, p->conns, p->scale_conns, p->scale_callers,
            p->scale_rounds, p->deadline_samples, p->deadline_ms, p->tpc_rts,
            p->overhead_rounds);
}

/* "workload: metric", the name of the row of metric i of m. */
static void row_name(char *out, size_t n, const struct measured *m, int i)
{
    snprintf(out, n, "%s: %s", m->w->title, m->w->m[i].label);
}

/* The rows of the main benchmark, in the order of m; returns how many. */
static int make_rows(struct row *rows, const struct measured *m, int n,
                     int full)
{
    int nrows = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < m[i].w->nm; k++) {
            char name[96];
            row_name(name, sizeof(name), &m[i], k);
            make_row(&rows[nrows++], name, &m[i].w->m[k], m[i].cells, full,
                     k == 0);
        }
    return nrows;
}

struct tally {
    int targets, passed; /* rows with a target, and those that met it */
    int vs, vs_passed;   /* rows that compare tdill to nng, and its wins */
};

static struct tally count_rows(const struct row *rows, int nrows)
{
    struct tally t = {0, 0, 0, 0};
    for (int i = 0; i < nrows; i++) {
        t.targets += rows[i].has_target;
        t.passed += rows[i].has_target && rows[i].pass;
        t.vs += rows[i].vs_nng[0] == 'P' || rows[i].vs_nng[0] == 'M';
        t.vs_passed += rows[i].vs_nng[0] == 'P';
    }
    return t;
}

/* What backend bi's runs of m said (a note), or why they failed. */
static int cell_note(char *out, size_t n, const struct measured *m, int bi)
{
    const struct cell *c = &m->cells[bi];
    const char *what;
    if (c->note[0])
        what = c->note;
    else if (c->have && !c->ok)
        what = c->err;
    else
        return 0;
    snprintf(out, n, "%s, %s: %s", m->w->title, bench_backends[bi]->name,
             what);
    return 1;
}

/* The notes under a table. md: a markdown list under a heading of its own,
   where there is any note. */
static void print_notes(FILE *f, int md, const struct measured *m, int n)
{
    int any = 0;
    for (int i = 0; i < n; i++)
        for (int bi = 0; bi < NB; bi++) {
            char note[200];
            if (!cell_note(note, sizeof(note), &m[i], bi))
                continue;
            if (md && !any)
                fprintf(f, "\nNotes:\n\n");
            any = 1;
            fprintf(f, md ? "- %s\n" : "note: %s\n", note);
        }
}

/* m: NULL for the CPU time per operation. */
static void write_runs(FILE *f, const char *name, const struct metric *m,
                       const struct cell *cells, int runs)
{
    fprintf(f, "| %s |", name);
    for (int bi = 0; bi < NB; bi++) {
        const struct cell *c = &cells[bi];
        if (!bench_shown[bi])
            continue;
        fprintf(f, " ");
        if (!c->have)
            fprintf(f, "-");
        else if (!c->ok)
            fprintf(f, "ERR: %s", c->err);
        else
            for (int r = 0; r < runs; r++) {
                char v[24];
                if (m)
                    fmt_figure(v, sizeof(v), m, c->runs[m->idx][r]);
                else
                    fmt_val(v, sizeof(v), c->cpu_runs[r]);
                fprintf(f, "%s%s", r ? ", " : "", v);
            }
        fprintf(f, " |");
    }
    fprintf(f, "\n");
}

/* Every run's figure, so that a median can be checked against its runs. */
static void write_every_run(FILE *f, const struct run_setup *s,
                            const struct measured *m, int n)
{
    fprintf(f, "\n## Every run\n\n| figure |");
    for (int bi = 0; bi < NB; bi++)
        if (bench_shown[bi])
            fprintf(f, " %s |", bench_backends[bi]->name);
    fprintf(f, "\n|---|");
    for (int bi = 0; bi < NB; bi++)
        if (bench_shown[bi])
            fprintf(f, "---|");
    fprintf(f, "\n");
    for (int i = 0; i < n; i++)
        for (int k = 0; k < m[i].w->nm; k++) {
            char name[96];
            row_name(name, sizeof(name), &m[i], k);
            write_runs(f, name, &m[i].w->m[k], m[i].cells, s->runs);
            if (k == 0 &&
                m[i].cells[RAW].cpu_med + m[i].cells[TDILL].cpu_med > 0) {
                snprintf(name, sizeof(name), "%s: CPU us/op", m[i].w->title);
                write_runs(f, name, NULL, m[i].cells, s->runs);
            }
        }
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

static void write_report(const struct run_setup *s, const struct measured *m,
                         int n, const struct row *rows, int nrows,
                         const struct tally *t)
{
    char path[512];
    FILE *f = open_out(s->out, "report.md", path, sizeof(path));
    if (!f)
        return;
    fprintf(f, "# tdill benchmark\n\n");
    describe_machine(f, s);
    describe_params(f, s->p);
    fprintf(f, "\nFigures are medians. Ratios are tdill/raw and tdill/libdill"
               " from the same run. \"tdill vs nng\" is PASS where tdill is at least as"
               " good as nng (PASS* where nng failed). \"CPU us/op\": user +"
               " system CPU microseconds per operation of every process"
               " taking part, over the timed section only, on each"
               " workload's first row.\n\n");
    print_rows(f, 1, rows, nrows);
    fprintf(f,
            "\nTargets met: %d of %d; tdill ahead of nng: %d of %d "
            "rows.\n",
            t->passed, t->targets, t->vs_passed, t->vs);
    print_notes(f, 1, m, n);
    write_every_run(f, s, m, n);
    fclose(f);
    printf("report: %s\n", path);
}

void report_bench(const struct run_setup *s, const struct measured *m, int n)
{
    struct row *rows = calloc((size_t)n * MAX_VALUES, sizeof(*rows));
    int nrows = make_rows(rows, m, n, !s->p->quick);
    struct tally t = count_rows(rows, nrows);
    printf("\n");
    print_rows(stdout, 0, rows, nrows);
    printf("\ntargets met: %d of %d; tdill ahead of nng: %d of %d rows\n",
           t.passed, t.targets, t.vs_passed, t.vs);
    print_notes(stdout, 0, m, n);
    for (int bi = 0; bi < NB; bi++)
        if (bench_backends[bi]->missing)
            printf("note: %s: not built, %s\n", bench_backends[bi]->name,
                   bench_backends[bi]->missing);
    write_report(s, m, n, rows, nrows, &t);
    write_chart(s->out, rows, nrows);
    free(rows);
}

static void write_scaling_report(const struct run_setup *s,
                                 const struct row *rows, int nrows)
{
    char path[512];
    FILE *f = open_out(s->out, "scaling.md", path, sizeof(path));
    if (!f)
        return;
    fprintf(f, "# tdill benchmark: multi-core scaling\n\n");
    describe_machine(f, s);
    fprintf(f,
            "- N thread pairs in one process, each on its own pair "
            "connection; ping-pong: %ld round trips of 64 B in all; "
            "stream: %ld MiB in all, 64 KiB sends; aggregate throughput "
            "from the first start to the last finish\n",
            s->p->scaling_rts, s->p->scaling_bytes >> 20);
    fprintf(f, "- threads: %s\n\n",
            s->p->scaling_pin
                ? "pinned (--pin): both threads of pair i on CPU i, "
                  "modulo the CPUs"
                : "where the scheduler puts them");
    print_rows(f, 1, rows, nrows);
    fclose(f);
    printf("report: %s\n", path);
}

void report_scaling(const struct run_setup *s, const struct measured *m,
                    int nw, int npairs)
{
    int n = nw * npairs;
    struct row *rows = calloc((size_t)n, sizeof(*rows));
    for (int i = 0; i < n; i++) {
        char name[96];
        snprintf(name, sizeof(name), "%s, %2d pairs: %s", m[i].w->title,
                 m[i].pairs, m[i].w->m[0].label);
        make_row(&rows[i], name, &m[i].w->m[0], m[i].cells, 0, 1);
    }
    printf("\n");
    print_rows(stdout, 0, rows, n);
    write_scaling_report(s, rows, n);
    write_scaling_chart(s->out, m, nw, npairs);
    free(rows);
}
