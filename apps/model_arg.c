/*
 * model_arg.c - see model_arg.h.
 */
#include "model_arg.h"
#include "cli.h"

#include <stdio.h>

static int heads_of(const char *cmd, const model_arg *ma, int *heads) {
    long h = 0;
    if (ma->heads && cli_int(cmd, "--heads", ma->heads, 1, 4096, &h)) return 2;
    *heads = (int)h;
    return 0;
}

int model_arg_config(const char *cmd, const model_arg *ma, clvit_config *cfg) {
    int heads;
    if (heads_of(cmd, ma, &heads)) return 2;
    if (!ma->model && !ma->preset) {
        fprintf(stderr, "clvit %s: give --model FILE or --preset NAME\n", cmd);
        return 2;
    }
    clvit_status st = ma->model ? clvit_read_config(ma->model, ma->preset, heads, cfg)
                                : clvit_preset(ma->preset, cfg);
    return st ? cli_fail(cmd, st) : 0;
}

int model_arg_open(const char *cmd, const model_arg *ma, clvit_ctx **ctx, clvit_model **model) {
    int heads;
    if (heads_of(cmd, ma, &heads)) return 2;
    if (!ma->model && !ma->preset) {
        fprintf(stderr, "clvit %s: give --model FILE or --preset NAME\n", cmd);
        return 2;
    }
    *ctx = NULL;
    *model = NULL;
    clvit_status st = clvit_ctx_create(ctx, ma->device);
    if (st) return cli_fail(cmd, st);
    if (ma->model) {
        st = clvit_model_load(*ctx, ma->model, ma->preset, heads, model);
    } else {
        clvit_config cfg;
        st = clvit_preset(ma->preset, &cfg);
        if (!st) st = clvit_model_create(*ctx, &cfg, 0, model);
    }
    if (st) {
        int r = cli_fail(cmd, st);
        clvit_ctx_free(*ctx);
        *ctx = NULL;
        return r;
    }
    return 0;
}
