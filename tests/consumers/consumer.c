/*
 * consumer.c - a program outside clvit's tree, built against an installed clvit by the two
 * consumer projects beside it (cmake/: find_package, pkgconfig/: pkg-config). It checks that
 * the header and the library agree on the version, lists the devices, runs a forward pass of
 * a small preset with fresh weights (logits (2, 10), finite, two identical images give the
 * same logits) and a 3x2 by 2x2 SGEMM through the buffer API against values worked out by
 * hand; from clvit_data.h, the logits through a .npy file and back (same shape, same bits) and
 * the inline generator against splitmix64's published first output for seed 0. Prints
 * "consumer ok" and exits 0, or says what failed and exits 1.
 */
#include <clvit.h>
#include <clvit_data.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, clvit_status st) {
    fprintf(stderr, "consumer: %s: %s: %s\n", what, clvit_status_string(st), clvit_last_error());
    return 1;
}

static int check_sgemm(clvit_ctx *ctx) {
    /* C (3, 2) = A (3, 2) B (2, 2), row-major */
    const float a[6] = {1, 2, 3, 4, 5, 6}, b[4] = {1, 0, 2, 1}, want[6] = {5, 2, 11, 4, 17, 6};
    float c[6] = {0};
    cl_mem da = NULL, db = NULL, dc = NULL;
    clvit_status st = clvit_buffer_create(ctx, 6, &da);
    if (!st) st = clvit_buffer_create(ctx, 4, &db);
    if (!st) st = clvit_buffer_create(ctx, 6, &dc);
    if (!st) st = clvit_buffer_write(ctx, da, 0, a, 6);
    if (!st) st = clvit_buffer_write(ctx, db, 0, b, 4);
    if (!st) st = clvit_sgemm(ctx, 0, 0, 3, 2, 2, 1.0f, da, 0, 2, db, 0, 2, 0.0f, dc, 0, 2);
    if (!st) st = clvit_ctx_finish(ctx);
    if (!st) st = clvit_buffer_read(ctx, dc, 0, c, 6);
    if (da) clReleaseMemObject(da);
    if (db) clReleaseMemObject(db);
    if (dc) clReleaseMemObject(dc);
    if (st) return fail("sgemm", st);
    for (int i = 0; i < 6; i++)
        if (fabsf(c[i] - want[i]) > 1e-5f) {
            fprintf(stderr, "consumer: sgemm: C[%d] = %g, want %g\n", i, c[i], want[i]);
            return 1;
        }
    return 0;
}

/* clvit_data.h: logits (2, k) written to $TMPDIR/clvit-consumer.npy (run.sh gives each run a
 * directory of its own) and read back; splitmix64 from seed 0 starts with 0xE220A8397B1DCDAF
 * (Vigna's reference code). */
static int check_data(const float *logits, int k) {
    const char *dir = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/clvit-consumer.npy", dir && *dir ? dir : ".");
    const int64_t shape[2] = {2, k};
    float *back = NULL;
    int64_t got[CLVIT_NPY_MAX_DIMS];
    int ndim = 0;
    clvit_status st = clvit_npy_write_f32(path, logits, shape, 2);
    if (!st) st = clvit_npy_read_f32(path, &back, got, &ndim);
    remove(path);
    if (st) return fail("npy", st);
    int same =
        ndim == 2 && got[0] == 2 && got[1] == k && !memcmp(back, logits, 2 * k * sizeof *back);
    free(back);
    if (!same) {
        fprintf(stderr, "consumer: npy: the array read back differs from the one written\n");
        return 1;
    }
    uint64_t state = 0;
    if (clvit_rng_next(&state) != 0xE220A8397B1DCDAFULL ||
        clvit_rng_at(0, 0) != 0xE220A8397B1DCDAFULL) {
        fprintf(stderr, "consumer: clvit_rng_next/at: not splitmix64\n");
        return 1;
    }
    return 0;
}

int main(void) {
    printf("clvit %s (header %s)\n", clvit_version(), CLVIT_VERSION);
    if (strcmp(clvit_version(), CLVIT_VERSION) != 0) {
        fprintf(stderr, "consumer: library %s, header %s\n", clvit_version(), CLVIT_VERSION);
        return 1;
    }
    clvit_device_info *infos = NULL;
    int n = 0;
    clvit_status st = clvit_list_devices(&infos, &n);
    if (st) return fail("list devices", st);
    for (int i = 0; i < n; i++)
        printf("device %d:%d %s\n", infos[i].platform_index, infos[i].device_index, infos[i].name);
    free(infos);

    clvit_ctx *ctx = NULL;
    clvit_model *model = NULL;
    clvit_config cfg;
    float *images = NULL, *logits = NULL;
    int rc = 1;
    st = clvit_ctx_create(&ctx, NULL);
    if (st) return fail("context", st);
    st = clvit_preset("vit_mnist_tiny", &cfg);
    if (!st) st = clvit_model_create(ctx, &cfg, 42, &model);
    if (st) {
        rc = fail("model", st);
        goto done;
    }
    const size_t img = (size_t)cfg.in_chans * cfg.img_size * cfg.img_size;
    images = malloc(2 * img * sizeof *images);
    logits = malloc(2 * (size_t)cfg.num_classes * sizeof *logits);
    if (!images || !logits) goto done;
    for (size_t i = 0; i < img; i++)
        images[i] = images[img + i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
    st = clvit_model_forward(model, images, 2, logits);
    if (st) {
        rc = fail("forward", st);
        goto done;
    }
    for (int k = 0; k < cfg.num_classes; k++) {
        float x = logits[k], y = logits[cfg.num_classes + k];
        if (!isfinite(x) || fabsf(x - y) > 1e-4f + 1e-4f * fabsf(x)) {
            fprintf(stderr, "consumer: logit %d: %g and %g for the same image\n", k, x, y);
            goto done;
        }
    }
    printf("forward %s on %s: logit[0] = %f\n", "vit_mnist_tiny", clvit_ctx_device(ctx)->name,
           logits[0]);
    if (check_sgemm(ctx) || check_data(logits, cfg.num_classes)) goto done;
    printf("consumer ok\n");
    rc = 0;
done:
    free(images);
    free(logits);
    clvit_model_free(model);
    clvit_ctx_free(ctx);
    return rc;
}
