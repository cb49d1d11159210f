/*
 * clvit_bench.c - `clvit-bench`: measures and compares OpenCL devices on ViT work.
 *
 * Modes:
 *   clvit-bench [options]                 run the suite (on one device, or --all-devices)
 *   clvit-bench --compare A.json B.json   speedup of B over A, row by row
 *   clvit-bench --plot OUT.svg FILE.json... plot result files without running anything
 *   clvit-bench --startup-child ...       (internal) one start-up measurement, in a fresh
 *                                          process started by the startup section
 *
 * The suite is the table bench_sections[] below, run in that order once per device; each
 * section adds rows to the results (bench.h). Exit status: 0 success, 1 a failure (an
 * OpenCL error or a correctness check), 2 a usage error.
 */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int (*section_fn)(bench_env *e);

/* The sections, in the order they run. */
static const struct {
    const char *name;
    section_fn fn;
    const char *help;
} bench_sections[] = {
    {"memory", bench_memory, "device copy bandwidth, host<->device transfers"},
    {"gemm", bench_gemm,
     "SGEMM (clvit_sgemm) next to OpenBLAS cblas_sgemm: square sweep and the presets' GEMM "
     "shapes"},
    {"startup", bench_startup, "program build and first inference, cold and warm caches"},
    {"infer", bench_infer, "inference latency and throughput per model and batch size"},
    {"train", bench_train, "training step (forward, backward, AdamW) per model and batch size"},
    {"profile", bench_profile, "per-kernel and per-layer device time of one forward"},
    {"tune", bench_tune,
     "search CLBlast's GEMM parameters, write the device's tuning file "
     "(only with --tune-gemm)"},
    {"plan", bench_plan,
     "time every GEMM candidate on the models' shapes, write the device's GEMM plan "
     "(only with --tune)"},
};
#define NUM_SECTIONS ((int)(sizeof bench_sections / sizeof bench_sections[0]))

static void usage(FILE *f) {
    fprintf(f,
            "usage: clvit-bench [options]\n"
            "       clvit-bench --compare A.json B.json [--format table|md|csv]\n"
            "       clvit-bench --plot OUT.svg RESULT.json...\n"
            "       clvit-bench [--format table|md|csv] RESULT.json...   (print saved results)\n"
            "\n"
            "Measures OpenCL devices on ViT work: device limits, start-up, inference, and where\n"
            "the time goes. Every result is checked before it is timed; each figure is the\n"
            "median of N timed runs after warm-up, with min, max and spread.\n"
            "\n"
            "options:\n"
            "  --device SPEC        P:D, gpu, cpu or part of a device name (default: "
            "CLVIT_DEVICE,\n"
            "                       else the first GPU, else the first device)\n"
            "  --all-devices        run on every device and print them side by side\n"
            "  --quick              a short run: vit_mnist, small batches and sizes, 3 runs\n"
            "  --models LIST        presets, comma-separated (default "
            "vit_mnist,deit_tiny_patch16_224,vit_base_patch16_224)\n"
            "  --batch LIST         batch sizes (default 1,8,32; --quick 1,4)\n"
            "  --reps N             timed runs per measurement (default 5; --quick 3)\n"
            "  --warmup N           untimed runs first (default 1)\n"
            "  --max-time S         stop a measurement's timed runs after S seconds, once 3 are\n"
            "                       done (default 20; --quick 2)\n"
            "  --min-time S         one timed run of a device-limit test lasts at least S "
            "seconds\n"
            "                       (repeats the operation; default 0.05; --quick 0.01)\n"
            "  --sections LIST      any of memory,gemm,startup,infer,profile (default all)\n"
            "  --gemm-sizes LIST    square SGEMM sizes (default 128,256,512,768,1024; --quick "
            "64,128,256)\n"
            "  --gemm-batch B       batch the presets' GEMM shapes are taken at (default: the "
            "largest --batch)\n"
            "  --profile-batch B    batch of the per-kernel profile (default: the largest "
            "--batch)\n"
            "  --train-max-gflop X  train section: skip models above X forward GFLOP per image\n"
            "                       (default 5: vit_mnist and DeiT-tiny, not ViT-B)\n"
            "  --startup-reps N     cold+warm process pairs per model (default 3; --quick 2)\n"
            "  --startup-cold WHAT  what a cold start empties: all (clvit's and the driver's\n"
            "                       kernel caches; default) or clvit (clvit's only; --quick)\n"
            "  --mem-mib N          buffer size of the bandwidth tests (default 64; --quick 16)\n"
            "  --seed N             weights, images and matrices (default 1)\n"
            "  --format FMT         table, json, csv or md (default table on the terminal; with\n"
            "                       --output, from the file's extension, else json)\n"
            "  --output FILE        write the results there (the table still goes to stdout)\n"
            "  --compare A B        compare two result files (speedup of B over A)\n"
            "  --plot FILE.svg      draw throughput against batch size (of this run, or of the\n"
            "                       result files given as arguments)\n"
            "  --tune               instead of measuring: time every GEMM kernel candidate\n"
            "                       (clvit's and CLBlast's) on the GEMM shapes of --models'\n"
            "                       forward passes at each --batch and of a training step at\n"
            "                       --tune-batch, and write the fastest per shape into the\n"
            "                       device's GEMM plan, which clvit then uses (a deeper search\n"
            "                       than the one clvit makes on first use)\n"
            "  --tune-gemm          instead of measuring: search CLBlast's GEMM kernel parameters\n"
            "                       on the training-step GEMMs of --models (default vit_mnist)\n"
            "                       and write the fastest set as the device's tuning file in\n"
            "                       the cache directory, which clvit then applies\n"
            "  --tune-batch B       batch of those GEMMs (default 128)\n"
            "  --tune-candidates N  sampled parameter sets (default 24; --quick 2)\n"
            "  --tune-refine N      neighbours of the best set tried after the sample (default\n"
            "                       24; --quick 0)\n"
            "  --tune-direct N      settings of the direct kernel tried (0-6; default 6; --quick "
            "0)\n"
            "  --tune-out FILE      write the tuning file there instead (use it with\n"
            "                       CLVIT_GEMM_TUNING=FILE)\n"
            "  -h, --help           show this help\n"
            "\n"
            "presets:");
    for (int i = 0; clvit_preset_name(i); i++)
        fprintf(f, "%s%s", i % 4 ? " " : "\n  ", clvit_preset_name(i));
    fprintf(f, "\n\nsections (--sections):\n");
    for (int k = 0; k < NUM_SECTIONS; k++)
        fprintf(f, "  %-9s %s\n", bench_sections[k].name, bench_sections[k].help);
    fprintf(f, "\nStart-up runs in fresh processes with empty caches (CLVIT_CACHE_DIR and, with\n"
               "--startup-cold all, the driver's: POCL_CACHE_DIR, CUDA_CACHE_PATH), then again\n"
               "with the caches filled.\n"
               "bench/baseline_torch.py writes the same JSON for PyTorch on the CPU.\n");
}

static int usage_error(const char *fmt, ...) BENCH_PRINTF(1, 2);
static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "clvit-bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see clvit-bench --help)\n");
    va_end(ap);
    return 2;
}

static int parse_long(const char *opt, const char *s, long min, long max, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno) return usage_error("%s: '%s' is not an integer", opt, s);
    if (v < min || v > max) {
        char range[64];
        snprintf(range, sizeof range, "[%ld, %ld]", min, max);
        fprintf(stderr, "clvit-bench: %s: %ld is out of range %s\n", opt, v, range);
        return 2;
    }
    *out = v;
    return 0;
}

static int parse_seconds(const char *opt, const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !(v >= 0.0) || v > 1e6)
        return usage_error("%s: '%s' is not a number of seconds", opt, s);
    *out = v;
    return 0;
}

/* "1,8,32" -> ints in [min, max]. */
static int parse_int_list(const char *opt, const char *s, long min, long max, int *out, int *n) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    *n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n == BENCH_MAX_LIST) return usage_error("%s: more than 32 values in '%s'", opt, s);
        long v = 0;
        if (parse_long(opt, tok, min, max, &v)) return 2;
        out[(*n)++] = (int)v;
    }
    if (*n == 0) return usage_error("%s: empty list '%s'", opt, s);
    return 0;
}

static int max_of(const int *v, int n) {
    int m = v[0];
    for (int i = 1; i < n; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

static bench_format format_of(const char *s) {
    if (!strcmp(s, "json")) return FMT_JSON;
    if (!strcmp(s, "csv")) return FMT_CSV;
    if (!strcmp(s, "md") || !strcmp(s, "markdown")) return FMT_MD;
    if (!strcmp(s, "table")) return FMT_TABLE;
    return (bench_format)-1;
}

static bench_format format_of_path(const char *path) {
    const char *dot = strrchr(path, '.');
    if (dot && !strcmp(dot, ".csv")) return FMT_CSV;
    if (dot && !strcmp(dot, ".md")) return FMT_MD;
    if (dot && (!strcmp(dot, ".txt") || !strcmp(dot, ".table"))) return FMT_TABLE;
    return FMT_JSON;
}

/* Options as given, before defaults are applied. */
typedef struct raw_opts {
    const char *device, *models, *batch, *reps, *warmup, *max_time, *min_time, *sections,
        *gemm_sizes, *gemm_batch, *profile_batch, *tune_batch, *tune_candidates, *tune_direct,
        *tune_refine, *tune_out, *startup_reps, *startup_cold, *mem_mib, *seed, *format, *output,
        *plot, *train_max_gflop;
    int all_devices, quick, help, startup_child, compare, tune_gemm, tune_plan;
    char **pos;
    int npos;
} raw_opts;

static int parse_args(int argc, char **argv, raw_opts *o) {
    struct {
        const char *name;
        const char **value;
        int *flag;
    } table[] = {
        {"--device", &o->device, NULL},
        {"--models", &o->models, NULL},
        {"--batch", &o->batch, NULL},
        {"--reps", &o->reps, NULL},
        {"--warmup", &o->warmup, NULL},
        {"--max-time", &o->max_time, NULL},
        {"--min-time", &o->min_time, NULL},
        {"--sections", &o->sections, NULL},
        {"--gemm-sizes", &o->gemm_sizes, NULL},
        {"--gemm-batch", &o->gemm_batch, NULL},
        {"--profile-batch", &o->profile_batch, NULL},
        {"--train-max-gflop", &o->train_max_gflop, NULL},
        {"--startup-reps", &o->startup_reps, NULL},
        {"--startup-cold", &o->startup_cold, NULL},
        {"--mem-mib", &o->mem_mib, NULL},
        {"--seed", &o->seed, NULL},
        {"--format", &o->format, NULL},
        {"--output", &o->output, NULL},
        {"--plot", &o->plot, NULL},
        {"--all-devices", NULL, &o->all_devices},
        {"--quick", NULL, &o->quick},
        {"--compare", NULL, &o->compare},
        {"--startup-child", NULL, &o->startup_child},
        {"--help", NULL, &o->help},
        {"--tune-gemm", NULL, &o->tune_gemm},
        {"--tune", NULL, &o->tune_plan},
        {"--tune-batch", &o->tune_batch, NULL},
        {"--tune-candidates", &o->tune_candidates, NULL},
        {"--tune-out", &o->tune_out, NULL},
        {"--tune-direct", &o->tune_direct, NULL},
        {"--tune-refine", &o->tune_refine, NULL},
        {"-h", NULL, &o->help},
    };
    o->pos = calloc((size_t)argc + 1, sizeof *o->pos);
    if (!o->pos) return usage_error("out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0') {
            o->pos[o->npos++] = argv[i];
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        size_t k = 0;
        for (; k < sizeof table / sizeof table[0]; k++)
            if (strlen(table[k].name) == len && !strncmp(table[k].name, a, len)) break;
        if (k == sizeof table / sizeof table[0]) {
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(len < 60 ? len : 60), a);
            return usage_error("unknown option '%s'", name);
        }
        if (table[k].value) {
            const char *v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
            if (!v) return usage_error("option %s needs a value", table[k].name);
            *table[k].value = v;
        } else {
            if (eq) return usage_error("option %s takes no value", table[k].name);
            *table[k].flag = 1;
        }
    }
    return 0;
}

/* Fills settings from the options and the --quick or full defaults. */
static int make_settings(const raw_opts *o, bench_settings *s, char *models_buf,
                         size_t models_size) {
    memset(s, 0, sizeof *s);
    s->quick = o->quick;
    s->reps = o->quick ? 3 : 5;
    s->warmup = 1;
    s->max_time = o->quick ? 2.0 : 20.0;
    s->min_time = o->quick ? 0.01 : 0.05;
    s->startup_reps = o->quick ? 2 : 3;
    s->mem_bytes = (size_t)(o->quick ? 16 : 64) << 20;
    s->seed = 1;
    s->device_spec = o->device;
    s->all_devices = o->all_devices;
    long v = 0;
    if (o->reps && parse_long("--reps", o->reps, 1, 1000, &v)) return 2;
    if (o->reps) s->reps = (int)v;
    if (o->warmup && parse_long("--warmup", o->warmup, 0, 1000, &v)) return 2;
    if (o->warmup) s->warmup = (int)v;
    if (o->startup_reps && parse_long("--startup-reps", o->startup_reps, 1, BENCH_MAX_LIST, &v))
        return 2;
    if (o->startup_reps) s->startup_reps = (int)v;
    s->startup_driver_cold = !o->quick;
    if (o->startup_cold) {
        if (!strcmp(o->startup_cold, "all"))
            s->startup_driver_cold = 1;
        else if (!strcmp(o->startup_cold, "clvit"))
            s->startup_driver_cold = 0;
        else
            return usage_error("--startup-cold: '%s' is not all or clvit", o->startup_cold);
    }
    if (o->mem_mib && parse_long("--mem-mib", o->mem_mib, 1, 65536, &v)) return 2;
    if (o->mem_mib) s->mem_bytes = (size_t)v << 20;
    if (o->seed && parse_long("--seed", o->seed, 0, 2147483647L, &v)) return 2;
    if (o->seed) s->seed = (unsigned long long)v;
    if (o->max_time && parse_seconds("--max-time", o->max_time, &s->max_time)) return 2;
    if (o->min_time && parse_seconds("--min-time", o->min_time, &s->min_time)) return 2;

    snprintf(models_buf, models_size, "%s",
             o->models ? o->models
             : o->quick || o->tune_gemm || o->tune_plan
                 ? "vit_mnist"
                 : "vit_mnist,deit_tiny_patch16_224,vit_base_patch16_224");
    char *save = NULL;
    for (char *tok = strtok_r(models_buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        clvit_config cfg;
        if (clvit_preset(tok, &cfg) != CLVIT_SUCCESS)
            return usage_error("--models: unknown preset '%s' (see --help for the list)", tok);
        if (s->nmodels == BENCH_MAX_LIST) return usage_error("--models: too many");
        s->models[s->nmodels++] = tok;
    }
    if (s->nmodels == 0) return usage_error("--models: empty list");
    if (parse_int_list("--batch",
                       o->batch   ? o->batch
                       : o->quick ? "1,4"
                                  : "1,8,32",
                       1, 65536, s->batches, &s->nbatches))
        return 2;
    if (parse_int_list("--gemm-sizes",
                       o->gemm_sizes ? o->gemm_sizes
                       : o->quick    ? "64,128,256"
                                     : "128,256,512,768,1024",
                       1, 16384, s->gemm_sizes, &s->ngemm_sizes))
        return 2;
    s->gemm_batch = s->profile_batch = max_of(s->batches, s->nbatches);
    if (o->gemm_batch && parse_long("--gemm-batch", o->gemm_batch, 1, 65536, &v)) return 2;
    if (o->gemm_batch) s->gemm_batch = (int)v;
    if (o->profile_batch && parse_long("--profile-batch", o->profile_batch, 1, 65536, &v)) return 2;
    if (o->profile_batch) s->profile_batch = (int)v;
    s->train_max_gflop = 5.0;
    if (o->train_max_gflop) {
        char *end;
        s->train_max_gflop = strtod(o->train_max_gflop, &end);
        if (end == o->train_max_gflop || *end || !(s->train_max_gflop > 0))
            return usage_error("--train-max-gflop: '%s' is not a positive number",
                               o->train_max_gflop);
    }

    s->tune_batch = 128;
    if (o->tune_batch && parse_long("--tune-batch", o->tune_batch, 1, 65536, &v)) return 2;
    if (o->tune_batch) s->tune_batch = (int)v;
    s->tune_candidates = o->quick ? 2 : 24;
    if (o->tune_candidates && parse_long("--tune-candidates", o->tune_candidates, 0, 1000, &v))
        return 2;
    if (o->tune_candidates) s->tune_candidates = (int)v;
    s->tune_direct = o->quick ? 0 : 6;
    if (o->tune_direct && parse_long("--tune-direct", o->tune_direct, 0, 6, &v)) return 2;
    if (o->tune_direct) s->tune_direct = (int)v;
    s->tune_refine = o->quick ? 0 : 24;
    if (o->tune_refine && parse_long("--tune-refine", o->tune_refine, 0, 200, &v)) return 2;
    if (o->tune_refine) s->tune_refine = (int)v;
    s->tune_out = o->tune_out;
    if (o->tune_gemm && o->sections)
        return usage_error("--tune-gemm runs only the tune section; drop --sections");
    if (o->tune_plan && (o->sections || o->tune_gemm))
        return usage_error("--tune runs only the plan search; drop --sections and --tune-gemm");
    if (o->tune_plan) setenv("CLVIT_GEMM_TUNE", "deep", 1);
    if (!o->tune_gemm && !o->tune_plan && o->tune_batch)
        return usage_error("--tune-batch goes with --tune or --tune-gemm");
    if (!o->tune_gemm && (o->tune_candidates || o->tune_direct || o->tune_refine || o->tune_out))
        return usage_error("--tune-candidates, --tune-refine, --tune-direct and "
                           "--tune-out go with --tune-gemm");
    snprintf(s->sections, sizeof s->sections, "%s",
             o->tune_gemm   ? "tune"
             : o->tune_plan ? "plan"
             : o->sections  ? o->sections
                            : "memory,gemm,startup,infer,train,profile");
    char buf[160];
    snprintf(buf, sizeof buf, "%s", s->sections);
    save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int k = 0;
        while (k < NUM_SECTIONS && strcmp(bench_sections[k].name, tok))
            k++;
        if (k == NUM_SECTIONS) {
            return usage_error("--sections: unknown section '%s'", tok);
        }
        if (!strcmp(tok, "tune") && !o->tune_gemm)
            return usage_error("--sections: 'tune' is run by --tune-gemm");
        if (!strcmp(tok, "plan") && !o->tune_plan)
            return usage_error("--sections: 'plan' is run by --tune");
        s->section_mask |= 1u << k;
    }
    if (!s->section_mask) return usage_error("--sections: empty list");
    return 0;
}

static char self_path[4096];

static const char *find_self(const char *argv0) {
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (n > 0) {
        self_path[n] = '\0';
        return self_path;
    }
    return argv0;
}

/* Runs every selected section on one device; returns the number of failed sections. */
static int run_device(const bench_settings *s, bench_results *res, const char *spec) {
    clvit_ctx *ctx = NULL;
    /* the tuner measures CLBlast's own parameters first, so nothing may be applied yet */
    if (strstr(s->sections, "tune")) setenv("CLVIT_GEMM_TUNING", "off", 1);
    clvit_status st = clvit_ctx_create(&ctx, spec);
    if (st != CLVIT_SUCCESS) {
        bench_log_status("device", st);
        return -1;
    }
    bench_device *grown = realloc(res->devs, (size_t)(res->ndev + 1) * sizeof *grown);
    if (!grown) {
        clvit_ctx_free(ctx);
        return -1;
    }
    res->devs = grown;
    bench_device_fill(&res->devs[res->ndev], clvit_ctx_device(ctx));
    snprintf(res->devs[res->ndev].gemm_tuning, sizeof res->devs[res->ndev].gemm_tuning, "%s",
             clvit_ctx_gemm_tuning(ctx));
    bench_env e = {s, res, res->ndev, ctx, 0};
    res->ndev++;
    bench_log("device [%d] %s (%s)", e.dev, clvit_ctx_device(ctx)->name,
              clvit_ctx_device(ctx)->platform_name);
    int failed = 0;
    for (int k = 0; k < NUM_SECTIONS; k++) {
        if (!(s->section_mask & (1u << k))) continue;
        double t0 = bench_now();
        int bad = bench_sections[k].fn(&e);
        bench_log("%s: done in %.1f s%s", bench_sections[k].name, bench_now() - t0,
                  bad ? " (FAILED)" : "");
        failed += bad != 0;
    }
    if (e.failures)
        bench_log("%d correctness checks FAILED on %s", e.failures, clvit_ctx_device(ctx)->name);
    clvit_ctx_free(ctx);
    return failed + (e.failures > 0);
}

static int write_output(const bench_results *res, const bench_settings *s,
                        const clvit_device_info *inv, int ninv, bench_format fmt, FILE *f) {
    switch (fmt) {
    case FMT_JSON:
        return bench_write_json(res, s, inv, ninv, f);
    case FMT_CSV:
        bench_write_csv(res, f);
        return ferror(f) != 0;
    case FMT_MD:
        fprintf(f, "# clvit-bench %s\n", clvit_version());
        bench_print_inventory(inv, ninv, f, FMT_MD);
        bench_print_results(res, f, FMT_MD);
        return ferror(f) != 0;
    case FMT_TABLE:
        bench_print_inventory(inv, ninv, f, FMT_TABLE);
        bench_print_results(res, f, FMT_TABLE);
        return ferror(f) != 0;
    }
    return 1;
}

int main(int argc, char **argv) {
    raw_opts o;
    memset(&o, 0, sizeof o);
    int r = parse_args(argc, argv, &o);
    if (r) {
        free(o.pos);
        return r;
    }
    if (o.help) {
        usage(stdout);
        free(o.pos);
        return 0;
    }
    bench_format fmt = FMT_TABLE;
    if (o.format && (int)(fmt = format_of(o.format)) < 0) {
        free(o.pos);
        return usage_error("--format: '%s' is not table, json, csv or md", o.format);
    }
    if (!o.format && o.output) fmt = format_of_path(o.output);

    if (o.startup_child) {
        int rc = bench_startup_child(o.device, o.models ? o.models : "vit_mnist");
        free(o.pos);
        return rc;
    }
    if (o.compare) {
        if (o.npos != 2) {
            free(o.pos);
            return usage_error("--compare needs two result files: --compare A.json B.json");
        }
        FILE *f = o.output ? fopen(o.output, "w") : stdout;
        if (!f) {
            bench_log("cannot write %s", o.output);
            free(o.pos);
            return 1;
        }
        int rc = bench_compare(o.pos[0], o.pos[1], f, fmt == FMT_JSON ? FMT_TABLE : fmt);
        if (f != stdout) fclose(f);
        free(o.pos);
        return rc;
    }
    if (o.npos > 0 && !o.plot) {
        /* result files given: print them in the chosen format, measure nothing */
        if (fmt == FMT_JSON) {
            free(o.pos);
            return usage_error("result files are printed as table, md or csv, not json");
        }
        FILE *f = o.output ? fopen(o.output, "w") : stdout;
        int rc = f ? 0 : 1;
        if (!f) bench_log("cannot write %s: %s", o.output, strerror(errno));
        for (int i = 0; i < o.npos && !rc; i++) {
            bench_results res;
            rc = bench_read_json(o.pos[i], &res);
            if (rc) break;
            if (fmt == FMT_CSV) {
                bench_write_csv(&res, f);
            } else {
                fprintf(f, fmt == FMT_MD ? "\n# %s\n\n%s, %s\n" : "\n%s: %s, %s\n", o.pos[i],
                        res.tool, res.timestamp);
                bench_print_results(&res, f, fmt);
            }
            bench_results_free(&res);
        }
        if (f && f != stdout) rc |= fclose(f) != 0;
        free(o.pos);
        return rc;
    }
    if (o.plot && o.npos > 0) {
        bench_results *sets = calloc((size_t)o.npos, sizeof *sets);
        int rc = sets ? 0 : 1;
        for (int i = 0; i < o.npos && !rc; i++)
            rc = bench_read_json(o.pos[i], &sets[i]);
        if (!rc) rc = bench_plot(sets, o.npos, o.plot);
        if (!rc) bench_log("wrote %s", o.plot);
        for (int i = 0; sets && i < o.npos; i++)
            bench_results_free(&sets[i]);
        free(sets);
        free(o.pos);
        return rc;
    }

    bench_settings s;
    char models_buf[1024];
    r = make_settings(&o, &s, models_buf, sizeof models_buf);
    if (r) {
        free(o.pos);
        return r;
    }
    s.self_exe = find_self(argv[0]);
    if (o.all_devices && o.device) {
        free(o.pos);
        return usage_error("--all-devices and --device exclude each other");
    }

    clvit_device_info *inv = NULL;
    int ninv = 0;
    clvit_status st = clvit_list_devices(&inv, &ninv);
    if (st != CLVIT_SUCCESS) {
        bench_log_status("devices", st);
        free(o.pos);
        return 1;
    }
    bench_print_inventory(inv, ninv, stderr, FMT_TABLE);
    fputc('\n', stderr);
    double l1, l15;
    if (bench_loadavg(&l1, &l15) && l1 > 0.5 * (double)sysconf(_SC_NPROCESSORS_ONLN))
        bench_log("the machine is busy (load average %.2f on %ld CPUs): expect noisy results", l1,
                  sysconf(_SC_NPROCESSORS_ONLN));

    bench_results res;
    memset(&res, 0, sizeof res);
    int failed = 0;
    double t0 = bench_now();
    if (o.all_devices) {
        for (int i = 0; i < ninv; i++) {
            char spec[32];
            snprintf(spec, sizeof spec, "%d:%d", inv[i].platform_index, inv[i].device_index);
            failed += run_device(&s, &res, spec) != 0;
        }
    } else {
        failed += run_device(&s, &res, o.device) != 0;
    }
    bench_log("suite done in %.1f s", bench_now() - t0);

    int io_bad = 0;
    if (o.output) {
        FILE *f = fopen(o.output, "w");
        if (!f) {
            bench_log("cannot write %s: %s", o.output, strerror(errno));
            io_bad = 1;
        } else {
            io_bad = write_output(&res, &s, inv, ninv, fmt, f);
            io_bad |= fclose(f) != 0;
            if (!io_bad) bench_log("wrote %s", o.output);
        }
        bench_print_results(&res, stdout, FMT_TABLE);
    } else if (o.format && fmt != FMT_TABLE) {
        io_bad = write_output(&res, &s, inv, ninv, fmt, stdout);
    } else {
        bench_print_results(&res, stdout, FMT_TABLE);
    }
    if (o.plot) {
        io_bad |= bench_plot(&res, 1, o.plot);
        if (!io_bad) bench_log("wrote %s", o.plot);
    }
    bench_results_free(&res);
    free(inv);
    free(o.pos);
    return failed || io_bad ? 1 : 0;
}
