/*
 * cmd_info.c - `clvit info`: a model's architecture, parameter count and FLOPs per image;
 * `clvit info --list` lists the presets.
 */
#include "cli.h"
#include "model_arg.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void print_config(const clvit_config *c) {
    printf("image            %d x %d x %d (C x H x W), patch %d -> %d patches\n", c->in_chans,
           c->img_size, c->img_size, c->patch_size,
           (c->img_size / c->patch_size) * (c->img_size / c->patch_size));
    printf("width, depth     embed_dim %d, depth %d, heads %d (head dim %d), mlp_ratio %g\n",
           c->embed_dim, c->depth, c->num_heads, c->embed_dim / c->num_heads, (double)c->mlp_ratio);
    printf("attention        qkv bias %s, qk scale %s", c->qkv_bias ? "yes" : "no",
           c->qk_scale > 0 ? "" : "head_dim^-0.5");
    if (c->qk_scale > 0) printf("%g", (double)c->qk_scale);
    printf("\n");
    printf("tokens           class%s, %s position embedding, classify from %s\n",
           c->distilled ? " + distillation" : "",
           c->pos_embed == CLVIT_POS_SINCOS ? "fixed sine-cosine" : "learned",
           c->pool == CLVIT_POOL_AVG ? "mean of patch tokens" : "class token");
    printf("head             %s%d classes%s\n",
           c->representation_size && !c->distilled ? "pre-logits (Linear+tanh) then " : "",
           c->num_classes, c->distilled ? ", two heads averaged" : "");
    if (c->representation_size && !c->distilled)
        printf("representation   %d\n", c->representation_size);
    printf("input            mean %g,%g,%g std %g,%g,%g crop_pct %g\n", (double)c->mean[0],
           (double)c->mean[1], (double)c->mean[2], (double)c->std[0], (double)c->std[1],
           (double)c->std[2], (double)c->crop_pct);
    long long params = (long long)clvit_config_num_params(c);
    double flops = clvit_config_flops(c);
    printf("parameters       %lld (%.2f M, %.1f MiB as float32)\n", params, params / 1e6,
           params * 4.0 / 1048576.0);
    printf("FLOPs per image  %.4g GFLOP forward (multiply-add = 2)\n", flops / 1e9);
}

int cmd_info(int argc, char **argv) {
    const cli_cmd cmd = {"info", "(MODEL | --model FILE | --preset NAME | --list)",
                         "Show a model's architecture, parameter count and FLOPs per image.\n"
                         "MODEL is a .safetensors file or a preset name.",
                         0, 1};
    model_arg ma = {0};
    int list = 0;
    const cli_opt opts[] = {
        MODEL_ARG_OPTS(ma), {"--list", NULL, "list the presets", NULL, &list}, {0}};
    char **pos;
    int npos;
    int r = cli_parse(&cmd, opts, argc, argv, &pos, &npos);
    if (r) return r == 1 ? 0 : 2;
    if (npos == 1) { /* a file if one is there, else a preset name */
        if (access(pos[0], F_OK) == 0)
            ma.model = pos[0];
        else
            ma.preset = pos[0];
    }
    free(pos);
    if (list) {
        for (int i = 0; clvit_preset_name(i); i++) {
            clvit_config c;
            clvit_preset(clvit_preset_name(i), &c);
            printf("%-34s %4dpx/%-2d %4d dim %2d deep %2d heads %8.2f M params %7.2f GFLOP\n",
                   clvit_preset_name(i), c.img_size, c.patch_size, c.embed_dim, c.depth,
                   c.num_heads, clvit_config_num_params(&c) / 1e6, clvit_config_flops(&c) / 1e9);
        }
        return 0;
    }
    clvit_config cfg;
    if ((r = model_arg_config("info", &ma, &cfg))) return r;
    if (ma.model) printf("model            %s\n", ma.model);
    print_config(&cfg);
    return 0;
}
