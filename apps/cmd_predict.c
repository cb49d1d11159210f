/*
 * cmd_predict.c - `clvit predict`: classify image files with timm's evaluation
 * preprocessing (resize, centre crop, normalise with the model's mean/std) and print the
 * top-k classes with their probabilities.
 */
#include "cli.h"
#include "image.h"
#include "model_arg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads one label per line; returns the count (0 on failure, message printed). */
static int read_labels(const char *path, char ***labels) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "clvit predict: --labels: cannot open %s\n", path);
        return -1;
    }
    int n = 0, cap = 0;
    char **list = NULL, line[1024];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            char **grown = realloc(list, (size_t)cap * sizeof *grown);
            if (!grown) break;
            list = grown;
        }
        list[n] = malloc(strlen(line) + 1);
        if (!list[n]) break;
        strcpy(list[n], line);
        n++;
    }
    fclose(f);
    *labels = list;
    return n;
}

int cmd_predict(int argc, char **argv) {
    const cli_cmd cmd = {"predict", "(--model FILE | --preset NAME) [options] IMAGE...",
                         "Classify PNG/JPEG/BMP images and print the top-k classes.", 1, -1};
    model_arg ma = {0};
    const char *labels_path = NULL, *topk_s = "5";
    const cli_opt opts[] = {MODEL_ARG_OPTS(ma),
                            {"--labels", "FILE", "class names, one per line", &labels_path, NULL},
                            {"--topk", "K", "how many classes to print (default 5)", &topk_s, NULL},
                            {0}};
    char **images;
    int nimg;
    int r = cli_parse(&cmd, opts, argc, argv, &images, &nimg);
    if (r) return r == 1 ? 0 : 2;
    long topk;
    if (cli_int("predict", "--topk", topk_s, 1, 1000000, &topk)) {
        free(images);
        return 2;
    }
    char **labels = NULL;
    int nlabels = 0;
    if (labels_path && (nlabels = read_labels(labels_path, &labels)) < 0) {
        free(images);
        return 1;
    }
    clvit_ctx *ctx = NULL;
    clvit_model *model = NULL;
    float *x = NULL, *logits = NULL;
    r = model_arg_open("predict", &ma, &ctx, &model);
    if (!r) {
        const clvit_config *c = clvit_model_config(model);
        const size_t per = (size_t)c->in_chans * c->img_size * c->img_size;
        const int K = c->num_classes;
        if (topk > K) topk = K;
        x = malloc((size_t)nimg * per * sizeof *x);
        logits = malloc((size_t)nimg * K * sizeof *logits);
        clvit_status st = x && logits ? CLVIT_SUCCESS : CLVIT_ERR_NOMEM;
        for (int i = 0; !st && i < nimg; i++)
            st = clvit_image_load(images[i], c->img_size, c->in_chans, c->crop_pct, c->mean, c->std,
                                  x + (size_t)i * per);
        if (!st) st = clvit_model_forward(model, x, nimg, logits);
        if (st) r = cli_fail("predict", st);
        for (int i = 0; !r && i < nimg; i++) {
            float *l = logits + (size_t)i * K;
            double mx = l[0], sum = 0.0;
            for (int k = 1; k < K; k++)
                mx = fmax(mx, l[k]);
            for (int k = 0; k < K; k++)
                sum += exp(l[k] - mx);
            printf("%s\n", images[i]);
            for (long t = 0; t < topk; t++) { /* selection of the t-th largest */
                int best = -1;
                for (int k = 0; k < K; k++)
                    if (!isnan(l[k]) && (best < 0 || l[k] > l[best])) best = k;
                if (best < 0) break;
                double prob = exp(l[best] - mx) / sum;
                printf("  %8.4f  %5d  %s\n", prob, best, best < nlabels ? labels[best] : "");
                l[best] = NAN;
            }
        }
    }
    for (int i = 0; i < nlabels; i++)
        free(labels[i]);
    free(labels);
    free(x);
    free(logits);
    free(images);
    clvit_model_free(model);
    clvit_ctx_free(ctx);
    return r;
}
