/*
 * bench_model.c - the model sections: start-up (cold and warm program builds, time to the
 * first inference, each in a fresh process), inference latency and throughput per preset and
 * batch size, and the profile (per-kernel and per-layer device time from OpenCL profiling
 * events, GEMM versus own-kernel share, achieved GFLOP/s against the measured SGEMM peak).
 *
 * Models get random weights (clvit_model_create) and random images in [-1, 1), NCHW.
 * Before anything is timed, the logits must be finite and the logits of one image run alone
 * must match that image's logits inside the batch: |a - r| <= 1e-4 + 1e-4 |r|.
 */
#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* lib/runtime.c: releases the profiling events of ctx (declared there, not in a header) */

/* ------------------------------------------------------------ start-up */

/* Removes a directory tree (the start-up measurement's temporary caches). */
static void rm_rf(const char *path) {
    struct stat sb;
    if (lstat(path, &sb) != 0) return;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            const struct dirent *ent;
            while ((ent = readdir(d)) != NULL) {
                if (!strcmp(ent->d_name, ".") || !strcmp(ent->d_name, "..")) continue;
                char sub[1024];
                snprintf(sub, sizeof sub, "%s/%s", path, ent->d_name);
                rm_rf(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

typedef struct startup_sample {
    double ctx_ms, model_ms, build_ms, first_ms, second_ms;
    int compiled, from_disk;
} startup_sample;

int bench_startup_child(const char *device_spec, const char *model_name) {
    clvit_ctx *ctx = NULL;
    clvit_model *model = NULL;
    float *img = NULL, *logits = NULL;
    double t0 = bench_now();
    clvit_status st = clvit_ctx_create(&ctx, device_spec);
    const double t1 = bench_now();
    clvit_config cfg;
    if (st == CLVIT_SUCCESS) st = clvit_preset(model_name, &cfg);
    if (st == CLVIT_SUCCESS) st = clvit_model_create(ctx, &cfg, 1, &model);
    if (st == CLVIT_SUCCESS) st = clvit_ctx_finish(ctx);
    const double t2 = bench_now();
    if (st == CLVIT_SUCCESS) {
        size_t n = (size_t)cfg.in_chans * cfg.img_size * cfg.img_size;
        img = malloc(n * sizeof *img);
        logits = malloc((size_t)cfg.num_classes * sizeof *logits);
        if (!img || !logits)
            st = bench_fail(CLVIT_ERR_NOMEM, "start-up buffers");
        else
            bench_random_images(img, n, 7);
    }
    if (st == CLVIT_SUCCESS) st = clvit_model_forward(model, img, 1, logits);
    const double t3 = bench_now();
    if (st == CLVIT_SUCCESS) st = clvit_model_forward(model, img, 1, logits);
    const double t4 = bench_now();
    if (st == CLVIT_SUCCESS && !isfinite(logits[0]))
        st = bench_fail(CLVIT_ERR_FORMAT, "start-up forward gave non-finite logits");
    clvit_build_stats builds;
    clvit_ctx_build_stats(ctx, &builds);
    if (st == CLVIT_SUCCESS)
        printf("startup ctx_ms=%.3f model_ms=%.3f build_ms=%.3f compiled=%d from_disk=%d "
               "first_ms=%.3f second_ms=%.3f\n",
               1e3 * (t1 - t0), 1e3 * (t2 - t1), 1e3 * builds.seconds, builds.compiled,
               builds.from_disk, 1e3 * (t3 - t2), 1e3 * (t4 - t3));
    else
        bench_log_status("start-up child", st);
    free(img);
    free(logits);
    clvit_model_free(model);
    clvit_ctx_free(ctx);
    return st != CLVIT_SUCCESS;
}

/* Runs `self --startup-child` with the program caches in cache_root; parses its line. */
static int run_child(const bench_settings *s, const char *spec, const char *model,
                     const char *cache_root, startup_sample *out) {
    int fd[2];
    if (pipe(fd) != 0) return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        char dir[1024];
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        snprintf(dir, sizeof dir, "%s/clvit", cache_root);
        setenv("CLVIT_CACHE_DIR", dir, 1);
        if (s->startup_driver_cold) {
            /* the driver's own caches: PoCL's kernel cache, NVIDIA's compute cache */
            snprintf(dir, sizeof dir, "%s/pocl", cache_root);
            setenv("POCL_CACHE_DIR", dir, 1);
            snprintf(dir, sizeof dir, "%s/nv", cache_root);
            setenv("CUDA_CACHE_PATH", dir, 1);
        }
        char *argv[] = {(char *)s->self_exe, "--startup-child", "--device", (char *)spec,
                        "--models",          (char *)model,     NULL};
        execv(s->self_exe, argv);
        _exit(127);
    }
    close(fd[1]);
    char buf[1024];
    size_t len = 0;
    ssize_t got;
    while ((got = read(fd[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)got;
    buf[len] = '\0';
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
    const char *line = strstr(buf, "startup ");
    if (!line || sscanf(line,
                        "startup ctx_ms=%lf model_ms=%lf build_ms=%lf compiled=%d from_disk=%d "
                        "first_ms=%lf second_ms=%lf",
                        &out->ctx_ms, &out->model_ms, &out->build_ms, &out->compiled,
                        &out->from_disk, &out->first_ms, &out->second_ms) != 7)
        return -1;
    return 0;
}

static void add_ms_row(bench_env *e, const char *name, const char *model, const double *v, int n,
                       const char *note) {
    bench_row *row = bench_add_row(e->res, "startup", name, model, 1, "", e->dev, "ms", 0);
    if (!row) return;
    bench_stats_from(&row->st, v, n);
    snprintf(row->note, sizeof row->note, "%s", note);
}

int bench_startup(bench_env *e) {
    const bench_settings *s = e->s;
    const clvit_device_info *info = &e->res->devs[e->dev].info;
    char spec[32];
    snprintf(spec, sizeof spec, "%d:%d", info->platform_index, info->device_index);
    const char *tmp = getenv("TMPDIR");
    char root[512];
    snprintf(root, sizeof root, "%s/clvit-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(root)) {
        bench_log("start-up: cannot make a temporary directory in %s: %s",
                  tmp && *tmp ? tmp : "/tmp", strerror(errno));
        return 1;
    }
    int bad = 0;
    const int reps = s->startup_reps;
    for (int mi = 0; mi < s->nmodels && !bad; mi++) {
        const char *model = s->models[mi];
        bench_log("start-up: %s, %d cold and %d warm processes (cold: empty %s)", model, reps, reps,
                  s->startup_driver_cold ? "clvit and driver caches" : "clvit cache");
        double v[8][BENCH_MAX_LIST];
        int compiled = 0, from_disk = 0, n = 0;
        for (int r = 0; r < reps; r++) {
            char cache[600];
            snprintf(cache, sizeof cache, "%s/run%d", root, r);
            startup_sample cold, warm;
            /* cold: empty caches; warm: a second process finds what the first one wrote */
            if (run_child(s, spec, model, cache, &cold) != 0 ||
                run_child(s, spec, model, cache, &warm) != 0) {
                bench_log("start-up: the measuring process for %s failed", model);
                bad = 1;
                break;
            }
            rm_rf(cache);
            v[0][n] = cold.ctx_ms;
            v[1][n] = warm.ctx_ms;
            v[2][n] = cold.build_ms;
            v[3][n] = warm.build_ms;
            v[4][n] = cold.first_ms;
            v[5][n] = warm.first_ms;
            v[6][n] = 0.5 * (cold.second_ms + warm.second_ms);
            v[7][n] = 0.5 * (cold.model_ms + warm.model_ms);
            compiled = cold.compiled;
            from_disk = warm.from_disk;
            n++;
        }
        if (n == 0) continue;
        char note[128];
        add_ms_row(e, "ctx_create_cold", model, v[0], n, "first process: driver start-up");
        add_ms_row(e, "ctx_create_warm", model, v[1], n, "");
        snprintf(note, sizeof note, "%d programs compiled from source", compiled);
        add_ms_row(e, "build_cold", model, v[2], n, note);
        snprintf(note, sizeof note, "%d programs from the disk cache", from_disk);
        add_ms_row(e, "build_warm", model, v[3], n, note);
        add_ms_row(e, "first_forward_cold", model, v[4], n,
                   s->startup_driver_cold
                       ? "batch 1; builds + CLBlast + driver JIT, all caches empty"
                       : "batch 1; clvit cache empty, driver cache kept");
        add_ms_row(e, "first_forward_warm", model, v[5], n, "batch 1; caches filled");
        add_ms_row(e, "steady_forward", model, v[6], n, "batch 1; second forward");
        add_ms_row(e, "model_create", model, v[7], n, "random init on the host + upload");
    }
    rm_rf(root);
    return bad;
}

/* ------------------------------------------------------------ inference */

typedef struct fwd_job {
    clvit_model *model;
    const float *images;
    float *logits;
    int batch;
} fwd_job;

static clvit_status fwd_run(void *arg) {
    fwd_job *j = arg;
    return clvit_model_forward(j->model, j->images, j->batch, j->logits);
}

/* Logits finite, and image `i` alone gives the logits it has inside the batch. */
static clvit_status check_model(clvit_model *m, const float *images, int b, float *logits, int *ok,
                                char *note, size_t note_size) {
    const clvit_config *c = clvit_model_config(m);
    const size_t K = (size_t)c->num_classes, img = (size_t)c->in_chans * c->img_size * c->img_size;
    *ok = 0;
    BENCH_CHECK(clvit_model_forward(m, images, b, logits));
    for (size_t i = 0; i < (size_t)b * K; i++) {
        if (!isfinite(logits[i])) {
            snprintf(note, note_size, "check FAILED: logit %zu is not finite", i);
            return CLVIT_SUCCESS;
        }
    }
    float *one = malloc(K * sizeof *one);
    if (!one) return bench_fail(CLVIT_ERR_NOMEM, "check buffer");
    double maxdiff = 0.0;
    const int picks[2] = {0, b - 1};
    for (int p = 0; p < (b > 1 ? 2 : 1); p++) {
        const int i = picks[p];
        clvit_status st = clvit_model_forward(m, images + (size_t)i * img, 1, one);
        if (st != CLVIT_SUCCESS) {
            free(one);
            return st;
        }
        for (size_t k = 0; k < K; k++) {
            double r = logits[(size_t)i * K + k], d = fabs((double)one[k] - r);
            if (d > maxdiff) maxdiff = d;
            if (!(d <= 1e-4 + 1e-4 * fabs(r))) {
                snprintf(note, note_size,
                         "check FAILED: image %d alone: logit %zu = %.6g, in the batch %.6g", i, k,
                         (double)one[k], r);
                free(one);
                return CLVIT_SUCCESS;
            }
        }
    }
    free(one);
    snprintf(note, note_size, "checked: finite, alone = in batch (max diff %.1e)", maxdiff);
    *ok = 1;
    return CLVIT_SUCCESS;
}

int bench_infer(bench_env *e) {
    const bench_settings *s = e->s;
    clvit_status st = CLVIT_SUCCESS;
    double *samples = malloc((size_t)s->reps * sizeof *samples);
    if (!samples) return 1;
    for (int mi = 0; mi < s->nmodels && st == CLVIT_SUCCESS; mi++) {
        const char *name = s->models[mi];
        clvit_config cfg;
        clvit_model *model = NULL;
        st = clvit_preset(name, &cfg);
        if (st == CLVIT_SUCCESS) st = clvit_model_create(e->ctx, &cfg, s->seed, &model);
        if (st != CLVIT_SUCCESS) break;
        const double flops = clvit_config_flops(&cfg);
        const size_t img = (size_t)cfg.in_chans * cfg.img_size * cfg.img_size;
        for (int bi = 0; bi < s->nbatches && st == CLVIT_SUCCESS; bi++) {
            const int b = s->batches[bi];
            float *images = malloc((size_t)b * img * sizeof *images);
            float *logits = malloc((size_t)b * cfg.num_classes * sizeof *logits);
            if (!images || !logits) {
                free(images);
                free(logits);
                st = bench_fail(CLVIT_ERR_NOMEM, "images for batch %d", b);
                break;
            }
            bench_random_images(images, (size_t)b * img, s->seed + (unsigned long long)b);
            bench_log("infer: %s batch %d", name, b);
            char note[128];
            int ok = 0, n = 0;
            st = check_model(model, images, b, logits, &ok, note, sizeof note);
            fwd_job j = {model, images, logits, b};
            if (st == CLVIT_SUCCESS && ok) st = bench_time(s, fwd_run, &j, 1, samples, &n);
            if (st == CLVIT_SUCCESS) {
                if (!ok) {
                    bench_log("%s batch %d: %s", name, b, note);
                    e->failures++;
                }
                bench_add_rate_rows(e, "infer", "latency", name, b, flops, samples, n, note,
                                    "end to end: upload, forward, read");
            }
            free(images);
            free(logits);
        }
        clvit_model_free(model);
    }
    free(samples);
    if (st != CLVIT_SUCCESS) bench_log_status("infer", st);
    return st != CLVIT_SUCCESS;
}

/* ------------------------------------------------------------ profile */

#define MAX_LABELS 48
#define MAX_PROF_RUNS 7

/* The layer family of a label; epilogue kernels belong to the GEMM before them. */
static const char *family_of(const char *label) {
    static const struct {
        const char *label, *family;
    } map[] = {
        {"im2col", "patch_embed"},
        {"patch_embed", "patch_embed"},
        {"embed_forward", "patch_embed"},
        {"layernorm_forward", "layernorm"},
        {"qkv", "attention"},
        {"attention_fwd", "attention"},
        {"proj", "attention"},
        {"fc1", "mlp"},
        {"fc2", "mlp"},
        {"pool_forward", "head"},
        {"pre_logits", "head"},
        {"head", "head"},
        {"head_dist", "head"},
        {"average2", "head"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(map[i].label, label)) return map[i].family;
    return "other";
}

static int is_epilogue(const char *label) {
    return !strncmp(label, "bias_", 5);
}

typedef struct prof_acc {
    char name[64];
    char kind[16];
    int calls;
    double flops;
    double ms[MAX_PROF_RUNS];
} prof_acc;

static prof_acc *acc_get(prof_acc *a, int *n, const char *name, const char *kind) {
    for (int i = 0; i < *n; i++)
        if (!strcmp(a[i].name, name)) return &a[i];
    if (*n == MAX_LABELS) return NULL;
    prof_acc *p = &a[(*n)++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->kind, sizeof p->kind, "%s", kind);
    return p;
}

/* Accumulates one profiled forward's records into kernels/layers/totals for run r. */
static void collect(clvit_ctx *ctx, int r, prof_acc *kern, int *nk, prof_acc *lay, int *nl,
                    prof_acc *tot, int *nt) {
    const char *last_gemm = "";
    double prev_end = NAN, first = NAN, last = NAN;
    const int nrec = clvit_profile_count(ctx);
    for (int i = 0; i < nrec; i++) {
        clvit_profile_record rec;
        if (clvit_profile_get(ctx, i, &rec) != CLVIT_SUCCESS) continue;
        const clvit_profile_record *ev = &rec;
        double t0 = rec.start_ns, t1 = rec.end_ns;
        if (isnan(t0) || isnan(t1)) continue;
        double ms = (t1 - t0) * 1e-6;
        /* idle device time since the previous command ended. The queue is in order, and
         * CLBlast's event covers only its last kernel: the pad/transpose kernels it runs
         * before (and the copy of C after) the main GEMM kernel fall between our events. So
         * a GEMM owns the time since the previous command ended; before one of our own
         * kernels that time is launch overhead (total:gaps). */
        double gap = !isnan(prev_end) && t0 > prev_end ? (t0 - prev_end) * 1e-6 : 0.0;
        if (ev->is_gemm) {
            ms += gap;
            gap = 0.0;
        }
        char name[64];
        const char *family;
        if (ev->is_gemm) {
            last_gemm = ev->label;
            snprintf(name, sizeof name, "%s", ev->label);
            family = family_of(ev->label);
        } else if (is_epilogue(ev->label) && *last_gemm) {
            snprintf(name, sizeof name, "%s.%s", last_gemm, ev->label);
            family = family_of(last_gemm);
        } else {
            snprintf(name, sizeof name, "%s", ev->label);
            family = family_of(ev->label);
        }
        prof_acc *k = acc_get(kern, nk, name, ev->is_gemm ? "gemm" : "kernel");
        if (k) {
            k->ms[r] += ms;
            if (r == 0) {
                k->calls++;
                k->flops += ev->flops;
            }
        }
        prof_acc *l = acc_get(lay, nl, family, "layer");
        if (l) l->ms[r] += ms;
        prof_acc *t = acc_get(tot, nt, ev->is_gemm ? "total:gemm" : "total:own_kernels", "total");
        if (t) {
            t->ms[r] += ms;
            if (r == 0) t->flops += ev->flops;
        }
        if (gap > 0.0) {
            prof_acc *g = acc_get(tot, nt, "total:gaps", "total");
            if (g) g->ms[r] += gap;
        }
        prev_end = isnan(prev_end) || t1 > prev_end ? t1 : prev_end;
        if (isnan(first) || t0 < first) first = t0;
        if (isnan(last) || t1 > last) last = t1;
    }
    prof_acc *span = acc_get(tot, nt, "total:device_span", "total");
    if (span && !isnan(first)) span->ms[r] = (last - first) * 1e-6;
}

static void add_prof_rows(bench_env *e, const char *model, int b, prof_acc *a, int n, int runs,
                          double span_ms, double peak) {
    for (int i = 0; i < n; i++) {
        char name[80];
        if (!strcmp(a[i].kind, "gemm") || !strcmp(a[i].kind, "kernel"))
            snprintf(name, sizeof name, "kernel:%s", a[i].name);
        else if (!strcmp(a[i].kind, "layer"))
            snprintf(name, sizeof name, "layer:%s", a[i].name);
        else
            snprintf(name, sizeof name, "%s", a[i].name);
        bench_row *row = bench_add_row(e->res, "profile", name, model, b, "", e->dev, "ms", 0);
        if (!row) return;
        bench_stats_from(&row->st, a[i].ms, runs);
        snprintf(row->kind, sizeof row->kind, "%s", a[i].kind);
        row->calls = a[i].calls;
        if (!strcmp(a[i].kind, "gemm") || !strcmp(a[i].name, "total:gemm"))
            snprintf(row->note, sizeof row->note, "the plan's kernel (incl. CLBlast's helpers)");
        else if (!strcmp(a[i].name, "total:gaps"))
            snprintf(row->note, sizeof row->note, "device idle before own kernels: launch cost");
        row->share_pct = span_ms > 0 ? 100.0 * row->st.median / span_ms : NAN;
        if (a[i].flops > 0 && row->st.median > 0) {
            row->gflops = a[i].flops / (row->st.median * 1e-3) / 1e9;
            row->frac_peak = row->gflops / peak;
        }
    }
}

static int prof_runs; /* for the sort below */

static double acc_median(const prof_acc *a) {
    bench_stats st;
    bench_stats_from(&st, a->ms, prof_runs);
    return st.median;
}

static int cmp_acc_desc(const void *x, const void *y) {
    double a = acc_median(x), b = acc_median(y);
    return (a < b) - (a > b);
}

int bench_profile(bench_env *e) {
    const bench_settings *s = e->s;
    clvit_ctx *ctx = e->ctx;
    const double peak = bench_peak_gflops(e);
    int runs = s->reps < 3 ? 3 : s->reps > MAX_PROF_RUNS ? MAX_PROF_RUNS : s->reps;
    clvit_status st = CLVIT_SUCCESS;
    for (int mi = 0; mi < s->nmodels && st == CLVIT_SUCCESS; mi++) {
        const char *name = s->models[mi];
        const int b = s->profile_batch;
        clvit_config cfg;
        clvit_model *model = NULL;
        float *images = NULL, *logits = NULL;
        prof_acc kern[MAX_LABELS], lay[MAX_LABELS], tot[MAX_LABELS];
        int nk = 0, nl = 0, nt = 0;
        double wall[MAX_PROF_RUNS];
        st = clvit_preset(name, &cfg);
        if (st == CLVIT_SUCCESS) st = clvit_model_create(ctx, &cfg, s->seed, &model);
        if (st != CLVIT_SUCCESS) break;
        bench_log("profile: %s batch %d, %d profiled forwards", name, b, runs);
        const size_t img = (size_t)cfg.in_chans * cfg.img_size * cfg.img_size;
        images = malloc((size_t)b * img * sizeof *images);
        logits = malloc((size_t)b * cfg.num_classes * sizeof *logits);
        if (!images || !logits) st = bench_fail(CLVIT_ERR_NOMEM, "profile buffers");
        if (st == CLVIT_SUCCESS) {
            bench_random_images(images, (size_t)b * img, s->seed + (unsigned long long)b);
            char note[128];
            int ok = 0;
            st = check_model(model, images, b, logits, &ok, note, sizeof note);
            if (st == CLVIT_SUCCESS && !ok) {
                bench_log("profile %s batch %d: %s", name, b, note);
                e->failures++;
                goto next;
            }
        }
        for (int r = 0; r < runs && st == CLVIT_SUCCESS; r++) {
            BENCH_TRY(st, clvit_ctx_finish(ctx), next);
            clvit_profile_reset(ctx);
            clvit_profile_enable(ctx, 1);
            double t0 = bench_now();
            st = clvit_model_forward(model, images, b, logits);
            if (st == CLVIT_SUCCESS) st = clvit_ctx_finish(ctx);
            wall[r] = (bench_now() - t0) * 1e3;
            clvit_profile_enable(ctx, 0);
            if (st == CLVIT_SUCCESS) collect(ctx, r, kern, &nk, lay, &nl, tot, &nt);
            clvit_profile_reset(ctx);
        }
        if (st != CLVIT_SUCCESS) goto next;
        double span = NAN;
        for (int i = 0; i < nt; i++) {
            if (strcmp(tot[i].name, "total:device_span")) continue;
            bench_stats st_span;
            bench_stats_from(&st_span, tot[i].ms, runs);
            span = st_span.median;
        }
        prof_runs = runs;
        qsort(kern, (size_t)nk, sizeof *kern, cmp_acc_desc);
        qsort(lay, (size_t)nl, sizeof *lay, cmp_acc_desc);
        bench_stats st_wall;
        bench_stats_from(&st_wall, wall, runs);
        /* A driver whose event timestamps are not time (Mesa 22's rusticl counts 1 ns per
         * command) gives a device span that is a sliver of the forward's wall time: its
         * per-kernel rows would be nonsense, so they are left out. */
        const int usable = !(span < 0.01 * st_wall.median);
        if (!usable)
            bench_log("profile %s batch %d: the device's event timestamps are not usable (all "
                      "kernels within %.3g ms of a %.3g ms forward): per-kernel rows left out",
                      name, b, span, st_wall.median);
        if (usable) {
            add_prof_rows(e, name, b, kern, nk, runs, span, peak);
            add_prof_rows(e, name, b, lay, nl, runs, span, peak);
            add_prof_rows(e, name, b, tot, nt, runs, span, peak);
        }
        bench_row *w = bench_add_row(e->res, "profile", "total:wall", name, b, "", e->dev, "ms", 0);
        if (w) {
            bench_stats_from(&w->st, wall, runs);
            snprintf(w->kind, sizeof w->kind, "total");
            w->gflops = clvit_config_flops(&cfg) * b / (w->st.median * 1e-3) / 1e9;
            w->frac_peak = w->gflops / peak;
            snprintf(w->note, sizeof w->note, "%s",
                     usable ? "profiled forward incl. upload and read-back"
                            : "forward incl. upload and read-back; device timestamps unusable");
        }
    next:
        clvit_profile_enable(ctx, 0);
        clvit_profile_reset(ctx);
        free(images);
        free(logits);
        clvit_model_free(model);
    }
    if (st != CLVIT_SUCCESS) bench_log_status("profile", st);
    return st != CLVIT_SUCCESS;
}
