/*
 * mpi_train.c - the MPI test driver of data-parallel training (tests/mpi_dist.sh runs it under
 * mpirun), written on the public API as `clvit train` uses it: one device per rank, the global
 * batch cut by rank, rank 0 alone writes checkpoints and results, a failing rank stops all.
 *
 *   mpi_train --steps K [--batch G] [--save FILE --save-at S] [--resume FILE]
 *             [--out FILE] [--check-one] [--compare FILE] [--fail-rank R --fail-step S
 *             --fail-how error|kill]
 *
 * vit_mnist_tiny with dropout, attention dropout and drop-path, AdamW with clipping (the
 * settings of tests/test_dist.c), synthetic batches from (step) alone, so any rank count sees
 * the same global batches. --check-one: rank 0 then trains one device alone from the same
 * start and compares (tolerances of tests/test_dist.c: every element within 2 lr K, RMS
 * difference below 0.1% of the RMS change). --compare FILE: the same check against parameters
 * another run wrote with --out. --out: rank 0 writes the final parameters (raw float32).
 * Exit 0 when every check passed.
 */
#include "clvit.h"
#include "model.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LR 2e-3f

static const char *preset_ = "vit_mnist_tiny"; /* --preset: another model (same data) */

static void config(clvit_config *cfg) {
    if (clvit_preset(preset_, cfg)) clvit_preset("vit_mnist_tiny", cfg);
    cfg->drop_rate = 0.1f;
    cfg->attn_drop_rate = 0.1f;
    cfg->drop_path_rate = 0.2f;
}

static void train_config(clvit_train_config *tc) {
    clvit_train_config_default(tc);
    tc->optimizer = CLVIT_ADAMW;
    tc->lr = LR;
    tc->weight_decay = 0.05f;
    tc->clip_norm = 0.5f;
    tc->seed = 11;
}

/* Global batch s: deterministic from s, the same on every rank. */
static void batch(long s, int G, float *x, int32_t *y, size_t img) {
    uint64_t st = 0x9876u + 1009u * (uint64_t)s;
    for (size_t i = 0; i < (size_t)G * img; i++) {
        st = st * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((st >> 40) * (2.0 / 16777216.0) - 1.0);
    }
    for (int b = 0; b < G; b++)
        y[b] = (int32_t)((s * 7 + b * 3) % 10);
}

static int rank_ = 0;

/* One line on stderr, then every rank stops. */
static void die(const char *what, clvit_status st) {
    fprintf(stderr, "mpi_train: rank %d: %s: %s (%s)\n", rank_, what, clvit_status_string(st),
            clvit_last_error());
    clvit_dist_abort(2);
    exit(2);
}
#define OK(x)                                                                                      \
    do {                                                                                           \
        clvit_status st_ = (x);                                                                    \
        if (st_) die(#x, st_);                                                                     \
    } while (0)

static float *read_params(clvit_model *m) {
    float *p = malloc(m->num_params * sizeof *p);
    if (!p) die("malloc", CLVIT_ERR_NOMEM);
    OK(clvit_arena_read(m->ctx, &m->params, 0, p, m->num_params));
    return p;
}

/* The reference: one device, the plain trainer, steps 0..K-1 with the whole global batch. */
static float *one_device(clvit_ctx *ctx, long K, int G, float **p0) {
    clvit_config cfg;
    config(&cfg);
    clvit_model *m;
    OK(clvit_model_create(ctx, &cfg, 5, &m));
    *p0 = read_params(m);
    clvit_train_config tc;
    train_config(&tc);
    clvit_trainer *t;
    OK(clvit_trainer_create(m, &tc, G, &t));
    const size_t img = 28 * 28;
    float *x = malloc((size_t)G * img * sizeof *x);
    int32_t *y = malloc((size_t)G * sizeof *y);
    for (long s = 0; s < K; s++) {
        batch(s, G, x, y, img);
        clvit_step_result res;
        OK(clvit_train_step(t, x, y, G, &res));
    }
    float *p = read_params(m);
    free(x);
    free(y);
    clvit_trainer_free(t);
    clvit_model_free(m);
    return p;
}

static int compare(const float *got, const float *ref, const float *p0, size_t n, long K) {
    double d2 = 0, c2 = 0, dmax = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)got[i] - ref[i], c = (double)ref[i] - p0[i];
        d2 += d * d;
        c2 += c * c;
        dmax = fmax(dmax, fabs(d));
    }
    const double rd = sqrt(d2 / n), rc = sqrt(c2 / n);
    const int ok = dmax <= 2.0 * LR * K && rd <= 1e-3 * rc && rc > 0;
    printf("mpi_train: max |diff| %.3g (bound %.3g), rms %.3g = %.2g of the rms change %.3g: %s\n",
           dmax, 2.0 * LR * K, rd, rc > 0 ? rd / rc : 0.0, rc, ok ? "ok" : "MISMATCH");
    return ok;
}

int main(int argc, char **argv) {
    clvit_dist_info di;
    if (clvit_dist_init(&argc, &argv, &di)) {
        fprintf(stderr, "mpi_train: %s\n", clvit_last_error());
        return 2;
    }
    rank_ = di.rank;
    long K = 20, save_at = -1, fail_step = -1;
    int G = 12, check_one = 0, fail_rank = -1, want_early = 0;
    const char *save = NULL, *resume = NULL, *out = NULL, *cmp = NULL, *fail_how = "error";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--check-one")) {
            check_one = 1;
            continue;
        }
        if (!strcmp(a, "--want-overlap")) { /* fail unless some bucket's allreduce started
                                               before the backward had ended */
            want_early = 1;
            continue;
        }
        if (!v) break;
        i++;
        if (!strcmp(a, "--steps"))
            K = atol(v);
        else if (!strcmp(a, "--batch"))
            G = atoi(v);
        else if (!strcmp(a, "--save"))
            save = v;
        else if (!strcmp(a, "--save-at"))
            save_at = atol(v);
        else if (!strcmp(a, "--resume"))
            resume = v;
        else if (!strcmp(a, "--out"))
            out = v;
        else if (!strcmp(a, "--compare"))
            cmp = v;
        else if (!strcmp(a, "--fail-rank"))
            fail_rank = atoi(v);
        else if (!strcmp(a, "--fail-step"))
            fail_step = atol(v);
        else if (!strcmp(a, "--fail-how"))
            fail_how = v;
        else if (!strcmp(a, "--preset"))
            preset_ = v;
    }
    /* the device: CLVIT_DEVICE per rank, else item local_rank of CLVIT_TEST_DEVICES */
    char spec[128] = "";
    const char *list = getenv("CLVIT_TEST_DEVICES");
    if (list && clvit_device_list_count(list) > 0)
        OK(clvit_device_list_item(list, di.local_rank % clvit_device_list_count(list), spec,
                                  sizeof spec));
    clvit_ctx *ctx;
    OK(clvit_ctx_create(&ctx, spec[0] ? spec : NULL));
    clvit_config cfg;
    config(&cfg);
    clvit_model *m;
    if (resume) { /* weights from the checkpoint on every rank; the optimizer state on rank 0
                     only, the broadcast of clvit_dp_sync gives it to the others */
        OK(clvit_model_load(ctx, resume, NULL, 0, &m));
        OK(clvit_model_set_dropout(m, cfg.drop_rate, cfg.attn_drop_rate, cfg.drop_path_rate));
    } else {
        OK(clvit_model_create(ctx, &cfg, 5, &m));
    }
    clvit_train_config tc;
    train_config(&tc);
    clvit_dp *g;
    OK(clvit_dp_create(m, &ctx, 1, &tc, G, &g));
    clvit_trainer *t = clvit_dp_trainer(g);
    if (resume) {
        OK(clvit_dist_agree(di.rank == 0 ? clvit_trainer_load_state(t, resume) : 0));
        OK(clvit_dp_sync(g));
    }
    const long start = clvit_trainer_step_count(t);
    const size_t img = 28 * 28;
    float *x = malloc((size_t)G * img * sizeof *x);
    int32_t *y = malloc((size_t)G * sizeof *y);
    int s0, cnt;
    clvit_dp_range(g, G, &s0, &cnt);
    if (di.rank == 0)
        printf("mpi_train: %d ranks, global batch %d, steps %ld..%ld, rank 0 trains [%d, %d)\n",
               di.nranks, G, start, K, s0, s0 + cnt);
    double loss = 0;
    for (long s = start; s < K; s++) {
        if (di.rank == fail_rank && s == fail_step) {
            if (!strcmp(fail_how, "kill")) {
                fprintf(stderr, "mpi_train: rank %d: killing itself at step %ld\n", di.rank, s);
                fflush(stderr);
                raise(SIGKILL);
            }
            fprintf(stderr,
                    "mpi_train: rank %d: injected failure at step %ld; stopping all "
                    "ranks\n",
                    di.rank, s);
            clvit_dist_abort(3);
            return 3;
        }
        batch(s, G, x, y, img);
        clvit_step_result res;
        OK(clvit_dp_step(g, x + (size_t)s0 * img, y + s0, G, &res));
        loss = res.loss;
        if (save && s + 1 == save_at) {
            clvit_status st = di.rank == 0 ? clvit_trainer_save(t, save, NULL, NULL, 0) : 0;
            OK(clvit_dist_agree(st));
        }
    }
    uint64_t hash;
    OK(clvit_dp_check(g, &hash)); /* every rank the same bits */
    clvit_dp_times tm;
    clvit_dp_times_get(g, &tm);
    int ok = 1;
    if (di.rank == 0) {
        const double n = tm.steps ? (double)tm.steps : 1.0;
        printf("mpi_train: step %ld, last loss %.6f, parameters %016llx; per step: compute "
               "%.2f ms, gather %.2f ms, allreduce %.2f ms, update %.2f ms; buckets %ld, %ld "
               "started before the end of the backward\n",
               clvit_trainer_step_count(t), loss, (unsigned long long)hash, 1e3 * tm.compute / n,
               1e3 * tm.gather / n, 1e3 * tm.allreduce / n, 1e3 * tm.update / n, tm.buckets,
               tm.early_buckets);
        if (want_early && tm.early_buckets == 0) {
            printf("mpi_train: no allreduce overlapped the backward\n");
            ok = 0;
        }
        float *p = read_params(m);
        const size_t np = m->num_params;
        if (out) {
            FILE *f = fopen(out, "wb");
            ok = f && fwrite(p, sizeof *p, np, f) == np;
            if (f) ok = !fclose(f) && ok;
            if (!ok) fprintf(stderr, "mpi_train: cannot write %s\n", out);
        }
        if (check_one || cmp) {
            float *p0, *ref;
            if (cmp) {
                clvit_model *fresh;
                OK(clvit_model_create(ctx, &cfg, 5, &fresh));
                p0 = read_params(fresh);
                clvit_model_free(fresh);
                ref = malloc(np * sizeof *ref);
                FILE *f = fopen(cmp, "rb");
                if (!ref || !f || fread(ref, sizeof *ref, np, f) != np) {
                    fprintf(stderr, "mpi_train: cannot read %s\n", cmp);
                    return 2;
                }
                fclose(f);
                printf("mpi_train: against %s: ", cmp);
            } else {
                ref = one_device(ctx, K, G, &p0);
                printf("mpi_train: against one device: ");
            }
            ok = compare(p, ref, p0, np, K) && ok;
            free(p0);
            free(ref);
        }
        free(p);
    }
    free(x);
    free(y);
    clvit_dp_free(g);
    clvit_model_free(m);
    clvit_ctx_free(ctx);
    clvit_dist_finalize();
    return ok ? 0 : 1;
}
