/*
 * fuzz_checkpoint.c - the metadata of a checkpoint, as `clvit train --resume` and the library
 * read it: the architecture keys (img_size, depth, num_heads, mlp_ratio, mean, ...) through
 * clvit_read_config (lib/weights.c: metadata, else shapes, then validation), clvit.step
 * through clvit_checkpoint_step (lib/train.c), and the clvit.* and train.* values clvit
 * train takes back as numbers (apps/cli.c's parsers, as apps/cmd_train.c calls them).
 * Input: a safetensors file.
 * Checks: an accepted configuration is one the library can build (positive sizes, heads that
 * divide the width, finite ratios), its parameter count is positive; an accepted step leaves
 * room for the steps that follow it.
 */
#include "cli.c"
#include "fuzz_util.h"
#include "safetensors.h"
#include "train_ops.h"

#include <math.h>

static void check_config(const clvit_config *c) {
    FUZZ_CHECK(c->img_size > 0 && c->patch_size > 0 && c->in_chans > 0 && c->embed_dim > 0);
    FUZZ_CHECK(c->depth >= 0 && c->num_heads > 0 && c->embed_dim % c->num_heads == 0);
    FUZZ_CHECK(isfinite(c->mlp_ratio) && c->mlp_ratio > 0.0f && isfinite(c->qk_scale));
    for (int i = 0; i < 3; i++)
        FUZZ_CHECK(isfinite(c->mean[i]) && isfinite(c->std[i]));
    FUZZ_CHECK(clvit_config_num_params(c) > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    clvit_st_file *f = NULL;
    if (clvit_st_parse(data, size, "fuzz input", &f) != CLVIT_SUCCESS) return 0;

    long step = -1;
    if (clvit_checkpoint_step(f, "fuzz input", &step) == CLVIT_SUCCESS) {
        FUZZ_CHECK(step >= 0 && step <= CLVIT_CKPT_MAX_STEP);
        const char *v = clvit_st_meta(f, "clvit.step"); /* a whole number, nothing else */
        FUZZ_CHECK(v && *v && strspn(v, "0123456789") == strlen(v));
        const long next = step + 1; /* what the trainer computes for the next step */
        FUZZ_CHECK(next > step);
    }
    /* the position and the settings clvit train reads back (apps/cmd_train.c) */
    for (int i = 0; i < f->num_meta; i++) {
        const char *k = f->meta_keys[i], *v = f->meta_values[i];
        if (strncmp(k, "clvit.", 6) && strncmp(k, "train.", 6)) continue;
        long l;
        double d;
        if (!cli_int("train", k, v, 0, 100000000L, &l)) FUZZ_CHECK(l >= 0 && l <= 100000000L);
        if (!cli_float("train", k, v, 0, 1e9, &d)) FUZZ_CHECK(isfinite(d) && d >= 0 && d <= 1e9);
    }
    clvit_st_close(f);

    /* the architecture, from the file as clvit_model_load takes it */
    const char *path = fuzz_path("checkpoint.safetensors");
    fuzz_write(path, data, size, 0);
    clvit_config cfg;
    if (clvit_read_config(path, NULL, 0, &cfg) == CLVIT_SUCCESS) check_config(&cfg);
    if (clvit_read_config(path, NULL, 2, &cfg) == CLVIT_SUCCESS) check_config(&cfg);
    if (clvit_read_config(path, "vit_mnist_tiny", 0, &cfg) == CLVIT_SUCCESS) check_config(&cfg);
    return 0;
}
