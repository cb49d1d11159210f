/*
 * test_checkpoints.c - checkpoints in other libraries' tensor names, loaded as they are:
 *
 *  - torchvision's VisionTransformer (tests/fixtures/torchvision/, tools/make_tv_fixtures.py):
 *    logits against torchvision's own forward pass (float64), the architecture inferred from
 *    the shapes with the head count given, a file converted by tools/export_safetensors.py
 *    from a .pth, and the names of torchvision before 0.13 (mlp.linear_1 / linear_2);
 *  - Hugging Face ViTForImageClassification, DeiTForImageClassificationWithTeacher and
 *    DeiTForImageClassification (tests/fixtures/hf/, tools/make_hf_fixtures.py: the timm
 *    fixtures renamed, with config.json and preprocessor_config.json): logits against the timm
 *    fixtures' references, architecture and preprocessing from the JSON files;
 *  - the note on stderr when the head count is assumed, and the per-tensor report, with the
 *    naming read, for names that do not fit.
 * Logits must satisfy max |logit - reference| <= 1e-4 * max |reference logit|, as in
 * test_model.c.
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
#include <unistd.h>

#include "host/safetensors.h"
#include "testutil.h"

#define FIX CLVIT_SOURCE_DIR "/tests/fixtures/"

/* ---- files */

/* Writes a copy of src to dst with every tensor's name passed through rename (NULL: drop the
 * tensor); the metadata is kept when keep_meta. */
typedef const char *(*rename_fn)(const char *name, char *buf, size_t size);
static void copy_renamed(const char *src, const char *dst, rename_fn rename, int keep_meta) {
    clvit_st_file *f;
    assert_int_equal(clvit_st_open(src, &f), CLVIT_SUCCESS);
    clvit_st_entry *e = calloc((size_t)f->num_tensors, sizeof *e);
    char(*names)[160] = calloc((size_t)f->num_tensors, sizeof *names);
    float **data = calloc((size_t)f->num_tensors, sizeof *data);
    assert_true(e && names && data);
    int n = 0;
    for (int i = 0; i < f->num_tensors; i++) {
        const clvit_st_tensor *t = &f->tensors[i];
        const char *name = rename(t->name, names[n], sizeof names[n]);
        if (!name) continue;
        if (name != names[n]) snprintf(names[n], sizeof names[n], "%s", name);
        data[n] = tu_read_tensor(f, t->name, NULL);
        e[n].name = names[n];
        e[n].dtype = CLVIT_DT_F32;
        e[n].ndim = t->ndim;
        for (int j = 0; j < t->ndim; j++)
            e[n].shape[j] = t->shape[j];
        e[n].data = data[n];
        n++;
    }
    assert_int_equal(clvit_st_write(dst, e, n, (const char *const *)f->meta_keys,
                                    (const char *const *)f->meta_values,
                                    keep_meta ? f->num_meta : 0),
                     CLVIT_SUCCESS);
    for (int i = 0; i < n; i++)
        free(data[i]);
    free(data);
    free(names);
    free(e);
    clvit_st_close(f);
}

static void copy_file(const char *src, const char *dst) {
    size_t n;
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    assert_true(in && out);
    char buf[65536];
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* ---- parity */

/* Loads `weights` (heads_override as given), runs the input of `io` and compares with its
 * tensor `ref_name`. Returns the model's config through cfg; stderr of the load in *err. */
static void check_parity(const char *what, const char *weights, int heads, const char *io,
                         const char *ref_name, clvit_config *cfg, char **err) {
    clvit_ctx *ctx = tu_ctx();
    clvit_model *m = NULL;
    tu_capture_start();
    clvit_status st = clvit_model_load(ctx, weights, NULL, heads, &m);
    char *text = tu_capture_end();
    if (st) printf("load %s: %s\n", weights, clvit_last_error());
    assert_int_equal(st, CLVIT_SUCCESS);
    clvit_st_file *f;
    assert_int_equal(clvit_st_open(io, &f), CLVIT_SUCCESS);
    int64_t n_in, n_out;
    float *input = tu_read_tensor(f, "input", &n_in);
    float *ref = tu_read_tensor(f, ref_name, &n_out);
    const clvit_config *c = clvit_model_config(m);
    int B = (int)(n_in / ((int64_t)c->in_chans * c->img_size * c->img_size));
    assert_int_equal(n_out, (int64_t)B * c->num_classes);
    float *got = malloc((size_t)n_out * sizeof *got);
    assert_non_null(got);
    assert_int_equal(clvit_model_forward(m, input, B, got), CLVIT_SUCCESS);
    double maxref = 0.0, maxdiff = 0.0;
    for (int64_t i = 0; i < n_out; i++) {
        maxref = fmax(maxref, fabs(ref[i]));
        double d = fabs((double)got[i] - ref[i]);
        if (!(d <= maxdiff)) maxdiff = d; /* NaN propagates */
    }
    printf("  %-26s B=%d K=%d heads=%d max|ref| %.4f max|diff| %.3g (limit %.3g)\n", what, B,
           c->num_classes, c->num_heads, maxref, maxdiff, 1e-4 * maxref);
    if (!(maxdiff <= 1e-4 * maxref)) tu_allclose_f(what, got, ref, (size_t)n_out, 1e-4 * maxref, 0);
    assert_true(maxdiff <= 1e-4 * maxref);
    if (cfg) *cfg = *c;
    if (err)
        *err = text;
    else
        free(text);
    free(got);
    free(ref);
    free(input);
    clvit_st_close(f);
    clvit_model_free(m);
}

static void assert_contains(const char *text, const char *part) {
    if (!strstr(text, part)) printf("expected '%s' in:\n%s\n", part, text);
    assert_non_null(strstr(text, part));
}

/* ---- torchvision */

static void test_tv_vit(void **s) {
    (void)s;
    clvit_config c;
    char *err;
    /* names as torchvision writes them, no metadata: shapes, and the heads given */
    check_parity("torchvision vit", FIX "torchvision/vit.safetensors", 2,
                 FIX "torchvision/vit.io.safetensors", "logits", &c, &err);
    assert_int_equal(c.embed_dim, 32);
    assert_int_equal(c.num_heads, 2);
    assert_int_equal(c.representation_size, 0);
    assert_null(strstr(err, "note"));
    free(err);
}

static void test_tv_vit_repr_exported(void **s) {
    (void)s;
    clvit_config c;
    char *err;
    /* tools/export_safetensors.py --checkpoint vit_repr.pth --num-heads 2 */
    check_parity("torchvision vit_repr", FIX "torchvision/vit_repr.safetensors", 0,
                 FIX "torchvision/vit_repr.io.safetensors", "logits", &c, &err);
    assert_int_equal(c.num_heads, 2);
    assert_int_equal(c.representation_size, 24);
    assert_true(fabsf(c.crop_pct - 0.875f) < 1e-6f);
    assert_null(strstr(err, "note"));
    free(err);
}

static void test_tv_inferred_config(void **s) {
    (void)s;
    clvit_config c;
    tu_capture_start();
    clvit_status st = clvit_read_config(FIX "torchvision/vit.safetensors", NULL, 0, &c);
    char *err = tu_capture_end();
    assert_int_equal(st, CLVIT_SUCCESS);
    assert_int_equal(c.img_size, 32);
    assert_int_equal(c.patch_size, 8);
    assert_int_equal(c.in_chans, 3);
    assert_int_equal(c.num_classes, 10);
    assert_int_equal(c.embed_dim, 32);
    assert_int_equal(c.depth, 2);
    assert_int_equal((int)(c.embed_dim * c.mlp_ratio), 64);
    assert_int_equal(c.qkv_bias, 1);
    assert_int_equal(c.distilled, 0);
    assert_int_equal(c.num_heads, 1); /* assumed, and said so */
    assert_true(fabsf(c.mean[0] - 0.485f) < 1e-6f && fabsf(c.std[2] - 0.225f) < 1e-6f);
    assert_contains(err, "assuming 1");
    assert_contains(err, "--heads H");
    free(err);
}

static const char *legacy_mlp(const char *name, char *buf, size_t size) {
    const char *p = strstr(name, ".mlp.0.");
    const char *q = strstr(name, ".mlp.3.");
    if (!p && !q) return name;
    const char *at = p ? p : q;
    snprintf(buf, size, "%.*s.mlp.linear_%c.%s", (int)(at - name), name, p ? '1' : '2', at + 7);
    return buf;
}

static void test_tv_legacy_mlp_names(void **s) {
    (void)s;
    char out[] = "/tmp/clvit_test_tvlegacyXXXXXX";
    int fd = mkstemp(out);
    assert_true(fd >= 0);
    close(fd);
    copy_renamed(FIX "torchvision/vit.safetensors", out, legacy_mlp, 1);
    check_parity("torchvision mlp.linear_N", out, 2, FIX "torchvision/vit.io.safetensors", "logits",
                 NULL, NULL);
    remove(out);
}

/* ---- Hugging Face */

static void test_hf_vit(void **s) {
    (void)s;
    clvit_config c;
    char *err;
    check_parity("HF ViT", FIX "hf/vit/model.safetensors", 0, FIX "tiny_qkvbias.io.safetensors",
                 "logits", &c, &err);
    assert_int_equal(c.num_heads, 3); /* config.json; the shapes alone would say 1 */
    assert_int_equal(c.distilled, 0);
    assert_true(fabsf(c.mean[1] - 0.5f) < 1e-6f && fabsf(c.std[1] - 0.5f) < 1e-6f);
    assert_true(fabsf(c.crop_pct - 1.0f) < 1e-6f);
    assert_null(strstr(err, "note"));
    free(err);
}

static void test_hf_deit_teacher(void **s) {
    (void)s;
    clvit_config c;
    char *err;
    check_parity("HF DeiT with teacher", FIX "hf/deit_teacher/model.safetensors", 0,
                 FIX "tiny_distilled.io.safetensors", "logits", &c, &err);
    assert_int_equal(c.num_heads, 4);
    assert_int_equal(c.distilled, 1);
    assert_true(fabsf(c.crop_pct - 16.0f / 18.0f) < 1e-6f);
    assert_true(fabsf(c.mean[0] - 0.485f) < 1e-6f && fabsf(c.std[2] - 0.225f) < 1e-6f);
    assert_null(strstr(err, "note"));
    free(err);
}

static void test_hf_deit_one_head(void **s) {
    (void)s;
    clvit_config c;
    /* DeiTForImageClassification: the distillation token, but the class-token head alone */
    check_parity("HF DeiT, class head", FIX "hf/deit/model.safetensors", 0,
                 FIX "tiny_distilled.io.safetensors", "logits_cls", &c, NULL);
    assert_int_equal(c.num_heads, 4);
    assert_true(fabsf(c.crop_pct - 16.0f / 18.0f) < 1e-6f);
}

static void test_hf_without_json(void **s) {
    (void)s;
    char dir[] = "/tmp/clvit_test_hfXXXXXX", path[96];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    copy_file(FIX "hf/vit/model.safetensors", path);
    clvit_config c;
    tu_capture_start();
    clvit_status st = clvit_read_config(path, NULL, 0, &c);
    char *err = tu_capture_end();
    assert_int_equal(st, CLVIT_SUCCESS);
    assert_int_equal(c.embed_dim, 24);
    assert_int_equal(c.num_classes, 7);
    assert_int_equal(c.img_size, 16);
    assert_int_equal(c.num_heads, 1);
    assert_contains(err, "assuming 1");
    free(err);
    /* a config.json with an activation clvit does not compute is refused */
    char cfg[96];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    write_text(cfg,
               "{\"hidden_size\": 24, \"num_attention_heads\": 3, \"hidden_act\": \"gelu_new\"}");
    st = clvit_read_config(path, NULL, 0, &c);
    assert_int_equal(st, CLVIT_ERR_FORMAT);
    assert_contains(clvit_last_error(), "gelu_new");
    write_text(cfg, "{\"hidden_size\": 24, \"num_attention_heads\": 3,");
    assert_int_equal(clvit_read_config(path, NULL, 0, &c), CLVIT_ERR_FORMAT);
    assert_contains(clvit_last_error(), "config.json");
    write_text(cfg, "{\"num_attention_heads\": 3}");
    assert_int_equal(clvit_read_config(path, NULL, 0, &c), CLVIT_SUCCESS);
    assert_int_equal(c.num_heads, 3);
    remove(cfg);
    remove(path);
    rmdir(dir);
}

/* ---- names that do not fit, and assumed head counts */

static const char *misspell(const char *name, char *buf, size_t size) {
    (void)buf;
    (void)size;
    return strcmp(name, "encoder.layers.encoder_layer_1.ln_2.weight")
               ? name
               : "encoder.layers.encoder_layer_1.ln_2.wieght";
}

static const char *drop_key(const char *name, char *buf, size_t size) {
    (void)buf;
    (void)size;
    return strcmp(name, "vit.encoder.layer.0.attention.attention.key.weight") ? name : NULL;
}

static const char *unknown_token(const char *name, char *buf, size_t size) {
    (void)buf;
    (void)size;
    return strcmp(name, "cls_token") ? name : "embeddings.cls";
}

static const char *same(const char *name, char *buf, size_t size) {
    (void)buf;
    (void)size;
    return name;
}

static void expect_report(const char *src, rename_fn rename, int heads, const char *const *parts) {
    char out[] = "/tmp/clvit_test_namesXXXXXX";
    int fd = mkstemp(out);
    assert_true(fd >= 0);
    close(fd);
    copy_renamed(src, out, rename, 1);
    clvit_model *m = NULL;
    clvit_status st = clvit_model_load(tu_ctx(), out, NULL, heads, &m);
    printf("  %s\n", clvit_last_error());
    assert_int_equal(st, CLVIT_ERR_SHAPE);
    assert_null(m);
    for (int i = 0; parts[i]; i++)
        assert_contains(clvit_last_error(), parts[i]);
    remove(out);
}

static void test_unknown_names(void **s) {
    (void)s;
    static const char *const tv[] = {
        "names read as torchvision VisionTransformer",
        "missing encoder.layers.encoder_layer_1.ln_2.weight, expected shape (32)",
        "unexpected tensor encoder.layers.encoder_layer_1.ln_2.wieght", NULL};
    expect_report(FIX "torchvision/vit.safetensors", misspell, 2, tv);
    static const char *const hf[] = {
        "names read as Hugging Face ViTForImageClassification",
        "missing vit.encoder.layer.0.attention.attention.key.weight, expected shape (24, 24)",
        NULL};
    expect_report(FIX "hf/vit/model.safetensors", drop_key, 3, hf);
    static const char *const timm[] = {"names read as timm's",
                                       "missing cls_token, expected shape (1, 1, 24)",
                                       "unexpected tensor embeddings.cls", NULL};
    expect_report(FIX "tiny_qkvbias.safetensors", unknown_token, 0, timm);
}

/* A timm file without metadata whose head count is not embed_dim / 64: the note says what
 * was assumed and how to give it; giving it runs the right model. */
static void test_timm_assumed_heads(void **s) {
    (void)s;
    char out[] = "/tmp/clvit_test_nometaXXXXXX";
    int fd = mkstemp(out);
    assert_true(fd >= 0);
    close(fd);
    copy_renamed(FIX "tiny_heads5.safetensors", out, same, 0);
    clvit_config c;
    tu_capture_start();
    clvit_status st = clvit_read_config(out, NULL, 0, &c);
    char *err = tu_capture_end();
    assert_int_equal(st, CLVIT_SUCCESS);
    assert_int_equal(c.num_heads, 1);
    assert_contains(err, "does not say how many attention heads");
    assert_contains(err, "assuming 1");
    assert_contains(err, "--heads H");
    free(err);
    char *err2;
    check_parity("timm, no metadata, --heads 5", out, 5, FIX "tiny_heads5.io.safetensors", "logits",
                 &c, &err2);
    assert_null(strstr(err2, "note"));
    free(err2);
    remove(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tv_vit),
        cmocka_unit_test(test_tv_vit_repr_exported),
        cmocka_unit_test(test_tv_inferred_config),
        cmocka_unit_test(test_tv_legacy_mlp_names),
        cmocka_unit_test(test_hf_vit),
        cmocka_unit_test(test_hf_deit_teacher),
        cmocka_unit_test(test_hf_deit_one_head),
        cmocka_unit_test(test_hf_without_json),
        cmocka_unit_test(test_unknown_names),
        cmocka_unit_test(test_timm_assumed_heads),
    };
    return cmocka_run_group_tests(tests, NULL, tu_teardown);
}
