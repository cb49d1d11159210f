/*
 * cmd_predict.c - `clvit predict`: classify images with timm's evaluation preprocessing
 * (resize, centre crop, normalise with the model's mean/std: clvit_load_image) and print
 * each image's top-k classes with their probabilities (softmax of the logits).
 *
 * Inputs: image files, directories and list files (image_list.h), run in batches of --batch
 * images (decoded on the host, then one clvit_model_forward, which splits a batch further
 * if the device's memory needs it). An image that cannot be read is reported on stderr (one
 * line) and left out; the others are still classified, and the exit status is 1.
 *
 * Class names: --labels FILE (one per line), else the ImageNet-1k names built in
 * (apps/imagenet1k_classes.txt) when the model has 1000 classes; ImageNet-21k models (21843
 * classes) and others print class indices only.
 *
 * Output (stdout), --format:
 *   text  the path, then one line per class: "  probability  index  name"
 *   json  [{"image": PATH, "top": [{"index": I, "label": NAME or null, "prob": P}, ...]}, ...]
 *   csv   image,rank,index,label,prob   (RFC 4180 quoting; rank from 1)
 */
#include "cli.h"
#include "image_list.h"
#include "model_arg.h"

#include <cjson/cJSON.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* apps/imagenet1k_classes.txt, embedded by tools/embed_text.cmake */
extern const char clvit_imagenet1k_classes[];
extern const size_t clvit_imagenet1k_classes_size;

#define IMAGENET21K_CLASSES 21843

typedef struct labels {
    char **names; /* n entries; an entry may be "" */
    int n;
    char *text; /* the built-in file's copy the names point into, or NULL */
} labels;

static void labels_free(labels *lb) {
    if (!lb->text)
        for (int i = 0; i < lb->n; i++)
            free(lb->names[i]);
    free(lb->names);
    free(lb->text);
    memset(lb, 0, sizeof *lb);
}

/* Reads one label per line. Returns 0, else prints and returns 1. */
static int read_labels(const char *path, labels *lb) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "clvit predict: --labels: cannot open %s\n", path);
        return 1;
    }
    int cap = 0, r = 0;
    char line[1024];
    while (!r && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (lb->n == cap) {
            cap = cap ? 2 * cap : 1024;
            char **grown = realloc(lb->names, (size_t)cap * sizeof *grown);
            if (!grown) {
                r = 1;
                break;
            }
            lb->names = grown;
        }
        if (!(lb->names[lb->n] = malloc(strlen(line) + 1))) {
            r = 1;
            break;
        }
        strcpy(lb->names[lb->n++], line);
    }
    fclose(f);
    if (r) fprintf(stderr, "clvit predict: --labels: out of memory reading %s\n", path);
    return r;
}

/* The built-in ImageNet-1k names: the lines after the '#' header. */
static int builtin_labels(labels *lb) {
    lb->text = malloc(clvit_imagenet1k_classes_size + 1);
    lb->names = calloc(1000, sizeof *lb->names);
    if (!lb->text || !lb->names) {
        fprintf(stderr, "clvit predict: out of memory for the class names\n");
        return 1;
    }
    memcpy(lb->text, clvit_imagenet1k_classes, clvit_imagenet1k_classes_size + 1);
    for (char *p = lb->text, *next; *p && lb->n < 1000; p = next) {
        char *nl = strchr(p, '\n');
        next = nl ? nl + 1 : p + strlen(p);
        if (nl) *nl = '\0';
        if (*p != '#') lb->names[lb->n++] = p;
    }
    if (lb->n != 1000) { /* the build embedded a broken file */
        fprintf(stderr, "clvit predict: the built-in class names hold %d names, not 1000\n", lb->n);
        return 1;
    }
    return 0;
}

typedef enum { FMT_TEXT, FMT_JSON, FMT_CSV } out_format;

/* A CSV field, quoted when it holds a comma, quote or line break (RFC 4180). */
static void csv_field(const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"') putchar('"');
        putchar(*s);
    }
    putchar('"');
}

/* Prints one image's top-k. logits is overwritten. Returns 0, 1 when out of memory. */
static int print_top(out_format fmt, const char *path, float *l, int K, int topk, const labels *lb,
                     int first) {
    double mx = l[0], sum = 0.0;
    for (int k = 1; k < K; k++)
        mx = fmax(mx, l[k]);
    for (int k = 0; k < K; k++)
        sum += exp(l[k] - mx);
    cJSON *rec = NULL, *top = NULL;
    if (fmt == FMT_TEXT) printf("%s\n", path);
    if (fmt == FMT_JSON) {
        rec = cJSON_CreateObject();
        if (!rec || !cJSON_AddStringToObject(rec, "image", path) ||
            !(top = cJSON_AddArrayToObject(rec, "top"))) {
            cJSON_Delete(rec);
            return 1;
        }
    }
    for (int t = 0; t < topk; t++) { /* selection of the t-th largest */
        int best = -1;
        for (int k = 0; k < K; k++)
            if (!isnan(l[k]) && (best < 0 || l[k] > l[best])) best = k;
        if (best < 0) break;
        const double prob = exp(l[best] - mx) / sum;
        const char *name = best < lb->n ? lb->names[best] : NULL;
        if (fmt == FMT_TEXT) {
            printf("  %8.4f  %5d  %s\n", prob, best, name ? name : "");
        } else if (fmt == FMT_CSV) {
            csv_field(path);
            printf(",%d,%d,", t + 1, best);
            csv_field(name ? name : "");
            printf(",%.6g\n", prob);
        } else {
            cJSON *c = cJSON_CreateObject();
            if (!c || !cJSON_AddItemToArray(top, c) || !cJSON_AddNumberToObject(c, "index", best) ||
                !(name ? cJSON_AddStringToObject(c, "label", name)
                       : cJSON_AddNullToObject(c, "label")) ||
                !cJSON_AddNumberToObject(c, "prob", prob)) {
                cJSON_Delete(rec);
                return 1;
            }
        }
        l[best] = NAN;
    }
    if (fmt == FMT_JSON) {
        char *s = cJSON_PrintUnformatted(rec);
        cJSON_Delete(rec);
        if (!s) return 1;
        printf("%s%s", first ? "\n  " : ",\n  ", s);
        free(s);
    }
    return 0;
}

/* Images per batch when --batch is not given: enough to keep a GPU busy, a few per CPU
 * core otherwise (clvit_model_forward splits a batch further if memory needs it). */
static int default_batch(const clvit_device_info *d) {
    if (d->is_gpu) return 64;
    int b = 4 * (int)d->compute_units;
    return b < 8 ? 8 : b > 64 ? 64 : b;
}

/* Classifies every image of `list`, batch by batch. Returns the exit status. */
static int run(clvit_model *model, const image_list *list, int batch, int topk, out_format fmt,
               const labels *lb) {
    const clvit_config *c = clvit_model_config(model);
    const size_t per = (size_t)c->in_chans * c->img_size * c->img_size;
    const int K = c->num_classes;
    float *x = malloc((size_t)batch * per * sizeof *x);
    float *logits = malloc((size_t)batch * K * sizeof *logits);
    int *which = malloc((size_t)batch * sizeof *which);
    if (!x || !logits || !which) {
        free(x);
        free(logits);
        free(which);
        return cli_fail("predict", CLVIT_ERR_NOMEM);
    }
    if (fmt == FMT_JSON) printf("[");
    if (fmt == FMT_CSV) printf("image,rank,index,label,prob\n");
    int r = 0, printed = 0, fatal = 0;
    for (int b0 = 0; !fatal && b0 < list->n; b0 += batch) {
        int nb = 0;
        for (int i = b0; i < list->n && i < b0 + batch; i++) {
            clvit_status st = clvit_load_image(c, list->paths[i], x + (size_t)nb * per);
            if (st) { /* reported, left out, and the exit status says so */
                r = cli_fail("predict", st);
                continue;
            }
            which[nb++] = i;
        }
        if (!nb) continue;
        clvit_status st = clvit_model_forward(model, x, nb, logits);
        if (st) {
            r = cli_fail("predict", st);
            break;
        }
        for (int j = 0; j < nb && !fatal; j++) {
            if (print_top(fmt, list->paths[which[j]], logits + (size_t)j * K, K, topk, lb,
                          !printed)) {
                r = cli_fail("predict", CLVIT_ERR_NOMEM);
                fatal = 1;
            }
            printed++;
        }
    }
    if (fmt == FMT_JSON) printf("%s]\n", printed ? "\n" : "");
    free(x);
    free(logits);
    free(which);
    return r;
}

int cmd_predict(int argc, char **argv) {
    const cli_cmd cmd = {"predict",
                         "(--model FILE | --preset NAME) [options] (IMAGE | DIR | @LIST)...",
                         "Classify PNG/JPEG/BMP/GIF images and print the top-k classes. Give image "
                         "files, directories\n(their image files, sorted by name) or list files "
                         "(@LIST or --list LIST: one path per line).\nImageNet-1k names are built "
                         "in for 1000-class models; ImageNet-21k models print class indices.",
                         0, -1};
    model_arg ma = {0};
    const char *labels_path = NULL, *topk_s = "5", *list_path = NULL, *batch_s = NULL,
               *format_s = "text";
    const cli_opt opts[] = {
        MODEL_ARG_OPTS(ma),
        {"--labels", "FILE", "class names, one per line (default: ImageNet-1k for 1000 classes)",
         &labels_path, NULL},
        {"--topk", "K", "how many classes to print (default 5)", &topk_s, NULL},
        {"--list", "FILE", "read image paths (or directories) from FILE, one per line", &list_path,
         NULL},
        {"--batch", "N", "images per forward pass (default: 64 on a GPU, 4 per CPU core)", &batch_s,
         NULL},
        {"--format", "FMT", "text, json or csv (default text)", &format_s, NULL},
        {0}};
    char **args;
    int nargs;
    int r = cli_parse(&cmd, opts, argc, argv, &args, &nargs);
    if (r) return r == 1 ? 0 : 2;
    long topk, batch = 0;
    out_format fmt = FMT_TEXT;
    if (!strcmp(format_s, "json"))
        fmt = FMT_JSON;
    else if (!strcmp(format_s, "csv"))
        fmt = FMT_CSV;
    else if (strcmp(format_s, "text")) {
        fprintf(stderr, "clvit predict: --format: '%s' is not text, json or csv\n", format_s);
        r = 2;
    }
    if (!r && (cli_int("predict", "--topk", topk_s, 1, 1000000, &topk) ||
               (batch_s && cli_int("predict", "--batch", batch_s, 1, 65536, &batch))))
        r = 2;
    if (!r && !nargs && !list_path) {
        fprintf(stderr,
                "clvit predict: give images, directories, @LIST or --list LIST\n"
                "usage: clvit predict %s\n",
                cmd.usage);
        r = 2;
    }
    image_list list = {0};
    for (int i = 0; !r && i < nargs; i++)
        r = image_list_add(&list, "predict", args[i], 0);
    if (!r && list_path) r = image_list_add(&list, "predict", list_path, 1);
    free(args);
    labels lb = {0};
    if (!r && labels_path) r = read_labels(labels_path, &lb);
    clvit_ctx *ctx = NULL;
    clvit_model *model = NULL;
    if (!r) r = model_arg_open("predict", &ma, &ctx, &model);
    if (!r) {
        const int K = clvit_model_config(model)->num_classes;
        if (!labels_path && K == 1000) r = builtin_labels(&lb);
        if (!labels_path && K == IMAGENET21K_CLASSES)
            fprintf(stderr,
                    "clvit predict: note: %d classes: ImageNet-21k, printed as class "
                    "indices (timm's in21k order); --labels FILE gives names\n",
                    K);
        if (topk > K) topk = K;
        if (!batch) batch = default_batch(clvit_ctx_device(ctx));
        if (batch > list.n) batch = list.n;
    }
    if (!r) r = run(model, &list, (int)batch, (int)topk, fmt, &lb);
    labels_free(&lb);
    image_list_free(&list);
    clvit_model_free(model);
    clvit_ctx_free(ctx);
    return r;
}
