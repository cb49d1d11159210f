/*
 * weights.c - model weights as safetensors: timm's tensor names (clvit's own), and on load
 * also torchvision's VisionTransformer and Hugging Face's ViTForImageClassification /
 * DeiTForImageClassification(WithTeacher) names, mapped onto timm's (map_name below).
 *
 * Load: the architecture comes from the file's __metadata__ (keys written by clvit and by
 * tools/export_safetensors.py: img_size, patch_size, in_chans, num_classes, embed_dim,
 * depth, num_heads, mlp_ratio, qkv_bias, qk_scale, representation_size, distilled,
 * global_pool, pos_embed, mean, std, crop_pct), else from a preset, else, for Hugging Face
 * names, from config.json and preprocessor_config.json next to the file, else inferred from
 * tensor shapes (a head count that nothing gives is assumed, with a note on stderr).
 * Every tensor is checked against the plan: missing, unexpected and wrong-shape tensors
 * are all reported by the file's name with the expected shape, and the report says which
 * naming it read. F16/BF16 are converted to F32.
 * Save: F32, timm's names, configuration in the metadata, written atomically.
 */
#include "host/safetensors.h"
#include "model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Naming schemes. clvit's parameter table uses timm's names; a file written with
 * torchvision's or Hugging Face's names is read through a mapping onto them.
 */
typedef enum { NAMES_TIMM, NAMES_TORCHVISION, NAMES_HF } names_kind;

typedef struct naming {
    names_kind kind;
    const char *prefix; /* Hugging Face: "vit" or "deit" */
    int hf_teacher;    /* DeiTForImageClassificationWithTeacher: cls_ and distillation_classifier */
    int hf_one_head;   /* DeiTForImageClassification: distillation token but one classifier */
    int tv_legacy_mlp; /* torchvision before 0.13: mlp.linear_1 / mlp.linear_2 */
    const char *label; /* for messages */
} naming;

/* Where one clvit tensor comes from: parts concatenated along axis 0 (Hugging Face's query,
 * key, value), none (filled with zeros), times a scale. */
typedef struct source {
    char part[3][128];
    int nparts;
    float scale;
} source;

static int any_prefix(const clvit_st_file *f, const char *prefix) {
    size_t n = strlen(prefix);
    for (int i = 0; i < f->num_tensors; i++)
        if (!strncmp(f->tensors[i].name, prefix, n)) return 1;
    return 0;
}

static void detect_naming(const clvit_st_file *f, naming *n) {
    memset(n, 0, sizeof *n);
    n->kind = NAMES_TIMM;
    n->label = "timm's; no torchvision or Hugging Face names found";
    int deit = any_prefix(f, "deit.embeddings.");
    if (deit || any_prefix(f, "vit.embeddings.")) {
        n->kind = NAMES_HF;
        n->prefix = deit ? "deit" : "vit";
        n->hf_teacher = clvit_st_find(f, "cls_classifier.weight") != NULL;
        n->hf_one_head =
            !n->hf_teacher && clvit_st_find(f, "deit.embeddings.distillation_token") != NULL;
        n->label = n->hf_teacher    ? "Hugging Face DeiTForImageClassificationWithTeacher"
                   : n->hf_one_head ? "Hugging Face DeiTForImageClassification"
                                    : "Hugging Face ViTForImageClassification";
    } else if (clvit_st_find(f, "conv_proj.weight") || clvit_st_find(f, "class_token") ||
               any_prefix(f, "encoder.layers.encoder_layer_")) {
        n->kind = NAMES_TORCHVISION;
        n->tv_legacy_mlp = any_prefix(f, "encoder.layers.encoder_layer_0.mlp.linear_1.");
        n->label = "torchvision VisionTransformer";
    }
}

/* clvit name, torchvision name, Hugging Face name (after "<prefix>."); NULL: none. */
typedef struct name_row {
    const char *clvit, *tv, *hf;
} name_row;

static const name_row top_names[] = {
    {"cls_token", "class_token", "embeddings.cls_token"},
    {"dist_token", NULL, "embeddings.distillation_token"},
    {"pos_embed", "encoder.pos_embedding", "embeddings.position_embeddings"},
    {"patch_embed.proj.weight", "conv_proj.weight",
     "embeddings.patch_embeddings.projection.weight"},
    {"patch_embed.proj.bias", "conv_proj.bias", "embeddings.patch_embeddings.projection.bias"},
    {"norm.weight", "encoder.ln.weight", "layernorm.weight"},
    {"norm.bias", "encoder.ln.bias", "layernorm.bias"},
    {"pre_logits.fc.weight", "heads.pre_logits.weight", NULL},
    {"pre_logits.fc.bias", "heads.pre_logits.bias", NULL},
    {"head.weight", "heads.head.weight", NULL}, /* Hugging Face: see map_name */
    {"head.bias", "heads.head.bias", NULL},
};

static const name_row block_names[] = {
    {"norm1.weight", "ln_1.weight", "layernorm_before.weight"},
    {"norm1.bias", "ln_1.bias", "layernorm_before.bias"},
    {"attn.qkv.weight", "self_attention.in_proj_weight", "weight"}, /* query, key, value */
    {"attn.qkv.bias", "self_attention.in_proj_bias", "bias"},
    {"attn.proj.weight", "self_attention.out_proj.weight", "attention.output.dense.weight"},
    {"attn.proj.bias", "self_attention.out_proj.bias", "attention.output.dense.bias"},
    {"norm2.weight", "ln_2.weight", "layernorm_after.weight"},
    {"norm2.bias", "ln_2.bias", "layernorm_after.bias"},
    {"mlp.fc1.weight", "mlp.0.weight", "intermediate.dense.weight"},
    {"mlp.fc1.bias", "mlp.0.bias", "intermediate.dense.bias"},
    {"mlp.fc2.weight", "mlp.3.weight", "output.dense.weight"},
    {"mlp.fc2.bias", "mlp.3.bias", "output.dense.bias"},
};

static void one_part(source *s, const char *fmt, ...) CLVIT_PRINTF(2, 3);
static void one_part(source *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->part[s->nparts], sizeof s->part[0], fmt, ap);
    va_end(ap);
    s->nparts++;
}

/* The file's tensor(s) for clvit's tensor `name` under naming n. */
static void map_name(const naming *n, const char *name, source *s) {
    memset(s, 0, sizeof *s);
    s->scale = 1.0f;
    if (n->kind == NAMES_TIMM) {
        one_part(s, "%s", name);
        return;
    }
    const int hf = n->kind == NAMES_HF;
    if (!strncmp(name, "blocks.", 7)) {
        char *end;
        long l = strtol(name + 7, &end, 10);
        const char *rest = *end == '.' ? end + 1 : "";
        for (size_t i = 0; i < sizeof block_names / sizeof block_names[0]; i++) {
            const name_row *r = &block_names[i];
            if (strcmp(rest, r->clvit)) continue;
            if (!hf) {
                const char *tv = r->tv;
                if (n->tv_legacy_mlp && !strncmp(tv, "mlp.0.", 6))
                    one_part(s, "encoder.layers.encoder_layer_%ld.mlp.linear_1.%s", l, tv + 6);
                else if (n->tv_legacy_mlp && !strncmp(tv, "mlp.3.", 6))
                    one_part(s, "encoder.layers.encoder_layer_%ld.mlp.linear_2.%s", l, tv + 6);
                else
                    one_part(s, "encoder.layers.encoder_layer_%ld.%s", l, tv);
            } else if (!strncmp(r->clvit, "attn.qkv.", 9)) {
                static const char *const qkv[3] = {"query", "key", "value"};
                for (int j = 0; j < 3; j++)
                    one_part(s, "%s.encoder.layer.%ld.attention.attention.%s.%s", n->prefix, l,
                             qkv[j], r->hf);
            } else {
                one_part(s, "%s.encoder.layer.%ld.%s", n->prefix, l, r->hf);
            }
            return;
        }
    } else if (hf && !strncmp(name, "head.", 5)) {
        one_part(s, "%s%s", n->hf_teacher ? "cls_classifier." : "classifier.", name + 5);
        if (n->hf_one_head) s->scale = 2.0f; /* clvit averages two heads: 2 W and a zero one */
        return;
    } else if (hf && !strncmp(name, "head_dist.", 10)) {
        if (n->hf_teacher) one_part(s, "distillation_classifier.%s", name + 10);
        return; /* hf_one_head: no tensor, zeros */
    } else {
        for (size_t i = 0; i < sizeof top_names / sizeof top_names[0]; i++) {
            const name_row *r = &top_names[i];
            if (strcmp(name, r->clvit)) continue;
            if (hf && r->hf) one_part(s, "%s.%s", n->prefix, r->hf);
            if (!hf && r->tv) one_part(s, "%s", r->tv);
            break;
        }
    }
    if (!s->nparts) one_part(s, "%s", name); /* no counterpart: reported under clvit's name */
}

/* The file's name of clvit's tensor `name` (its first part when split). */
static const char *file_name(const naming *n, const char *name, source *s) {
    map_name(n, name, s);
    return s->nparts ? s->part[0] : name;
}

static int64_t dim_of(const clvit_st_file *f, const naming *n, const char *name, int axis) {
    source s;
    const clvit_st_tensor *t = clvit_st_find(f, file_name(n, name, &s));
    if (!t) return -1;
    if (axis < 0) axis += t->ndim;
    return axis >= 0 && axis < t->ndim ? t->shape[axis] : -1;
}

static int has_tensor(const clvit_st_file *f, const naming *n, const char *name) {
    source s;
    return clvit_st_find(f, file_name(n, name, &s)) != NULL;
}

/* Head count when nothing gives it: ViT-B/L/H's for their widths (torchvision and timm
 * agree), else embed_dim / 64. */
static int default_heads(int64_t D, const char **why) {
    static const struct {
        int64_t width;
        int heads;
        const char *why;
    } known[] = {{768, 12, "ViT-B's, for width 768"},
                 {1024, 16, "ViT-L's, for width 1024"},
                 {1280, 16, "ViT-H's, for width 1280"}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (D == known[i].width) {
            *why = known[i].why;
            return known[i].heads;
        }
    *why = D >= 64 ? "embed_dim / 64" : "one, for width under 64";
    return D >= 64 ? (int)(D / 64) : 1;
}

/* An mlp_ratio that gives exactly `hidden` as clvit computes it, (int)(embed_dim * ratio). */
static float ratio_for(int D, int64_t hidden) {
    float r = (float)((double)hidden / (double)D);
    for (int i = 0; i < 8 && (int)(D * r) < hidden; i++)
        r = nextafterf(r, 2.0f * r + 1.0f);
    return r;
}

static void default_norm(const naming *n, clvit_config *c) {
    static const float in_mean[3] = {0.485f, 0.456f, 0.406f}, in_std[3] = {0.229f, 0.224f, 0.225f};
    /* torchvision's weights and Hugging Face's DeiT: ImageNet statistics, crop 224 of 256 */
    int imagenet =
        n->kind == NAMES_TORCHVISION || (n->kind == NAMES_HF && !strcmp(n->prefix, "deit"));
    for (int i = 0; i < 3; i++) {
        c->mean[i] = imagenet ? in_mean[i] : 0.5f;
        c->std[i] = imagenet ? in_std[i] : 0.5f;
    }
    c->crop_pct = imagenet ? 0.875f : n->kind == NAMES_HF ? 1.0f : 0.9f;
}

/* Infers the architecture from tensor shapes. *why_heads is set when the head count was
 * assumed (heads <= 0). */
static clvit_status infer_config(const clvit_st_file *f, const naming *n, const char *path,
                                 int heads, clvit_config *c, const char **why_heads) {
    memset(c, 0, sizeof *c);
    *why_heads = NULL;
    source s1, s2, s3;
    const char *cls = file_name(n, "cls_token", &s1),
               *pw = file_name(n, "patch_embed.proj.weight", &s2),
               *pos = file_name(n, "pos_embed", &s3);
    int64_t D = dim_of(f, n, "cls_token", -1);
    int64_t pw0 = dim_of(f, n, "patch_embed.proj.weight", 0);
    if (D <= 0 || pw0 != D)
        return clvit_fail(CLVIT_ERR_FORMAT,
                          "%s: cannot infer the architecture: no %s / %s of matching width (names "
                          "read as %s; give --preset or export with metadata)",
                          path, cls, pw, n->label);
    c->embed_dim = (int)D;
    c->in_chans = (int)dim_of(f, n, "patch_embed.proj.weight", 1);
    c->patch_size = (int)dim_of(f, n, "patch_embed.proj.weight", 2);
    c->distilled = has_tensor(f, n, "dist_token");
    int T = c->distilled ? 2 : 1;
    int64_t npos = dim_of(f, n, "pos_embed", 1);
    if (npos <= T)
        return clvit_fail(CLVIT_ERR_FORMAT,
                          "%s: cannot infer the image size: no learned %s (give --preset "
                          "or export with metadata)",
                          path, pos);
    int64_t P = npos - T, g = 1;
    while (g * g < P)
        g++;
    if (g * g != P)
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: %s has %lld patch positions, not a square", path,
                          pos, (long long)P);
    c->img_size = (int)(g * c->patch_size);
    int depth = 0;
    for (;; depth++) {
        char name[64];
        snprintf(name, sizeof name, "blocks.%d.norm1.weight", depth);
        if (!has_tensor(f, n, name)) break;
    }
    c->depth = depth;
    int64_t hidden = dim_of(f, n, "blocks.0.mlp.fc1.weight", 0);
    c->mlp_ratio = hidden > 0 ? ratio_for(c->embed_dim, hidden) : 4.0f;
    c->qkv_bias = has_tensor(f, n, "blocks.0.attn.qkv.bias");
    int64_t R = dim_of(f, n, "pre_logits.fc.weight", 0);
    c->representation_size = R > 0 ? (int)R : 0;
    c->num_classes = (int)dim_of(f, n, "head.weight", 0);
    if (heads > 0)
        c->num_heads = heads;
    else
        c->num_heads = default_heads(D, why_heads);
    default_norm(n, c);
    return CLVIT_SUCCESS;
}

/* ---- Hugging Face: config.json and preprocessor_config.json next to the weights */

/* The file `name` in the directory of `path`. */
static void sibling(const char *path, const char *name, char *out, size_t size) {
    const char *slash = strrchr(path, '/');
    if (slash)
        snprintf(out, size, "%.*s/%s", (int)(slash - path), path, name);
    else
        snprintf(out, size, "%s", name);
}

/* Parses a JSON object from a file; *root stays NULL when the file cannot be read. */
static clvit_status read_json(const char *path, cJSON **root) {
    *root = NULL;
    size_t len = 0;
    char *text = clvit_read_file(path, &len);
    if (!text) return CLVIT_SUCCESS;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: not a JSON object", path);
    }
    *root = j;
    return CLVIT_SUCCESS;
}

/* An integer member, when present, into *out. */
static clvit_status json_int(const cJSON *o, const char *key, const char *file, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return CLVIT_SUCCESS;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 1e9)
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: \"%s\" is not an integer", file, key);
    *out = (int)v->valuedouble;
    return CLVIT_SUCCESS;
}

static clvit_status json_bool(const cJSON *o, const char *key, const char *file, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return CLVIT_SUCCESS;
    if (!cJSON_IsBool(v))
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: \"%s\" is not true or false", file, key);
    *out = cJSON_IsTrue(v);
    return CLVIT_SUCCESS;
}

/* An image size: a number, or an object with "shortest_edge" or "height" and "width" (the
 * smaller of the two). 0 when absent. */
static clvit_status json_size(const cJSON *o, const char *key, const char *file, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = 0;
    if (!v || cJSON_IsNull(v)) return CLVIT_SUCCESS;
    if (cJSON_IsNumber(v)) return json_int(o, key, file, out);
    int h = 0, w = 0, e = 0;
    if (cJSON_IsObject(v)) {
        CLVIT_CHECK(json_int(v, "shortest_edge", file, &e));
        CLVIT_CHECK(json_int(v, "height", file, &h));
        CLVIT_CHECK(json_int(v, "width", file, &w));
    }
    if (e > 0)
        *out = e;
    else if (h <= 0 || (w > 0 && w < h))
        *out = w;
    else
        *out = h;
    if (*out <= 0)
        return clvit_fail(CLVIT_ERR_FORMAT,
                          "%s: \"%s\" is not a size (a number, or height and width)", file, key);
    return CLVIT_SUCCESS;
}

/* image_mean / image_std: a number or a list of 1 or 3 numbers. */
static clvit_status json_triple(const cJSON *o, const char *key, const char *file, float *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return CLVIT_SUCCESS;
    int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : cJSON_IsNumber(v) ? 1 : 0;
    float x[3];
    int i = 0;
    if (cJSON_IsNumber(v)) x[i++] = (float)v->valuedouble;
    for (const cJSON *e = cJSON_IsArray(v) ? v->child : NULL; e && i < 3; e = e->next) {
        if (!cJSON_IsNumber(e)) break;
        x[i++] = (float)e->valuedouble;
    }
    if (!(n == 1 || n == 3) || i != n)
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: \"%s\" is not 1 or 3 numbers", file, key);
    for (int c = 0; c < 3; c++)
        out[c] = x[n == 3 ? c : 0];
    return CLVIT_SUCCESS;
}

/* Architecture from config.json over what the shapes say. */
static clvit_status hf_model_config(const cJSON *j, const char *file, int heads, clvit_config *c,
                                    const char **why_heads) {
    int hidden = 0, labels = 0;
    CLVIT_CHECK(json_int(j, "hidden_size", file, &c->embed_dim));
    CLVIT_CHECK(json_int(j, "num_hidden_layers", file, &c->depth));
    CLVIT_CHECK(json_int(j, "intermediate_size", file, &hidden));
    CLVIT_CHECK(json_int(j, "image_size", file, &c->img_size));
    CLVIT_CHECK(json_int(j, "patch_size", file, &c->patch_size));
    CLVIT_CHECK(json_int(j, "num_channels", file, &c->in_chans));
    CLVIT_CHECK(json_bool(j, "qkv_bias", file, &c->qkv_bias));
    if (heads <= 0 && cJSON_GetObjectItemCaseSensitive(j, "num_attention_heads")) {
        CLVIT_CHECK(json_int(j, "num_attention_heads", file, &c->num_heads));
        *why_heads = NULL;
    }
    if (hidden > 0 && c->embed_dim > 0) c->mlp_ratio = ratio_for(c->embed_dim, hidden);
    const cJSON *id2label = cJSON_GetObjectItemCaseSensitive(j, "id2label");
    if (cJSON_IsObject(id2label)) labels = cJSON_GetArraySize(id2label);
    CLVIT_CHECK(json_int(j, "num_labels", file, &labels));
    if (labels > 0) c->num_classes = labels;
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(j, "hidden_act");
    if (act && !(cJSON_IsString(act) && !strcmp(act->valuestring, "gelu")))
        return clvit_fail(CLVIT_ERR_FORMAT,
                          "%s: hidden_act %s: clvit computes exact (erf) GELU, \"gelu\", only",
                          file, cJSON_IsString(act) ? act->valuestring : "(not a string)");
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(j, "layer_norm_eps");
    if (eps && !cJSON_IsNumber(eps))
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: layer_norm_eps is not a number", file);
    /* 1e-12 (the Hub's ViT and DeiT) and 1e-6 (clvit's) agree wherever a token's variance is
     * far above 1e-6; a larger eps changes the model */
    if (eps && (eps->valuedouble > 2e-6 || eps->valuedouble < 0.0))
        fprintf(stderr, "clvit: note: %s: layer_norm_eps %g; clvit's LayerNorm uses 1e-6\n", file,
                eps->valuedouble);
    return CLVIT_SUCCESS;
}

/* Preprocessing from preprocessor_config.json: mean, std, and the crop as a fraction of the
 * resized image. */
static clvit_status hf_preprocessing(const cJSON *j, const char *file, clvit_config *c) {
    int normalize = 1, size = 0, crop = 0, center_crop = -1;
    CLVIT_CHECK(json_bool(j, "do_normalize", file, &normalize));
    CLVIT_CHECK(json_triple(j, "image_mean", file, c->mean));
    CLVIT_CHECK(json_triple(j, "image_std", file, c->std));
    for (int i = 0; i < 3 && !normalize; i++) {
        c->mean[i] = 0.0f;
        c->std[i] = 1.0f;
    }
    CLVIT_CHECK(json_size(j, "size", file, &size));
    CLVIT_CHECK(json_size(j, "crop_size", file, &crop));
    CLVIT_CHECK(json_bool(j, "do_center_crop", file, &center_crop));
    if (center_crop < 0) center_crop = crop > 0;
    if (size > 0) c->crop_pct = center_crop && crop > 0 ? (float)crop / (float)size : 1.0f;
    return CLVIT_SUCCESS;
}

/* Hugging Face names: shapes, then config.json and preprocessor_config.json when present. */
static clvit_status hf_resolve(const clvit_st_file *f, const naming *n, const char *path, int heads,
                               clvit_config *c, const char **why_heads) {
    char cfg_path[1024], pre_path[1024];
    sibling(path, "config.json", cfg_path, sizeof cfg_path);
    sibling(path, "preprocessor_config.json", pre_path, sizeof pre_path);
    cJSON *cj = NULL, *pj = NULL;
    clvit_status st = read_json(cfg_path, &cj);
    if (!st) st = read_json(pre_path, &pj);
    if (!st) {
        st = infer_config(f, n, path, heads, c, why_heads);
        if (st && cj) { /* config.json must then give everything the shapes did not */
            memset(c, 0, sizeof *c);
            c->mlp_ratio = 4.0f;
            c->qkv_bias = 1;
            c->distilled = n->hf_teacher || n->hf_one_head;
            c->num_classes = (int)dim_of(f, n, "head.weight", 0);
            c->num_heads = heads > 0 ? heads : 0;
            default_norm(n, c);
            st = CLVIT_SUCCESS;
        }
    }
    if (!st && cj) st = hf_model_config(cj, cfg_path, heads, c, why_heads);
    if (!st && c->num_heads <= 0) c->num_heads = default_heads(c->embed_dim, why_heads);
    if (!st && pj) st = hf_preprocessing(pj, pre_path, c);
    cJSON_Delete(cj);
    cJSON_Delete(pj);
    return st;
}

static int parse_int(const char *s, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < -1000000000L || v > 1000000000L) return 0;
    *out = (int)v;
    return 1;
}

static int parse_float(const char *s, float *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end) return 0;
    *out = (float)v;
    return 1;
}

static int parse_triple(const char *s, float *out) {
    char *end;
    for (int i = 0; i < 3; i++) {
        double v = strtod(s, &end);
        if (end == s) return 0;
        out[i] = (float)v;
        s = end;
        if (i < 2) {
            if (*s != ',') return 0;
            s++;
        }
    }
    return *s == '\0';
}

/* Applies every clvit key present in the metadata over c. Returns 1 if any was present. */
static clvit_status apply_metadata(const clvit_st_file *f, const char *path, clvit_config *c,
                                   int *found) {
    struct {
        const char *key;
        int *target;
    } ints[] = {{"img_size", &c->img_size},   {"patch_size", &c->patch_size},
                {"in_chans", &c->in_chans},   {"num_classes", &c->num_classes},
                {"embed_dim", &c->embed_dim}, {"depth", &c->depth},
                {"num_heads", &c->num_heads}, {"qkv_bias", &c->qkv_bias},
                {"distilled", &c->distilled}, {"representation_size", &c->representation_size}};
    *found = 0;
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        const char *v = clvit_st_meta(f, ints[i].key);
        if (!v) continue;
        *found = 1;
        if (!parse_int(v, ints[i].target))
            return clvit_fail(CLVIT_ERR_FORMAT, "%s: metadata %s='%s' is not an integer", path,
                              ints[i].key, v);
    }
    const char *v;
    if ((v = clvit_st_meta(f, "mlp_ratio")) && !parse_float(v, &c->mlp_ratio))
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: metadata mlp_ratio='%s' is not a number", path, v);
    if ((v = clvit_st_meta(f, "qk_scale")) && !parse_float(v, &c->qk_scale))
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: metadata qk_scale='%s' is not a number", path, v);
    if ((v = clvit_st_meta(f, "mean")) && !parse_triple(v, c->mean))
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: metadata mean='%s' is not 3 numbers", path, v);
    if ((v = clvit_st_meta(f, "std")) && !parse_triple(v, c->std))
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: metadata std='%s' is not 3 numbers", path, v);
    if ((v = clvit_st_meta(f, "crop_pct")) && !parse_float(v, &c->crop_pct))
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: metadata crop_pct='%s' is not a number", path, v);
    if ((v = clvit_st_meta(f, "global_pool"))) {
        if (!strcmp(v, "avg"))
            c->pool = CLVIT_POOL_AVG;
        else if (!strcmp(v, "token") || !strcmp(v, ""))
            c->pool = CLVIT_POOL_TOKEN;
        else
            return clvit_fail(CLVIT_ERR_FORMAT, "%s: metadata global_pool='%s' (token|avg)", path,
                              v);
    }
    if ((v = clvit_st_meta(f, "pos_embed"))) {
        if (!strcmp(v, "sincos"))
            c->pos_embed = CLVIT_POS_SINCOS;
        else if (!strcmp(v, "learned"))
            c->pos_embed = CLVIT_POS_LEARNED;
        else
            return clvit_fail(CLVIT_ERR_FORMAT, "%s: metadata pos_embed='%s' (learned|sincos)",
                              path, v);
    }
    return CLVIT_SUCCESS;
}

static void shape_str(char *buf, size_t size, int ndim, const int64_t *shape) {
    size_t n = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < size) snprintf(buf + n, size - n, ")");
}

/* Appends one problem line to the report, counting those that do not fit. */
static void report(char *buf, size_t size, int *count, const char *fmt, const char *name,
                   const char *a, const char *b) {
    size_t n = strlen(buf);
    if (n + 200 < size) snprintf(buf + n, size - n, fmt, name, a, b);
    (*count)++;
}

/* Metadata first, else preset (its class count taken from the head), else Hugging Face's
 * JSON files, else shapes. */
static clvit_status resolve_config(const clvit_st_file *f, const char *path, const char *preset,
                                   int heads_override, clvit_config *out) {
    naming n;
    detect_naming(f, &n);
    clvit_config cfg;
    clvit_status st = CLVIT_SUCCESS;
    const char *why_heads = NULL; /* set while the head count is assumed */
    int has_meta = clvit_st_meta(f, "embed_dim") != NULL;
    if (has_meta || preset) {
        if (preset) {
            st = clvit_preset(preset, &cfg);
            int64_t k = dim_of(f, &n, "head.weight", 0);
            if (st == CLVIT_SUCCESS && k > 0) cfg.num_classes = (int)k; /* fine-tuned heads */
        } else {
            st = infer_config(f, &n, path, heads_override, &cfg, &why_heads);
            if (st != CLVIT_SUCCESS) { /* metadata alone must then be complete */
                memset(&cfg, 0, sizeof cfg);
                default_norm(&n, &cfg);
                cfg.mlp_ratio = 4.0f;
                why_heads = NULL;
                st = CLVIT_SUCCESS;
            }
        }
        int found;
        if (st == CLVIT_SUCCESS) st = apply_metadata(f, path, &cfg, &found);
        if (clvit_st_meta(f, "num_heads")) why_heads = NULL;
    } else if (n.kind == NAMES_HF) {
        st = hf_resolve(f, &n, path, heads_override, &cfg, &why_heads);
    } else {
        st = infer_config(f, &n, path, heads_override, &cfg, &why_heads);
    }
    if (st != CLVIT_SUCCESS) return st;
    if (heads_override > 0) {
        cfg.num_heads = heads_override;
        why_heads = NULL;
    }
    st = clvit_config_validate(&cfg);
    if (st != CLVIT_SUCCESS) return clvit_fail(st, "%s: %s", path, clvit_last_error());
    if (why_heads)
        fprintf(stderr,
                "clvit: note: %s does not say how many attention heads it has; assuming %d (%s); "
                "if that is wrong, give --heads H (heads_override in the C API)\n",
                path, cfg.num_heads, why_heads);
    *out = cfg;
    return CLVIT_SUCCESS;
}

clvit_status clvit_read_config(const char *path, const char *preset, int heads_override,
                               clvit_config *cfg) {
    if (!path || !cfg) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_read_config: NULL");
    clvit_st_file *f;
    CLVIT_CHECK(clvit_st_open(path, &f));
    clvit_status st = resolve_config(f, path, preset, heads_override, cfg);
    clvit_st_close(f);
    return st;
}

clvit_status clvit_model_load(clvit_ctx *ctx, const char *path, const char *preset,
                              int heads_override, clvit_model **out) {
    if (!ctx || !path || !out) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_model_load: NULL");
    *out = NULL;
    clvit_st_file *f;
    CLVIT_CHECK(clvit_st_open(path, &f));
    clvit_config cfg;
    clvit_status st = resolve_config(f, path, preset, heads_override, &cfg);
    clvit_model *m = NULL;
    if (st == CLVIT_SUCCESS) st = clvit_model_alloc(ctx, &cfg, &m);
    float *host = NULL;
    if (st == CLVIT_SUCCESS) {
        host = malloc(m->num_params * sizeof *host);
        if (!host) st = clvit_fail(CLVIT_ERR_NOMEM, "parameters (%zu floats)", m->num_params);
    }
    naming nm;
    detect_naming(f, &nm);
    unsigned char *used = NULL; /* per file tensor: read by some parameter */
    if (st == CLVIT_SUCCESS && !(used = calloc((size_t)f->num_tensors + 1, 1)))
        st = clvit_fail(CLVIT_ERR_NOMEM, "loading %s", path);
    if (st == CLVIT_SUCCESS) {
        /* check every tensor before reading any */
        char problems[3000] = "";
        int nprob = 0;
        for (int i = 0; i < m->num_table; i++) {
            const clvit_param *p = &m->table[i];
            source s;
            map_name(&nm, p->name, &s);
            int64_t shape[4];
            for (int j = 0; j < p->ndim; j++)
                shape[j] = p->shape[j];
            if (s.nparts > 1) shape[0] /= s.nparts; /* concatenated along axis 0 */
            char want[96];
            shape_str(want, sizeof want, p->ndim, shape);
            for (int k = 0; k < s.nparts; k++) {
                const clvit_st_tensor *t = clvit_st_find(f, s.part[k]);
                if (!t) {
                    report(problems, sizeof problems, &nprob, "\n  missing %s, expected shape %s%s",
                           s.part[k], want, "");
                    continue;
                }
                used[t - f->tensors] = 1;
                int same = t->ndim == p->ndim;
                for (int j = 0; same && j < p->ndim; j++)
                    same = t->shape[j] == shape[j];
                if (!same) {
                    char got[96];
                    shape_str(got, sizeof got, t->ndim, t->shape);
                    report(problems, sizeof problems, &nprob, "\n  %s has shape %s, expected %s",
                           s.part[k], got, want);
                }
            }
        }
        for (int i = 0; i < f->num_tensors; i++)
            /* training checkpoints carry Adam moments next to the weights */
            if (!used[i] && strncmp(f->tensors[i].name, "optim.", 6))
                report(problems, sizeof problems, &nprob, "\n  unexpected tensor %s%s%s",
                       f->tensors[i].name, "", "");
        if (nprob)
            st = clvit_fail(CLVIT_ERR_SHAPE,
                            "%s: %d tensor problem%s for a %d-deep, %d-wide model (names read as "
                            "%s):%s",
                            path, nprob, nprob > 1 ? "s" : "", cfg.depth, cfg.embed_dim, nm.label,
                            problems);
    }
    for (int i = 0; st == CLVIT_SUCCESS && i < m->num_table; i++) {
        const clvit_param *p = &m->table[i];
        float *dst = host + p->offset;
        source s;
        map_name(&nm, p->name, &s);
        if (!s.nparts) memset(dst, 0, p->numel * sizeof *dst);
        for (int k = 0; st == CLVIT_SUCCESS && k < s.nparts; k++)
            st = clvit_st_read_f32(f, clvit_st_find(f, s.part[k]),
                                   dst + (size_t)k * (p->numel / (size_t)s.nparts));
        for (size_t j = 0; s.scale != 1.0f && j < p->numel; j++)
            dst[j] *= s.scale;
    }
    free(used);
    if (st == CLVIT_SUCCESS) st = clvit_arena_write(ctx, &m->params, 0, host, m->num_params);
    free(host);
    clvit_st_close(f);
    if (st != CLVIT_SUCCESS) {
        clvit_model_free(m);
        return st;
    }
    *out = m;
    return CLVIT_SUCCESS;
}

static void meta_add(clvit_meta *s, const char *key, const char *fmt, ...) CLVIT_PRINTF(3, 4);
static void meta_add(clvit_meta *s, const char *key, const char *fmt, ...) {
    if (s->n >= CLVIT_META_MAX) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->store[s->n], sizeof s->store[s->n], fmt, ap);
    va_end(ap);
    s->keys[s->n] = key;
    s->values[s->n] = s->store[s->n];
    s->n++;
}

void clvit_config_metadata(const clvit_config *c, clvit_meta *s) {
    s->n = 0;
    meta_add(s, "format", "pt");
    meta_add(s, "img_size", "%d", c->img_size);
    meta_add(s, "patch_size", "%d", c->patch_size);
    meta_add(s, "in_chans", "%d", c->in_chans);
    meta_add(s, "num_classes", "%d", c->num_classes);
    meta_add(s, "embed_dim", "%d", c->embed_dim);
    meta_add(s, "depth", "%d", c->depth);
    meta_add(s, "num_heads", "%d", c->num_heads);
    meta_add(s, "mlp_ratio", "%.9g", (double)c->mlp_ratio);
    meta_add(s, "qkv_bias", "%d", c->qkv_bias ? 1 : 0);
    meta_add(s, "qk_scale", "%.9g", (double)c->qk_scale);
    meta_add(s, "representation_size", "%d", c->representation_size);
    meta_add(s, "distilled", "%d", c->distilled ? 1 : 0);
    meta_add(s, "global_pool", "%s", c->pool == CLVIT_POOL_AVG ? "avg" : "token");
    meta_add(s, "pos_embed", "%s", c->pos_embed == CLVIT_POS_SINCOS ? "sincos" : "learned");
    meta_add(s, "mean", "%.9g,%.9g,%.9g", (double)c->mean[0], (double)c->mean[1],
             (double)c->mean[2]);
    meta_add(s, "std", "%.9g,%.9g,%.9g", (double)c->std[0], (double)c->std[1], (double)c->std[2]);
    meta_add(s, "crop_pct", "%.9g", (double)c->crop_pct);
}

clvit_status clvit_model_save(clvit_model *m, const char *path) {
    if (!m || !path) return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_model_save: NULL");
    float *host = malloc(m->num_params * sizeof *host);
    clvit_st_entry *entries = calloc((size_t)m->num_table, sizeof *entries);
    clvit_status st = CLVIT_SUCCESS;
    if (!host || !entries) st = clvit_fail(CLVIT_ERR_NOMEM, "saving %s", path);
    if (st == CLVIT_SUCCESS) st = clvit_arena_read(m->ctx, &m->params, 0, host, m->num_params);
    if (st == CLVIT_SUCCESS) {
        for (int i = 0; i < m->num_table; i++) {
            const clvit_param *p = &m->table[i];
            entries[i].name = p->name;
            entries[i].dtype = CLVIT_DT_F32;
            entries[i].ndim = p->ndim;
            for (int j = 0; j < p->ndim; j++)
                entries[i].shape[j] = p->shape[j];
            entries[i].data = host + p->offset;
        }
        clvit_meta meta;
        clvit_config_metadata(&m->cfg, &meta);
        st = clvit_st_write(path, entries, m->num_table, meta.keys, meta.values, meta.n);
    }
    free(entries);
    free(host);
    return st;
}
