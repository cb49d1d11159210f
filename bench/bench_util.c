/*
 * bench_util.c - the clock, the statistics of timed runs, the timing loop (warm-up, N runs,
 * early stop after max_time), result rows, and text tables (aligned, Markdown, CSV).
 */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void bench_stats_from(bench_stats *st, const double *samples, int n) {
    memset(st, 0, sizeof *st);
    st->median = st->min = st->max = st->mean = st->stddev = st->spread_pct = NAN;
    if (n <= 0) return;
    double *v = malloc((size_t)n * sizeof *v);
    if (!v) return;
    memcpy(v, samples, (size_t)n * sizeof *v);
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    st->n = n;
    st->min = v[0];
    st->max = v[n - 1];
    st->median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += v[i];
    st->mean = sum / n;
    double ss = 0.0;
    for (int i = 0; i < n; i++)
        ss += (v[i] - st->mean) * (v[i] - st->mean);
    st->stddev = n > 1 ? sqrt(ss / (n - 1)) : 0.0;
    st->spread_pct = st->median != 0.0 ? 100.0 * (st->max - st->min) / fabs(st->median) : NAN;
    free(v);
}

bench_row *bench_add_row(bench_results *r, const char *section, const char *name, const char *model,
                         int batch, const char *shape, int device, const char *unit,
                         int higher_is_better) {
    if (r->nrows == r->cap) {
        int cap = r->cap ? 2 * r->cap : 64;
        bench_row *rows = realloc(r->rows, (size_t)cap * sizeof *rows);
        if (!rows) return NULL;
        r->rows = rows;
        r->cap = cap;
    }
    bench_row *row = &r->rows[r->nrows++];
    memset(row, 0, sizeof *row);
    snprintf(row->section, sizeof row->section, "%s", section);
    snprintf(row->name, sizeof row->name, "%s", name);
    snprintf(row->model, sizeof row->model, "%s", model ? model : "");
    row->batch = batch;
    snprintf(row->shape, sizeof row->shape, "%s", shape ? shape : "");
    row->device = device;
    snprintf(row->unit, sizeof row->unit, "%s", unit);
    row->higher_is_better = higher_is_better;
    bench_stats_from(&row->st, NULL, 0);
    bench_stats_from(&row->blas, NULL, 0);
    row->gflops = row->frac_peak = row->share_pct = row->blas_ratio = NAN;
    return row;
}

void bench_results_free(bench_results *r) {
    free(r->devs);
    free(r->rows);
    memset(r, 0, sizeof *r);
}

void bench_log(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("clvit-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* The message of the last bench_fail and the status it returned. */
static char fail_msg[512];
static clvit_status fail_status;

clvit_status bench_fail(clvit_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fail_msg, sizeof fail_msg, fmt, ap);
    va_end(ap);
    fail_status = status;
    return status;
}

void bench_log_status(const char *what, clvit_status st) {
    const char *detail = fail_msg[0] && st == fail_status ? fail_msg : clvit_last_error();
    fprintf(stderr, "clvit-bench: %s: %s%s%s\n", what, clvit_status_string(st), *detail ? ": " : "",
            detail);
    fail_msg[0] = '\0';
}

static int mkdir_p(const char *dir) {
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    }
    return (mkdir(tmp, 0755) == 0 || errno == EEXIST) ? 0 : -1;
}

clvit_status bench_write_file_atomic(const char *path, const char *text) {
    char dir[1024], tmp[1040];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        mkdir_p(dir); /* an error shows up at the open below */
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return bench_fail(CLVIT_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    int ok = fputs(text, f) >= 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (fclose(f) != 0) ok = 0;
    if (ok && rename(tmp, path) != 0) ok = 0;
    if (!ok) {
        clvit_status st =
            bench_fail(CLVIT_ERR_IO, "%s: cannot write it: %s", path, strerror(errno));
        remove(tmp);
        return st;
    }
    return CLVIT_SUCCESS;
}

clvit_status bench_time(const bench_settings *s, bench_fn fn, void *arg, int iters, double *samples,
                        int *n) {
    *n = 0;
    if (iters < 1) iters = 1;
    for (int w = 0; w < s->warmup; w++)
        BENCH_CHECK(fn(arg));
    const double start = bench_now();
    for (int r = 0; r < s->reps; r++) {
        if (r >= 3 && bench_now() - start > s->max_time) break;
        double t0 = bench_now();
        BENCH_CHECK(fn(arg));
        samples[(*n)++] = (bench_now() - t0) / iters;
    }
    return CLVIT_SUCCESS;
}

clvit_status bench_time_pair(const bench_settings *s, bench_fn fn_a, void *arg_a, int iters_a,
                             double *samples_a, bench_fn fn_b, void *arg_b, int iters_b,
                             double *samples_b, int *n) {
    *n = 0;
    if (iters_a < 1) iters_a = 1;
    if (iters_b < 1) iters_b = 1;
    for (int w = 0; w < s->warmup; w++) {
        BENCH_CHECK(fn_a(arg_a));
        BENCH_CHECK(fn_b(arg_b));
    }
    const double start = bench_now();
    for (int r = 0; r < s->reps; r++) {
        /* two runs per repetition: the same number of each as bench_time gets in max_time */
        if (r >= 3 && bench_now() - start > 2.0 * s->max_time) break;
        /* a, b, then b, a: neither always runs right after the other (thread wake-up, the
         * other library's threads still spinning, caches) */
        const int b_first = r % 2;
        double t0 = bench_now(), t1, t2;
        BENCH_CHECK(b_first ? fn_b(arg_b) : fn_a(arg_a));
        t1 = bench_now();
        BENCH_CHECK(b_first ? fn_a(arg_a) : fn_b(arg_b));
        t2 = bench_now();
        samples_a[*n] = (b_first ? t2 - t1 : t1 - t0) / iters_a;
        samples_b[(*n)++] = (b_first ? t1 - t0 : t2 - t1) / iters_b;
    }
    return CLVIT_SUCCESS;
}

int bench_loadavg(double *one, double *fifteen) {
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f) return 0;
    double five;
    int ok = fscanf(f, "%lf %lf %lf", one, &five, fifteen) == 3;
    fclose(f);
    return ok;
}

int bench_iters_for(double one_call_s, double min_time) {
    if (!(one_call_s > 0.0)) return 1;
    double it = ceil(min_time / one_call_s);
    return it < 1.0 ? 1 : it > 10000.0 ? 10000 : (int)it;
}

/* ------------------------------------------------------------ tables */

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void tbl_init(bench_table *t, const char *title, int ncols) {
    memset(t, 0, sizeof *t);
    t->ncols = ncols > TBL_MAX_COLS ? TBL_MAX_COLS : ncols;
    t->title = title ? dup_str(title) : NULL;
}

void tbl_head(bench_table *t, int col, const char *name, int right) {
    if (col < 0 || col >= t->ncols) return;
    free(t->head[col]);
    t->head[col] = dup_str(name);
    t->right[col] = right;
}

void tbl_row(bench_table *t, ...) {
    if (t->nrows == t->cap) {
        int cap = t->cap ? 2 * t->cap : 32;
        char **cells = realloc(t->cells, (size_t)cap * (size_t)t->ncols * sizeof *cells);
        if (!cells) return;
        t->cells = cells;
        t->cap = cap;
    }
    va_list ap;
    va_start(ap, t);
    char **row = &t->cells[(size_t)t->nrows * (size_t)t->ncols];
    for (int c = 0; c < t->ncols; c++) {
        const char *v = va_arg(ap, const char *);
        row[c] = dup_str(v ? v : "");
    }
    va_end(ap);
    t->nrows++;
}

static void csv_cell(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void md_cell(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '|') fputc('\\', f);
        fputc(*s, f);
    }
}

void tbl_print(const bench_table *t, FILE *f, bench_format fmt) {
    const char *empty = "";
#define HEAD(c) (t->head[c] ? t->head[c] : empty)
#define CELL(r, c) (t->cells[(size_t)(r) * (size_t)t->ncols + (size_t)(c)])
    if (fmt == FMT_CSV) {
        for (int c = 0; c < t->ncols; c++) {
            if (c) fputc(',', f);
            csv_cell(f, HEAD(c));
        }
        fputc('\n', f);
        for (int r = 0; r < t->nrows; r++) {
            for (int c = 0; c < t->ncols; c++) {
                if (c) fputc(',', f);
                csv_cell(f, CELL(r, c));
            }
            fputc('\n', f);
        }
        return;
    }
    if (fmt == FMT_MD) {
        if (t->title) fprintf(f, "\n### %s\n\n", t->title);
        fputc('|', f);
        for (int c = 0; c < t->ncols; c++) {
            fputc(' ', f);
            md_cell(f, HEAD(c));
            fputs(" |", f);
        }
        fputs("\n|", f);
        for (int c = 0; c < t->ncols; c++)
            fputs(t->right[c] ? " ---: |" : " --- |", f);
        fputc('\n', f);
        for (int r = 0; r < t->nrows; r++) {
            fputc('|', f);
            for (int c = 0; c < t->ncols; c++) {
                fputc(' ', f);
                md_cell(f, CELL(r, c));
                fputs(" |", f);
            }
            fputc('\n', f);
        }
        return;
    }
    int w[TBL_MAX_COLS];
    for (int c = 0; c < t->ncols; c++) {
        w[c] = (int)strlen(HEAD(c));
        for (int r = 0; r < t->nrows; r++) {
            int n = (int)strlen(CELL(r, c));
            if (n > w[c]) w[c] = n;
        }
    }
    if (t->title) fprintf(f, "\n== %s\n", t->title);
    for (int c = 0; c < t->ncols; c++) {
        if (c == t->ncols - 1 && !t->right[c])
            fprintf(f, "%s%s", c ? "  " : "", HEAD(c));
        else
            fprintf(f, "%s%*s", c ? "  " : "", t->right[c] ? w[c] : -w[c], HEAD(c));
    }
    fputc('\n', f);
    for (int c = 0; c < t->ncols; c++) {
        fputs(c ? "  " : "", f);
        for (int i = 0; i < w[c]; i++)
            fputc('-', f);
    }
    fputc('\n', f);
    for (int r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            /* no trailing blanks after a left-aligned last column */
            if (c == t->ncols - 1 && !t->right[c])
                fprintf(f, "%s%s", c ? "  " : "", CELL(r, c));
            else
                fprintf(f, "%s%*s", c ? "  " : "", t->right[c] ? w[c] : -w[c], CELL(r, c));
        }
        fputc('\n', f);
    }
#undef HEAD
#undef CELL
}

void tbl_free(bench_table *t) {
    for (int c = 0; c < t->ncols; c++)
        free(t->head[c]);
    for (size_t i = 0; i < (size_t)t->nrows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t->title);
    memset(t, 0, sizeof *t);
}

const char *fmt_num(char *buf, size_t size, double v) {
    double a = fabs(v);
    if (isnan(v))
        snprintf(buf, size, "-");
    else if (a == 0.0)
        snprintf(buf, size, "0");
    else if (a >= 1e6)
        snprintf(buf, size, "%.3g", v);
    else if (a >= 100.0)
        snprintf(buf, size, "%.0f", v);
    else if (a >= 10.0)
        snprintf(buf, size, "%.1f", v);
    else if (a >= 1.0)
        snprintf(buf, size, "%.2f", v);
    else if (a >= 0.01)
        snprintf(buf, size, "%.3f", v);
    else
        snprintf(buf, size, "%.2e", v);
    return buf;
}

void bench_random_images(float *x, size_t n, unsigned long long seed) {
    unsigned long long s = seed * 2862933555777941757ULL + 3037000493ULL;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((double)(s >> 40) / (double)(1ULL << 24) * 2.0 - 1.0);
    }
}

void bench_add_rate_rows(bench_env *e, const char *section, const char *lat_name, const char *model,
                         int b, double flops_per_image, double *samples, int n,
                         const char *lat_note, const char *thr_note) {
    const double peak = e->res->devs[e->dev].peak_gflops;
    bench_row *lat = bench_add_row(e->res, section, lat_name, model, b, "", e->dev, "ms", 0);
    if (lat) {
        for (int i = 0; i < n; i++)
            samples[i] *= 1e3;
        bench_stats_from(&lat->st, samples, n);
        snprintf(lat->note, sizeof lat->note, "%s", lat_note);
        lat->gflops = n ? flops_per_image * b / (lat->st.median * 1e-3) / 1e9 : NAN;
        lat->frac_peak = lat->gflops / peak;
    }
    bench_row *thr = bench_add_row(e->res, section, "throughput", model, b, "", e->dev, "img/s", 1);
    if (thr && n) {
        for (int i = 0; i < n; i++)
            samples[i] = b / (samples[i] * 1e-3);
        bench_stats_from(&thr->st, samples, n);
        thr->gflops = flops_per_image * thr->st.median / 1e9;
        thr->frac_peak = thr->gflops / peak;
        snprintf(thr->note, sizeof thr->note, "%s", thr_note);
    }
}

void bench_device_fill(bench_device *d, const clvit_device_info *info) {
    memset(d, 0, sizeof *d);
    d->info = *info;
    snprintf(d->type, sizeof d->type, "%s", info->is_gpu ? "GPU" : info->is_cpu ? "CPU" : "other");
    snprintf(d->tool, sizeof d->tool, "clvit-bench %s", clvit_version());
    d->peak_gflops = NAN;
}
