/*
 * gemm_plan.c - which GEMM kernel runs which shape on this device, decided by measuring.
 *
 * The first time a shape (ta, tb, M, N, K, batch) runs on a device, the candidates of
 * lib/gemm.c that suit the device class are timed on it: each writes a scratch C (never the
 * caller's), once to build and warm up, then repeated until about 20 ms have passed; the
 * median launch wins. The choice goes into the plan, which lives in memory and on disk beside
 * the program cache, one text file per (device, driver, clvit version, cl/gemm.cl source):
 *
 *   # clvit GEMM plan 2
 *   ta tb M N K batch candidate microseconds quick|deep
 *   ln M N K fused|apart microseconds
 *
 * where an "ln" line says whether the residual Linear x W^T (M, N, K) and the LayerNorm after
 * it run as one launch (lib/linear.c measures it, gemm_ln in cl/gemm.cl) or apart,
 * written whole to a temporary file and renamed. A file that does not parse is ignored and
 * rewritten. CLVIT_GEMM_TUNE selects how much is measured:
 *   0 or off  nothing: the plan on disk if there is one, else the device class's default
 *   1 (unset) the quick candidates, at most QUICK_BUDGET seconds per process
 *   deep      every candidate that fits the device, CLBlast included, no time limit; shapes
 *             the plan holds from quick tuning are measured again (clvit-bench --tune)
 * CLVIT_GEMM_CANDIDATES=NAME,... times only those candidates, in either mode.
 */
#include "gemm_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLAN_MAGIC "# clvit GEMM plan 2"
#define QUICK_BUDGET 10.0 /* seconds of tuning per process, program builds included */
#define TIME_TARGET 0.02  /* seconds of timed launches per candidate */

typedef struct plan_entry {
    int ta, tb;
    size_t m, n, k, batch;
    int cand;
    double us;
    int deep; /* chosen among every candidate (deep tuning), not the quick set */
} plan_entry;

/* A residual Linear's LayerNorm: fused into its GEMM or apart (lib/linear.c measures). */
typedef struct ln_entry {
    size_t m, n, k;
    int fused;
    double us;
} ln_entry;

struct clvit_gemm_plan {
    plan_entry *e;
    int n, cap;
    ln_entry *ln;
    int n_ln, cap_ln;
    int mode; /* 0 off, 1 quick, 2 deep */
    double tuned_seconds;
    int budget_note; /* the "budget spent" line was printed */
    char path[700];  /* "" when there is no disk cache */
};

/* The device class's first choice that fits its work-group and local-memory limits (the
 * last entries need 8 and 1 work-items). */
static int default_cand(const clvit_ctx *ctx, int tb) {
    static const char *gpu[] = {"local_16x16_4x4", "local_8x8_4x4", "vn_2x16_gpu", "vn_6x32"};
    static const char *cpu_nn[] = {"vn_6x32_wg4x4", "vn_6x32", "vn_8x8"};
    static const char *cpu_nt[] = {"pack_vn_6x32_wg4x4", "pack_vn_6x32", "vn_8x8"};
    const char **list = !ctx->info.is_cpu ? gpu : tb ? cpu_nt : cpu_nn;
    const int n = !ctx->info.is_cpu ? 4 : 3;
    for (int i = 0; i < n; i++) {
        const int c = clvit_gemm_cand_find(list[i]);
        if (c >= 0 && clvit_gemm_cand_fits(ctx, &clvit_gemm_cands[c])) return c;
    }
    return clvit_gemm_cand_find("clblast");
}

static int add_entry(struct clvit_gemm_plan *p, const plan_entry *e) {
    for (int i = 0; i < p->n; i++) {
        plan_entry *o = &p->e[i];
        if (o->ta == e->ta && o->tb == e->tb && o->m == e->m && o->n == e->n && o->k == e->k &&
            o->batch == e->batch) {
            *o = *e;
            return 1;
        }
    }
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 64;
        plan_entry *ne = realloc(p->e, (size_t)cap * sizeof *ne);
        if (!ne) return 0;
        p->e = ne;
        p->cap = cap;
    }
    p->e[p->n++] = *e;
    return 1;
}

static int add_ln(struct clvit_gemm_plan *p, const ln_entry *l) {
    for (int i = 0; i < p->n_ln; i++)
        if (p->ln[i].m == l->m && p->ln[i].n == l->n && p->ln[i].k == l->k) {
            p->ln[i] = *l;
            return 1;
        }
    if (p->n_ln == p->cap_ln) {
        int cap = p->cap_ln ? 2 * p->cap_ln : 16;
        ln_entry *nl = realloc(p->ln, (size_t)cap * sizeof *nl);
        if (!nl) return 0;
        p->ln = nl;
        p->cap_ln = cap;
    }
    p->ln[p->n_ln++] = *l;
    return 1;
}

/* Fills p from the text of a plan file (modified in place); any malformed line empties the
 * plan (the file is then rewritten). 0 when the text was discarded. */
static int parse_plan(struct clvit_gemm_plan *p, char *text) {
    int ok = !strncmp(text, PLAN_MAGIC "\n", strlen(PLAN_MAGIC) + 1);
    char *save = NULL;
    for (char *line = ok ? strtok_r(text + strlen(PLAN_MAGIC) + 1, "\n", &save) : NULL; ok && line;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') continue;
        if (!strncmp(line, "ln ", 3)) {
            ln_entry l;
            char how[8], tail;
            unsigned long long m, n, k;
            if (sscanf(line + 3, "%llu %llu %llu %7s %lf %c", &m, &n, &k, how, &l.us, &tail) != 5 ||
                (strcmp(how, "fused") && strcmp(how, "apart")) || !m || !n || !k ||
                !(l.us >= 0.0)) {
                ok = 0;
                break;
            }
            l.m = (size_t)m, l.n = (size_t)n, l.k = (size_t)k, l.fused = !strcmp(how, "fused");
            if (!add_ln(p, &l)) ok = 0;
            continue;
        }
        plan_entry e;
        char name[64], how[8], tail;
        unsigned long long m, n, k, b;
        if (sscanf(line, "%d %d %llu %llu %llu %llu %63s %lf %7s %c", &e.ta, &e.tb, &m, &n, &k, &b,
                   name, &e.us, how, &tail) != 9 ||
            (strcmp(how, "quick") && strcmp(how, "deep")) || (e.ta != 0 && e.ta != 1) ||
            (e.tb != 0 && e.tb != 1) || !m || !n || !k || !b || !(e.us >= 0.0)) {
            ok = 0;
            break;
        }
        e.m = (size_t)m, e.n = (size_t)n, e.k = (size_t)k, e.batch = (size_t)b;
        e.cand = clvit_gemm_cand_find(name);
        e.deep = !strcmp(how, "deep");
        if (e.cand < 0 || !add_entry(p, &e)) ok = 0;
    }
    if (!ok) p->n = 0, p->n_ln = 0;
    return ok;
}

/* Reads the plan file, if there is one. */
static void load_plan(struct clvit_gemm_plan *p) {
    char *text = clvit_read_file(p->path, NULL);
    if (!text) return;
    parse_plan(p, text);
    free(text);
}

int clvit_gemm_plan_parse_text(const char *text) {
    struct clvit_gemm_plan p = {0};
    char *copy = malloc(strlen(text) + 1);
    if (!copy) return -1;
    strcpy(copy, text);
    const int n = parse_plan(&p, copy) ? p.n + p.n_ln : -1;
    free(copy);
    free(p.e);
    free(p.ln);
    return n;
}

static void save_plan(const struct clvit_gemm_plan *p) {
    if (!p->path[0]) return;
    char dir[700];
    snprintf(dir, sizeof dir, "%s", p->path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    FILE *f;
    char *tmp;
    if (clvit_mkdir_p(dir) != 0 || clvit_atomic_open(p->path, &f, &tmp) != CLVIT_SUCCESS) {
        clvit_clear_error(); /* a cache that cannot be written only costs the next run time */
        return;
    }
    int ok = fprintf(f, "%s\n", PLAN_MAGIC) > 0;
    for (int i = 0; i < p->n; i++) {
        const plan_entry *e = &p->e[i];
        ok = ok && fprintf(f, "%d %d %zu %zu %zu %zu %s %.1f %s\n", e->ta, e->tb, e->m, e->n, e->k,
                           e->batch, clvit_gemm_cands[e->cand].name, e->us,
                           e->deep ? "deep" : "quick") > 0;
    }
    for (int i = 0; i < p->n_ln; i++) /* those not measured (us < 0) stay in memory */
        ok = ok && (p->ln[i].us < 0.0 ||
                    fprintf(f, "ln %zu %zu %zu %s %.1f\n", p->ln[i].m, p->ln[i].n, p->ln[i].k,
                            p->ln[i].fused ? "fused" : "apart", p->ln[i].us) > 0);
    if (clvit_atomic_commit(f, tmp, p->path, ok) != CLVIT_SUCCESS) clvit_clear_error();
}

static clvit_status plan_get(clvit_ctx *ctx, struct clvit_gemm_plan **out) {
    if (ctx->plan) {
        *out = ctx->plan;
        return CLVIT_SUCCESS;
    }
    struct clvit_gemm_plan *p = calloc(1, sizeof *p);
    if (!p) return clvit_fail(CLVIT_ERR_NOMEM, "GEMM plan");
    const char *env = getenv("CLVIT_GEMM_TUNE");
    p->mode = 1;
    if (env && (!strcmp(env, "0") || !strcmp(env, "off")))
        p->mode = 0;
    else if (env && !strcmp(env, "deep"))
        p->mode = 2;
    else if (env && *env && strcmp(env, "1") && strcmp(env, "quick")) {
        free(p);
        return clvit_fail(CLVIT_ERR_INVALID_ARG,
                          "CLVIT_GEMM_TUNE='%s': expected 0, off, 1, quick or deep", env);
    }
    if (ctx->cache_dir[0]) {
        const char *parts[] = {ctx->info.name, ctx->info.driver_version, ctx->info.platform_version,
                               CLVIT_VERSION};
        uint64_t h = clvit_kernel_file_hash("gemm.cl");
        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
            h = clvit_fnv1a(h, parts[i], strlen(parts[i]) + 1);
        /* the limits decide which candidates can run (CLVIT_MAX_WORK_GROUP emulates lower) */
        const uint64_t limits[2] = {ctx->info.max_work_group_size, ctx->info.local_mem_bytes};
        h = clvit_fnv1a(h, limits, sizeof limits);
        snprintf(p->path, sizeof p->path, "%s/gemm-plan-%016llx.txt", ctx->cache_dir,
                 (unsigned long long)h);
        load_plan(p);
    }
    ctx->plan = p;
    *out = p;
    return CLVIT_SUCCESS;
}

clvit_status clvit_gemm_plan_mode(clvit_ctx *ctx, int *mode) {
    struct clvit_gemm_plan *p = NULL;
    CLVIT_CHECK(plan_get(ctx, &p));
    *mode = p->mode;
    return CLVIT_SUCCESS;
}

clvit_status clvit_gemm_plan_ln_get(clvit_ctx *ctx, size_t m, size_t n, size_t k, int *fused) {
    struct clvit_gemm_plan *p = NULL;
    CLVIT_CHECK(plan_get(ctx, &p));
    *fused = -1;
    for (int i = 0; i < p->n_ln; i++)
        if (p->ln[i].m == m && p->ln[i].n == n && p->ln[i].k == k) *fused = p->ln[i].fused;
    return CLVIT_SUCCESS;
}

clvit_status clvit_gemm_plan_ln_put(clvit_ctx *ctx, size_t m, size_t n, size_t k, int fused,
                                    double us, int save) {
    struct clvit_gemm_plan *p = NULL;
    CLVIT_CHECK(plan_get(ctx, &p));
    const ln_entry l = {m, n, k, fused, us};
    if (!add_ln(p, &l)) return clvit_fail(CLVIT_ERR_NOMEM, "GEMM plan entry");
    if (save) save_plan(p);
    return CLVIT_SUCCESS;
}

void clvit_gemm_plan_free(clvit_ctx *ctx) {
    if (!ctx->plan) return;
    free(ctx->plan->e);
    free(ctx->plan->ln);
    free(ctx->plan);
    ctx->plan = NULL;
}

/* Median seconds per launch of candidate c on op (whose C is scratch). */
static clvit_status time_cand(clvit_ctx *ctx, const clvit_gemm_op *op, int c, double *sec) {
    CLVIT_CHECK(clvit_gemm_launch(ctx, "tune", op, c)); /* builds and warms up */
    CLVIT_CHECK(clvit_ctx_finish(ctx));
    double t[16];
    int n = 0;
    double start = clvit_now_seconds();
    while (n < 16 && (n < 3 || clvit_now_seconds() - start < TIME_TARGET)) {
        double t0 = clvit_now_seconds();
        CLVIT_CHECK(clvit_gemm_launch(ctx, "tune", op, c));
        CLVIT_CHECK(clvit_ctx_finish(ctx));
        t[n++] = clvit_now_seconds() - t0;
    }
    for (int i = 1; i < n; i++) /* insertion sort, n <= 16 */
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    *sec = t[n / 2];
    return CLVIT_SUCCESS;
}

/* Whether `name` is in the comma-separated list. */
static int listed(const char *list, const char *name) {
    const size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ',');
        const size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return 1;
        p = end ? end + 1 : NULL;
    }
    return 0;
}

/* Whether candidate c is timed for this product in this mode. CLVIT_GEMM_CANDIDATES (a
 * comma-separated list of names) narrows either mode to those candidates. */
static int tried(const clvit_ctx *ctx, int mode, const clvit_gemm_op *op, int c) {
    const clvit_gemm_cand *cd = &clvit_gemm_cands[c];
    if (!clvit_gemm_cand_fits(ctx, cd)) return 0;
    const char *only = getenv("CLVIT_GEMM_CANDIDATES");
    if (only && *only) return listed(only, cd->name);
    if (mode == 2) return 1;
    if (!(ctx->info.is_cpu ? cd->quick_cpu : cd->quick_gpu)) return 0;
    /* on CPUs, vectors need contiguous rows: along N (vn) when B is (K, N) or along K (dot)
     * when A is (M, K) and B is (N, K) */
    if (ctx->info.is_cpu && cd->kind == GEMM_VN && op->tb) return 0;
    if (cd->kind == GEMM_PACK_VN && !op->tb) return 0; /* the same as plain vn */
    if (ctx->info.is_cpu && cd->kind == GEMM_DOT && (op->ta || !op->tb)) return 0;
    return 1;
}

static clvit_status tune(clvit_ctx *ctx, struct clvit_gemm_plan *p, const char *label,
                         const clvit_gemm_op *op, plan_entry *e) {
    const double t_start = clvit_now_seconds();
    const size_t batch = op->batch > 1 ? op->batch : 1;
    clvit_gemm_op t = *op; /* timed on a scratch C: the caller's C, aux and row sums stay
                              untouched */
    t.epi = CLVIT_EPI_NONE;
    t.beta = 0.0f;
    t.ldc = op->n;
    t.sc = op->m * op->n;
    t.aux = CLVIT_T(NULL, 0);
    t.rowsum = CLVIT_T(NULL, 0);
    cl_mem scratch;
    if (clvit_buffer(ctx, batch * op->m * op->n, &scratch) != CLVIT_SUCCESS) {
        /* no room for a scratch C as large as this product's: run it untimed this time */
        clvit_clear_error();
        e->cand = -1;
        return CLVIT_SUCCESS;
    }
    t.c = CLVIT_T(scratch, 0);
    const double flops = 2.0 * (double)op->m * (double)op->n * (double)op->k * (double)batch;
    fprintf(stderr, "clvit: tuning GEMM %s (%s%s %zux%zux%zu", label, op->ta ? "T" : "N",
            op->tb ? "T" : "N", op->m, op->n, op->k);
    if (batch > 1) fprintf(stderr, " x%zu", batch);
    fprintf(stderr, "):");
    double best = 0.0;
    e->cand = -1;
    for (int c = 0; clvit_gemm_cands[c].name; c++) {
        if (!tried(ctx, p->mode, op, c)) continue;
        if (op->batch > 1 && clvit_gemm_cands[c].kind == GEMM_CLBLAST && (op->sc < op->m * op->n))
            continue;
        double sec;
        if (time_cand(ctx, &t, c, &sec) != CLVIT_SUCCESS) {
            /* a candidate this driver cannot build or run is left out, not fatal */
            fprintf(stderr, " %s failed (%s)", clvit_gemm_cands[c].name, clvit_last_error());
            clvit_clear_error();
            continue;
        }
        fprintf(stderr, " %s %.1f", clvit_gemm_cands[c].name, flops / sec * 1e-9);
        if (e->cand < 0 || sec < best) best = sec, e->cand = c;
    }
    clReleaseMemObject(scratch);
    if (e->cand < 0) { /* none ran: the default, not recorded (it may fail too, and say why) */
        fprintf(stderr, " no candidate ran\n");
        return CLVIT_SUCCESS;
    }
    fprintf(stderr, " GFLOP/s -> %s (%.1f s)\n", clvit_gemm_cands[e->cand].name,
            clvit_now_seconds() - t_start);
    e->us = best * 1e6;
    p->tuned_seconds += clvit_now_seconds() - t_start;
    return CLVIT_SUCCESS;
}

clvit_status clvit_gemm_plan_choose(clvit_ctx *ctx, const char *label, const clvit_gemm_op *op,
                                    int *cand) {
    struct clvit_gemm_plan *p = NULL;
    CLVIT_CHECK(plan_get(ctx, &p));
    const size_t batch = op->batch > 1 ? op->batch : 1;
    for (int i = 0; i < p->n; i++) {
        const plan_entry *e = &p->e[i];
        if (e->ta == op->ta && e->tb == op->tb && e->m == op->m && e->n == op->n && e->k == op->k &&
            e->batch == batch && (p->mode != 2 || e->deep) &&
            clvit_gemm_cand_fits(ctx, &clvit_gemm_cands[e->cand])) {
            *cand = e->cand;
            return CLVIT_SUCCESS;
        }
    }
    plan_entry e = {op->ta, op->tb, op->m, op->n, op->k, batch, -1, 0.0, p->mode == 2};
    const int budget_left = p->mode == 2 || p->tuned_seconds < QUICK_BUDGET;
    if (p->mode == 0 || !budget_left) {
        if (p->mode && !p->budget_note) {
            fprintf(stderr,
                    "clvit: GEMM tuning budget (%.0f s) spent; remaining shapes use the "
                    "default kernel this run\n",
                    QUICK_BUDGET);
            p->budget_note = 1;
        }
        *cand = default_cand(ctx, op->tb);
        return CLVIT_SUCCESS;
    }
    CLVIT_CHECK(tune(ctx, p, label, op, &e));
    if (e.cand < 0) { /* not measured: the default, not recorded */
        *cand = default_cand(ctx, op->tb);
        return CLVIT_SUCCESS;
    }
    if (!add_entry(p, &e)) return clvit_fail(CLVIT_ERR_NOMEM, "GEMM plan entry");
    save_plan(p);
    *cand = e.cand;
    return CLVIT_SUCCESS;
}
