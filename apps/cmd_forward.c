/*
 * cmd_forward.c - `clvit forward`: float32 NCHW .npy in, float32 logits .npy out, so a
 * model can be driven from Python or any tool that writes numpy files.
 */
#include "cli.h"
#include "model_arg.h"
#include "clvit_data.h"

#include <stdio.h>
#include <stdlib.h>

int cmd_forward(int argc, char **argv) {
    const cli_cmd cmd = {"forward", "--model FILE --input X.npy --output Y.npy",
                         "Run a model on a batch of images (float32 .npy, shape (B, C, H, W), "
                         "already normalised) and write the logits (B, classes) as .npy.",
                         0, 0};
    model_arg ma = {0};
    const char *in = NULL, *out = NULL;
    const cli_opt opts[] = {MODEL_ARG_OPTS(ma),
                            {"--input", "X.npy", "input batch (B, C, H, W) float32", &in, NULL},
                            {"--output", "Y.npy", "where to write the logits", &out, NULL},
                            {0}};
    int r = cli_parse_flags(&cmd, opts, argc, argv);
    if (r >= 0) return r;
    r = 0;
    if (!in || !out) {
        fprintf(stderr, "clvit forward: %s is required\n", in ? "--output" : "--input");
        return 2;
    }
    float *x = NULL;
    int64_t shape[CLVIT_NPY_MAX_DIMS];
    int ndim;
    clvit_status st = clvit_npy_read_f32(in, &x, shape, &ndim);
    if (st) return cli_fail("forward", st);
    clvit_ctx *ctx;
    clvit_model *model;
    if ((r = model_arg_open("forward", &ma, &ctx, &model))) {
        free(x);
        return r;
    }
    const clvit_config *c = clvit_model_config(model);
    if (ndim != 4 || shape[1] != c->in_chans || shape[2] != c->img_size ||
        shape[3] != c->img_size || shape[0] < 1 || shape[0] > 1000000) {
        fprintf(stderr,
                "clvit forward: %s: expected shape (B, %d, %d, %d), got %d dimensions (%lld, "
                "%lld, ...)\n",
                in, c->in_chans, c->img_size, c->img_size, ndim, (long long)shape[0],
                ndim > 1 ? (long long)shape[1] : 0LL);
        r = 1;
    }
    float *logits = NULL;
    if (!r) {
        int B = (int)shape[0];
        logits = malloc((size_t)B * c->num_classes * sizeof *logits);
        st = logits ? clvit_model_forward(model, x, B, logits) : CLVIT_ERR_NOMEM;
        if (!st) {
            int64_t oshape[2] = {B, c->num_classes};
            st = clvit_npy_write_f32(out, logits, oshape, 2);
        }
        if (st) r = cli_fail("forward", st);
    }
    free(logits);
    free(x);
    clvit_model_free(model);
    clvit_ctx_free(ctx);
    return r;
}
