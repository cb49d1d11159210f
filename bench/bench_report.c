/*
 * bench_report.c - results out and back in: the terminal tables (one per section; with
 * several devices, one column per device side by side), Markdown and CSV, the JSON file
 * (schema "clvit-bench/1", written and read with cJSON), --compare of two JSON files row by
 * row, and --plot, a hand-written SVG of throughput against batch size.
 *
 * JSON layout (bench/baseline_torch.py writes the same):
 *   { "schema", "tool", "clvit_version", "timestamp", "host": {...}, "settings": {...},
 *     "env": {...}, "inventory": [device...], "devices": [device...],
 *     "rows": [ { "section", "name", "model", "batch", "shape", "device", "unit",
 *                 "higher_is_better", "runs", "median", "min", "max", "mean", "stddev",
 *                 "spread_pct", "gflops", "frac_peak", "share_pct", "calls", "kind",
 *                 "note", "openblas_median", "openblas_min", "openblas_max",
 *                 "openblas_mean", "openblas_stddev", "openblas_spread_pct",
 *                 "openblas_runs", "openblas_ratio" } ] }
 * Every row holds every field; a quantity that does not apply is null. "device" indexes
 * "devices". The openblas_* fields (gemm rows: OpenBLAS cblas_sgemm on the same shape, and
 * clvit's median / OpenBLAS's) were added later, as were the devices' "openblas_threads",
 * "openblas_corename" and "openblas_config"; a file without them reads as "not measured".
 */
#include "bench.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static const char *section_order[] = {"memory", "gemm",    "startup", "infer",
                                      "train",  "profile", "tune"};
#define NUM_SECTIONS ((int)(sizeof section_order / sizeof section_order[0]))

static const char *section_title(const char *s) {
    if (!strcmp(s, "memory")) return "memory: bandwidth and host<->device transfers";
    if (!strcmp(s, "gemm"))
        return "gemm: SGEMM, clvit_gemm next to OpenBLAS cblas_sgemm (same shapes and matrices), "
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

void bench_device_fill(bench_device *d, const clvit_device_info *info) {
    memset(d, 0, sizeof *d);
    d->info = *info;
    snprintf(d->type, sizeof d->type, "%s", info->is_gpu ? "GPU" : info->is_cpu ? "CPU" : "other");
    snprintf(d->tool, sizeof d->tool, "clvit-bench %s", clvit_version());
    d->peak_gflops = NAN;
}

/* ------------------------------------------------------------ terminal, Markdown, CSV */

static void row_key(const bench_row *r, char *buf, size_t size) {
    snprintf(buf, size, "%s|%s|%s|%d|%s", r->section, r->name, r->model, r->batch, r->shape);
}

static void num_cell(char *buf, size_t size, double v) {
    fmt_num(buf, size, v);
}

static void pct_cell(char *buf, size_t size, double v) {
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
        row_key(&r->rows[i], k1, sizeof k1);
        int seen = 0;
        for (int j = 0; j < nk && !seen; j++) {
            row_key(&r->rows[first[j]], k2, sizeof k2);
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
            row_key(row, key, sizeof key);
            for (int j = 0; j < r->nrows; j++) {
                const bench_row *o = &r->rows[j];
                if (o->device < 0 || o->device >= r->ndev || 5 + o->device >= ncols) continue;
                row_key(o, other, sizeof other);
                if (strcmp(key, other)) continue;
                char m[24], sp[16], vs[32] = "";
                num_cell(m, sizeof m, o->st.median);
                pct_cell(sp, sizeof sp, o->st.spread_pct);
                if (!isnan(o->blas_ratio))
                    snprintf(vs, sizeof vs, " (%.2fx OpenBLAS)", o->blas_ratio);
                snprintf(cell[5 + o->device], 64, "%s ±%s%s", m, sp, vs);
            }
        } else {
            num_cell(cell[5], 64, row->st.median);
            num_cell(cell[6], 64, row->st.min);
            num_cell(cell[7], 64, row->st.max);
            pct_cell(cell[8], 64, row->st.spread_pct);
            snprintf(cell[9], 64, "%d", row->st.n);
            if (row->blas.n) {
                num_cell(cell[10], 64, row->blas.median);
                num_cell(cell[11], 64, row->blas.min);
                num_cell(cell[12], 64, row->blas.max);
                if (!isnan(row->blas_ratio)) snprintf(cell[13], 64, "%.2f", row->blas_ratio);
            }
            num_cell(cell[14], 64, row->gflops);
            pct_cell(cell[15], 64, 100.0 * row->frac_peak);
            pct_cell(cell[16], 64, row->share_pct);
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

/* ------------------------------------------------------------ JSON */

static void add_num(cJSON *o, const char *k, double v) {
    if (isnan(v) || isinf(v))
        cJSON_AddNullToObject(o, k);
    else
        cJSON_AddNumberToObject(o, k, v);
}

static cJSON *device_json(const clvit_device_info *d, int index) {
    cJSON *o = cJSON_CreateObject();
    char spec[32];
    snprintf(spec, sizeof spec, "%d:%d", d->platform_index, d->device_index);
    cJSON_AddNumberToObject(o, "index", index);
    cJSON_AddStringToObject(o, "spec", spec);
    cJSON_AddStringToObject(o, "platform", d->platform_name);
    cJSON_AddStringToObject(o, "platform_version", d->platform_version);
    cJSON_AddStringToObject(o, "name", d->name);
    cJSON_AddStringToObject(o, "vendor", d->vendor);
    cJSON_AddStringToObject(o, "type", d->is_gpu ? "GPU" : d->is_cpu ? "CPU" : "other");
    cJSON_AddStringToObject(o, "driver_version", d->driver_version);
    cJSON_AddStringToObject(o, "device_version", d->device_version);
    cJSON_AddStringToObject(o, "opencl_c_version", d->opencl_c_version);
    cJSON_AddNumberToObject(o, "compute_units", d->compute_units);
    cJSON_AddNumberToObject(o, "clock_mhz", d->clock_mhz);
    cJSON_AddNumberToObject(o, "global_mem_bytes", (double)d->global_mem_bytes);
    cJSON_AddNumberToObject(o, "local_mem_bytes", (double)d->local_mem_bytes);
    cJSON_AddNumberToObject(o, "max_alloc_bytes", (double)d->max_alloc_bytes);
    cJSON_AddNumberToObject(o, "max_work_group_size", (double)d->max_work_group_size);
    cJSON_AddBoolToObject(o, "fp16", d->fp16);
    cJSON_AddBoolToObject(o, "fp64", d->fp64);
    return o;
}

static void add_env(cJSON *env, const char *name) {
    const char *v = getenv(name);
    if (v)
        cJSON_AddStringToObject(env, name, v);
    else
        cJSON_AddNullToObject(env, name);
}

int bench_write_json(const bench_results *r, const bench_settings *s,
                     const clvit_device_info *inventory, int ninventory, FILE *f) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return 1;
    cJSON_AddStringToObject(root, "schema", BENCH_SCHEMA);
    cJSON_AddStringToObject(root, "tool", "clvit-bench");
    cJSON_AddStringToObject(root, "clvit_version", clvit_version());
    char ts[40];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON_AddStringToObject(root, "timestamp", ts);

    cJSON *host = cJSON_AddObjectToObject(root, "host");
    char hostname[256] = "";
    gethostname(hostname, sizeof hostname - 1);
    cJSON_AddStringToObject(host, "hostname", hostname);
    struct utsname u;
    if (uname(&u) == 0) {
        cJSON_AddStringToObject(host, "os", u.sysname);
        cJSON_AddStringToObject(host, "release", u.release);
        cJSON_AddStringToObject(host, "machine", u.machine);
    }
    cJSON_AddNumberToObject(host, "cpus", (double)sysconf(_SC_NPROCESSORS_ONLN));
    /* other work on the machine makes every figure noisier; say how busy it was */
    double l1, l15;
    if (bench_loadavg(&l1, &l15)) {
        cJSON_AddNumberToObject(host, "loadavg_1min_at_end", l1);
        cJSON_AddNumberToObject(host, "loadavg_15min_at_end", l15);
    }

    cJSON *set = cJSON_AddObjectToObject(root, "settings");
    cJSON_AddBoolToObject(set, "quick", s->quick);
    cJSON_AddNumberToObject(set, "reps", s->reps);
    cJSON_AddNumberToObject(set, "warmup", s->warmup);
    cJSON_AddNumberToObject(set, "max_time_s", s->max_time);
    cJSON_AddNumberToObject(set, "min_time_s", s->min_time);
    cJSON_AddItemToObject(set, "models", cJSON_CreateStringArray(s->models, s->nmodels));
    cJSON_AddItemToObject(set, "batches", cJSON_CreateIntArray(s->batches, s->nbatches));
    cJSON_AddItemToObject(set, "gemm_sizes", cJSON_CreateIntArray(s->gemm_sizes, s->ngemm_sizes));
    cJSON_AddNumberToObject(set, "gemm_batch", s->gemm_batch);
    cJSON_AddNumberToObject(set, "profile_batch", s->profile_batch);
    cJSON_AddNumberToObject(set, "train_max_gflop", s->train_max_gflop);
    cJSON_AddNumberToObject(set, "startup_reps", s->startup_reps);
    cJSON_AddStringToObject(set, "startup_cold", s->startup_driver_cold ? "all" : "clvit");
    cJSON_AddNumberToObject(set, "mem_bytes", (double)s->mem_bytes);
    cJSON_AddNumberToObject(set, "seed", (double)s->seed);
    if (s->device_spec)
        cJSON_AddStringToObject(set, "device", s->device_spec);
    else
        cJSON_AddNullToObject(set, "device");
    cJSON_AddBoolToObject(set, "all_devices", s->all_devices);
    cJSON_AddStringToObject(set, "sections", s->sections);
    cJSON_AddNumberToObject(set, "threads", (double)sysconf(_SC_NPROCESSORS_ONLN));

    cJSON *env = cJSON_AddObjectToObject(root, "env");
    const char *vars[] = {"CLVIT_DEVICE",        "CLVIT_CACHE_DIR",   "CLVIT_KERNEL_DIR",
                          "POCL_KERNEL_CACHE",   "POCL_CACHE_DIR",    "POCL_MAX_PTHREAD_COUNT",
                          "POCL_CPU_MAX_CU_NUM", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                          "OMP_NUM_THREADS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        add_env(env, vars[i]);

    cJSON *inv = cJSON_AddArrayToObject(root, "inventory");
    for (int i = 0; i < ninventory; i++)
        cJSON_AddItemToArray(inv, device_json(&inventory[i], i));
    cJSON *devs = cJSON_AddArrayToObject(root, "devices");
    for (int i = 0; i < r->ndev; i++) {
        cJSON *d = device_json(&r->devs[i].info, i);
        cJSON_AddStringToObject(d, "tool", r->devs[i].tool);
        add_num(d, "peak_gflops", r->devs[i].peak_gflops);
        cJSON_AddStringToObject(d, "gemm_tuning", r->devs[i].gemm_tuning);
        /* the OpenBLAS baseline of the gemm section; null when there was none */
        const bench_device *bd = &r->devs[i];
        if (bd->blas_threads > 0) {
            cJSON_AddNumberToObject(d, "openblas_threads", bd->blas_threads);
            cJSON_AddStringToObject(d, "openblas_corename", bd->blas_core);
            cJSON_AddStringToObject(d, "openblas_config", bd->blas_config);
        } else {
            cJSON_AddNullToObject(d, "openblas_threads");
            cJSON_AddNullToObject(d, "openblas_corename");
            cJSON_AddNullToObject(d, "openblas_config");
        }
        cJSON_AddItemToArray(devs, d);
    }
    cJSON *rows = cJSON_AddArrayToObject(root, "rows");
    for (int i = 0; i < r->nrows; i++) {
        const bench_row *w = &r->rows[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "section", w->section);
        cJSON_AddStringToObject(o, "name", w->name);
        cJSON_AddStringToObject(o, "model", w->model);
        cJSON_AddNumberToObject(o, "batch", w->batch);
        cJSON_AddStringToObject(o, "shape", w->shape);
        cJSON_AddNumberToObject(o, "device", w->device);
        cJSON_AddStringToObject(o, "unit", w->unit);
        cJSON_AddBoolToObject(o, "higher_is_better", w->higher_is_better);
        cJSON_AddNumberToObject(o, "runs", w->st.n);
        add_num(o, "median", w->st.median);
        add_num(o, "min", w->st.min);
        add_num(o, "max", w->st.max);
        add_num(o, "mean", w->st.mean);
        add_num(o, "stddev", w->st.stddev);
        add_num(o, "spread_pct", w->st.spread_pct);
        add_num(o, "gflops", w->gflops);
        add_num(o, "frac_peak", w->frac_peak);
        add_num(o, "share_pct", w->share_pct);
        cJSON_AddNumberToObject(o, "calls", w->calls);
        cJSON_AddStringToObject(o, "kind", w->kind);
        cJSON_AddStringToObject(o, "note", w->note);
        /* gemm rows: OpenBLAS on the same shape, and clvit's median over OpenBLAS's */
        const int nb = w->blas.n;
        add_num(o, "openblas_median", nb ? w->blas.median : NAN);
        add_num(o, "openblas_min", nb ? w->blas.min : NAN);
        add_num(o, "openblas_max", nb ? w->blas.max : NAN);
        add_num(o, "openblas_mean", nb ? w->blas.mean : NAN);
        add_num(o, "openblas_stddev", nb ? w->blas.stddev : NAN);
        add_num(o, "openblas_spread_pct", nb ? w->blas.spread_pct : NAN);
        add_num(o, "openblas_runs", nb ? nb : NAN);
        add_num(o, "openblas_ratio", nb ? w->blas_ratio : NAN);
        cJSON_AddItemToArray(rows, o);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return 1;
    int bad = fputs(text, f) < 0 || fputc('\n', f) == EOF;
    free(text);
    return bad;
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : "";
}

static double jnum(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

#define COPY(dst, src) snprintf((dst), sizeof(dst), "%s", (src))

int bench_read_json(const char *path, bench_results *r) {
    memset(r, 0, sizeof *r);
    COPY(r->path, path);
    FILE *f = fopen(path, "rb");
    if (!f) {
        bench_log("cannot open %s", path);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!text || fread(text, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(text);
        bench_log("cannot read %s", path);
        return 1;
    }
    fclose(f);
    text[n] = '\0';
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root) {
        bench_log("%s is not valid JSON", path);
        return 1;
    }
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(root, "schema");
    const cJSON *devs = cJSON_GetObjectItemCaseSensitive(root, "devices");
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(root, "rows");
    if (!cJSON_IsString(schema) || strncmp(schema->valuestring, "clvit-bench/", 12) ||
        !cJSON_IsArray(devs) || !cJSON_IsArray(rows)) {
        bench_log("%s is not a clvit-bench result (no schema, devices or rows)", path);
        cJSON_Delete(root);
        return 1;
    }
    COPY(r->tool, jstr(root, "tool"));
    COPY(r->version, jstr(root, "clvit_version"));
    COPY(r->timestamp, jstr(root, "timestamp"));
    r->ndev = cJSON_GetArraySize(devs);
    r->devs = calloc((size_t)(r->ndev ? r->ndev : 1), sizeof *r->devs);
    if (!r->devs) {
        cJSON_Delete(root);
        return 1;
    }
    int i = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, devs) {
        bench_device *bd = &r->devs[i++];
        COPY(bd->info.name, jstr(d, "name"));
        COPY(bd->info.platform_name, jstr(d, "platform"));
        COPY(bd->info.vendor, jstr(d, "vendor"));
        COPY(bd->info.driver_version, jstr(d, "driver_version"));
        COPY(bd->type, jstr(d, "type"));
        COPY(bd->tool, *jstr(d, "tool") ? jstr(d, "tool") : r->tool);
        bd->info.is_gpu = !strcmp(bd->type, "GPU");
        bd->info.is_cpu = !strcmp(bd->type, "CPU");
        double cu = jnum(d, "compute_units");
        bd->info.compute_units = isnan(cu) ? 0 : (unsigned)cu;
        bd->peak_gflops = jnum(d, "peak_gflops");
        COPY(bd->gemm_tuning, jstr(d, "gemm_tuning"));
        double bt = jnum(d, "openblas_threads");
        bd->blas_threads = isnan(bt) ? 0 : (int)bt;
        COPY(bd->blas_core, jstr(d, "openblas_corename"));
        COPY(bd->blas_config, jstr(d, "openblas_config"));
    }
    cJSON_ArrayForEach(d, rows) {
        const double dev = jnum(d, "device"), batch = jnum(d, "batch");
        bench_row *w = bench_add_row(
            r, jstr(d, "section"), jstr(d, "name"), jstr(d, "model"), isnan(batch) ? 0 : (int)batch,
            jstr(d, "shape"), isnan(dev) ? 0 : (int)dev, jstr(d, "unit"),
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "higher_is_better")));
        if (!w) break;
        double runs = jnum(d, "runs");
        w->st.n = isnan(runs) ? 0 : (int)runs;
        w->st.median = jnum(d, "median");
        w->st.min = jnum(d, "min");
        w->st.max = jnum(d, "max");
        w->st.mean = jnum(d, "mean");
        w->st.stddev = jnum(d, "stddev");
        w->st.spread_pct = jnum(d, "spread_pct");
        w->gflops = jnum(d, "gflops");
        w->frac_peak = jnum(d, "frac_peak");
        w->share_pct = jnum(d, "share_pct");
        double calls = jnum(d, "calls");
        w->calls = isnan(calls) ? 0 : (int)calls;
        COPY(w->kind, jstr(d, "kind"));
        COPY(w->note, jstr(d, "note"));
        double bn = jnum(d, "openblas_runs");
        if (!isnan(bn) && bn > 0) {
            w->blas.n = (int)bn;
            w->blas.median = jnum(d, "openblas_median");
            w->blas.min = jnum(d, "openblas_min");
            w->blas.max = jnum(d, "openblas_max");
            w->blas.mean = jnum(d, "openblas_mean");
            w->blas.stddev = jnum(d, "openblas_stddev");
            w->blas.spread_pct = jnum(d, "openblas_spread_pct");
            w->blas_ratio = jnum(d, "openblas_ratio");
        }
    }
    cJSON_Delete(root);
    return 0;
}

/* ------------------------------------------------------------ compare */

/* Device ordinal to match on: ignored when either file has a single device. */
static int same_device(const bench_results *a, const bench_row *ra, const bench_results *b,
                       const bench_row *rb) {
    return a->ndev <= 1 || b->ndev <= 1 || ra->device == rb->device;
}

int bench_compare(const char *path_a, const char *path_b, FILE *f, bench_format fmt) {
    bench_results a, b;
    if (bench_read_json(path_a, &a)) return 1;
    if (bench_read_json(path_b, &b)) {
        bench_results_free(&a);
        return 1;
    }
    const bench_results *files[2] = {&a, &b};
    const char *tag = "AB";
    for (int k = 0; k < 2; k++) {
        const bench_results *r = files[k];
        fprintf(f, "%s%c: %s (%s, %s)\n", fmt == FMT_MD ? "- " : "", tag[k], r->path, r->tool,
                r->timestamp);
        for (int d = 0; d < r->ndev; d++)
            fprintf(f, "%s   [%d] %s, %s, driver %s\n", fmt == FMT_MD ? "  " : "", d,
                    r->devs[d].info.name, r->devs[d].tool, r->devs[d].info.driver_version);
    }
    /* gemm rows that carry an OpenBLAS baseline also show clvit/OpenBLAS in each file: a
     * speedup of B over A that OpenBLAS does not share is clvit's, not the machine's load */
    int has_blas = 0;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < files[k]->nrows; i++)
            has_blas |= !isnan(files[k]->rows[i].blas_ratio);
    const int ncols = has_blas ? 12 : 10;
    bench_table t;
    tbl_init(&t, "speedup of B over A (rates: B/A, times: A/B; > 1 means B is faster)", ncols);
    const char *h[] = {"section",
                       "test",
                       "model",
                       "batch",
                       "shape",
                       "unit",
                       "A median ±spread",
                       "B median ±spread",
                       "speedup",
                       has_blas ? "A clvit/OpenBLAS" : "dev",
                       "B clvit/OpenBLAS",
                       "dev"};
    for (int c = 0; c < ncols; c++)
        tbl_head(&t, c, h[c], c == 3 || (c >= 6 && c < ncols - 1));
    int matched = 0, only_a = 0;
    char *used = calloc((size_t)(b.nrows ? b.nrows : 1), 1);
    for (int i = 0; i < a.nrows; i++) {
        const bench_row *ra = &a.rows[i];
        char ka[300], kb[300];
        row_key(ra, ka, sizeof ka);
        int found = -1;
        for (int j = 0; j < b.nrows && found < 0; j++) {
            if (used && used[j]) continue;
            row_key(&b.rows[j], kb, sizeof kb);
            if (!strcmp(ka, kb) && same_device(&a, ra, &b, &b.rows[j])) found = j;
        }
        if (found < 0) {
            only_a++;
            continue;
        }
        if (used) used[found] = 1;
        matched++;
        const bench_row *rb = &b.rows[found];
        char ca[64], cb[64], m[24], sp[24], ratio[24], batch[16] = "", dev[16];
        fmt_num(m, sizeof m, ra->st.median);
        pct_cell(sp, sizeof sp, ra->st.spread_pct);
        snprintf(ca, sizeof ca, "%s ±%s", m, sp);
        fmt_num(m, sizeof m, rb->st.median);
        pct_cell(sp, sizeof sp, rb->st.spread_pct);
        snprintf(cb, sizeof cb, "%s ±%s", m, sp);
        double q =
            ra->higher_is_better ? rb->st.median / ra->st.median : ra->st.median / rb->st.median;
        if (isnan(q) || isinf(q))
            snprintf(ratio, sizeof ratio, "-");
        else
            snprintf(ratio, sizeof ratio, "%.2f", q);
        if (ra->batch) snprintf(batch, sizeof batch, "%d", ra->batch);
        snprintf(dev, sizeof dev, "%d/%d", ra->device, rb->device);
        char va[16] = "", vb[16] = "";
        if (!isnan(ra->blas_ratio)) snprintf(va, sizeof va, "%.2f", ra->blas_ratio);
        if (!isnan(rb->blas_ratio)) snprintf(vb, sizeof vb, "%.2f", rb->blas_ratio);
        if (has_blas)
            tbl_row(&t, ra->section, ra->name, ra->model, batch, ra->shape, ra->unit, ca, cb, ratio,
                    va, vb, dev);
        else
            tbl_row(&t, ra->section, ra->name, ra->model, batch, ra->shape, ra->unit, ca, cb, ratio,
                    dev);
    }
    int only_b = b.nrows - matched;
    free(used);
    if (fmt == FMT_CSV)
        tbl_print(&t, f, FMT_CSV);
    else
        tbl_print(&t, f, fmt);
    fprintf(f, "\n%d rows compared; %d only in A, %d only in B\n", matched, only_a, only_b);
    tbl_free(&t);
    bench_results_free(&a);
    bench_results_free(&b);
    return matched == 0;
}

/* ------------------------------------------------------------ plot */

#define MAX_SERIES 16

typedef struct series {
    double x[BENCH_MAX_LIST], y[BENCH_MAX_LIST], lo[BENCH_MAX_LIST], hi[BENCH_MAX_LIST];
    int n;
} series;

/* The legend label of a device: what the line stands for. Files with the same label (two
 * runs of one tool on one device, e.g. small and large models) draw one line. */
static void series_label(const bench_device *d, char *buf, size_t size) {
    snprintf(buf, size, "%s: %s (%s)", d->tool, d->info.name, d->type);
}

static void svg_text(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static double nice_step(double range) {
    double raw = range / 5.0, p = pow(10.0, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1.0 : m < 3.0 ? 2.0 : m < 7.0 ? 5.0 : 10.0) * p;
}

static int is_throughput(const bench_row *w) {
    return !strcmp(w->section, "infer") && !strcmp(w->name, "throughput") && !isnan(w->st.median);
}

int bench_plot(const bench_results *sets, int nsets, const char *svg_path) {
    static const char *colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                   "#9467bd", "#8c564b", "#e377c2", "#17becf"};
    /* models and series, in order of appearance */
    const char *models[BENCH_MAX_LIST];
    char labels[MAX_SERIES][256];
    int nm = 0, nl = 0;
    for (int s = 0; s < nsets; s++)
        for (int i = 0; i < sets[s].nrows; i++) {
            const bench_row *w = &sets[s].rows[i];
            if (!is_throughput(w) || w->device < 0 || w->device >= sets[s].ndev) continue;
            int seen = 0;
            for (int m = 0; m < nm; m++)
                seen |= !strcmp(models[m], w->model);
            if (!seen && nm < BENCH_MAX_LIST) models[nm++] = w->model;
            char label[256];
            series_label(&sets[s].devs[w->device], label, sizeof label);
            seen = 0;
            for (int l = 0; l < nl; l++)
                seen |= !strcmp(labels[l], label);
            if (!seen && nl < MAX_SERIES) snprintf(labels[nl++], sizeof labels[0], "%s", label);
        }
    if (nm == 0) {
        bench_log("--plot: no inference throughput rows to plot");
        return 1;
    }
    FILE *f = fopen(svg_path, "w");
    if (!f) {
        bench_log("--plot: cannot write %s", svg_path);
        return 1;
    }
    const int pw = 420, ph = 300, ml = 70, mr = 20, mt = 40, mb = 50;
    const int cols = nm < 3 ? nm : 3, rows = (nm + cols - 1) / cols;
    const int legend_h = 22 * nl + 20;
    const int W = cols * pw < 760 ? 760 : cols * pw, H = 50 + legend_h + rows * ph;
    const int left = (W - cols * pw) / 2;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n",
            W, H, W, H);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
    fprintf(f,
            "<text x=\"%d\" y=\"24\" font-size=\"16\" text-anchor=\"middle\">"
            "Inference throughput against batch size (median; bars: min..max)</text>\n",
            W / 2);
    for (int l = 0; l < nl; l++) {
        const int y = 50 + 22 * l;
        fprintf(f,
                "<line x1=\"20\" y1=\"%d\" x2=\"50\" y2=\"%d\" stroke=\"%s\" "
                "stroke-width=\"2.5\"/>\n<text x=\"58\" y=\"%d\">",
                y, y, colors[l % 8], y + 4);
        svg_text(f, labels[l]);
        fputs("</text>\n", f);
    }
    for (int m = 0; m < nm; m++) {
        const int ox = left + (m % cols) * pw, oy = 50 + legend_h + (m / cols) * ph;
        const int x0 = ox + ml, x1 = ox + pw - mr, y0 = oy + ph - mb, y1 = oy + mt;
        double bmin = INFINITY, bmax = -INFINITY, ymax = 0.0;
        for (int s = 0; s < nsets; s++)
            for (int i = 0; i < sets[s].nrows; i++) {
                const bench_row *w = &sets[s].rows[i];
                if (!is_throughput(w) || strcmp(w->model, models[m])) continue;
                bmin = fmin(bmin, w->batch);
                bmax = fmax(bmax, w->batch);
                ymax = fmax(ymax, isnan(w->st.max) ? w->st.median : fmax(w->st.median, w->st.max));
            }
        if (!(bmin >= 1.0)) bmin = 1.0;
        if (bmax <= bmin) bmax = bmin * 2.0;
        if (ymax <= 0.0) ymax = 1.0;
        const double step = nice_step(ymax);
        const double ytop = ceil(ymax * 1.05 / step) * step;
        const double lmin = log2(bmin), lmax = log2(bmax);
#define PX(b) (x0 + (x1 - x0) * (log2(b) - lmin) / (lmax - lmin))
#define PY(v) (y0 - (y0 - y1) * (v) / ytop)
        fprintf(f, "<g>\n<text x=\"%d\" y=\"%d\" font-size=\"14\" text-anchor=\"middle\">",
                (x0 + x1) / 2, oy + 22);
        svg_text(f, models[m]);
        fputs("</text>\n", f);
        fprintf(f,
                "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
                "stroke=\"#888\"/>\n",
                x0, y1, x1 - x0, y0 - y1);
        for (int t = 0; t * step <= ytop * (1.0 + 1e-9); t++) {
            const double v = t * step, y = PY(v);
            fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", x0,
                    y, x1, y);
            fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.6g</text>\n", x0 - 6, y + 4,
                    v);
        }
        for (double b = pow(2.0, ceil(lmin - 1e-9)); b <= bmax * 1.0001; b *= 2.0) {
            const double x = PX(b);
            fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n", x,
                    y1, x, y0);
            fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", x, y0 + 16,
                    b);
        }
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">batch size</text>\n",
                (x0 + x1) / 2, y0 + 36);
        fprintf(f,
                "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" "
                "transform=\"rotate(-90 %d %d)\">images/s</text>\n",
                ox + 16, (y0 + y1) / 2, ox + 16, (y0 + y1) / 2);
        for (int l = 0; l < nl; l++) {
            series sr;
            memset(&sr, 0, sizeof sr);
            for (int s = 0; s < nsets; s++)
                for (int i = 0; i < sets[s].nrows && sr.n < BENCH_MAX_LIST; i++) {
                    const bench_row *w = &sets[s].rows[i];
                    if (!is_throughput(w) || strcmp(w->model, models[m]) || w->device < 0 ||
                        w->device >= sets[s].ndev)
                        continue;
                    char label[256];
                    series_label(&sets[s].devs[w->device], label, sizeof label);
                    if (strcmp(label, labels[l])) continue;
                    /* keep the points sorted by batch size */
                    int p = sr.n++;
                    while (p > 0 && sr.x[p - 1] > w->batch) {
                        sr.x[p] = sr.x[p - 1];
                        sr.y[p] = sr.y[p - 1];
                        sr.lo[p] = sr.lo[p - 1];
                        sr.hi[p] = sr.hi[p - 1];
                        p--;
                    }
                    sr.x[p] = w->batch;
                    sr.y[p] = w->st.median;
                    sr.lo[p] = isnan(w->st.min) ? w->st.median : w->st.min;
                    sr.hi[p] = isnan(w->st.max) ? w->st.median : w->st.max;
                }
            if (sr.n == 0) continue;
            const char *color = colors[l % 8];
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
            for (int p = 0; p < sr.n; p++)
                fprintf(f, "%s%.1f,%.1f", p ? " " : "", PX(sr.x[p]), PY(sr.y[p]));
            fputs("\"/>\n", f);
            for (int p = 0; p < sr.n; p++) {
                fprintf(f,
                        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                        "stroke-width=\"1.5\"/>\n",
                        PX(sr.x[p]), PY(sr.lo[p]), PX(sr.x[p]), PY(sr.hi[p]), color);
                fprintf(f,
                        "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\">"
                        "<title>batch %g: %.4g img/s</title></circle>\n",
                        PX(sr.x[p]), PY(sr.y[p]), color, sr.x[p], sr.y[p]);
            }
        }
#undef PX
#undef PY
        fputs("</g>\n", f);
    }
    fputs("</svg>\n", f);
    int bad = fclose(f) != 0;
    if (bad) bench_log("--plot: error writing %s", svg_path);
    return bad;
}
