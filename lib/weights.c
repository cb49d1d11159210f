/*
 * weights.c - model weights as safetensors with timm's tensor names.
 *
 * Load: the architecture comes from the file's __metadata__ (keys written by clvit and by
 * tools/export_safetensors.py: img_size, patch_size, in_chans, num_classes, embed_dim,
 * depth, num_heads, mlp_ratio, qkv_bias, qk_scale, representation_size, distilled,
 * global_pool, pos_embed, mean, std), else from a preset, else inferred from tensor shapes.
 * Every tensor is checked against the plan: missing, unexpected and wrong-shape tensors
 * are all reported by name with the expected shape. F16/BF16 are converted to F32.
 * Save: F32, same names, configuration in the metadata, written atomically.
 */
#include "host/safetensors.h"
#include "model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t dim_of(const clvit_st_file *f, const char *name, int axis) {
    const clvit_st_tensor *t = clvit_st_find(f, name);
    if (!t) return -1;
    if (axis < 0) axis += t->ndim;
    return axis >= 0 && axis < t->ndim ? t->shape[axis] : -1;
}

/* Infers the architecture from tensor shapes (timm names). */
static clvit_status infer_config(const clvit_st_file *f, const char *path, int heads,
                                 clvit_config *c) {
    memset(c, 0, sizeof *c);
    int64_t D = dim_of(f, "cls_token", -1);
    int64_t pw0 = dim_of(f, "patch_embed.proj.weight", 0);
    if (D <= 0 || pw0 != D)
        return clvit_fail(CLVIT_ERR_FORMAT,
                          "%s: cannot infer the architecture: no cls_token / patch_embed.proj."
                          "weight of matching width (give --preset or export with metadata)",
                          path);
    c->embed_dim = (int)D;
    c->in_chans = (int)dim_of(f, "patch_embed.proj.weight", 1);
    c->patch_size = (int)dim_of(f, "patch_embed.proj.weight", 2);
    c->distilled = clvit_st_find(f, "dist_token") != NULL;
    int T = c->distilled ? 2 : 1;
    int64_t npos = dim_of(f, "pos_embed", 1);
    if (npos <= T)
        return clvit_fail(CLVIT_ERR_FORMAT,
                          "%s: cannot infer the image size: no learned pos_embed (give --preset "
                          "or export with metadata)",
                          path);
    int64_t P = npos - T, g = 1;
    while (g * g < P)
        g++;
    if (g * g != P)
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: pos_embed has %lld patch positions, not a square",
                          path, (long long)P);
    c->img_size = (int)(g * c->patch_size);
    int depth = 0;
    for (;; depth++) {
        char name[64];
        snprintf(name, sizeof name, "blocks.%d.norm1.weight", depth);
        if (!clvit_st_find(f, name)) break;
    }
    c->depth = depth;
    int64_t hidden = dim_of(f, "blocks.0.mlp.fc1.weight", 0);
    c->mlp_ratio = hidden > 0 ? (float)((double)hidden / (double)D) : 4.0f;
    c->qkv_bias = clvit_st_find(f, "blocks.0.attn.qkv.bias") != NULL;
    int64_t R = dim_of(f, "pre_logits.fc.weight", 0);
    c->representation_size = R > 0 ? (int)R : 0;
    c->num_classes = (int)dim_of(f, "head.weight", 0);
    c->num_heads = heads > 0 ? heads : (D >= 64 ? (int)(D / 64) : 1);
    for (int i = 0; i < 3; i++)
        c->mean[i] = c->std[i] = 0.5f;
    c->crop_pct = 0.9f;
    return CLVIT_SUCCESS;
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

/* Metadata first, else preset (its class count taken from head.weight), else shapes. */
static clvit_status resolve_config(const clvit_st_file *f, const char *path, const char *preset,
                                   int heads_override, clvit_config *out) {
    clvit_config cfg;
    clvit_status st = CLVIT_SUCCESS;
    int has_meta = clvit_st_meta(f, "embed_dim") != NULL;
    if (has_meta || preset) {
        if (preset) {
            st = clvit_preset(preset, &cfg);
            int64_t k = dim_of(f, "head.weight", 0);
            if (st == CLVIT_SUCCESS && k > 0) cfg.num_classes = (int)k; /* fine-tuned heads */
        } else {
            st = infer_config(f, path, heads_override, &cfg);
            if (st != CLVIT_SUCCESS) { /* metadata alone must then be complete */
                memset(&cfg, 0, sizeof cfg);
                for (int i = 0; i < 3; i++)
                    cfg.mean[i] = cfg.std[i] = 0.5f;
                cfg.crop_pct = 0.9f;
                cfg.mlp_ratio = 4.0f;
                st = CLVIT_SUCCESS;
            }
        }
        int found;
        if (st == CLVIT_SUCCESS) st = apply_metadata(f, path, &cfg, &found);
    } else {
        st = infer_config(f, path, heads_override, &cfg);
    }
    if (st != CLVIT_SUCCESS) return st;
    if (heads_override > 0) cfg.num_heads = heads_override;
    st = clvit_config_validate(&cfg);
    if (st != CLVIT_SUCCESS) return clvit_fail(st, "%s: %s", path, clvit_last_error());
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
    if (st == CLVIT_SUCCESS) {
        /* check every tensor before reading any */
        char problems[3000] = "";
        int nprob = 0;
        for (int i = 0; i < m->num_table; i++) {
            const clvit_param *p = &m->table[i];
            const clvit_st_tensor *t = clvit_st_find(f, p->name);
            char want[96];
            shape_str(want, sizeof want, p->ndim, p->shape);
            if (!t) {
                report(problems, sizeof problems, &nprob, "\n  missing %s, expected shape %s%s",
                       p->name, want, "");
                continue;
            }
            int same = t->ndim == p->ndim;
            for (int j = 0; same && j < p->ndim; j++)
                same = t->shape[j] == p->shape[j];
            if (!same) {
                char got[96];
                shape_str(got, sizeof got, t->ndim, t->shape);
                report(problems, sizeof problems, &nprob, "\n  %s has shape %s, expected %s",
                       p->name, got, want);
            }
        }
        for (int i = 0; i < f->num_tensors; i++) {
            int known = 0;
            for (int j = 0; j < m->num_table && !known; j++)
                known = !strcmp(m->table[j].name, f->tensors[i].name);
            /* training checkpoints carry Adam moments next to the weights */
            if (!known && strncmp(f->tensors[i].name, "optim.", 6))
                report(problems, sizeof problems, &nprob, "\n  unexpected tensor %s%s%s",
                       f->tensors[i].name, "", "");
        }
        if (nprob)
            st = clvit_fail(CLVIT_ERR_SHAPE,
                            "%s: %d tensor problem%s for a %d-deep, %d-wide model:%s", path, nprob,
                            nprob > 1 ? "s" : "", cfg.depth, cfg.embed_dim, problems);
    }
    for (int i = 0; st == CLVIT_SUCCESS && i < m->num_table; i++) {
        const clvit_param *p = &m->table[i];
        st = clvit_st_read_f32(f, clvit_st_find(f, p->name), host + p->offset);
    }
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
