/*
 * bench_table.c - results as text: the terminal tables (one per section; with several
 * devices, one column per device side by side), Markdown, CSV, and the device inventory.
 * A row's key (section, name, model, batch, shape) is what --compare matches on.
 */
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *section_order[] = {"memory", "gemm",    "startup", "infer",
                                      "train",  "profile", "tune"};
#define NUM_SECTIONS ((int)(sizeof section_order / sizeof section_order[0]))

static const char *section_title(const char *s) {
    if (!strcmp(s, "memory")) return "memory: bandwidth and host<->device transfers";
    if (!strcmp(s, "gemm"))
        return "gemm: SGEMM, clvit_sgemm next to OpenBLAS cblas_sgemm (same shapes and matrices), "
               "square sweep and the presets' shapes";
    if (!strcmp(s, "startup"))
        return "startup: program builds and first inference, fresh processes (not in any "
               "throughput)";
    if (!strcmp(s, "infer")) return "infer: end-to-end inference";
    if (!strcmp(s, "train")) return "train: training step";
    if (!strcmp(s, "profile")) return "profile: device time per kernel and layer (one forward)";
    if (!strcmp(s, "tune")) return "tune: CLBlast GEMM parameters on a training step's GEMMs";
    return s;
}

void bench_row_key(const bench_row *r, char *buf, size_t size) {
    snprintf(buf, size, "%s|%s|%s|%d|%s", r->section, r->name, r->model, r->batch, r->shape);
}

static void num_cell(char *buf, size_t size, double v) {
    fmt_num(buf, size, v);
}

void bench_pct_cell(char *buf, size_t size, double v) {
    if (isnan(v))
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.*f%%", fabs(v) < 10 ? 1 : 0, v);
}

/* Builds and prints the table of one section. Columns whose every cell is empty or "-" are
 * left out, so each section shows only what it measures. */
#define COLS 19
#define NOTE_COL (COLS - 1)
static void print_section(const bench_results *r, const char *section, FILE *f, bench_format fmt) {
    int n = 0;
    for (int i = 0; i < r->nrows; i++)
        n += !strcmp(r->rows[i].section, section);
    if (n == 0) return;
    const int side_by_side = r->ndev > 1;
    /* unique keys in order of appearance */
    int *first = malloc((size_t)n * sizeof *first);
    if (!first) return;
    int nk = 0;
    for (int i = 0; i < r->nrows; i++) {
        if (strcmp(r->rows[i].section, section)) continue;
        char k1[300], k2[300];
        bench_row_key(&r->rows[i], k1, sizeof k1);
        int seen = 0;
        for (int j = 0; j < nk && !seen; j++) {
            bench_row_key(&r->rows[first[j]], k2, sizeof k2);
            seen = !strcmp(k1, k2);
        }
        if (!seen && side_by_side) first[nk++] = i;
        if (!side_by_side) first[nk++] = i;
    }
    const char *fixed[] = {"test", "model", "batch", "shape", "unit"};
    int ncols = side_by_side ? 5 + r->ndev : COLS;
    if (ncols > TBL_MAX_COLS) ncols = TBL_MAX_COLS;
    char(*cells)[64] = calloc((size_t)nk * (size_t)ncols, sizeof *cells);
    char heads[TBL_MAX_COLS][96];
    if (!cells) {
        free(first);
        return;
    }
    for (int c = 0; c < 5; c++)
        snprintf(heads[c], sizeof heads[c], "%s", fixed[c]);
    if (side_by_side) {
        for (int d = 0; d < r->ndev && 5 + d < ncols; d++)
            snprintf(heads[5 + d], sizeof heads[5 + d], "[%d] median ±spread", d);
    } else {
        const char *h[] = {"median",       "min",          "max",
                           "spread",       "runs",         "OpenBLAS median",
                           "OpenBLAS min", "OpenBLAS max", "clvit/OpenBLAS",
                           "GFLOP/s",      "of peak",      "share",
                           "calls",        "note"};
        for (int c = 0; c < COLS - 5; c++)
            snprintf(heads[5 + c], sizeof heads[5 + c], "%s", h[c]);
    }
    for (int k = 0; k < nk; k++) {
        const bench_row *row = &r->rows[first[k]];
        char(*cell)[64] = &cells[(size_t)k * (size_t)ncols];
        snprintf(cell[0], 64, "%s", row->name);
        snprintf(cell[1], 64, "%s", row->model);
        if (row->batch) snprintf(cell[2], 64, "%d", row->batch);
        snprintf(cell[3], 64, "%s", row->shape);
        snprintf(cell[4], 64, "%s", row->unit);
        if (side_by_side) {
            char key[300], other[300];
            bench_row_key(row, key, sizeof key);
            for (int j = 0; j < r->nrows; j++) {
                const bench_row *o = &r->rows[j];
                if (o->device < 0 || o->device >= r->ndev || 5 + o->device >= ncols) continue;
                bench_row_key(o, other, sizeof other);
                if (strcmp(key, other)) continue;
                char m[24], sp[16], vs[32] = "";
                num_cell(m, sizeof m, o->st.median);
                bench_pct_cell(sp, sizeof sp, o->st.spread_pct);
                if (!isnan(o->blas_ratio))
                    snprintf(vs, sizeof vs, " (%.2fx OpenBLAS)", o->blas_ratio);
                snprintf(cell[5 + o->device], 64, "%s ±%s%s", m, sp, vs);
            }
        } else {
            num_cell(cell[5], 64, row->st.median);
            num_cell(cell[6], 64, row->st.min);
            num_cell(cell[7], 64, row->st.max);
            bench_pct_cell(cell[8], 64, row->st.spread_pct);
            snprintf(cell[9], 64, "%d", row->st.n);
            if (row->blas.n) {
                num_cell(cell[10], 64, row->blas.median);
                num_cell(cell[11], 64, row->blas.min);
                num_cell(cell[12], 64, row->blas.max);
                if (!isnan(row->blas_ratio)) snprintf(cell[13], 64, "%.2f", row->blas_ratio);
            }
            num_cell(cell[14], 64, row->gflops);
            bench_pct_cell(cell[15], 64, 100.0 * row->frac_peak);
            bench_pct_cell(cell[16], 64, row->share_pct);
            if (row->calls) snprintf(cell[17], 64, "%d", row->calls);
            snprintf(cell[NOTE_COL], 64, "%.63s", row->note);
        }
    }
    int keep[TBL_MAX_COLS], nkeep = 0;
    for (int c = 0; c < ncols; c++) {
        int used = 0;
        for (int k = 0; k < nk && !used; k++) {
            const char *v = cells[(size_t)k * (size_t)ncols + (size_t)c];
            used = v[0] && strcmp(v, "-");
        }
        if (used || (side_by_side && c >= 5)) keep[nkeep++] = c;
    }
    bench_table t;
    tbl_init(&t, section_title(section), nkeep);
    for (int i = 0; i < nkeep; i++) {
        const int c = keep[i];
        tbl_head(&t, i, heads[c], c == 2 || (c >= 5 && (side_by_side || c != NOTE_COL)));
    }
    for (int k = 0; k < nk; k++) {
        const char *v[TBL_MAX_COLS] = {0};
        for (int i = 0; i < nkeep; i++)
            v[i] = cells[(size_t)k * (size_t)ncols + (size_t)keep[i]];
        /* tbl_row takes exactly ncols strings; pass the maximum, extra ones are ignored */
        tbl_row(&t, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12],
                v[13], v[14], v[15], v[16], v[17], v[18], v[19], v[20], v[21], v[22], v[23], v[24],
                v[25], v[26], v[27], v[28], v[29], v[30], v[31]);
    }
    tbl_print(&t, f, fmt);
    tbl_free(&t);
    free(cells);
    free(first);
}

/* After the gemm table: clvit/OpenBLAS over each group of rows (the square sweep, each
 * model's shapes) per device: the geometric mean and the lowest ratio. Says so when no row
 * has an OpenBLAS figure. */
static void print_blas_summary(const bench_results *r, FILE *f, bench_format fmt) {
    int ngemm = 0, nblas = 0;
    for (int i = 0; i < r->nrows; i++) {
        const bench_row *w = &r->rows[i];
        if (strcmp(w->section, "gemm")) continue;
        ngemm++;
        nblas += !isnan(w->blas_ratio);
    }
    if (ngemm == 0) return;
    const char *bullet = fmt == FMT_MD ? "- " : "  ";
    fputc('\n', f);
    if (nblas == 0) {
        fprintf(f, "%sno OpenBLAS baseline in these results%s\n", bullet,
                bench_blas_available() ? ""
                                       : " (this clvit-bench was built without OpenBLAS: install "
                                         "libopenblas-dev and reconfigure)");
        return;
    }
    fprintf(f, "%sclvit/OpenBLAS (ratio of the median GFLOP/s; > 1: clvit is faster):\n", bullet);
    for (int d = 0; d < r->ndev; d++) {
        for (int i = 0; i < r->nrows; i++) {
            const bench_row *w = &r->rows[i];
            if (w->device != d || strcmp(w->section, "gemm") || isnan(w->blas_ratio)) continue;
            int first = 1;
            for (int j = 0; j < i && first; j++) {
                const bench_row *o = &r->rows[j];
                first = !(o->device == d && !strcmp(o->section, "gemm") && !isnan(o->blas_ratio) &&
                          !strcmp(o->model, w->model) && o->batch == w->batch);
            }
            if (!first) continue;
            double logsum = 0.0;
            int n = 0;
            const bench_row *lo = w;
            for (int j = i; j < r->nrows; j++) {
                const bench_row *o = &r->rows[j];
                if (o->device != d || strcmp(o->section, "gemm") || isnan(o->blas_ratio) ||
                    strcmp(o->model, w->model) || o->batch != w->batch)
                    continue;
                logsum += log(o->blas_ratio);
                n++;
                if (o->blas_ratio < lo->blas_ratio) lo = o;
            }
            char group[96], dev[16] = "";
            if (w->model[0])
                snprintf(group, sizeof group, "%s at batch %d", w->model, w->batch);
            else
                snprintf(group, sizeof group, "%s", w->name);
            if (r->ndev > 1) snprintf(dev, sizeof dev, "[%d] ", d);
            fprintf(f, "%s  %s%s: geomean %.2f over %d shape%s, lowest %.2f (%s %s)\n",
                    fmt == FMT_MD ? "  " : "", dev, group, exp(logsum / n), n, n == 1 ? "" : "s",
                    lo->blas_ratio, lo->name, lo->shape);
        }
    }
}

void bench_print_results(const bench_results *r, FILE *f, bench_format fmt) {
    fprintf(f, fmt == FMT_MD ? "\n## Devices measured\n\n" : "\n== devices measured\n");
    for (int d = 0; d < r->ndev; d++) {
        const bench_device *dv = &r->devs[d];
        char peak[32];
        fmt_num(peak, sizeof peak, dv->peak_gflops);
        fprintf(f, "%s[%d] %s (%s, %s, driver %s), SGEMM peak measured %s GFLOP/s%s%s\n",
                fmt == FMT_MD ? "- " : "  ", d, dv->info.name, dv->type, dv->info.platform_name,
                dv->info.driver_version, peak, dv->gemm_tuning[0] ? ", GEMM parameters: " : "",
                dv->gemm_tuning);
        if (dv->blas_threads > 0)
            fprintf(f, "      OpenBLAS baseline: core %s, %d threads (%s)\n", dv->blas_core,
                    dv->blas_threads, dv->blas_config);
    }
    for (int s = 0; s < NUM_SECTIONS; s++) {
        print_section(r, section_order[s], f, fmt);
        if (!strcmp(section_order[s], "gemm")) print_blas_summary(r, f, fmt);
    }
    /* sections this file does not know, e.g. from a newer writer */
    for (int i = 0; i < r->nrows; i++) {
        int known = 0, earlier = 0;
        for (int s = 0; s < NUM_SECTIONS; s++)
            known |= !strcmp(r->rows[i].section, section_order[s]);
        for (int j = 0; j < i; j++)
            earlier |= !strcmp(r->rows[i].section, r->rows[j].section);
        if (!known && !earlier) print_section(r, r->rows[i].section, f, fmt);
    }
    if (fmt == FMT_TABLE)
        fprintf(f, "\nspread = (max - min) / median over the timed runs; \"of peak\" = achieved / "
                   "the device's best square SGEMM.\n");
}

void bench_print_inventory(const clvit_device_info *inv, int n, FILE *f, bench_format fmt) {
    bench_table t;
    tbl_init(&t, "inventory: every OpenCL platform and device", 13);
    const char *h[] = {"P:D",      "device",     "type",      "vendor",    "CUs",
                       "MHz",      "global GiB", "alloc GiB", "local KiB", "max WG",
                       "OpenCL C", "fp16/64",    "driver"};
    for (int c = 0; c < 13; c++)
        tbl_head(&t, c, h[c], c >= 4 && c <= 9);
    for (int i = 0; i < n; i++) {
        const clvit_device_info *d = &inv[i];
        char pd[16], cu[16], mhz[16], gm[16], am[16], lm[16], wg[16], fp[16];
        snprintf(pd, sizeof pd, "%d:%d", d->platform_index, d->device_index);
        snprintf(cu, sizeof cu, "%u", d->compute_units);
        snprintf(mhz, sizeof mhz, "%u", d->clock_mhz);
        snprintf(gm, sizeof gm, "%.2f", d->global_mem_bytes / 1073741824.0);
        snprintf(am, sizeof am, "%.2f", d->max_alloc_bytes / 1073741824.0);
        snprintf(lm, sizeof lm, "%.0f", d->local_mem_bytes / 1024.0);
        snprintf(wg, sizeof wg, "%zu", d->max_work_group_size);
        snprintf(fp, sizeof fp, "%s/%s", d->fp16 ? "yes" : "no", d->fp64 ? "yes" : "no");
        tbl_row(&t, pd, d->name,
                d->is_gpu   ? "GPU"
                : d->is_cpu ? "CPU"
                            : "other",
                d->vendor, cu, mhz, gm, am, lm, wg, d->opencl_c_version, fp, d->driver_version);
    }
    tbl_print(&t, f, fmt);
    tbl_free(&t);
}

void bench_write_csv(const bench_results *r, FILE *f) {
    bench_table t;
    /* the OpenBLAS columns come last, so that readers of the older 21 columns still work */
    tbl_init(&t, NULL, 27);
    const char *h[] = {"device",
                       "device_name",
                       "section",
                       "name",
                       "model",
                       "batch",
                       "shape",
                       "unit",
                       "median",
                       "min",
                       "max",
                       "mean",
                       "stddev",
                       "spread_pct",
                       "runs",
                       "gflops",
                       "frac_peak",
                       "share_pct",
                       "calls",
                       "kind",
                       "note",
                       "openblas_median",
                       "openblas_min",
                       "openblas_max",
                       "openblas_spread_pct",
                       "openblas_runs",
                       "openblas_ratio"};
    for (int c = 0; c < 27; c++)
        tbl_head(&t, c, h[c], 0);
    for (int i = 0; i < r->nrows; i++) {
        const bench_row *w = &r->rows[i];
        /* numbers in column order from "median"; NAN prints as an empty cell */
        const double nums[] = {w->st.median,       w->st.min,        w->st.max,   w->st.mean,
                               w->st.stddev,       w->st.spread_pct, w->gflops,   w->frac_peak,
                               w->share_pct,       w->blas.median,   w->blas.min, w->blas.max,
                               w->blas.spread_pct, w->blas_ratio};
        char v[14][40], dev[16], batch[16], runs[16], calls[16], blas_runs[16] = "";
        for (int k = 0; k < 14; k++) {
            if (isnan(nums[k]))
                v[k][0] = '\0';
            else
                snprintf(v[k], 40, "%.6g", nums[k]);
        }
        snprintf(dev, sizeof dev, "%d", w->device);
        snprintf(batch, sizeof batch, "%d", w->batch);
        snprintf(runs, sizeof runs, "%d", w->st.n);
        snprintf(calls, sizeof calls, "%d", w->calls);
        if (w->blas.n) snprintf(blas_runs, sizeof blas_runs, "%d", w->blas.n);
        const char *dn = w->device >= 0 && w->device < r->ndev ? r->devs[w->device].info.name : "";
        tbl_row(&t, dev, dn, w->section, w->name, w->model, batch, w->shape, w->unit, v[0], v[1],
                v[2], v[3], v[4], v[5], runs, v[6], v[7], v[8], calls, w->kind, w->note, v[9],
                v[10], v[11], v[12], blas_runs, v[13]);
    }
    tbl_print(&t, f, FMT_CSV);
    tbl_free(&t);
}
