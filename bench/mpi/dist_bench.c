/*
 * dist_bench.c - clvit-dist-bench: the cost of data-parallel training over MPI ranks, per model
 * size (scripts/bench_dist.sh runs it under mpirun and writes docs/distributed.md's table).
 *
 *   clvit-dist-bench [--reps N] [--steps N] [--batch-per-rank B] [--no-step] PRESET...
 *
 * Per preset, on rank 0:
 *   allreduce  MPI_Allreduce of the model's gradient (num_params float32) in the 16 MiB buckets
 *              clvit_dp uses (CLVIT_DIST_BUCKET_MB), after a barrier; warm-up 1, then --reps
 *              timed runs: median, min, max of the slowest rank's time, and the bus bandwidth
 *              2 (P - 1) / P x bytes / time (the NCCL-tests convention);
 *   step       (unless --no-step) clvit_dp_step with B images per rank at the preset's image
 *              size: warm-up 1 step (kernel builds, plan), then --steps timed steps: median wall
 *              time, and the allreduce's share = median allreduce / median step.
 * The numbers are this machine's: ranks share its cores, so compute is slow and the allreduce
 * is a memory copy between processes; docs/distributed.md scales them to real links.
 */
#include "clvit.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int rank_;

static void fail(const char *what, clvit_status st) {
    fprintf(stderr, "clvit-dist-bench: rank %d: %s: %s (%s)\n", rank_, what,
            clvit_status_string(st), clvit_last_error());
    clvit_dist_abort(2);
    exit(2);
}
#define OK(x)                                                                                      \
    do {                                                                                           \
        clvit_status st_ = (x);                                                                    \
        if (st_) fail(#x, st_);                                                                    \
    } while (0)

/* Seconds of the slowest rank for one bucketed allreduce of n floats. */
static double allreduce_once(float *x, size_t n, size_t bucket) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t = MPI_Wtime();
    for (size_t at = 0; at < n; at += bucket) {
        const size_t c = n - at < bucket ? n - at : bucket;
        MPI_Allreduce(MPI_IN_PLACE, x + at, (int)c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
    t = MPI_Wtime() - t;
    MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return t;
}

int main(int argc, char **argv) {
    clvit_dist_info di;
    setenv("CLVIT_MPI", "1", 0); /* a singleton run is a 1-rank measurement */
    if (clvit_dist_init(&argc, &argv, &di) || !di.mpi) {
        fprintf(stderr, "clvit-dist-bench: MPI did not start: %s\n", clvit_last_error());
        return 2;
    }
    rank_ = di.rank;
    int reps = 10, steps = 5, per_rank = 2, do_step = 1;
    int first = 1;
    for (; first < argc && !strncmp(argv[first], "--", 2); first++) {
        if (!strcmp(argv[first], "--no-step")) {
            do_step = 0;
            continue;
        }
        if (first + 1 >= argc) break;
        if (!strcmp(argv[first], "--reps"))
            reps = atoi(argv[++first]);
        else if (!strcmp(argv[first], "--steps"))
            steps = atoi(argv[++first]);
        else if (!strcmp(argv[first], "--batch-per-rank"))
            per_rank = atoi(argv[++first]);
    }
    if (reps < 1 || reps > 1000 || steps < 1 || steps > 1000 || per_rank < 1) {
        fprintf(stderr, "clvit-dist-bench: bad --reps, --steps or --batch-per-rank\n");
        clvit_dist_finalize();
        return 2;
    }
    size_t mb = 16;
    const char *env = getenv("CLVIT_DIST_BUCKET_MB");
    if (env && atoi(env) > 0) mb = (size_t)atoi(env);
    const size_t bucket = mb * 1048576 / sizeof(float);
    clvit_ctx *ctx = NULL;
    if (do_step) OK(clvit_ctx_create(&ctx, NULL));
    if (rank_ == 0) {
        const char *ov = getenv("CLVIT_DIST_OVERLAP_KB");
        printf("ranks %d, bucket %zu MiB, overlap buckets %s KiB%s%s\n", di.nranks, mb,
               ov && *ov ? ov : "4096 (default)", ctx ? ", device " : "",
               ctx ? clvit_ctx_device(ctx)->name : "");
        printf("| model | parameters | gradient MiB | allreduce ms (median, min-max) | bus GB/s "
               "| step ms (median, min-max, %d img/rank; buckets and those started during the "
               "backward per step) | allreduce share |\n",
               per_rank);
        printf("|---|---|---|---|---|---|---|\n");
    }
    for (int a = first; a < argc; a++) {
        clvit_config cfg;
        OK(clvit_preset(argv[a], &cfg));
        const size_t n = (size_t)clvit_config_num_params(&cfg);
        float *x = malloc(n * sizeof *x);
        double *t = malloc((size_t)(reps > steps ? reps : steps) * sizeof *t);
        if (!x || !t) fail("malloc", CLVIT_ERR_NOMEM);
        for (size_t i = 0; i < n; i++)
            x[i] = 1e-3f * (float)(i % 97);
        allreduce_once(x, n, bucket);
        for (int r = 0; r < reps; r++)
            t[r] = allreduce_once(x, n, bucket);
        const double ar = median(t, reps); /* sorts t */
        const double mn = t[0], mx = t[reps - 1];
        const double bytes = 4.0 * (double)n,
                     busbw = 2.0 * (di.nranks - 1) / di.nranks * bytes / ar / 1e9;
        free(x);
        char step_s[128] = "-", share_s[32] = "-";
        if (do_step) {
            clvit_model *m;
            OK(clvit_model_create(ctx, &cfg, 1, &m));
            clvit_train_config tc;
            clvit_train_config_default(&tc);
            const int G = per_rank * di.nranks;
            clvit_dp *g;
            OK(clvit_dp_create(m, &ctx, 1, &tc, G, &g));
            const size_t img = (size_t)cfg.in_chans * cfg.img_size * cfg.img_size;
            float *im = calloc((size_t)per_rank * img, sizeof *im);
            int32_t *lab = calloc((size_t)per_rank, sizeof *lab);
            if (!im || !lab) fail("malloc", CLVIT_ERR_NOMEM);
            for (size_t i = 0; i < (size_t)per_rank * img; i++)
                im[i] = (float)(i % 13) * 0.1f;
            clvit_step_result res;
            OK(clvit_dp_step(g, im, lab, G, &res)); /* warm-up: builds, plan */
            for (int s = 0; s < steps; s++) {
                MPI_Barrier(MPI_COMM_WORLD);
                double t0 = MPI_Wtime();
                OK(clvit_dp_step(g, im, lab, G, &res));
                t[s] = MPI_Wtime() - t0;
            }
            const double st = median(t, steps);
            clvit_dp_times tm;
            clvit_dp_times_get(g, &tm);
            const double k = (double)(tm.steps > 0 ? tm.steps : 1);
            snprintf(step_s, sizeof step_s, "%.1f (%.1f-%.1f), %.0f buckets, %.1f early", 1e3 * st,
                     1e3 * t[0], 1e3 * t[steps - 1], tm.buckets / k, tm.early_buckets / k);
            snprintf(share_s, sizeof share_s, "%.1f%%", 100.0 * ar / st);
            free(im);
            free(lab);
            clvit_dp_free(g);
            clvit_model_free(m);
        }
        if (rank_ == 0) {
            printf("| %s | %zu | %.1f | %.2f (%.2f-%.2f) | %.2f | %s | %s |\n", argv[a], n,
                   bytes / 1048576.0, 1e3 * ar, 1e3 * mn, 1e3 * mx, busbw, step_s, share_s);
            fflush(stdout);
        }
        free(t);
    }
    clvit_ctx_free(ctx);
    clvit_dist_finalize();
    return 0;
}
