/*
 * tdill benchmark: what the driver's two halves share. main.c runs every
 * workload on every backend and collects the figures into cells; report.c
 * turns the cells into the table on the terminal, the markdown report and
 * the gnuplot chart.
 */
#ifndef BENCH_REPORT_H_INCLUDED
#define BENCH_REPORT_H_INCLUDED

#include "bench.h"

/* The backends, in the order of the report's columns (main.c). */
enum { RAW, TDILL, LIBDILL, NNG, RAW_MT, NB };
extern const struct backend *const bench_backends[NB];
/* Which backends have columns in the report: all but an opt-in backend
   that --backends did not name. */
extern int bench_shown[NB];

/* T_RATIO_*: tdill/raw; T_LIBDILL_MAX: tdill/libdill; T_ABS_*: tdill's
   figure itself. */
enum target {
    T_NONE,
    T_RATIO_MAX,
    T_RATIO_MIN,
    T_LIBDILL_MAX,
    T_ABS_MAX,
    T_ABS_MIN
};

struct metric {
    const char *label;
    int idx; /* in struct result's v[] */
    int lower_better;
    enum target target;
    double goal;
    int vs_nng;   /* is "tdill ahead of nng" checked on this row */
    int no_ratio; /* tdill/raw means nothing here (raw has no threads) */
    int integer;  /* a count: printed without decimals */
};

struct workload {
    const char *id;
    const char *title;
    workload_fn *fn;
    enum mode mode;
    int nm;
    struct metric m[MAX_VALUES];
};

/* One backend's figures for one workload. */
struct cell {
    int have;   /* backend measured */
    int absent; /* the backend cannot run this workload: "n/a" */
    int ok;   /* all its runs succeeded */
    double med[MAX_VALUES];
    double *runs[MAX_VALUES];
    /* CPU microseconds per operation (struct result's cpu): median and every
       run's; 0 where the workload does not measure it. */
    double cpu_med;
    double *cpu_runs;
    char err[160];
    char note[96];
};

/* A workload as measured: its figures on every backend. */
struct measured {
    const struct workload *w;
    int pairs; /* --scaling: thread pairs; 0 otherwise */
    struct cell cells[NB];
};

/* One line of the table: a metric of a workload, formatted, and its ratios
   to raw for the target and the chart. */
struct row {
    char name[96];
    char v[NB][24];
    char ratio[16];    /* tdill/raw */
    char ld_ratio[16]; /* tdill/libdill */
    char cpu[NB][24];  /* CPU per operation: on a workload's first row only */
    char cpu_ratio[16];
    char target[48];
    char vs_nng[16];
    /* For the target and the chart; NAN where none. */
    double tdill_ratio, libdill_ratio, nng_ratio, tdill_libdill;
    int has_target, pass;
};


/* chart.c: chart.png from the rows, scaling.png from the figures. */
void write_chart(const char *out, const struct row *rows, int nrows);
void write_scaling_chart(const char *out, const struct measured *m, int nw,
                         int npairs);

/* How the figures were taken, for the report's header. */
struct run_setup {
    const struct params *p;
    int runs;        /* per figure, interleaved */
    const char *out; /* the folder for report.md and the chart */
};

/* The main benchmark: the table on stdout, then report.md and chart.png in
   s->out. m[0..n-1] in the order of the rows. */
void report_bench(const struct run_setup *s, const struct measured *m, int n);

/* --scaling: the table on stdout, then scaling.md and scaling.png.
   m[w * npairs + k] is workload w at the k-th number of pairs. */
void report_scaling(const struct run_setup *s, const struct measured *m,
                    int nw, int npairs);

#endif
