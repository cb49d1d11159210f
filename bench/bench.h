/*
 * bench.h - what the files of clvit-bench share.
 *
 * A run is a list of rows. Each row is one measured quantity on one device:
 *
 *   section  name            model        batch  shape           unit     stats (median..)
 *   memory   copy_kernel     -            0      64MiB           GB/s     ...
 *   gemm     sgemm_square    -            0      512x512x512     GFLOP/s  ...
 *   gemm     fc1             deit_tiny..  8      1576x768x192    GFLOP/s  ...
 *   startup  first_forward_cold  vit_mnist 1     -               ms       ...
 *   infer    throughput      vit_mnist    32     -               img/s    ...
 *   profile  kernel:fc1      vit_mnist    32     -               ms       ...
 *
 * The key of a row is (section, name, model, batch, shape); two result files are compared
 * row by row on that key (bench_compare.c). Every row carries the statistics of its timed
 * runs in its own unit (for a rate, the statistics of the per-run rates).
 *
 * Sections are a table in clvit_bench.c (bench_sections[]): a section is a function run once
 * per device. A training section ('train': forward, backward and optimizer step per preset)
 * is added there; the training step is bench/bench_train.c.
 */
#ifndef CLVIT_BENCH_H
#define CLVIT_BENCH_H

#include "clvit.h"

#include <stdio.h>

/* clvit-bench uses clvit's public API only (include/clvit.h); these are its own helpers. */
#if defined(__GNUC__)
#define BENCH_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define BENCH_PRINTF(a, b)
#endif

/* Records a failure of the bench's own (out of memory, wrong results...) as the library
 * records its own, so that bench_log_status prints this message for that status. Returns
 * status. */
clvit_status bench_fail(clvit_status status, const char *fmt, ...) BENCH_PRINTF(2, 3);

/* Returns a failing clvit_status. */
#define BENCH_CHECK(expr)                                                                          \
    do {                                                                                           \
        clvit_status bench_check_s_ = (expr);                                                      \
        if (bench_check_s_ != CLVIT_SUCCESS) return bench_check_s_;                                \
    } while (0)
/* Stores a clvit_status in st and jumps to label when it fails. */
#define BENCH_TRY(st, expr, label)                                                                 \
    do {                                                                                           \
        (st) = (expr);                                                                             \
        if ((st) != CLVIT_SUCCESS) goto label;                                                     \
    } while (0)
/* Returns a failing OpenCL call's code, with the call in the message. */
#define BENCH_CHECK_CL(expr)                                                                       \
    do {                                                                                           \
        cl_int bench_cl_e_ = (expr);                                                               \
        if (bench_cl_e_ != CL_SUCCESS)                                                             \
            return bench_fail(bench_cl_e_, "%s failed: %s (%d)", #expr,                            \
                              clvit_status_string(bench_cl_e_), bench_cl_e_);                      \
    } while (0)

#define BENCH_MAX_LIST 32
#define BENCH_SCHEMA "clvit-bench/1"

/* Statistics of n timed runs, in the row's unit. spread_pct = 100 (max - min) / median. */
typedef struct bench_stats {
    int n;
    double median, min, max, mean, stddev, spread_pct;
} bench_stats;

typedef struct bench_row {
    char section[16];
    char name[64];
    char model[64];
    int batch;      /* 0: not applicable */
    char shape[64]; /* "" when not applicable; MxNxK (xBATCH) for GEMMs */
    int device;     /* index into bench_results.devs */
    char unit[16];
    int higher_is_better;
    bench_stats st;
    /* optional extras, NAN / 0 / "" when absent */
    double gflops;    /* achieved GFLOP/s (median run) */
    double frac_peak; /* gflops / the device's measured SGEMM peak */
    double share_pct; /* profile rows: share of the forward's kernel time */
    int calls;        /* profile rows: launches per forward */
    char kind[16];    /* profile rows: "gemm", "kernel", "layer", "total" */
    char note[128];   /* e.g. the correctness check */
    /* gemm rows: OpenBLAS's cblas_sgemm on the same shape and host matrices, timed the same
     * way (GFLOP/s; n == 0 when not measured), and st.median / blas.median */
    bench_stats blas;
    double blas_ratio;
} bench_row;

/* A device as results record it; info is partial for files written by other tools. */
typedef struct bench_device {
    clvit_device_info info;
    char type[16];         /* "GPU", "CPU", "other" */
    char tool[64];         /* "clvit-bench 0.1.0", "PyTorch 1.13.1" */
    double peak_gflops;    /* best square SGEMM measured here, NAN before */
    char gemm_tuning[128]; /* where CLBlast's parameters came from ("" when unknown) */
    /* the OpenBLAS baseline of the gemm section; threads 0: none measured */
    int blas_threads;
    char blas_core[64];    /* openblas_get_corename(): the kernels it runs */
    char blas_config[160]; /* openblas_get_config() */
} bench_device;

typedef struct bench_results {
    bench_device *devs;
    int ndev;
    bench_row *rows;
    int nrows, cap;
    /* from a file: its settings and header, kept to print and compare */
    char tool[64], version[32], timestamp[40], path[512];
} bench_results;

typedef enum { FMT_TABLE, FMT_JSON, FMT_CSV, FMT_MD } bench_format;

typedef struct bench_settings {
    int quick;
    int reps, warmup;
    double max_time; /* seconds of timed runs per row before stopping early (at least 3 runs) */
    double min_time; /* seconds one timed run of a device-limit test lasts at least */
    const char *models[BENCH_MAX_LIST];
    int nmodels;
    int batches[BENCH_MAX_LIST];
    int nbatches;
    int gemm_sizes[BENCH_MAX_LIST];
    int ngemm_sizes;
    int gemm_batch;         /* batch the preset GEMM shapes are taken at */
    int profile_batch;      /* batch the per-kernel breakdown is taken at */
    double train_max_gflop; /* train section: models above this forward GFLOP/image are skipped */
    int startup_reps;
    int startup_driver_cold; /* 1: start-up's cold runs also empty the driver's kernel cache */
    size_t mem_bytes;        /* buffer size of the bandwidth tests */
    unsigned long long seed;
    const char *device_spec;
    int all_devices;
    char sections[160]; /* comma list as given (for the JSON) */
    unsigned section_mask;
    const char *self_exe; /* to start the start-up measurements in fresh processes */
    int tune_batch;       /* --tune-gemm: batch of the training-step GEMM shapes */
    int tune_candidates;  /* --tune-gemm: sampled Xgemm parameter sets */
    int tune_direct;      /* --tune-gemm: XgemmDirect settings tried (at most 6) */
    int tune_refine;      /* --tune-gemm: hill-climbing evaluations after the sample */
    const char *tune_out; /* --tune-gemm: file to write (NULL: the device's cache file) */
} bench_settings;

/* What a section gets: the settings, the results so far and the device being measured. */
typedef struct bench_env {
    const bench_settings *s;
    bench_results *res;
    int dev;        /* index into res->devs */
    clvit_ctx *ctx; /* context on that device */
    int failures;   /* correctness checks that failed */
} bench_env;

/* ------------------------------------------------------------ bench_util.c */
double bench_now(void);
void bench_stats_from(bench_stats *st, const double *samples, int n);
/* Appends a row (zeroed extras) and returns it; NULL when out of memory. */
bench_row *bench_add_row(bench_results *r, const char *section, const char *name, const char *model,
                         int batch, const char *shape, int device, const char *unit,
                         int higher_is_better);
void bench_results_free(bench_results *r);
/* Prints a progress line on stderr: "clvit-bench: ...". */
void bench_log(const char *fmt, ...) BENCH_PRINTF(1, 2);
/* Prints "clvit-bench: <what>: <status>: <detail>": the detail of the bench_fail that returned
 * st, else the library's last error. */
void bench_log_status(const char *what, clvit_status st);
/* Replaces path with text whole or not at all (path.tmp, fsync, rename), creating the
 * directories above it; a failure is recorded with bench_fail. */
clvit_status bench_write_file_atomic(const char *path, const char *text);

/*
 * Times fn: `warmup` untimed calls, then timed calls until `reps` are done or, once at least
 * three are done, max_time has passed. One call of fn does `iters` operations (and waits for
 * them); samples[i] = seconds of call i / iters. Returns the first failing status.
 */
typedef clvit_status (*bench_fn)(void *arg);
clvit_status bench_time(const bench_settings *s, bench_fn fn, void *arg, int iters, double *samples,
                        int *n);
/* bench_time for two operations that are compared with each other (clvit and OpenBLAS):
 * their warm-up and timed calls alternate (a b, then b a, ...), so that both see the same
 * load on a shared machine. n counts the timed calls of each; max_time is doubled. */
clvit_status bench_time_pair(const bench_settings *s, bench_fn fn_a, void *arg_a, int iters_a,
                             double *samples_a, bench_fn fn_b, void *arg_b, int iters_b,
                             double *samples_b, int *n);
/* Deterministic uniform floats in [-1, 1) from seed (the models' random input images). */
void bench_random_images(float *x, size_t n, unsigned long long seed);
/* Adds a `section`/`lat_name` row (ms) and a `section`/throughput row (img/s) for batch b
 * from n per-call times in seconds (samples is rescaled in place), with GFLOP/s from
 * flops_per_image and the fraction of the device's peak. */
void bench_add_rate_rows(bench_env *e, const char *section, const char *lat_name, const char *model,
                         int b, double flops_per_image, double *samples, int n,
                         const char *lat_note, const char *thr_note);
/* 1-minute and 15-minute load average from /proc/loadavg; 0 when unknown. */
int bench_loadavg(double *one, double *fifteen);
/* How many calls make one timed run last min_time, from the time of one call. */
int bench_iters_for(double one_call_s, double min_time);

/* A text table printed aligned, as Markdown or as CSV. */
#define TBL_MAX_COLS 32
typedef struct bench_table {
    int ncols, nrows, cap;
    char *head[TBL_MAX_COLS];
    int right[TBL_MAX_COLS]; /* right-align (numbers) */
    char **cells;            /* nrows * ncols */
    char *title;
} bench_table;
void tbl_init(bench_table *t, const char *title, int ncols);
void tbl_head(bench_table *t, int col, const char *name, int right);
/* Adds a row; the variadic arguments are ncols strings. */
void tbl_row(bench_table *t, ...);
void tbl_print(const bench_table *t, FILE *f, bench_format fmt);
void tbl_free(bench_table *t);
/* Formats a number with 3-4 significant digits into buf ("-" for NAN). */
const char *fmt_num(char *buf, size_t size, double v);

/* ------------------------------------------------------------ bench_device.c */
/* One SGEMM, row-major: C(m,n) = alpha op(A) op(B), A and B packed (lda/ldb from the
 * transposes); batch > 1 is strided-batched with packed matrices. */
typedef struct gemm_shape {
    const char *label;
    int trans_a, trans_b;
    size_t m, n, k, batch; /* batch 1: plain SGEMM, else strided-batched */
    float alpha;
} gemm_shape;
size_t bench_gemm_lda(const gemm_shape *g);
size_t bench_gemm_ldb(const gemm_shape *g);
clvit_status bench_gemm_enqueue(clvit_ctx *ctx, const gemm_shape *g, cl_mem a, cl_mem b, cl_mem c);
/* Checks 16 sampled entries of C against double-precision dot products; logs a failure. */
int bench_gemm_check(const gemm_shape *g, const float *A, const float *B, const float *C,
                     unsigned long long *rng);
/* Deterministic uniform floats in [-1, 1) from *state. */
void bench_rng_fill(float *x, size_t n, unsigned long long *state);
/* The GEMMs of one forward pass of cfg at batch b, labelled as the model labels them (at
 * most 16). */
int bench_preset_gemm_shapes(const clvit_config *cfg, int b, gemm_shape *out);
int bench_memory(bench_env *e);
int bench_gemm(bench_env *e);
/* SGEMM peak of the device: the gemm section's best square result, else a quick measure. */
double bench_peak_gflops(bench_env *e);

/* ------------------------------------------------------------ bench_blas.c */
/* The host BLAS (OpenBLAS) that the gemm section compares clvit with. */
typedef struct bench_blas_info {
    int threads;
    char corename[64];
    char config[160];
} bench_blas_info;
/* 1 when clvit-bench was built with OpenBLAS. */
int bench_blas_available(void);
/* Sets OpenBLAS's thread count and reads what it runs; 0 when not available. */
int bench_blas_setup(int threads, bench_blas_info *info);
/* The GEMM of g on host memory with cblas_sgemm (batched: a loop over the batch), with the
 * layout and strides of bench_gemm_enqueue. */
void bench_blas_sgemm(const gemm_shape *g, const float *A, const float *B, float *C);

/* ------------------------------------------------------------ bench_model.c */
int bench_startup(bench_env *e);
int bench_infer(bench_env *e);
int bench_profile(bench_env *e);

/* ------------------------------------------------------------ bench_train.c */
int bench_train(bench_env *e);
/* The start-up measurement in a fresh process (--startup-child): prints one line. */
int bench_startup_child(const char *device_spec, const char *model);

/* ------------------------------------------------------------ bench_tune.c */
/* --tune-gemm: searches CLBlast's GEMM parameters, writes the device's tuning file. */
int bench_tune(bench_env *e);
/* bench_plan.c: --tune, the deep GEMM plan search */
int bench_plan(bench_env *e);

/* ------------------------------------------------------------ reports */
/* bench_util.c: a device as results record it, from the library's description. */
void bench_device_fill(bench_device *d, const clvit_device_info *info);
/* bench_json.c: the results file (schema BENCH_SCHEMA) out and back in. */
int bench_write_json(const bench_results *r, const bench_settings *s,
                     const clvit_device_info *inventory, int ninventory, FILE *f);
int bench_read_json(const char *path, bench_results *r);
/* bench_table.c: text tables, Markdown, CSV. */
void bench_print_inventory(const clvit_device_info *inv, int n, FILE *f, bench_format fmt);
void bench_print_results(const bench_results *r, FILE *f, bench_format fmt);
void bench_write_csv(const bench_results *r, FILE *f);
/* The key rows are compared on: "section|name|model|batch|shape". */
void bench_row_key(const bench_row *r, char *buf, size_t size);
/* A percentage cell ("12%", "3.4%", "-" for NAN). */
void bench_pct_cell(char *buf, size_t size, double v);
/* bench_compare.c: --compare of two result files, row by row on the key. */
int bench_compare(const char *path_a, const char *path_b, FILE *f, bench_format fmt);
/* bench_plot.c: throughput against batch size, one panel per model, one line per (file,
 * device). */
int bench_plot(const bench_results *sets, int nsets, const char *svg_path);

#endif
