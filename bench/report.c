/*
 * The report, from the figures main.c collected: the table on the terminal,
 * report.md (scaling.md for --scaling) with every run's figures, and, where
 * gnuplot is installed, the chart.
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
    if (!c->have)
        snprintf(out, n, "-");
    else if (!c->ok)
        snprintf(out, n, "ERR");
    else if (!m)
        snprintf(out, n, "?");
    else
        fmt_figure(out, n, m, c->med[m->idx]);
}

struct row {
    char name[96];
    char v[NB][24];
    char ratio[16];
    char cpu[NB][24]; /* CPU per operation: on a workload's first row only */
    char cpu_ratio[16];
    char target[40];
    char vs_nng[8];
    double tdill_ratio, nng_ratio; /* NAN where none */
    int has_target, pass;
};

/* tdill/raw, or "-" where either has no figure. */
static double tdill_over_raw(const struct cell *cells, double raw, double td,
                             char *out, size_t n)
{
    double ratio = NAN;
    if (cells[RAW].ok && cells[TDILL].ok && raw != 0)
        ratio = td / raw;
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
        tdill_over_raw(cells, cells[RAW].cpu_med, cells[TDILL].cpu_med,
                       row->cpu_ratio, sizeof(row->cpu_ratio));
    else
        snprintf(row->cpu_ratio, sizeof(row->cpu_ratio), "-");
}

/* tdill/raw and nng/raw from the same runs, for the ratio column and the
   chart. */
static void set_ratios(struct row *row, const struct metric *m,
                       const struct cell *cells)
{
    const struct cell *raw = &cells[RAW], *td = &cells[TDILL];
    const struct cell *nn = &cells[NNG];
    row->tdill_ratio = row->nng_ratio = NAN;
    int ratio_ok = !m->no_ratio && raw->ok && raw->med[m->idx] != 0;
    if (ratio_ok)
        row->tdill_ratio = tdill_over_raw(cells, raw->med[m->idx],
                                          td->med[m->idx], row->ratio,
                                          sizeof(row->ratio));
    else
        snprintf(row->ratio, sizeof(row->ratio), "-");
    if (ratio_ok && nn->ok)
        row->nng_ratio = nn->med[m->idx] / raw->med[m->idx];
}

/* The target column. A minimum count (connections open) is a target of
   full runs only: quick runs open fewer on purpose. */
static void set_target(struct row *row, const struct metric *m,
                       const struct cell *td, int full)
{
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
        row->pass =
            td->ok && (m->target == T_ABS_MAX ? td->med[m->idx] <= m->goal
                                              : td->med[m->idx] >= m->goal);
        verdict = row->pass ? "PASS" : "MISS";
        snprintf(row->target, sizeof(row->target), "%s %s %s",
                 m->target == T_ABS_MAX ? "<=" : ">=", goal, verdict);
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
    set_target(row, m, &cells[TDILL], full);
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

/* One line of the table: the figures, tdill/raw, the CPU columns (cpu:
   NULL in the header), the target and the verdict against nng. */
static void print_line(FILE *f, int md, const char *name, char v[NB][24],
                       const char *ratio, char cpu[NB][24],
                       const char *cpu_ratio, const char *target,
                       const char *vs_nng)
{
    fprintf(f, md ? "| %s |" : "%-54s", name);
    for (int bi = 0; bi < NB; bi++)
        put_col(f, md, 10, v[bi]);
    put_col(f, md, 9, ratio);
    for (int bi = 0; bi < NB; bi++)
        put_col(f, md, 11, cpu[bi]);
    put_col(f, md, 9, cpu_ratio);
    put_col(f, md, md ? 0 : -22, target);
    put_col(f, md, md ? 0 : -1, vs_nng);
    fprintf(f, "\n");
}

/* md: a markdown table; else aligned columns for the terminal. */
static void print_rows(FILE *f, int md, const struct row *rows, int nrows)
{
    char v[NB][24], cpu[NB][24];
    for (int bi = 0; bi < NB; bi++) {
        snprintf(v[bi], sizeof(v[bi]), "%s", bench_backends[bi]->name);
        snprintf(cpu[bi], sizeof(cpu[bi]), md ? "CPU us/op %s" : "cpu %s",
                 bench_backends[bi]->name);
    }
    print_line(f, md, "workload / metric", v, "tdill/raw", cpu,
               md ? "CPU tdill/raw" : "cpu t/raw", "target (tdill)",
               "tdill vs nng");
    if (md) {
        fprintf(f, "|---|");
        for (int i = 0; i < 2 * NB + 2; i++)
            fprintf(f, "--:|");
        fprintf(f, "---|---|\n");
    }
    for (int i = 0; i < nrows; i++) {
        const struct row *r = &rows[i];
        print_line(f, md, r->name, (char (*)[24])r->v, r->ratio,
                   (char (*)[24])r->cpu, r->cpu_ratio, r->target, r->vs_nng);
    }
    if (!md)
        fprintf(f, "cpu: user + system CPU microseconds per operation, "
                   "every process of the run, timed section only\n");
}

/******************************************************************************/
/*  Charts                                                                    */
/******************************************************************************/

#define CHART_PATH 512

struct chart {
    char dat[CHART_PATH], gp[CHART_PATH], png[CHART_PATH];
};

static void chart_paths(struct chart *c, const char *out, const char *stem)
{
    snprintf(c->dat, sizeof(c->dat), "%s/%s.dat", out, stem);
    snprintf(c->gp, sizeof(c->gp), "%s/%s.gp", out, stem);
    snprintf(c->png, sizeof(c->png), "%s/%s.png", out, stem);
}

static int have_gnuplot(void)
{
    return system("command -v gnuplot >/dev/null 2>&1") == 0;
}

/* Runs a gnuplot script, with pngcairo where it exists, else png. */
static int gnuplot(const char *script_path, const char *png)
{
    char cmd[2 * CHART_PATH + 128]; /* both paths fit: a cut one is wrong */
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

/* The rows with a tdill/raw ratio: name, tdill/raw, nng/raw ('?': none). */
static int write_chart_data(const char *dat, const struct row *rows, int nrows)
{
    FILE *f = fopen(dat, "w");
    if (!f)
        return -1;
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
    return 0;
}

static int write_chart_script(const char *gp, const char *dat)
{
    FILE *f = fopen(gp, "w");
    if (!f)
        return -1;
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
    return 0;
}

/* chart.png: tdill/raw and nng/raw for every row that has a ratio. */
static void write_chart(const char *out, const struct row *rows, int nrows)
{
    struct chart c;
    chart_paths(&c, out, "chart");
    if (!have_gnuplot()) {
        printf("gnuplot not found: no chart (apt-get install gnuplot-nox)\n");
        return;
    }
    if (write_chart_data(c.dat, rows, nrows) < 0 ||
        write_chart_script(c.gp, c.dat) < 0)
        return;
    if (gnuplot(c.gp, c.png) == 0)
        printf("chart: %s\n", c.png);
    else
        printf("gnuplot failed: no chart\n");
}

/* One data block a workload (gnuplot's "index"): pairs, then the median of
   every backend ('?': none). */
static int write_scaling_data(const char *dat, const struct measured *m,
                              int nw, int npairs)
{
    FILE *f = fopen(dat, "w");
    if (!f)
        return -1;
    for (int s = 0; s < nw; s++) {
        fprintf(f, "# %s\n", m[s * npairs].w->title);
        for (int k = 0; k < npairs; k++) {
            const struct measured *x = &m[s * npairs + k];
            fprintf(f, "%d", x->pairs);
            for (int bi = 0; bi < NB; bi++) {
                const struct cell *c = &x->cells[bi];
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
    return 0;
}

/* One plot a workload, side by side. */
static int write_scaling_script(const char *gp, const char *dat,
                                const struct measured *m, int nw, int npairs)
{
    FILE *f = fopen(gp, "w");
    if (!f)
        return -1;
    fprintf(f, "set datafile missing '?'\nset multiplot layout 1,2\n"
               "set logscale x 2\nset xlabel 'thread pairs'\nset grid\n"
               "set key top left\nset yrange [0:*]\n");
    for (int s = 0; s < nw; s++) {
        const struct workload *w = m[s * npairs].w;
        fprintf(f, "set title '%s (aggregate)'\nset ylabel '%s'\nplot ",
                w->title, w->m[0].label);
        for (int bi = 0; bi < NB; bi++)
            fprintf(f,
                    "%s'%s' index %d using 1:%d with linespoints lw 2 "
                    "title '%s'",
                    bi ? ", " : "", dat, s, bi + 2, bench_backends[bi]->name);
        fprintf(f, "\n");
    }
    fprintf(f, "unset multiplot\n");
    fclose(f);
    return 0;
}

/* scaling.png: aggregate throughput against thread pairs. */
static void write_scaling_chart(const char *out, const struct measured *m,
                                int nw, int npairs)
{
    if (!have_gnuplot()) {
        printf("gnuplot not found: no chart\n");
        return;
    }
    struct chart c;
    chart_paths(&c, out, "scaling");
    if (write_scaling_data(c.dat, m, nw, npairs) < 0 ||
        write_scaling_script(c.gp, c.dat, m, nw, npairs) < 0)
        return;
    if (gnuplot(c.gp, c.png) == 0)
        printf("chart: %s\n", c.png);
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
        if (b->missing)
            fprintf(f, " %s (not built: %s);", b->name, b->missing);
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
            "the two ends of one unbuffered channel (tdill: chmake, chsend, "
            "chrecv; raw: a mutex+condvar hand-off; nng: none)\n"
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
            "- per-call overhead: %ld x (send 16 B on one end of a pair, "
            "receive them on the other) in one thread, never waiting; the "
            "same with plain send(2)/recv(2) on a socketpair in the same "
            "process, alternating blocks; tax = the backend's ns per call "
            "minus plain's\n",
            p->pp_roundtrips, wl_pp_warmup(p), p->stream_bytes >> 20,
            p->small_ops, p->conns, p->scale_conns, p->scale_callers,
            p->scale_rounds, p->deadline_samples, p->deadline_ms,
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
        fprintf(f, " %s |", bench_backends[bi]->name);
    fprintf(f, "\n|---|");
    for (int bi = 0; bi < NB; bi++)
        fprintf(f, "---|");
    fprintf(f, "\n");
    for (int i = 0; i < n; i++)
        for (int k = 0; k < m[i].w->nm; k++) {
            char name[96];
            row_name(name, sizeof(name), &m[i], k);
            write_runs(f, name, &m[i].w->m[k], m[i].cells, s->runs);
            if (k == 0 && m[i].cells[RAW].cpu_med + m[i].cells[TDILL].cpu_med > 0) {
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
    fprintf(f, "\nFigures are medians. Ratios are tdill/raw from the same"
               " run. \"tdill vs nng\" is PASS where tdill is at least as"
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
    if (bench_backends[NNG]->missing)
        printf("note: nng skipped: %s\n", bench_backends[NNG]->missing);
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
            "from the first start to the last finish\n\n",
            s->p->scaling_rts, s->p->scaling_bytes >> 20);
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
