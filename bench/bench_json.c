/*
 * bench_json.c - the results file: written and read back with cJSON, schema "clvit-bench/1",
 * with the host, the settings, the environment and the device inventory.
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

static void add_num(cJSON *o, const char *k, double v) {
    if (isnan(v) || isinf(v))
        cJSON_AddNullToObject(o, k);
    else
        cJSON_AddNumberToObject(o, k, v);
}

/* The statistics of a bench_stats besides n, as they are named in the file after a prefix
 * ("" for clvit's, "openblas_" for OpenBLAS's). */
#define N_STATS 6
static const char *const stat_keys[N_STATS] = {"median", "min",    "max",
                                               "mean",   "stddev", "spread_pct"};
static double *stat_field(bench_stats *st, int i) {
    switch (i) {
    case 0:
        return &st->median;
    case 1:
        return &st->min;
    case 2:
        return &st->max;
    case 3:
        return &st->mean;
    case 4:
        return &st->stddev;
    default:
        return &st->spread_pct;
    }
}

/* PREFIX + each statistic of st; null for all when present is 0. */
static void add_stats(cJSON *o, const char *prefix, bench_stats st, int present) {
    for (int i = 0; i < N_STATS; i++) {
        char key[32];
        snprintf(key, sizeof key, "%s%s", prefix, stat_keys[i]);
        add_num(o, key, present ? *stat_field(&st, i) : NAN);
    }
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
        add_stats(o, "", w->st, 1);
        add_num(o, "gflops", w->gflops);
        add_num(o, "frac_peak", w->frac_peak);
        add_num(o, "share_pct", w->share_pct);
        cJSON_AddNumberToObject(o, "calls", w->calls);
        cJSON_AddStringToObject(o, "kind", w->kind);
        cJSON_AddStringToObject(o, "note", w->note);
        /* gemm rows: OpenBLAS on the same shape, and clvit's median over OpenBLAS's */
        const int nb = w->blas.n;
        add_stats(o, "openblas_", w->blas, nb);
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

/* The statistics add_stats wrote under PREFIX (NaN where null or missing). */
static void read_stats(const cJSON *o, const char *prefix, bench_stats *st) {
    for (int i = 0; i < N_STATS; i++) {
        char key[32];
        snprintf(key, sizeof key, "%s%s", prefix, stat_keys[i]);
        *stat_field(st, i) = jnum(o, key);
    }
}

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
        read_stats(d, "", &w->st);
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
            read_stats(d, "openblas_", &w->blas);
            w->blas_ratio = jnum(d, "openblas_ratio");
        }
    }
    cJSON_Delete(root);
    return 0;
}
