/*
 * test_faults.c - device faults injected through CLVIT_FAULT (lib/runtime.c), on two
 * sequences:
 *   forward   create vit_mnist_tiny and run a forward pass of 3 images;
 *   training  create the model (dropout, attention dropout and drop-path on), a trainer
 *             (AdamW, clipping), one clvit_train_step, then two steps through
 *             clvit_train_submit / clvit_train_collect; once with zero-copy staging and once
 *             with copied uploads (CLVIT_ZERO_COPY).
 * A run with CLVIT_FAULT=count first counts each kind of operation the sequence performs:
 * buffer allocations, kernel enqueues, writes, reads, maps, waits. Then for every kind and
 * every N up to its count, the sequence runs with CLVIT_FAULT=KIND:N and must return the
 * OpenCL code injected for that kind, with a last error that names the injection. For odd N
 * the model and trainer are freed at once, in whatever state the failure left them; for even
 * N the same sequence is first run again on the same objects (the fault is one-shot) and must
 * succeed, so a failure leaves nothing half-made behind. On PoCL no buffer may be left behind
 * either (the context's reference count), and the contexts are freed (see inject_all). Also:
 * a model whose trainer failed to allocate still runs inference, and malformed CLVIT_FAULT
 * values are errors. CLVIT_TEST_FAULT_EVERY=E injects only at N = 1, the last, and N with
 * N mod E in {0, 1} (odd and even N, so both paths above), for drivers where every run of the
 * sequence is slow: scripts/test.sh sets it for rusticl, where the whole set takes 15 minutes;
 * PoCL runs every N. Nothing may crash; leaks and invalid accesses are for the ASan run of
 * this test (scripts/test.sh) or valgrind to find (README, "Device faults and sanitizers").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "device.h"
#include "testutil.h"

#define B 3

static const char *const kind_names[CLVIT_FAULT_KINDS] = {"alloc", "enqueue", "write",
                                                          "read",  "map",     "wait"};
static const clvit_status kind_codes[CLVIT_FAULT_KINDS] = {
    CL_MEM_OBJECT_ALLOCATION_FAILURE,
    CL_OUT_OF_RESOURCES,
    CL_OUT_OF_RESOURCES,
    CL_OUT_OF_RESOURCES,
    CL_MAP_FAILURE,
    CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST};

/* What a sequence works on; NULL members are created by the sequence. */
typedef struct run {
    clvit_ctx *ctx;
    clvit_model *m;
    clvit_trainer *t;
} run;

typedef clvit_status (*sequence)(run *r);

static clvit_config cfg;
static float images[B * 28 * 28];
static int32_t labels[B] = {3, 1, 4};

static clvit_status model(run *r, int dropout) {
    if (r->m) return CLVIT_SUCCESS;
    clvit_status st = clvit_model_create(r->ctx, &cfg, 1, &r->m);
    if (!st && dropout) st = clvit_model_set_dropout(r->m, 0.1f, 0.1f, 0.1f);
    return st;
}

static clvit_status seq_forward(run *r) {
    float logits[B * 10];
    clvit_status st = model(r, 0);
    if (!st) st = clvit_model_forward(r->m, images, B, logits);
    for (int i = 0; !st && i < B * 10; i++)
        assert_true(isfinite(logits[i]));
    return st;
}

static clvit_status seq_train(run *r) {
    clvit_status st = model(r, 1);
    if (!st && !r->t) {
        clvit_train_config tc;
        clvit_train_config_default(&tc);
        tc.optimizer = CLVIT_ADAMW;
        tc.weight_decay = 0.05f;
        tc.clip_norm = 1.0f;
        st = clvit_trainer_create(r->m, &tc, B, &r->t);
    }
    clvit_step_result res[3];
    if (!st) st = clvit_train_step(r->t, images, labels, B, &res[0]);
    if (!st) st = clvit_train_submit(r->t, images, labels, B);
    if (!st) st = clvit_train_submit(r->t, images, labels, B);
    if (!st) st = clvit_train_collect(r->t, &res[1]);
    if (!st) st = clvit_train_collect(r->t, &res[2]);
    for (int i = 0; !st && i < 3; i++)
        assert_true(isfinite(res[i].loss) && isfinite(res[i].grad_norm));
    return st;
}

/* A fresh context with CLVIT_FAULT=spec. */
static clvit_ctx *fault_ctx(const char *spec) {
    setenv("CLVIT_FAULT", spec, 1);
    clvit_ctx *ctx = NULL;
    const clvit_status st = clvit_ctx_create(&ctx, NULL);
    unsetenv("CLVIT_FAULT");
    if (st) printf("%s\n", clvit_last_error());
    assert_int_equal(st, CLVIT_SUCCESS);
    return ctx;
}

/* The context's reference count, which every OpenCL object made in it holds on PoCL. Only
 * checked there: other drivers may count differently (rusticl's kernels keep the buffers of
 * their last arguments alive, so a run that stops early leaves others set). */
static cl_uint context_refs(clvit_ctx *ctx) {
    cl_uint n = 0;
    assert_int_equal(clGetContextInfo(ctx->context, CL_CONTEXT_REFERENCE_COUNT, sizeof n, &n, NULL),
                     CL_SUCCESS);
    return n;
}

/* The count once it is at most `limit`, else the lowest seen in `tries` reads 10 ms apart:
 * the driver drops a released buffer's reference when the commands that used it are done, in
 * its own threads, a little after clFinish returns. */
static cl_uint settled_refs(clvit_ctx *ctx, cl_uint limit, int tries) {
    assert_int_equal(clvit_ctx_finish(ctx), CLVIT_SUCCESS);
    cl_uint n = context_refs(ctx);
    for (int i = 1; i < tries && n > limit; i++) {
        nanosleep(&(struct timespec){0, 10000000}, NULL);
        const cl_uint now = context_refs(ctx);
        if (now < n) n = now;
    }
    return n;
}

/* The operations of each kind that seq performs on ctx; the model and trainer it made are
 * freed, the context is kept. */
static void count_ops(clvit_ctx *ctx, sequence seq, uint64_t *count) {
    run r = {ctx, NULL, NULL};
    assert_int_equal(seq(&r), CLVIT_SUCCESS);
    for (int k = 0; k < CLVIT_FAULT_KINDS; k++)
        count[k] = clvit_fault_count(r.ctx, (clvit_fault_kind)k);
    clvit_trainer_free(r.t);
    clvit_model_free(r.m);
}

/* Every fault of every kind in seq; returns the number of faults injected. The first
 * allocation and the last kernel enqueue fail in a new context made with CLVIT_FAULT set,
 * freed right after; the other faults reuse one context whose programs are built, re-armed
 * with clvit_fault_set and with its scratch buffers released before each run, so that it
 * allocates what a new context would (a new context per fault would cost a second or more on
 * PoCL: the programs are built again). */
static int inject_all(const char *what, sequence seq) {
    const char *ev = getenv("CLVIT_TEST_FAULT_EVERY");
    const uint64_t every = ev && atoi(ev) > 1 ? (uint64_t)atoi(ev) : 1;
    uint64_t count[CLVIT_FAULT_KINDS], again[CLVIT_FAULT_KINDS];
    clvit_ctx *ctx = fault_ctx("count");
    count_ops(ctx, seq, count);
    clvit_ctx_free(ctx);
    printf("  %s: alloc %llu, enqueue %llu, write %llu, read %llu, map %llu, wait %llu\n", what,
           (unsigned long long)count[0], (unsigned long long)count[1], (unsigned long long)count[2],
           (unsigned long long)count[3], (unsigned long long)count[4],
           (unsigned long long)count[5]);
    assert_true(count[CLVIT_FAULT_ALLOC] > 0 && count[CLVIT_FAULT_ENQUEUE] > 0);
    clvit_ctx *warm = fault_ctx("off");
    count_ops(warm, seq, again);
    clvit_ctx_release_scratch(warm);
    assert_int_equal(clvit_fault_set(warm, "off"), CLVIT_SUCCESS);
    count_ops(warm, seq, again); /* the reused context does what a new one does */
    assert_memory_equal(count, again, sizeof count);
    /* the references of the context, its queue, programs and kernels: after a run has freed
     * its model and trainer (and the scratch buffers are released), no more may be left */
    const int pocl = strstr(clvit_ctx_device(warm)->platform_name, "Portable Computing") != NULL;
    clvit_ctx_release_scratch(warm);
    const cl_uint refs = pocl ? settled_refs(warm, 0, 20) : 0;
    if (pocl) {
        cl_mem probe;
        assert_int_equal(clvit_buffer(warm, 16, &probe), CLVIT_SUCCESS);
        assert_true(context_refs(warm) > refs); /* the check below sees buffers */
        clReleaseMemObject(probe);
        printf("  context references after each run: %u, as before it\n", refs);
    }
    const clock_t t0 = clock();
    int injected = 0;
    for (int k = 0; k < CLVIT_FAULT_KINDS; k++) {
        for (uint64_t n = 1; n <= count[k]; n++) {
            if (every > 1 && n != 1 && n != count[k] && n % every > 1) continue;
            char spec[64], want[96];
            snprintf(spec, sizeof spec, "%s:%llu", kind_names[k], (unsigned long long)n);
            snprintf(want, sizeof want, "injected fault (CLVIT_FAULT=%s)", spec);
            const int fresh =
                (k == CLVIT_FAULT_ALLOC && n == 1) || (k == CLVIT_FAULT_ENQUEUE && n == count[k]);
            run r = {fresh ? fault_ctx(spec) : warm, NULL, NULL};
            if (r.ctx == warm) {
                clvit_ctx_release_scratch(warm);
                assert_int_equal(clvit_fault_set(warm, spec), CLVIT_SUCCESS);
            }
            const clvit_status st = seq(&r);
            if (st != kind_codes[k] || !strstr(clvit_last_error(), want))
                printf("  %s with CLVIT_FAULT=%s: status %d (want %d), last error: %s\n", what,
                       spec, st, kind_codes[k], clvit_last_error());
            assert_int_equal(st, kind_codes[k]);
            assert_non_null(strstr(clvit_last_error(), want));
            assert_true(clvit_fault_count(r.ctx, (clvit_fault_kind)k) >= n);
            if (n % 2 == 0) { /* the same objects again, past the one-shot fault */
                const clvit_status st2 = seq(&r);
                if (st2) printf("  %s after CLVIT_FAULT=%s: %s\n", what, spec, clvit_last_error());
                assert_int_equal(st2, CLVIT_SUCCESS);
            }
            clvit_trainer_free(r.t);
            clvit_model_free(r.m);
            if (r.ctx != warm) clvit_ctx_free(r.ctx);
            if (r.ctx == warm && pocl) {
                clvit_ctx_release_scratch(warm);
                const cl_uint left = settled_refs(warm, refs, 200);
                if (left > refs)
                    printf("  %s with CLVIT_FAULT=%s: %u OpenCL objects left behind\n", what, spec,
                           left - refs);
                assert_true(left <= refs);
            }
            injected++;
        }
    }
    clvit_ctx_free(warm);
    printf("  %s: %d faults injected%s (%.1f s CPU)\n", what, injected,
           every > 1 ? " (a sample: CLVIT_TEST_FAULT_EVERY)" : "",
           (double)(clock() - t0) / CLOCKS_PER_SEC);
    return injected;
}

static void test_forward_faults(void **s) {
    (void)s;
    assert_true(inject_all("forward", seq_forward) > 0);
}

static void test_train_faults_zero_copy(void **s) {
    (void)s;
    setenv("CLVIT_ZERO_COPY", "1", 1);
    const int n = inject_all("training, zero-copy staging", seq_train);
    unsetenv("CLVIT_ZERO_COPY");
    assert_true(n > 0);
}

static void test_train_faults_copied(void **s) {
    (void)s;
    setenv("CLVIT_ZERO_COPY", "0", 1);
    const int n = inject_all("training, copied uploads", seq_train);
    unsetenv("CLVIT_ZERO_COPY");
    assert_true(n > 0);
}

/* A model whose larger trainer could not be made still runs inference: the failed plan of its
 * training activations is not left half-allocated (a forward then ran 0 images per chunk on
 * missing buffers and failed with an unrelated error). */
/* Trainers freed with two steps in flight, as by a caller that stops: the free waits for them,
 * unmaps its staging buffers without an error (nothing on stderr) and frees them; a new
 * trainer on the same model then trains. Both staging modes. (The rusticl heap corruption
 * of docs/oclgrind.md came from this path after an injected wait fault; this test did not
 * reproduce it there with the old slot_release, test_train_faults_zero_copy did in 5 of 7
 * runs.) */
static void test_free_in_flight(void **s) {
    (void)s;
    clvit_ctx *ctx = fault_ctx("off");
    clvit_train_config tc;
    clvit_train_config_default(&tc);
    for (int zero_copy = 0; zero_copy < 2; zero_copy++) {
        setenv("CLVIT_ZERO_COPY", zero_copy ? "1" : "0", 1);
        clvit_model *m;
        assert_int_equal(clvit_model_create(ctx, &cfg, 1, &m), CLVIT_SUCCESS);
        for (int i = 0; i < 4; i++) {
            clvit_trainer *t;
            assert_int_equal(clvit_trainer_create(m, &tc, B, &t), CLVIT_SUCCESS);
            assert_int_equal(clvit_train_submit(t, images, labels, B), CLVIT_SUCCESS);
            assert_int_equal(clvit_train_submit(t, images, labels, B), CLVIT_SUCCESS);
            tu_capture_start();
            clvit_trainer_free(t);
            char *said = tu_capture_end();
            assert_string_equal(said, "");
            free(said);
        }
        clvit_trainer *t;
        clvit_step_result r;
        assert_int_equal(clvit_trainer_create(m, &tc, B, &t), CLVIT_SUCCESS);
        assert_int_equal(clvit_train_step(t, images, labels, B, &r), CLVIT_SUCCESS);
        assert_true(isfinite(r.loss));
        clvit_trainer_free(t);
        clvit_model_free(m);
    }
    unsetenv("CLVIT_ZERO_COPY");
    clvit_ctx_free(ctx);
}

static void test_forward_after_trainer_fault(void **s) {
    (void)s;
    clvit_ctx *ctx = fault_ctx("off");
    clvit_train_config tc;
    clvit_train_config_default(&tc);
    uint64_t allocs = 1; /* those of the second trainer, counted in the first pass */
    for (uint64_t n = 0; n <= allocs; n++) {
        /* a model with training activations planned for 2 images, then a trainer for B */
        clvit_model *m;
        clvit_trainer *t;
        assert_int_equal(clvit_model_create(ctx, &cfg, 1, &m), CLVIT_SUCCESS);
        assert_int_equal(clvit_trainer_create(m, &tc, 2, &t), CLVIT_SUCCESS);
        clvit_trainer_free(t);
        char spec[32];
        snprintf(spec, sizeof spec, "alloc:%llu", (unsigned long long)n);
        assert_int_equal(clvit_fault_set(ctx, n ? spec : "off"), CLVIT_SUCCESS);
        const clvit_status st = clvit_trainer_create(m, &tc, B, &t);
        if (n == 0) {
            assert_int_equal(st, CLVIT_SUCCESS);
            clvit_trainer_free(t);
            allocs = clvit_fault_count(ctx, CLVIT_FAULT_ALLOC);
        } else {
            assert_int_equal(st, CL_MEM_OBJECT_ALLOCATION_FAILURE);
            float logits[B * 10];
            const clvit_status fst = clvit_model_forward(m, images, B, logits);
            if (fst) printf("  forward after CLVIT_FAULT=%s: %s\n", spec, clvit_last_error());
            assert_int_equal(fst, CLVIT_SUCCESS);
        }
        clvit_model_free(m);
        assert_int_equal(clvit_fault_set(ctx, "off"), CLVIT_SUCCESS);
    }
    printf("  each of the %llu allocations of a larger trainer failed, then a forward ran\n",
           (unsigned long long)allocs);
    clvit_ctx_free(ctx);
}

static void test_bad_spec(void **s) {
    (void)s;
    const char *bad[] = {
        "alloc",    "alloc:", "alloc:0", "alloc:x", "alloc:1x",
        "alloc:-1", "disk:1", ":3",      "Alloc:1", "enqueue:99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("CLVIT_FAULT", bad[i], 1);
        clvit_ctx *ctx = NULL;
        const clvit_status st = clvit_ctx_create(&ctx, NULL);
        unsetenv("CLVIT_FAULT");
        if (st != CLVIT_ERR_INVALID_ARG) printf("  CLVIT_FAULT='%s' was accepted\n", bad[i]);
        assert_int_equal(st, CLVIT_ERR_INVALID_ARG);
        assert_null(ctx);
        assert_non_null(strstr(clvit_last_error(), "CLVIT_FAULT="));
    }
    const char *good[] = {"", "off", "count", "map:1", "read:12"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        clvit_ctx_free(fault_ctx(good[i]));
}

int main(void) {
    /* GEMM timing would absorb some faults (a candidate that fails is skipped) and make the
     * counts depend on the clock; no plan or program files either, so every run is alike */
    setenv("CLVIT_GEMM_TUNE", "0", 1);
    setenv("CLVIT_CACHE_DIR", "off", 1);
    unsetenv("CLVIT_FAULT");
    const char *only = getenv("CLVIT_TEST_FILTER"); /* e.g. "*forward*" under valgrind */
    if (only && *only) cmocka_set_test_filter(only);
    if (clvit_preset("vit_mnist_tiny", &cfg)) return 1;
    uint64_t rng = 11;
    tu_fill_uniform(images, sizeof images / sizeof images[0], &rng, -1.0f, 1.0f);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_spec),
        cmocka_unit_test(test_forward_after_trainer_fault),
        cmocka_unit_test(test_free_in_flight),
        cmocka_unit_test(test_forward_faults),
        cmocka_unit_test(test_train_faults_zero_copy),
        cmocka_unit_test(test_train_faults_copied),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
