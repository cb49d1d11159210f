/*
 * dist.c - data-parallel training: a group of replicas (model + trainer) on several OpenCL
 * devices of one process, and the same over MPI ranks (built with CLVIT_HAVE_MPI).
 *
 * One step of a group of R local replicas in a job of P ranks, global batch G:
 *
 *   global batch  [ share 0 | share 1 | ... | share P*R-1 ]      (clvit_dist_share)
 *   rank p holds shares p*R .. p*R+R-1, replica r share p*R + r
 *   replica r:    forward + backward of its share, loss gradient scaled by 1/G,
 *                 dropout masks of the global sample indices       (all replicas at once)
 *   host:         sum = g_0 + g_1 + ... + g_{R-1}                  (float, in replica order)
 *   MPI:          MPI_Iallreduce(sum) per bucket                   (ring, pinned: fixed order)
 *   replica 0:    clip + Adam on sum;  parameters -> replicas 1..R-1 (bit copies)
 *
 * Overlap: the buckets are whole groups of parameters in the order the backward finishes them
 * (head and final norm, blocks last to first, embeddings), merged to CLVIT_DIST_OVERLAP_KB. Each
 * replica's backward enqueues a non-blocking read of a bucket right after the last kernel that
 * writes into it (clvit_trainer_set_grad_reads); the host waits for bucket 0's reads, sums it
 * and starts its MPI_Iallreduce, then bucket 1, ..., while the devices run the earlier layers;
 * MPI_Waitall before the update. CLVIT_DIST_OVERLAP_KB=0: read everything after the backward
 * and MPI_Allreduce in CLVIT_DIST_BUCKET_MB buckets (the same sums, bit for bit, at 2 ranks).
 *
 * Host buffers: the sum and one gradient buffer per other replica (num_params floats each),
 * and one parameter buffer for the copies. With one replica and no MPI nothing leaves the
 * device: the step is the single trainer's, bit for bit.
 */
#include "clvit_data.h"
#include "model.h"
#include "train_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef CLVIT_HAVE_MPI
#include <mpi.h>
#endif

/* ---------------------------------------------------------------- processes */

static clvit_dist_info g_dist = {0, 1, 0, 1, 0};

int clvit_dist_available(void) {
#ifdef CLVIT_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

#ifdef CLVIT_HAVE_MPI
/* Started by a launcher that MPI_Init can join: Open MPI's mpirun, PMIx (srun --mpi=pmix,
 * Open MPI 5, PRRTE) or PMI-1/2 (srun --mpi=pmi2, MPICH's hydra). */
static int launched_by_mpi(void) {
    const char *force = getenv("CLVIT_MPI");
    if (force && !strcmp(force, "0")) return 0;
    if (force && !strcmp(force, "1")) return 1;
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK") ||
           getenv("PMI_SIZE");
}

static clvit_status mpi_fail(int code, const char *what) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(code, msg, &len);
    return clvit_fail(CLVIT_ERR_IO, "%s failed on rank %d: %s", what, g_dist.rank, msg);
}
#define CHECK_MPI(call, what)                                                                      \
    do {                                                                                           \
        const int mpi_rc_ = (call);                                                                \
        if (mpi_rc_ != MPI_SUCCESS) return mpi_fail(mpi_rc_, what);                                \
    } while (0)
#endif

#ifdef CLVIT_HAVE_MPI
#define DIST_SRUN_HINT "run srun --mpi=pmix, or set CLVIT_MPI=0 for independent runs"
#else
#define DIST_SRUN_HINT "this clvit was built without MPI"
#endif

clvit_status clvit_dist_init(int *argc, char ***argv, clvit_dist_info *info) {
    (void)argc;
    (void)argv;
#ifdef CLVIT_HAVE_MPI
    if (!g_dist.mpi && launched_by_mpi()) {
#ifdef OPEN_MPI
        /* a fixed reduction order: ring allreduce (reduce-scatter + allgather), whose
         * additions for a given rank count and message size always happen in the same order,
         * and every rank receives the same bits */
        setenv("OMPI_MCA_coll_tuned_use_dynamic_rules", "1", 0);
        setenv("OMPI_MCA_coll_tuned_allreduce_algorithm", "4", 0);
        /* and the non-blocking one of the overlapped buckets (libnbc): ring too */
        setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "1", 0);
#endif
        int rc = MPI_Init(argc, argv);
        if (rc != MPI_SUCCESS) return clvit_fail(CLVIT_ERR_IO, "MPI_Init failed (%d)", rc);
        /* errors come back as codes, so a rank can print one line and MPI_Abort */
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        MPI_Comm_rank(MPI_COMM_WORLD, &g_dist.rank);
        MPI_Comm_size(MPI_COMM_WORLD, &g_dist.nranks);
        MPI_Comm node;
        CHECK_MPI(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_dist.rank,
                                      MPI_INFO_NULL, &node),
                  "MPI_Comm_split_type");
        MPI_Comm_rank(node, &g_dist.local_rank);
        MPI_Comm_size(node, &g_dist.local_nranks);
        MPI_Comm_free(&node);
        g_dist.mpi = 1;
    }
#endif
    /* srun with several tasks but no process manager MPI can join (--mpi=none, the default on
     * many clusters, or a build without MPI): every task would train the whole job alone and
     * write the same files. CLVIT_MPI=0 says that is what is wanted. */
    const char *tasks = getenv("SLURM_STEP_NUM_TASKS"), *force = getenv("CLVIT_MPI");
    if (g_dist.nranks == 1 && tasks && atoi(tasks) > 1 && !(force && !strcmp(force, "0")))
        return clvit_fail(CLVIT_ERR_UNSUPPORTED,
                          "srun started %d tasks, but they are not MPI ranks of one job (%s): "
                          "each would train alone",
                          atoi(tasks), DIST_SRUN_HINT);
    if (info) *info = g_dist;
    return CLVIT_SUCCESS;
}

void clvit_dist_finalize(void) {
#ifdef CLVIT_HAVE_MPI
    if (g_dist.mpi) MPI_Finalize();
    g_dist.mpi = 0;
#endif
}

void clvit_dist_abort(int code) {
    fflush(stdout);
    fflush(stderr);
#ifdef CLVIT_HAVE_MPI
    if (g_dist.mpi) MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
#endif
    (void)code;
}

/* values is written by MPI_Allreduce when built with MPI */
// cppcheck-suppress constParameter
clvit_status clvit_dist_sum(double *values, int n) {
    if (!values || n < 0) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_dist_sum: bad arguments");
#ifdef CLVIT_HAVE_MPI
    if (g_dist.mpi && g_dist.nranks > 1)
        CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
                  "MPI_Allreduce(metrics)");
#endif
    return CLVIT_SUCCESS;
}

clvit_status clvit_dist_any(int flag, int *any) {
    if (!any) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_dist_any: NULL");
    int v = flag != 0;
#ifdef CLVIT_HAVE_MPI
    if (g_dist.mpi && g_dist.nranks > 1)
        CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD),
                  "MPI_Allreduce(stop flag)");
#endif
    *any = v;
    return CLVIT_SUCCESS;
}

clvit_status clvit_dist_agree(clvit_status st) {
#ifdef CLVIT_HAVE_MPI
    if (g_dist.mpi && g_dist.nranks > 1) {
        /* the lowest failing rank, then its status */
        int who = st ? g_dist.rank : g_dist.nranks;
        CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, &who, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD),
                  "MPI_Allreduce(status)");
        if (who == g_dist.nranks) return CLVIT_SUCCESS;
        int code = st;
        CHECK_MPI(MPI_Bcast(&code, 1, MPI_INT, who, MPI_COMM_WORLD), "MPI_Bcast(status)");
        if (st) return st;
        return clvit_fail(CLVIT_ERR_REPLICAS, "rank %d failed: %s", who, clvit_status_string(code));
    }
#endif
    return st;
}

/* ---------------------------------------------------------------- helpers */

int clvit_device_list_count(const char *list) {
    if (!list || !*list) return 0;
    int n = 1;
    for (const char *c = list; *c; c++)
        n += *c == ',';
    return n;
}

clvit_status clvit_device_list_item(const char *list, int i, char *buf, size_t size) {
    if (!list || !buf || size == 0 || i < 0 || i >= clvit_device_list_count(list))
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "device list \"%s\" has no item %d",
                          list ? list : "", i);
    const char *c = list;
    for (int k = 0; k < i; k++)
        c = strchr(c, ',') + 1;
    const char *end = strchr(c, ',');
    const size_t len = end ? (size_t)(end - c) : strlen(c);
    if (len + 1 > size) return clvit_fail(CLVIT_ERR_INVALID_ARG, "device spec too long");
    memcpy(buf, c, len);
    buf[len] = '\0';
    return CLVIT_SUCCESS;
}

void clvit_dist_share(int batch, int share, int nshares, int *start, int *count) {
    if (batch < 0 || nshares < 1 || share < 0 || share >= nshares) {
        *start = 0;
        *count = 0;
        return;
    }
    const int a = (int)((int64_t)batch * share / nshares);
    const int b = (int)((int64_t)batch * (share + 1) / nshares);
    *start = a;
    *count = b - a;
}

void clvit_dist_epoch_order(const int *samples, int n, uint64_t seed, long epoch, int *order) {
    if (n <= 0) return;
    memcpy(order, samples, (size_t)n * sizeof *order);
    uint64_t rng = clvit_rng_at(seed, (uint64_t)epoch);
    clvit_shuffle(order, n, &rng);
}

static double now_s(void) {
    return clvit_now_seconds();
}

/* ---------------------------------------------------------------- the group */

struct clvit_dp {
    int n;                    /* local replicas */
    clvit_model **models;     /* [0] is the caller's */
    clvit_trainer **trainers; /* one per replica */
    float *sum;               /* num_params: the summed gradient */
    float **grads;            /* [1..n): the other replicas' gradients */
    float *params;            /* num_params: replica 0's parameters, to copy */
    size_t np;
    size_t bucket; /* floats per MPI_Allreduce (without overlap) */
    /* overlap (CLVIT_DIST_OVERLAP_KB, default 4096; 0: off): bucket b is the dense range
     * [bstart[b], bstart[b] + bcount[b]) of whole groups of parameters whose gradients become
     * final together, b = 0 at the end of the arena (the head, read first) */
    int nb;
    size_t *bstart, *bcount;
    clvit_grad_read *reads; /* n x nb: replica r's reads at r * nb */
    long poll_us; /* while waiting for a read, MPI progress every poll_us (CLVIT_DIST_POLL_US,
                     default 50; 0: only between buckets) */
#ifdef CLVIT_HAVE_MPI
    MPI_Request *reqs; /* nb */
#endif
    clvit_dp_times times;
};

void clvit_dp_free(clvit_dp *g) {
    if (!g) return;
    for (int r = 0; r < g->n; r++) {
        if (g->trainers) clvit_trainer_free(g->trainers[r]);
        if (r > 0 && g->models) clvit_model_free(g->models[r]);
        if (r > 0 && g->grads) free(g->grads[r]);
    }
    free(g->models);
    free(g->trainers);
    free(g->grads);
    free(g->sum);
    free(g->params);
    free(g->bstart);
    free(g->bcount);
    free(g->reads);
#ifdef CLVIT_HAVE_MPI
    free(g->reqs);
#endif
    free(g);
}

/* Replica 0's parameters to every other replica of this process. */
static clvit_status copy_params(clvit_dp *g) {
    if (g->n < 2) return CLVIT_SUCCESS;
    clvit_model *m0 = g->models[0];
    CLVIT_CHECK(clvit_arena_read(m0->ctx, &m0->params, 0, g->params, g->np));
    for (int r = 1; r < g->n; r++)
        CLVIT_CHECK(
            clvit_arena_write(g->models[r]->ctx, &g->models[r]->params, 0, g->params, g->np));
    for (int r = 1; r < g->n; r++)
        CLVIT_CHECK(clvit_ctx_finish(g->models[r]->ctx));
    return CLVIT_SUCCESS;
}

#ifdef CLVIT_HAVE_MPI
static clvit_status bcast_floats(float *x, size_t n, size_t bucket) {
    for (size_t at = 0; at < n; at += bucket) {
        const size_t c = n - at < bucket ? n - at : bucket;
        CHECK_MPI(MPI_Bcast(x + at, (int)c, MPI_FLOAT, 0, MPI_COMM_WORLD), "MPI_Bcast");
    }
    return CLVIT_SUCCESS;
}
#endif

clvit_status clvit_dp_sync(clvit_dp *g) {
    if (!g) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_dp_sync: NULL");
#ifdef CLVIT_HAVE_MPI
    if (g_dist.mpi && g_dist.nranks > 1) {
        clvit_model *m0 = g->models[0];
        clvit_trainer *t0 = g->trainers[0];
        /* every rank takes part in every broadcast; a local failure is agreed on first, so no
         * rank is left waiting in a broadcast another rank skipped */
        clvit_status st = clvit_arena_read(m0->ctx, &m0->params, 0, g->params, g->np);
        CLVIT_CHECK(clvit_dist_agree(st));
        CLVIT_CHECK(bcast_floats(g->params, g->np, g->bucket));
        st = clvit_arena_write(m0->ctx, &m0->params, 0, g->params, g->np);
        CLVIT_CHECK(clvit_dist_agree(st));
        /* the moments, through the sum and parameter buffers (free again) */
        st = clvit_trainer_moments(t0, g->sum, g->params, 0);
        CLVIT_CHECK(clvit_dist_agree(st));
        CLVIT_CHECK(bcast_floats(g->sum, g->np, g->bucket));
        CLVIT_CHECK(bcast_floats(g->params, g->np, g->bucket));
        st = clvit_trainer_moments(t0, g->sum, g->params, 1);
        CLVIT_CHECK(clvit_dist_agree(st));
        long step = clvit_trainer_step_count(t0);
        CHECK_MPI(MPI_Bcast(&step, 1, MPI_LONG, 0, MPI_COMM_WORLD), "MPI_Bcast(step)");
        clvit_trainer_set_step(t0, step);
    }
#endif
    for (int r = 1; r < g->n; r++)
        clvit_trainer_set_step(g->trainers[r], clvit_trainer_step_count(g->trainers[0]));
    return copy_params(g);
}

/* The overlap buckets: groups of parameters in the order the backward finishes them (the head
 * and final norm, blocks last to first, the embeddings), consecutive groups merged until a
 * bucket holds at least CLVIT_DIST_OVERLAP_KB (4 MiB on GPUs, off on CPUs); the rest goes into
 * the last bucket. The
 * same buckets every step: a fixed reduction order. */
static clvit_status plan_buckets(clvit_dp *g) {
    /* The default: 4096 KiB where a device is not a CPU; off where every device of every rank
     * is one, since there the host, MPI and the kernels share the same cores and the overlap
     * only adds wake-ups (measured: docs/distributed.md). Every rank must cut the same buckets,
     * so the choice and the variable are agreed on. */
    const char *env = getenv("CLVIT_DIST_OVERLAP_KB");
    const double asked = env && *env ? (double)strtoul(env, NULL, 10) : -1.0;
    double v[2] = {0.0, asked};
    for (int r = 0; r < g->n; r++)
        if (!clvit_ctx_device(g->models[r]->ctx)->is_cpu) v[0] = 1.0;
    CLVIT_CHECK(clvit_dist_sum(v, 2));
    CLVIT_CHECK(clvit_dist_agree(
        v[1] == asked * g_dist.nranks
            ? CLVIT_SUCCESS
            : clvit_fail(CLVIT_ERR_INVALID_ARG, "CLVIT_DIST_OVERLAP_KB differs between ranks")));
    const size_t kb = asked >= 0.0 ? (size_t)asked : v[0] > 0.0 ? 4096 : 0;
    if (kb == 0) return CLVIT_SUCCESS; /* the gradients are read after the backward */
    g->poll_us = 50;
    env = getenv("CLVIT_DIST_POLL_US");
    if (env && *env) g->poll_us = strtol(env, NULL, 10);
    if (g->poll_us < 0 || g->poll_us > 999999) g->poll_us = 50;
    const size_t cap = kb * 1024 / sizeof(float);
    const int depth = g->models[0]->cfg.depth, ng = depth + 2;
    size_t *bounds = malloc((size_t)ng * sizeof *bounds);
    g->bstart = malloc((size_t)ng * sizeof *g->bstart);
    g->bcount = malloc((size_t)ng * sizeof *g->bcount);
    g->reads = calloc((size_t)ng * (size_t)g->n, sizeof *g->reads);
#ifdef CLVIT_HAVE_MPI
    g->reqs = malloc((size_t)ng * sizeof *g->reqs);
    const int reqs_ok = g->reqs != NULL;
#else
    const int reqs_ok = 1;
#endif
    if (!bounds || !g->bstart || !g->bcount || !g->reads || !reqs_ok) {
        free(bounds);
        return clvit_fail(CLVIT_ERR_NOMEM, "allreduce buckets");
    }
    clvit_trainer_grad_groups(g->trainers[0], bounds);
    size_t end = g->np;
    for (int i = 0; i < ng; i++) {
        const size_t lo = bounds[i] < end ? bounds[i] : end;
        if (end > lo && (end - lo >= cap || i == ng - 1)) {
            if (end - lo > 0x7fffffff) { /* an MPI count is an int */
                free(bounds);
                return clvit_fail(CLVIT_ERR_UNSUPPORTED, "a parameter group of %zu floats",
                                  end - lo);
            }
            g->bstart[g->nb] = lo;
            g->bcount[g->nb] = end - lo;
            g->nb++;
            end = lo;
        }
    }
    free(bounds);
    return CLVIT_SUCCESS;
}

clvit_status clvit_dp_create(clvit_model *model, clvit_ctx *const *ctxs, int nctx,
                             const clvit_train_config *tc, int max_global_batch, clvit_dp **out) {
    if (!model || !ctxs || nctx < 1 || !tc || max_global_batch < 1 || !out)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_dp_create: bad arguments");
    *out = NULL;
    if (model->ctx != ctxs[0])
        return clvit_fail(CLVIT_ERR_INVALID_ARG,
                          "clvit_dp_create: the model must be on the first context");
    const int nshares = g_dist.nranks * nctx;
    if (max_global_batch < nshares)
        return clvit_fail(CLVIT_ERR_INVALID_ARG,
                          "global batch %d is smaller than the %d devices (%d ranks x %d)",
                          max_global_batch, nshares, g_dist.nranks, nctx);
    clvit_dp *g = calloc(1, sizeof *g);
    if (!g) return clvit_fail(CLVIT_ERR_NOMEM, "replica group");
    g->n = nctx;
    g->np = model->num_params;
    size_t mb = 16;
    const char *env = getenv("CLVIT_DIST_BUCKET_MB");
    if (env && atoi(env) > 0) mb = (size_t)atoi(env);
    g->bucket = mb * 1048576 / sizeof(float);
    if (g->bucket > 0x7fffffff) g->bucket = 0x7fffffff; /* an MPI count is an int */
    g->models = calloc((size_t)nctx, sizeof *g->models);
    g->trainers = calloc((size_t)nctx, sizeof *g->trainers);
    g->grads = calloc((size_t)nctx, sizeof *g->grads);
    g->sum = malloc(g->np * sizeof *g->sum);
    g->params = malloc(g->np * sizeof *g->params);
    clvit_status st = g->models && g->trainers && g->grads && g->sum && g->params
                          ? CLVIT_SUCCESS
                          : clvit_fail(CLVIT_ERR_NOMEM, "replica group host buffers");
    /* the largest share: ceil(max_global_batch / nshares) */
    const int max_share = (max_global_batch + nshares - 1) / nshares;
    if (!st) g->models[0] = model;
    for (int r = 1; !st && r < nctx; r++) {
        st = clvit_model_alloc(ctxs[r], &model->cfg, &g->models[r]);
        if (!st) {
            g->grads[r] = malloc(g->np * sizeof *g->grads[r]);
            if (!g->grads[r]) st = clvit_fail(CLVIT_ERR_NOMEM, "replica %d gradients", r);
        }
    }
    for (int r = 0; !st && r < nctx; r++)
        st = clvit_trainer_create(g->models[r], tc, max_share, &g->trainers[r]);
    if (!st) st = plan_buckets(g);
    if (!st) st = clvit_dp_sync(g);
    if (st) {
        clvit_dp_free(g);
        return st;
    }
    *out = g;
    return CLVIT_SUCCESS;
}

clvit_trainer *clvit_dp_trainer(clvit_dp *g) {
    return g ? g->trainers[0] : NULL;
}

int clvit_dp_replicas(const clvit_dp *g) {
    return g ? g->n : 0;
}

void clvit_dp_range(const clvit_dp *g, int global_batch, int *start, int *count) {
    const int nshares = g_dist.nranks * g->n;
    int s0, c0, sl, cl;
    clvit_dist_share(global_batch, g_dist.rank * g->n, nshares, &s0, &c0);
    clvit_dist_share(global_batch, g_dist.rank * g->n + g->n - 1, nshares, &sl, &cl);
    *start = s0;
    *count = sl + cl - s0;
}

void clvit_dp_times_get(const clvit_dp *g, clvit_dp_times *times) {
    *times = g->times;
}

/* The summed gradient over the ranks, in buckets of a fixed size: the same message sizes every
 * step, so the pinned algorithm adds in the same order every step. */
static clvit_status allreduce_grads(clvit_dp *g) {
#ifdef CLVIT_HAVE_MPI
    if (g_dist.mpi && g_dist.nranks > 1)
        for (size_t at = 0; at < g->np; at += g->bucket) {
            const size_t c = g->np - at < g->bucket ? g->np - at : g->bucket;
            CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, g->sum + at, (int)c, MPI_FLOAT, MPI_SUM,
                                    MPI_COMM_WORLD),
                      "MPI_Allreduce(gradients)");
        }
#else
    (void)g;
#endif
    return CLVIT_SUCCESS;
}

/* ---------------------------------------------------------------- overlap */

static int read_done(cl_event ev) {
    cl_int status = CL_COMPLETE;
    if (ev) clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, NULL);
    return status == CL_COMPLETE || status < 0;
}

/* Waits for a gradient read; meanwhile, under MPI, keeps the allreduces started so far
 * progressing (Open MPI's non-blocking collectives advance only inside MPI calls). */
static clvit_status wait_read(clvit_dp *g, cl_event ev, int started) {
    (void)g;
    (void)started;
#ifdef CLVIT_HAVE_MPI
    int all = started == 0 || !(g_dist.mpi && g_dist.nranks > 1);
    if (!all) CHECK_MPI(MPI_Testall(started, g->reqs, &all, MPI_STATUSES_IGNORE), "MPI_Testall");
    while (!all && g->poll_us > 0 && !read_done(ev)) {
        const struct timespec nap = {0, 1000L * g->poll_us};
        nanosleep(&nap, NULL);
        CHECK_MPI(MPI_Testall(started, g->reqs, &all, MPI_STATUSES_IGNORE), "MPI_Testall");
    }
#endif
    CLVIT_CHECK_CL(clWaitForEvents(1, &ev));
    return CLVIT_SUCCESS;
}

/* After a failure: every read still enqueued finishes (it writes host memory) and is released. */
static void drop_reads(clvit_dp *g) {
    for (int i = 0; i < g->n * g->nb; i++)
        if (g->reads[i].done) {
            clWaitForEvents(1, &g->reads[i].done);
            clReleaseEvent(g->reads[i].done);
            g->reads[i].done = NULL;
        }
}

/* Bucket by bucket, as the devices' backward passes finish them: the replicas' reads of the
 * bucket, their sum in replica order, and its MPI_Iallreduce (ring, pinned), while the devices
 * compute the earlier layers. Returns with bucket b's allreduce started (g->reqs[b]); *sum_s:
 * host time spent summing; *bw: the time the last read (the end of the backward) was seen. */
static clvit_status reduce_buckets(clvit_dp *g, const int *count, double *sum_s, double *bw) {
    for (int b = 0; b < g->nb; b++) {
        const size_t at = g->bstart[b], c = g->bcount[b];
        for (int r = 0; r < g->n; r++) {
            clvit_grad_read *rd = &g->reads[r * g->nb + b];
            if (!rd->done) continue;
            CLVIT_CHECK(wait_read(g, rd->done, b));
            clReleaseEvent(rd->done);
            rd->done = NULL;
        }
        const double t = now_s();
        if (b == g->nb - 1) *bw = t;
        int early = 0; /* a replica's backward still runs (its last read is not done) */
        for (int r = 0; b < g->nb - 1 && r < g->n; r++)
            early |= !read_done(g->reads[r * g->nb + g->nb - 1].done);
        g->times.early_buckets += early;
        g->times.buckets++;
        float *s = g->sum + at;
        if (count[0] == 0) memset(s, 0, c * sizeof *s);
        for (int r = 1; r < g->n; r++) {
            if (count[r] == 0) continue;
            const float *x = g->grads[r] + at;
            for (size_t i = 0; i < c; i++)
                s[i] += x[i];
        }
        *sum_s += now_s() - t;
#ifdef CLVIT_HAVE_MPI
        if (g_dist.mpi && g_dist.nranks > 1)
            CHECK_MPI(MPI_Iallreduce(MPI_IN_PLACE, s, (int)c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                                     &g->reqs[b]),
                      "MPI_Iallreduce(gradients)");
#endif
    }
    return CLVIT_SUCCESS;
}

static clvit_status wait_allreduce(clvit_dp *g) {
#ifdef CLVIT_HAVE_MPI
    if (g_dist.mpi && g_dist.nranks > 1)
        CHECK_MPI(MPI_Waitall(g->nb, g->reqs, MPI_STATUSES_IGNORE), "MPI_Waitall(gradients)");
#else
    (void)g;
#endif
    return CLVIT_SUCCESS;
}

clvit_status clvit_dp_step(clvit_dp *g, const float *images, const int32_t *labels,
                           int global_batch, clvit_step_result *res) {
    if (!g || !images || !labels || !res || global_batch < 1)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_dp_step: bad arguments");
    const int nshares = g_dist.nranks * g->n;
    const clvit_dims *d = &g->models[0]->dims;
    const size_t img = (size_t)d->C * d->S * d->S;
    int pstart, pcount;
    clvit_dp_range(g, global_batch, &pstart, &pcount);
    int start[64], count[64];
    if (g->n > 64) return clvit_fail(CLVIT_ERR_UNSUPPORTED, "more than 64 replicas per process");
    for (int r = 0; r < g->n; r++)
        clvit_dist_share(global_batch, g_dist.rank * g->n + r, nshares, &start[r], &count[r]);
    const int device_only = g->n == 1 && !(g_dist.mpi && g_dist.nranks > 1) && count[0] > 0;
    int any_images = 0;
    for (int r = 0; r < g->n; r++)
        any_images |= count[r] > 0;
    /* overlap: the gradient reads are enqueued inside each replica's backward */
    const int overlap = g->nb > 0 && !device_only && any_images;
    double t0 = now_s();
    /* every replica's share at once: each device runs while the host submits the next */
    clvit_status st = CLVIT_SUCCESS;
    for (int r = 0; !st && r < g->n; r++) {
        if (count[r] == 0) continue;
        const size_t at = (size_t)(start[r] - pstart);
        clvit_grad_read *rd = overlap ? &g->reads[r * g->nb] : NULL;
        if (overlap) {
            float *dst = r == 0 ? g->sum : g->grads[r];
            for (int b = 0; b < g->nb; b++)
                rd[b] = (clvit_grad_read){g->bstart[b], g->bcount[b], dst + g->bstart[b], NULL};
            clvit_trainer_set_grad_reads(g->trainers[r], rd, g->nb);
        }
        st = clvit_train_submit_share(g->trainers[r], images + at * img, labels + at, count[r],
                                      start[r], global_batch);
        if (overlap) clvit_trainer_set_grad_reads(g->trainers[r], NULL, 0);
    }
    double sum_s = 0.0, bw = 0.0;
    if (!st && overlap) st = reduce_buckets(g, count, &sum_s, &bw);
    if (st && overlap) drop_reads(g);
    /* loss sum, correct, replicas whose loss is NaN or Inf (summed over the ranks, so every
     * rank stops at the same step) */
    double stats[3] = {0.0, 0.0, 0.0};
    for (int r = 0; r < g->n; r++) {
        if (count[r] == 0 || !clvit_train_pending(g->trainers[r])) continue;
        clvit_step_result rr = {0};
        const clvit_status s = clvit_train_collect(g->trainers[r], &rr);
        if (s == CLVIT_ERR_DIVERGED)
            stats[2] += 1.0;
        else if (!st)
            st = s; /* collect every pending step before returning */
        stats[0] += rr.loss * count[r];
        stats[1] += rr.correct;
    }
    CLVIT_CHECK(st); /* this rank's own failure: the caller stops the job */
    double t1 = now_s();
    if (overlap) {
        CLVIT_CHECK(wait_allreduce(g));
    } else if (!device_only) {
        /* the sum in replica order: g_0 + g_1 + ... (a replica without images adds 0) */
        if (count[0] > 0)
            CLVIT_CHECK(clvit_trainer_read_grads(g->trainers[0], g->sum, g->np));
        else
            memset(g->sum, 0, g->np * sizeof *g->sum);
        for (int r = 1; r < g->n; r++) {
            if (count[r] == 0) continue;
            CLVIT_CHECK(clvit_trainer_read_grads(g->trainers[r], g->grads[r], g->np));
            const float *x = g->grads[r];
            float *s = g->sum;
            for (size_t i = 0; i < g->np; i++)
                s[i] += x[i];
        }
    }
    double t2 = now_s();
    if (!overlap) CLVIT_CHECK(allreduce_grads(g));
    CLVIT_CHECK(clvit_dist_sum(stats, 3));
    double t3 = now_s();
    if (stats[2] > 0.0) /* on every rank, for the same step: none is applied */
        return clvit_fail(CLVIT_ERR_DIVERGED, "loss is %g at step %ld (%g of %d shares)",
                          stats[0] / global_batch, clvit_trainer_step_count(g->trainers[0]) + 1,
                          stats[2], nshares);
    if (!device_only) CLVIT_CHECK(clvit_trainer_write_grads(g->trainers[0], g->sum, g->np));
    clvit_step_result ur;
    CLVIT_CHECK(clvit_trainer_apply_grads(g->trainers[0], &ur));
    double t4 = now_s();
    CLVIT_CHECK(copy_params(g));
    for (int r = 1; r < g->n; r++)
        clvit_trainer_set_step(g->trainers[r], clvit_trainer_step_count(g->trainers[0]));
    double t5 = now_s();
    if (overlap) { /* compute: to the end of the backward; gather: the host sums; allreduce:
                    * what was left of it after the backward */
        g->times.compute += bw - t0 - sum_s;
        g->times.gather += sum_s;
        g->times.allreduce += t3 - bw;
    } else {
        g->times.compute += t1 - t0;
        g->times.gather += t2 - t1;
        g->times.allreduce += t3 - t2;
    }
    g->times.update += t4 - t3;
    g->times.broadcast += t5 - t4;
    g->times.steps++;
    res->loss = stats[0] / global_batch;
    res->correct = (int)stats[1];
    res->lr = ur.lr;
    res->grad_norm = ur.grad_norm;
    return CLVIT_SUCCESS;
}

static uint64_t fnv1a(const float *x, size_t n) {
    const unsigned char *b = (const unsigned char *)x;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n * sizeof *x; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

clvit_status clvit_dp_check(clvit_dp *g, uint64_t *hash) {
    if (!g || !hash) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_dp_check: NULL");
    clvit_model *m0 = g->models[0];
    clvit_status st = clvit_arena_read(m0->ctx, &m0->params, 0, g->params, g->np);
    const uint64_t h = st ? 0 : fnv1a(g->params, g->np);
    for (int r = 1; !st && r < g->n; r++) {
        st = clvit_arena_read(g->models[r]->ctx, &g->models[r]->params, 0, g->sum, g->np);
        if (!st && memcmp(g->sum, g->params, g->np * sizeof *g->sum)) {
            size_t i = 0;
            while (i < g->np && !memcmp(&g->sum[i], &g->params[i], sizeof *g->sum))
                i++;
            st = clvit_fail(CLVIT_ERR_REPLICAS,
                            "replica %d's parameters differ from replica 0's (first at %zu: %.9g "
                            "vs %.9g)",
                            r, i, (double)g->sum[i], (double)g->params[i]);
        }
    }
    *hash = h;
#ifdef CLVIT_HAVE_MPI
    CLVIT_CHECK(clvit_dist_agree(st));
    if (g_dist.mpi && g_dist.nranks > 1) {
        unsigned long long lo = h, hi = h;
        CHECK_MPI(
            MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD),
            "MPI_Allreduce(hash)");
        CHECK_MPI(
            MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD),
            "MPI_Allreduce(hash)");
        if (lo != hi)
            return clvit_fail(CLVIT_ERR_REPLICAS,
                              "ranks hold different parameters (hash %016llx on rank %d; "
                              "min %016llx, max %016llx): devices or drivers differ?",
                              (unsigned long long)h, g_dist.rank, lo, hi);
    }
#endif
    return st;
}
