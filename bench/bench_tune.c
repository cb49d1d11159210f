/*
 * bench_tune.c - the `tune` section, run by `clvit-bench --tune-gemm`: searches CLBlast's
 * GEMM kernel parameters for one device on the GEMMs a training step of the chosen presets
 * runs (forward, input gradient and weight gradient of every linear layer, and the four
 * attention products), then writes the fastest set as the device's tuning file, which
 * clvit applies from then on (lib/gemm_tune.c).
 *
 * Candidates, in order: CLBlast's own database (the context is created with
 * CLVIT_GEMM_TUNING=off, and CLBlast cannot undo an override, so it goes first), clvit's
 * built-in entry for the device if there is one, then a fixed-seed sample of the indirect
 * Xgemm kernel's parameter space without local memory, the part that suits CPUs (PoCL)
 * and is valid on every device, then a hill-climb from the best of them (each parameter
 * doubled or halved in turn). The best Xgemm set is then tried with several thresholds
 * between CLBlast's direct and indirect kernels, and with a few settings of the direct
 * kernel. Every candidate's results are checked against double precision before it is
 * timed; a failing one is dropped. Candidates are timed one after the other, so the
 * overrides of an earlier one stay in force for kernels a later one does not name.
 */
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TUNE_MAX_SHAPES 48

typedef struct tune_set {
    clvit_ctx *ctx;
    gemm_shape g[TUNE_MAX_SHAPES];
    int n;
    cl_mem a[TUNE_MAX_SHAPES], b[TUNE_MAX_SHAPES], c[TUNE_MAX_SHAPES];
    float *ha[TUNE_MAX_SHAPES], *hb[TUNE_MAX_SHAPES], *hc[TUNE_MAX_SHAPES];
    double flops;
} tune_set;

/* Adds g and the two products its backward pass runs. */
static void add_train_shapes(tune_set *t, const gemm_shape *g) {
    if (t->n + 3 > TUNE_MAX_SHAPES) return;
    t->g[t->n++] = *g;
    gemm_shape dx = *g, dw = *g;
    /* forward C = op(A) op(B): dA = dC op(B)^T, dB = op(A)^T dC (as the model runs them) */
    dx.trans_a = 0;
    dx.trans_b = !g->trans_b;
    dx.n = g->k;
    dx.k = g->n;
    dw.trans_a = 1;
    dw.trans_b = 0;
    dw.m = g->trans_b ? g->n : g->k;
    dw.n = g->trans_b ? g->k : g->n;
    dw.k = g->m;
    dx.alpha = dw.alpha = 1.0f;
    t->g[t->n++] = dx;
    t->g[t->n++] = dw;
}

static void set_free(tune_set *t) {
    for (int i = 0; i < t->n; i++) {
        if (t->a[i]) clReleaseMemObject(t->a[i]);
        if (t->b[i]) clReleaseMemObject(t->b[i]);
        if (t->c[i]) clReleaseMemObject(t->c[i]);
        free(t->ha[i]);
        free(t->hb[i]);
        free(t->hc[i]);
    }
}

static clvit_status set_alloc(tune_set *t, unsigned long long seed) {
    for (int i = 0; i < t->n; i++) {
        const gemm_shape *g = &t->g[i];
        size_t na = g->batch * g->m * g->k, nb = g->batch * g->k * g->n,
               nc = g->batch * g->m * g->n;
        t->ha[i] = malloc(na * sizeof(float));
        t->hb[i] = malloc(nb * sizeof(float));
        t->hc[i] = malloc(nc * sizeof(float));
        if (!t->ha[i] || !t->hb[i] || !t->hc[i])
            return bench_fail(CLVIT_ERR_NOMEM, "GEMM host buffers");
        unsigned long long rng = seed + 977ULL * (unsigned long long)i;
        bench_rng_fill(t->ha[i], na, &rng);
        bench_rng_fill(t->hb[i], nb, &rng);
        BENCH_CHECK(clvit_buffer_create(t->ctx, na, &t->a[i]));
        BENCH_CHECK(clvit_buffer_create(t->ctx, nb, &t->b[i]));
        BENCH_CHECK(clvit_buffer_create(t->ctx, nc, &t->c[i]));
        BENCH_CHECK(clvit_buffer_write(t->ctx, t->a[i], 0, t->ha[i], na));
        BENCH_CHECK(clvit_buffer_write(t->ctx, t->b[i], 0, t->hb[i], nb));
        t->flops += 2.0 * (double)g->m * (double)g->n * (double)g->k * (double)g->batch;
    }
    return CLVIT_SUCCESS;
}

static clvit_status set_run(void *arg) {
    tune_set *t = arg;
    for (int i = 0; i < t->n; i++)
        BENCH_CHECK(bench_gemm_enqueue(t->ctx, &t->g[i], t->a[i], t->b[i], t->c[i]));
    return clvit_ctx_finish(t->ctx);
}

/* Applies `text` (NULL: nothing), checks every shape, times the whole set. Returns the
 * median seconds of one pass over the set, or NAN when the candidate failed. */
static double evaluate(bench_env *e, tune_set *t, const char *text, const char *what) {
    clvit_status st = CLVIT_SUCCESS;
    if (text) st = clvit_gemm_tuning_apply_text(t->ctx, text, what);
    if (st == CLVIT_SUCCESS) st = set_run(t); /* compiles the kernels */
    unsigned long long rng = e->s->seed;
    for (int i = 0; i < t->n && st == CLVIT_SUCCESS; i++) {
        const gemm_shape *g = &t->g[i];
        st = clvit_buffer_read(t->ctx, t->c[i], 0, t->hc[i], g->batch * g->m * g->n);
        if (st == CLVIT_SUCCESS && !bench_gemm_check(g, t->ha[i], t->hb[i], t->hc[i], &rng)) {
            bench_log("tune: %s gives wrong results; dropped", what);
            return NAN;
        }
    }
    double samples[64];
    int n = 0;
    bench_settings local = *e->s;
    if (local.reps > 64) local.reps = 64;
    if (st == CLVIT_SUCCESS) st = bench_time(&local, set_run, t, 1, samples, &n);
    if (st != CLVIT_SUCCESS) {
        bench_log("tune: %s failed (%s); dropped", what, clvit_last_error());
        return NAN;
    }
    bench_stats s;
    bench_stats_from(&s, samples, n);
    bench_log("tune: %-34s %8.2f ms  %6.1f GFLOP/s", what, s.median * 1e3,
              t->flops / s.median / 1e9);
    return s.median;
}

/* One point of the indirect Xgemm kernel's space without local memory (SA = SB = 0), with
 * MDIMA = MDIMC and NDIMB = NDIMC. */
typedef struct xgemm_cfg {
    int kwg, kwi, mdimc, mwg, ndimc, nwg, vwm, vwn;
} xgemm_cfg;

/* CLBlast's constraints, plus per-work-item tiles of 8-128 outputs and work-groups of at
 * most 64, which keeps the search on shapes that compile in seconds. */
static int xgemm_valid(const xgemm_cfg *c) {
    if (c->kwg < 16 || c->kwg > 32 || (c->kwi != 2 && c->kwi != 8) || c->kwg % c->kwi) return 0;
    if (c->mdimc < 2 || c->ndimc < 2 || c->mdimc > 16 || c->ndimc > 16) return 0;
    if (c->mwg < 16 || c->nwg < 16 || c->mwg > 128 || c->nwg > 128) return 0;
    if (c->vwm < 1 || c->vwn < 1 || c->vwm > 16 || c->vwn > 8) return 0;
    if (c->mwg % (c->mdimc * c->vwm) || c->nwg % (c->ndimc * c->vwn)) return 0;
    if (c->mdimc * c->ndimc > 64) return 0;
    const int tile = (c->mwg / c->mdimc) * (c->nwg / c->ndimc);
    return tile >= 8 && tile <= 128;
}

/* The i-th parameter (0-7, in the struct's order) of c. */
static int *xgemm_field(xgemm_cfg *c, int i) {
    switch (i) {
    case 0:
        return &c->kwg;
    case 1:
        return &c->kwi;
    case 2:
        return &c->mdimc;
    case 3:
        return &c->mwg;
    case 4:
        return &c->ndimc;
    case 5:
        return &c->nwg;
    case 6:
        return &c->vwm;
    default:
        return &c->vwn;
    }
}

static void xgemm_text(const xgemm_cfg *c, int threshold, char *out, size_t size) {
    snprintf(out, size,
             "GemmRoutine XGEMM_MIN_INDIRECT_SIZE=%d\n"
             "Xgemm GEMMK=0 KREG=1 KWG=%d KWI=%d MDIMA=%d MDIMC=%d MWG=%d NDIMB=%d NDIMC=%d "
             "NWG=%d SA=0 SB=0 STRM=0 STRN=0 VWM=%d VWN=%d\n",
             threshold, c->kwg, c->kwi, c->mdimc, c->mdimc, c->mwg, c->ndimc, c->ndimc, c->nwg,
             c->vwm, c->vwn);
}

/* The whole (powers of two) space in a fixed-seed shuffled order; returns how many. */
static int xgemm_space(xgemm_cfg *out, int cap, unsigned long long seed) {
    int n = 0;
    for (int mwg = 16; mwg <= 128; mwg *= 2)
        for (int nwg = 16; nwg <= 128; nwg *= 2)
            for (int md = 2; md <= 16; md *= 2)
                for (int nd = 2; nd <= 16; nd *= 2)
                    for (int vm = 1; vm <= 16; vm *= 2)
                        for (int vn = 1; vn <= 8; vn *= 2)
                            for (int kwg = 16; kwg <= 32; kwg *= 2)
                                for (int kwi = 2; kwi <= 8; kwi *= 4) {
                                    xgemm_cfg c = {kwg, kwi, md, mwg, nd, nwg, vm, vn};
                                    if (xgemm_valid(&c) && n < cap) out[n++] = c;
                                }
    unsigned long long r = seed * 0x9e3779b97f4a7c15ULL + 1;
    for (int i = n - 1; i > 0; i--) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        int j = (int)((r >> 33) % (unsigned long long)(i + 1));
        xgemm_cfg tmp = out[i];
        out[i] = out[j];
        out[j] = tmp;
    }
    return n;
}

static int add_tune_row(bench_env *e, const char *name, const char *model, int batch,
                        const char *note, double seconds, double flops) {
    bench_row *row = bench_add_row(e->res, "tune", name, model, batch, "", e->dev, "GFLOP/s", 1);
    if (!row) return 1;
    double g = flops / seconds / 1e9;
    bench_stats_from(&row->st, &g, 1);
    row->gflops = g;
    snprintf(row->note, sizeof row->note, "%s", note);
    return 0;
}

static int write_tuning(bench_env *e, const char *path, const char *models, int batch,
                        const char *best_text, const char *best_what, double best_s, double base_s,
                        double flops) {
    const clvit_device_info *d = clvit_ctx_device(e->ctx);
    size_t size = 4096 + (best_text ? strlen(best_text) : 0);
    char *text = malloc(size);
    if (!text) {
        bench_log_status("tune", bench_fail(CLVIT_ERR_NOMEM, "tuning file text"));
        return 1;
    }
    snprintf(text, size,
             "# clvit GEMM tuning, written by clvit-bench --tune-gemm\n"
             "# device: %s | %s | driver %s\n"
             "# shapes: the training-step GEMMs of %s at batch %d\n"
             "# CLBlast database: %.1f GFLOP/s; this set (%s): %.1f GFLOP/s\n%s",
             d->name, d->platform_name, d->driver_version, models, batch, flops / base_s / 1e9,
             best_what, flops / best_s / 1e9,
             best_text ? best_text
                       : "# CLBlast's own parameters were the fastest: nothing is overridden\n");
    clvit_status st = bench_write_file_atomic(path, text);
    free(text);
    if (st != CLVIT_SUCCESS) {
        bench_log_status("tune", st);
        return 1;
    }
    return 0;
}

/* The search's state: the fastest set so far and where it is written. */
typedef struct tune_best {
    double base, best; /* seconds per pass: CLBlast's database, the best so far */
    int have;          /* 1: best_text beats the database */
    char text[1024], what[64];
    char path[600]; /* the tuning file ("" when it cannot be written) */
    char models[256];
    int batch;
} tune_best;

/* Evaluates one candidate; a faster one becomes the best, is logged with its parameters
 * and written at once, so an interrupted search keeps what it found. */
static double consider(bench_env *e, tune_set *t, tune_best *b, const char *text,
                       const char *what) {
    double v = evaluate(e, t, text, what);
    if (isnan(v) || v >= b->best) return v;
    b->best = v;
    b->have = 1;
    snprintf(b->text, sizeof b->text, "%s", text);
    snprintf(b->what, sizeof b->what, "%s", what);
    bench_log("tune: new best (%s):", what);
    char line[1024];
    snprintf(line, sizeof line, "%s", text);
    char *save = NULL;
    for (char *l = strtok_r(line, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        bench_log("tune:   %s", l);
    if (b->path[0] &&
        write_tuning(e, b->path, b->models, b->batch, b->text, b->what, b->best, b->base, t->flops))
        b->path[0] = '\0';
    return v;
}

int bench_tune(bench_env *e) {
    const bench_settings *s = e->s;
    tune_set *t = calloc(1, sizeof *t);
    tune_best *b = calloc(1, sizeof *b);
    xgemm_cfg *space = malloc(8192 * sizeof *space);
    char *text = malloc(1024);
    int failed = 1;
    if (!t || !b || !space || !text) {
        bench_log("tune: out of memory");
        goto done;
    }
    t->ctx = e->ctx;
    b->batch = s->tune_batch;
    for (int mi = 0; mi < s->nmodels; mi++) {
        clvit_config cfg;
        if (clvit_preset(s->models[mi], &cfg) != CLVIT_SUCCESS) continue;
        gemm_shape fwd[16];
        int nf = bench_preset_gemm_shapes(&cfg, b->batch, fwd);
        for (int i = 0; i < nf; i++)
            add_train_shapes(t, &fwd[i]);
        size_t used = strlen(b->models);
        snprintf(b->models + used, sizeof b->models - used, "%s%s", mi ? "," : "", s->models[mi]);
    }
    if (s->tune_out)
        snprintf(b->path, sizeof b->path, "%s", s->tune_out);
    else
        clvit_gemm_tuning_path(e->ctx, b->path, sizeof b->path);
    if (!b->path[0]) {
        bench_log("tune: the cache is disabled (CLVIT_CACHE_DIR=off); use --tune-out FILE");
        goto done;
    }
    clvit_status st = set_alloc(t, s->seed);
    if (st != CLVIT_SUCCESS) {
        bench_log_status("tune", st);
        goto done;
    }
    bench_log("tune: %d GEMMs (%s, batch %d, forward and backward), %.2f GFLOP per pass; "
              "the best set goes to %s",
              t->n, b->models, b->batch, t->flops / 1e9, b->path);
    char what[64];
    b->base = b->best = evaluate(e, t, NULL, "CLBlast database");
    if (isnan(b->base)) goto done;
    snprintf(b->what, sizeof b->what, "CLBlast database");
    add_tune_row(e, "clblast_database", b->models, b->batch, "CLBlast's own parameters", b->base,
                 t->flops);
    const char *builtin = clvit_gemm_tuning_builtin(e->ctx);
    if (builtin) {
        double v = consider(e, t, b, builtin, "built-in entry");
        if (!isnan(v))
            add_tune_row(e, "builtin", b->models, b->batch, "clvit's built-in", v, t->flops);
    }

    /* Xgemm: a random sample, then hill-climbing from the best point of it, each parameter
     * doubled or halved in turn, until no neighbour is new or --tune-refine is spent. */
    enum { SEEN = 256 };
    xgemm_cfg seen[SEEN], best_cfg = {0};
    int nseen = 0, have_cfg = 0;
    const int nspace = xgemm_space(space, 8192, s->seed);
    const int nc = nspace < s->tune_candidates ? nspace : s->tune_candidates;
    int refine_left = s->tune_refine;
    for (int i = 0; i < nc || (have_cfg && refine_left > 0); i++) {
        xgemm_cfg c = i < nc ? space[i] : best_cfg;
        if (i < nc) {
            snprintf(what, sizeof what, "candidate %d/%d", i + 1, nc);
        } else {
            int found = 0;
            for (int f = 0; f < 16 && !found; f++) {
                c = best_cfg;
                int *field = xgemm_field(&c, f / 2);
                if (field == &c.kwi)
                    *field = *field == 2 ? 8 : 2;
                else
                    *field = f % 2 ? *field / 2 : *field * 2;
                if (!xgemm_valid(&c)) continue;
                found = 1;
                for (int k = 0; k < nseen && found; k++)
                    if (!memcmp(&seen[k], &c, sizeof c)) found = 0;
            }
            if (!found) break;
            refine_left--;
            snprintf(what, sizeof what, "neighbour %d/%d", s->tune_refine - refine_left,
                     s->tune_refine);
        }
        if (nseen < SEEN) seen[nseen++] = c;
        xgemm_text(&c, 32, text, 1024);
        const double before = b->best;
        consider(e, t, b, text, what);
        if (b->best < before) {
            best_cfg = c;
            have_cfg = 1;
        }
    }

    /* CLBlast cannot restore its own parameters once overridden, so the last two steps
     * need a set that beats its database to build on. */
    if (b->have) {
        /* the best Xgemm set with other direct/indirect thresholds */
        static const int thresholds[] = {64, 16, 128, 256}; /* --quick: the first */
        const char *xg = strstr(b->text, "Xgemm ");
        char xgemm_line[512];
        snprintf(xgemm_line, sizeof xgemm_line, "%s", xg ? xg : "");
        const size_t nt = s->quick ? 1 : sizeof thresholds / sizeof thresholds[0];
        for (size_t i = 0; xg && i < nt; i++) {
            snprintf(what, sizeof what, "best with threshold %d", thresholds[i]);
            snprintf(text, 1024, "GemmRoutine XGEMM_MIN_INDIRECT_SIZE=%d\n%s", thresholds[i],
                     xgemm_line);
            consider(e, t, b, text, what);
        }
        /* The direct kernel, which the small products (attention at short sequences) still
         * use: a few hand-picked settings with per-work-item tiles of at most 8x8. */
        static const char *direct[] = {
            "XgemmDirect KWID=2 MDIMAD=4 MDIMCD=4 NDIMBD=4 NDIMCD=4 PADA=0 PADB=0 VWMD=4 VWND=4 "
            "WGD=32\n",
            "XgemmDirect KWID=2 MDIMAD=4 MDIMCD=4 NDIMBD=4 NDIMCD=4 PADA=0 PADB=0 VWMD=2 VWND=2 "
            "WGD=32\n",
            "XgemmDirect KWID=2 MDIMAD=8 MDIMCD=8 NDIMBD=8 NDIMCD=8 PADA=0 PADB=0 VWMD=2 VWND=2 "
            "WGD=32\n",
            "XgemmDirect KWID=8 MDIMAD=4 MDIMCD=4 NDIMBD=4 NDIMCD=4 PADA=0 PADB=0 VWMD=4 VWND=4 "
            "WGD=32\n",
            "XgemmDirect KWID=2 MDIMAD=2 MDIMCD=2 NDIMBD=2 NDIMCD=2 PADA=0 PADB=0 VWMD=4 VWND=4 "
            "WGD=16\n",
            "XgemmDirect KWID=2 MDIMAD=8 MDIMCD=8 NDIMBD=8 NDIMCD=8 PADA=0 PADB=0 VWMD=4 VWND=4 "
            "WGD=64\n",
        };
        const int nd = s->tune_direct < 6 ? s->tune_direct : 6;
        char base_text[1024];
        snprintf(base_text, sizeof base_text, "%s", b->text);
        for (int i = 0; i < nd; i++) {
            snprintf(what, sizeof what, "direct kernel %d/%d", i + 1, nd);
            snprintf(text, 1024, "%s%s", base_text, direct[i]);
            consider(e, t, b, text, what);
        }
    }
    add_tune_row(e, "tuned", b->models, b->batch, b->what, b->best, t->flops);
    bench_log("tune: best is %s, %.1f GFLOP/s (CLBlast database %.1f, %.2fx)", b->what,
              t->flops / b->best / 1e9, t->flops / b->base / 1e9, b->base / b->best);
    if (!b->have) /* still record that the database won */
        failed = write_tuning(e, b->path, b->models, b->batch, NULL, b->what, b->best, b->base,
                              t->flops);
    else
        failed = b->path[0] == '\0';
    if (!failed) bench_log("tune: wrote %s", b->path);
done:
    if (t) set_free(t);
    free(t);
    free(b);
    free(space);
    free(text);
    return failed;
}
