/*
 * test_api.c - the "using a model" part of the public API (include/clvit.h): a context on
 * the caller's OpenCL objects (nothing of theirs released: reference counts unchanged), the
 * forward pass and the features on device buffers against the host ones (also in several
 * chunks, under an emulated small allocation limit), the features against the logits
 * (head(features) == logits, for class-token, pre-logits, average-pool and distilled models,
 * from the parity fixtures), image loading with a configuration's preprocessing, and the
 * metadata a trainer's checkpoint holds.
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
#include <unistd.h>

#include <CL/cl.h>
#include <stb/stb_image_write.h>

#include "host/safetensors.h"
#include "testutil.h"

static void fixture_path(char *buf, size_t size, const char *name, const char *suffix) {
    snprintf(buf, size, "%s/tests/fixtures/%s%s", CLVIT_SOURCE_DIR, name, suffix);
}

/* A fixture's model on ctx and its input batch (*B images). */
static clvit_model *load_fixture(clvit_ctx *ctx, const char *name, float **input, int *B) {
    char path[512];
    fixture_path(path, sizeof path, name, ".safetensors");
    clvit_model *m = NULL;
    clvit_status st = clvit_model_load(ctx, path, NULL, 0, &m);
    if (st) printf("load %s: %s\n", path, clvit_last_error());
    assert_int_equal(st, CLVIT_SUCCESS);
    fixture_path(path, sizeof path, name, ".io.safetensors");
    clvit_st_file *io;
    assert_int_equal(clvit_st_open(path, &io), CLVIT_SUCCESS);
    int64_t n;
    *input = tu_read_tensor(io, "input", &n);
    clvit_st_close(io);
    const clvit_config *c = clvit_model_config(m);
    *B = (int)(n / ((int64_t)c->in_chans * c->img_size * c->img_size));
    assert_true(*B > 0);
    return m;
}

static size_t image_floats(const clvit_model *m) {
    const clvit_config *c = clvit_model_config(m);
    return (size_t)c->in_chans * c->img_size * c->img_size;
}

static cl_uint context_refs(cl_context c) {
    cl_uint n = 0;
    assert_int_equal(clGetContextInfo(c, CL_CONTEXT_REFERENCE_COUNT, sizeof n, &n, NULL),
                     CL_SUCCESS);
    return n;
}

static cl_uint queue_refs(cl_command_queue q) {
    cl_uint n = 0;
    assert_int_equal(clGetCommandQueueInfo(q, CL_QUEUE_REFERENCE_COUNT, sizeof n, &n, NULL),
                     CL_SUCCESS);
    return n;
}

/* ---------------------------------------------------------------- context from cl objects */

static void test_ctx_from_cl(void **state) {
    (void)state;
    cl_device_id dev = NULL;
    cl_context tctx = NULL;
    cl_command_queue tq = NULL;
    tctx = clvit_ctx_cl_context(tu_ctx());
    dev = clvit_ctx_cl_device(tu_ctx());
    tq = clvit_ctx_cl_queue(tu_ctx());
    assert_non_null(dev);
    assert_non_null(tctx);
    assert_non_null(tq);
    cl_int e;
    cl_context cc = clCreateContext(NULL, 1, &dev, NULL, NULL, &e);
    assert_int_equal(e, CL_SUCCESS);
    cl_command_queue cq = clCreateCommandQueue(cc, dev, 0, &e);
    assert_int_equal(e, CL_SUCCESS);
    const cl_uint ctx_refs0 = context_refs(cc), q_refs0 = queue_refs(cq);

    float *input, *want, *got;
    int B;
    clvit_model *ref = load_fixture(tu_ctx(), "tiny_qkvbias", &input, &B);
    const int K = clvit_model_config(ref)->num_classes;
    want = malloc((size_t)B * K * sizeof *want);
    got = malloc((size_t)B * K * sizeof *got);
    assert_non_null(want);
    assert_non_null(got);
    assert_int_equal(clvit_model_forward(ref, input, B, want), CLVIT_SUCCESS);

    /* reference counts are exact on PoCL; rusticl keeps references of its own for a while
     * (a kernel holds its last arguments, the caller's queue its finished commands), so
     * elsewhere the device-memory account is the check that nothing was left behind */
    const int pocl = strstr(clvit_ctx_device(tu_ctx())->platform_name, "Portable") != NULL;
    for (int own_queue = 0; own_queue < 2; own_queue++) {
        uint64_t buffers0;
        clvit_device_memory_in_use(&buffers0, NULL);
        clvit_ctx *ctx = NULL;
        clvit_status st = clvit_ctx_create_from_cl(&ctx, cc, dev, own_queue ? NULL : cq);
        if (st) printf("create_from_cl: %s\n", clvit_last_error());
        assert_int_equal(st, CLVIT_SUCCESS);
        const cl_context hc = clvit_ctx_cl_context(ctx);
        const cl_device_id hd = clvit_ctx_cl_device(ctx);
        const cl_command_queue hq = clvit_ctx_cl_queue(ctx);
        assert_ptr_equal(hc, cc);
        assert_ptr_equal(hd, dev);
        if (!own_queue) assert_ptr_equal(hq, cq);
        if (own_queue) assert_ptr_not_equal(hq, cq);
        const clvit_device_info *a = clvit_ctx_device(ctx), *b = clvit_ctx_device(tu_ctx());
        assert_string_equal(a->name, b->name);
        assert_int_equal(a->platform_index, b->platform_index);
        assert_int_equal(a->device_index, b->device_index);
        float *in2;
        int B2;
        clvit_model *m = load_fixture(ctx, "tiny_qkvbias", &in2, &B2);
        assert_int_equal(B2, B);
        memset(got, 0, (size_t)B * K * sizeof *got);
        assert_int_equal(clvit_model_forward(m, in2, B, got), CLVIT_SUCCESS);
        assert_true(
            tu_allclose_f("logits on the caller's context", got, want, (size_t)B * K, 1e-6, 1e-5));
        clvit_model_free(m);
        free(in2);
        clvit_ctx_free(ctx);
        uint64_t buffers = 0;
        for (int i = 0; i < 200; i++) { /* the driver may destroy them in its own threads */
            clvit_device_memory_in_use(&buffers, NULL);
            if (buffers <= buffers0) break;
            nanosleep(&(struct timespec){0, 10000000}, NULL);
        }
        assert_int_equal(buffers, buffers0);
        /* nothing of the caller's was released (nor kept) */
        assert_true(context_refs(cc) >= ctx_refs0 && queue_refs(cq) >= q_refs0);
        if (pocl) {
            assert_int_equal(context_refs(cc), ctx_refs0);
            assert_int_equal(queue_refs(cq), q_refs0);
        }
    }

    /* bad arguments: one clear status each, nothing created */
    clvit_ctx *bad = NULL;
    assert_int_equal(clvit_ctx_create_from_cl(&bad, cc, NULL, cq), CLVIT_ERR_INVALID_ARG);
    assert_int_equal(clvit_ctx_create_from_cl(&bad, NULL, dev, NULL), CLVIT_ERR_INVALID_ARG);
    assert_int_equal(clvit_ctx_create_from_cl(NULL, cc, dev, NULL), CLVIT_ERR_INVALID_ARG);
    /* the test context's queue belongs to another cl_context */
    assert_int_equal(clvit_ctx_create_from_cl(&bad, cc, dev, tq), CLVIT_ERR_INVALID_ARG);
    assert_non_null(strstr(clvit_last_error(), "another context"));
    assert_null(bad);
    cl_command_queue ooo =
        clCreateCommandQueue(cc, dev, CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE, &e);
    if (e == CL_SUCCESS) {
        assert_int_equal(clvit_ctx_create_from_cl(&bad, cc, dev, ooo), CLVIT_ERR_UNSUPPORTED);
        assert_non_null(strstr(clvit_last_error(), "out-of-order"));
        clReleaseCommandQueue(ooo);
    } else {
        printf("  (the device has no out-of-order queues: that refusal is not tested)\n");
    }
    assert_int_equal(context_refs(cc), ctx_refs0);

    clvit_model_free(ref);
    free(input);
    free(want);
    free(got);
    clReleaseCommandQueue(cq);
    clReleaseContext(cc);
}

/* ---------------------------------------------------------------- device buffers */

static cl_mem make_buffer(clvit_ctx *ctx, size_t floats, const float *init) {
    const cl_context c = clvit_ctx_cl_context(ctx);
    cl_int e;
    cl_mem b = clCreateBuffer(c, CL_MEM_READ_WRITE | (init ? CL_MEM_COPY_HOST_PTR : 0),
                              floats * sizeof(float), (void *)init, &e);
    assert_int_equal(e, CL_SUCCESS);
    return b;
}

static void read_buffer(clvit_ctx *ctx, cl_mem b, float *dst, size_t floats) {
    const cl_command_queue q = clvit_ctx_cl_queue(ctx);
    assert_int_equal(
        clEnqueueReadBuffer(q, b, CL_TRUE, 0, floats * sizeof(float), dst, 0, NULL, NULL),
        CL_SUCCESS);
}

/* forward_cl and features_cl on ctx against the host calls, for model m and B images. */
static void check_device_buffers(clvit_ctx *ctx, clvit_model *m, const float *input, int B) {
    const int K = clvit_model_config(m)->num_classes, F = clvit_model_feature_dim(m);
    const size_t nin = (size_t)B * image_floats(m);
    float *want = malloc((size_t)B * K * sizeof *want), *got = calloc((size_t)B * K, sizeof *got);
    float *fwant = malloc((size_t)B * F * sizeof *fwant),
          *fgot = calloc((size_t)B * F, sizeof *fgot);
    assert_true(want && got && fwant && fgot);
    assert_int_equal(clvit_model_forward(m, input, B, want), CLVIT_SUCCESS);
    assert_int_equal(clvit_model_features(m, input, B, fwant), CLVIT_SUCCESS);

    cl_mem in = make_buffer(ctx, nin, input), out = make_buffer(ctx, (size_t)B * K, NULL),
           fout = make_buffer(ctx, (size_t)B * F, NULL);
    assert_int_equal(clvit_model_forward_cl(m, in, B, out), CLVIT_SUCCESS);
    assert_int_equal(clvit_model_features_cl(m, in, B, fout), CLVIT_SUCCESS);
    assert_int_equal(clvit_ctx_finish(ctx), CLVIT_SUCCESS);
    read_buffer(ctx, out, got, (size_t)B * K);
    read_buffer(ctx, fout, fgot, (size_t)B * F);
    assert_true(tu_allclose_f("forward_cl logits", got, want, (size_t)B * K, 1e-6, 1e-5));
    assert_true(tu_allclose_f("features_cl", fgot, fwant, (size_t)B * F, 1e-6, 1e-5));

    /* too small, NULL, and of another OpenCL context */
    cl_mem small = make_buffer(ctx, (size_t)B * K - 1, NULL);
    assert_int_equal(clvit_model_forward_cl(m, in, B, small), CLVIT_ERR_SHAPE);
    assert_non_null(strstr(clvit_last_error(), "logits"));
    assert_int_equal(clvit_model_forward_cl(m, small, B, out), CLVIT_ERR_SHAPE);
    assert_non_null(strstr(clvit_last_error(), "images"));
    assert_int_equal(clvit_model_features_cl(m, in, B, small), CLVIT_ERR_SHAPE);
    assert_int_equal(clvit_model_forward_cl(m, in, B, NULL), CLVIT_ERR_INVALID_ARG);
    assert_int_equal(clvit_model_forward_cl(m, in, 0, out), CLVIT_ERR_INVALID_ARG);
    const cl_device_id dev = clvit_ctx_cl_device(ctx);
    cl_int e;
    cl_context other = clCreateContext(NULL, 1, &dev, NULL, NULL, &e);
    assert_int_equal(e, CL_SUCCESS);
    cl_mem foreign =
        clCreateBuffer(other, CL_MEM_READ_WRITE, (size_t)B * K * sizeof(float), NULL, &e);
    assert_int_equal(e, CL_SUCCESS);
    assert_int_equal(clvit_model_forward_cl(m, in, B, foreign), CLVIT_ERR_INVALID_ARG);
    assert_non_null(strstr(clvit_last_error(), "another OpenCL context"));
    clReleaseMemObject(foreign);
    clReleaseContext(other);
    clReleaseMemObject(small);
    clReleaseMemObject(in);
    clReleaseMemObject(out);
    clReleaseMemObject(fout);
    free(want);
    free(got);
    free(fwant);
    free(fgot);
}

static void test_forward_cl(void **state) {
    (void)state;
    static const char *const names[] = {"tiny_qkvbias", "tiny_distilled", "tiny_noqkvbias_repr"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        float *input;
        int B;
        clvit_model *m = load_fixture(tu_ctx(), names[i], &input, &B);
        check_device_buffers(tu_ctx(), m, input, B);
        clvit_model_free(m);
        free(input);
    }
}

/* Under a 64 KiB allocation limit a batch of 13 32x32 RGB images runs in chunks of 5: the
 * device-buffer passes read and write at each chunk's offset. */
static void test_forward_cl_chunks(void **state) {
    (void)state;
    setenv("CLVIT_MAX_ALLOC", "64K", 1);
    clvit_ctx *ctx = NULL;
    clvit_status st = clvit_ctx_create(&ctx, NULL);
    unsetenv("CLVIT_MAX_ALLOC");
    assert_int_equal(st, CLVIT_SUCCESS);
    clvit_config c;
    assert_int_equal(clvit_preset("vit_mnist_tiny", &c), CLVIT_SUCCESS);
    c.img_size = 32;
    c.patch_size = 8;
    c.in_chans = 3;
    c.embed_dim = 24;
    c.num_heads = 2;
    c.depth = 1;
    c.mlp_ratio = 4.0f;
    clvit_model *m = NULL;
    assert_int_equal(clvit_model_create(ctx, &c, 7, &m), CLVIT_SUCCESS);
    const int B = 13;
    float *input = malloc((size_t)B * image_floats(m) * sizeof *input);
    assert_non_null(input);
    uint64_t rng = 3;
    tu_fill_uniform(input, (size_t)B * image_floats(m), &rng, -1.0f, 1.0f);
    check_device_buffers(ctx, m, input, B);
    free(input);
    clvit_model_free(m);
    clvit_ctx_free(ctx);
}

/* ---------------------------------------------------------------- features */

/* logits = head(features) (+ head_dist(second half), averaged, when distilled), with the
 * head's weights from the fixture file, against clvit_model_forward. */
static void check_features(const char *name, int want_dim) {
    float *input;
    int B;
    clvit_model *m = load_fixture(tu_ctx(), name, &input, &B);
    const clvit_config *c = clvit_model_config(m);
    const int K = c->num_classes, F = clvit_model_feature_dim(m), D = c->embed_dim;
    assert_int_equal(F, want_dim);
    float *logits = malloc((size_t)B * K * sizeof *logits), *feat = malloc((size_t)B * F * 4);
    double *ref = calloc((size_t)B * K, sizeof *ref);
    assert_true(logits && feat && ref);
    assert_int_equal(clvit_model_forward(m, input, B, logits), CLVIT_SUCCESS);
    assert_int_equal(clvit_model_features(m, input, B, feat), CLVIT_SUCCESS);
    char path[512];
    fixture_path(path, sizeof path, name, ".safetensors");
    clvit_st_file *f;
    assert_int_equal(clvit_st_open(path, &f), CLVIT_SUCCESS);
    float *w = tu_read_tensor(f, "head.weight", NULL), *b = tu_read_tensor(f, "head.bias", NULL);
    float *wd = c->distilled ? tu_read_tensor(f, "head_dist.weight", NULL) : NULL;
    float *bd = c->distilled ? tu_read_tensor(f, "head_dist.bias", NULL) : NULL;
    const int in = c->distilled ? D : F;
    for (int i = 0; i < B; i++)
        for (int k = 0; k < K; k++) {
            const float *x = feat + (size_t)i * F;
            double acc = b[k];
            for (int j = 0; j < in; j++)
                acc += (double)w[(size_t)k * in + j] * x[j];
            if (c->distilled) {
                double acc2 = bd[k];
                for (int j = 0; j < D; j++)
                    acc2 += (double)wd[(size_t)k * D + j] * x[D + j];
                acc = 0.5 * (acc + acc2);
            }
            ref[(size_t)i * K + k] = acc;
        }
    char what[96];
    snprintf(what, sizeof what, "%s: head(features) vs logits", name);
    assert_true(tu_allclose(what, logits, ref, (size_t)B * K, 1e-5, 1e-4));
    printf("  %-20s B=%d feature_dim %d: head(features) == logits\n", name, B, F);
    clvit_st_close(f);
    free(w);
    free(b);
    free(wd);
    free(bd);
    free(ref);
    free(feat);
    free(logits);
    free(input);
    clvit_model_free(m);
}

static void test_features(void **state) {
    (void)state;
    check_features("tiny_qkvbias", 24);        /* class token */
    check_features("tiny_noqkvbias_repr", 20); /* pre-logits Linear(24 -> 20) + tanh */
    check_features("tiny_gap_sincos", 24);     /* mean of the patch tokens */
    check_features("tiny_distilled", 48);      /* class and distillation tokens */
    assert_int_equal(clvit_model_feature_dim(NULL), 0);
    assert_int_equal(clvit_model_features(NULL, NULL, 1, NULL), CLVIT_ERR_INVALID_ARG);
}

/* ---------------------------------------------------------------- images */

static void test_load_image(void **state) {
    (void)state;
    const int S = 12;
    unsigned char pix[12 * 12 * 3];
    for (int i = 0; i < S * S * 3; i++)
        pix[i] = (unsigned char)((i * 37 + 11) % 256);
    char dir[] = "/tmp/clvit_test_api_XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/img.png", dir);
    assert_int_not_equal(stbi_write_png(path, S, S, 3, pix, S * 3), 0);
    clvit_config c;
    assert_int_equal(clvit_preset("deit_tiny_patch16_224", &c), CLVIT_SUCCESS);
    c.img_size = S; /* crop 1.0 on a picture of the model's size: no resampling */
    c.crop_pct = 1.0f;
    const float mean[3] = {0.1f, 0.5f, 0.9f}, std[3] = {0.2f, 0.3f, 0.4f};
    memcpy(c.mean, mean, sizeof mean);
    memcpy(c.std, std, sizeof std);
    float got[3 * 12 * 12];
    double want[3 * 12 * 12];
    assert_int_equal(clvit_load_image(&c, path, got), CLVIT_SUCCESS);
    for (int ch = 0; ch < 3; ch++) /* (C, H, W) from the file's (H, W, C) */
        for (int i = 0; i < S * S; i++)
            want[ch * S * S + i] = (pix[i * 3 + ch] / 255.0 - mean[ch]) / std[ch];
    assert_true(tu_allclose("clvit_load_image", got, want, 3 * S * S, 1e-6, 1e-6));
    /* a larger image is resized and cropped: same result as the internal loader it wraps is
     * checked against Pillow in test_host_image; here only that it runs and is finite */
    c.img_size = 8;
    c.crop_pct = 0.875f;
    assert_int_equal(clvit_load_image(&c, path, got), CLVIT_SUCCESS);
    for (int i = 0; i < 3 * 8 * 8; i++)
        assert_true(isfinite(got[i]));
    assert_int_equal(clvit_load_image(&c, "/nonexistent/x.png", got), CLVIT_ERR_IO);
    assert_int_equal(clvit_load_image(NULL, path, got), CLVIT_ERR_INVALID_ARG);
    c.in_chans = 2;
    assert_int_equal(clvit_load_image(&c, path, got), CLVIT_ERR_INVALID_ARG);
    unlink(path);
    rmdir(dir);
}

/* ---------------------------------------------------------------- metadata */

static void test_metadata(void **state) {
    (void)state;
    clvit_config c;
    assert_int_equal(clvit_preset("vit_mnist_tiny", &c), CLVIT_SUCCESS);
    clvit_model *m = NULL;
    assert_int_equal(clvit_model_create(tu_ctx(), &c, 1, &m), CLVIT_SUCCESS);
    clvit_train_config tc;
    clvit_train_config_default(&tc);
    tc.optimizer = CLVIT_ADAMW;
    clvit_trainer *t = NULL;
    assert_int_equal(clvit_trainer_create(m, &tc, 4, &t), CLVIT_SUCCESS);
    float images[4 * 28 * 28];
    int32_t labels[4] = {1, 2, 3, 4};
    uint64_t rng = 5;
    tu_fill_uniform(images, 4 * 28 * 28, &rng, -1.0f, 1.0f);
    clvit_step_result res;
    for (int i = 0; i < 3; i++)
        assert_int_equal(clvit_train_step(t, images, labels, 4, &res), CLVIT_SUCCESS);
    char dir[] = "/tmp/clvit_test_api_XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    const char *keys[] = {"clvit.epoch", "note"}, *values[] = {"2", "a value, with a comma"};
    assert_int_equal(clvit_trainer_save(t, path, keys, values, 2), CLVIT_SUCCESS);

    clvit_metadata *md = NULL;
    assert_int_equal(clvit_metadata_read(path, &md), CLVIT_SUCCESS);
    assert_string_equal(clvit_metadata_get(md, "clvit.step"), "3");
    assert_string_equal(clvit_metadata_get(md, "clvit.optimizer"), "adamw");
    assert_string_equal(clvit_metadata_get(md, "clvit.epoch"), "2");
    assert_string_equal(clvit_metadata_get(md, "note"), "a value, with a comma");
    assert_string_equal(clvit_metadata_get(md, "embed_dim"), "32");
    assert_null(clvit_metadata_get(md, "absent"));
    const int n = clvit_metadata_count(md);
    assert_true(n >= 6);
    int seen_note = 0;
    for (int i = 0; i < n; i++) {
        const char *k = clvit_metadata_key(md, i), *v = clvit_metadata_value(md, i);
        assert_non_null(k);
        assert_non_null(v);
        assert_string_equal(clvit_metadata_get(md, k), v);
        seen_note += !strcmp(k, "note");
    }
    assert_int_equal(seen_note, 1);
    assert_null(clvit_metadata_key(md, n));
    assert_null(clvit_metadata_value(md, -1));
    clvit_metadata_free(md);

    /* a truncated file: its header is checked against what is there */
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    assert_int_equal(ftruncate(fileno(fp), 40), 0);
    fclose(fp);
    md = (clvit_metadata *)1;
    assert_int_equal(clvit_metadata_read(path, &md), CLVIT_ERR_FORMAT);
    assert_null(md);
    unlink(path);
    rmdir(dir);
    assert_int_equal(clvit_metadata_read(path, &md), CLVIT_ERR_IO);
    assert_int_equal(clvit_metadata_read(NULL, &md), CLVIT_ERR_INVALID_ARG);
    assert_int_equal(clvit_metadata_count(NULL), 0);
    clvit_metadata_free(NULL);
    clvit_trainer_free(t);
    clvit_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctx_from_cl),       cmocka_unit_test(test_forward_cl),
        cmocka_unit_test(test_forward_cl_chunks), cmocka_unit_test(test_features),
        cmocka_unit_test(test_load_image),        cmocka_unit_test(test_metadata),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}
