/*
 * The charts, where gnuplot is installed: chart.png, every row's ratio to
 * raw per backend; scaling.png, aggregate throughput against thread pairs.
 * Each comes with the .dat and .gp files that made it, beside it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "report.h"

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

static void put_ratio(FILE *f, double ratio)
{
    if (isnan(ratio))
        fprintf(f, "\t?");
    else
        fprintf(f, "\t%.4f", ratio);
}

/* The rows with a tdill/raw ratio: name, tdill/raw, libdill/raw, nng/raw
   ('?': none). */
static int write_chart_data(const char *dat, const struct row *rows, int nrows)
{
    FILE *f = fopen(dat, "w");
    if (!f)
        return -1;
    for (int i = 0; i < nrows; i++) {
        if (isnan(rows[i].tdill_ratio))
            continue;
        fprintf(f, "\"%s\"", rows[i].name);
        put_ratio(f, rows[i].tdill_ratio);
        put_ratio(f, rows[i].libdill_ratio);
        put_ratio(f, rows[i].nng_ratio);
        fprintf(f, "\n");
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
            "set title 'tdill, libdill and nng as a ratio to raw sockets (same run)."
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
            "'' using 3 title 'libdill / raw' lc rgb '#2ca02c', "
            "'' using 4 title 'nng / raw' lc rgb '#ff7f0e'\n",
            dat);
    fclose(f);
    return 0;
}

/* chart.png: tdill/raw and nng/raw for every row that has a ratio. */
void write_chart(const char *out, const struct row *rows, int nrows)
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
        const char *sep = "";
        for (int bi = 0; bi < NB; bi++) {
            if (!bench_shown[bi])
                continue;
            fprintf(f,
                    "%s'%s' index %d using 1:%d with linespoints lw 2 "
                    "title '%s'",
                    sep, dat, s, bi + 2, bench_backends[bi]->name);
            sep = ", ";
        }
        fprintf(f, "\n");
    }
    fprintf(f, "unset multiplot\n");
    fclose(f);
    return 0;
}

/* scaling.png: aggregate throughput against thread pairs. */
void write_scaling_chart(const char *out, const struct measured *m,
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
