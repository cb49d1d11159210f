/*
 * model_arg.h - how commands turn --model / --preset into a model: a safetensors file
 * (architecture from its metadata, --preset, or its shapes), or with --preset alone a
 * freshly initialised model (for trying a device or benchmarking).
 */
#ifndef CLVIT_MODEL_ARG_H
#define CLVIT_MODEL_ARG_H

#include "clvit.h"

typedef struct model_arg {
    const char *model;  /* --model FILE */
    const char *preset; /* --preset NAME */
    const char *heads;  /* --heads H */
    const char *device; /* --device SPEC */
} model_arg;

/* Common option rows, to put in a command's cli_opt table. */
#define MODEL_ARG_OPTS(ma)                                                                         \
    {"--model", "FILE", "weights (.safetensors: timm, torchvision or Hugging Face names)",         \
     &(ma).model, NULL},                                                                           \
        {"--preset", "NAME", "architecture preset (clvit info --list); alone: random weights",     \
         &(ma).preset, NULL},                                                                      \
        {"--heads", "H",                                                                           \
         "number of heads when inferred from shapes (default: 12 for dim 768, 16 for 1024/1280, "  \
         "else dim/64)",                                                                           \
         &(ma).heads, NULL},                                                                       \
    {                                                                                              \
        "--device", "SPEC", "P:D, gpu, cpu or part of a device name", &(ma).device, NULL           \
    }

/* Resolves the configuration only (no device). Returns 0, else prints and returns 1/2. */
int model_arg_config(const char *cmd, const model_arg *ma, clvit_config *cfg);
/* Creates the context and loads/creates the model. Returns 0, else prints and returns 1/2. */
int model_arg_open(const char *cmd, const model_arg *ma, clvit_ctx **ctx, clvit_model **model);

#endif
