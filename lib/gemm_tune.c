/*
 * gemm_tune.c - CLBlast kernel parameters per device. CLBlast picks its GEMM kernels'
 * tile sizes from a database of tuned devices; a device it does not know (PoCL's CPU
 * device among them) gets generic defaults, which on PoCL run at 12-17 GFLOP/s for the
 * model's shapes. clvit therefore hands CLBlast its own parameters, chosen in this order
 * when a context is created:
 *
 *   1. CLVIT_GEMM_TUNING=off: CLBlast's own database, nothing overridden.
 *   2. CLVIT_GEMM_TUNING=FILE: that file (an error if it cannot be read or parsed).
 *   3. The file `clvit-bench --tune-gemm` wrote for this device in the cache directory.
 *   4. The built-in table below (measured entries only).
 *   5. CLBlast's own database.
 *
 * A tuning file is text: '#' comments, then one line per CLBlast kernel, its name followed
 * by every one of its parameters as NAME=VALUE (CLBlast requires the full set).
 */
#include "device.h"

#include <clblast_c.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARAMS 32

/* Built-in parameters, per device class, for devices CLBlast's database does not know. */
typedef struct builtin_tuning {
    const char *platform; /* substring of the platform name */
    int cpu;              /* 1: CPU devices only */
    const char *what;     /* shown by clvit_ctx_gemm_tuning */
    const char *text;
} builtin_tuning;

static const builtin_tuning builtins[] = {
    /* PoCL 3.1 on a 2-core AMD EPYC ("pthread-skylake-avx512"). The indirect kernel without
     * local memory, 16-wide vectors along M (one AVX-512 register) and a 16x8 tile per
     * work-item; the direct kernel, which the small attention products keep (threshold 32),
     * with 32x32 tiles. Found by `clvit-bench --tune-gemm` (31.6 against CLBlast's 14.0
     * GFLOP/s on vit_mnist's training-step GEMMs) and a wider sweep of 16-wide tiles, then
     * chosen on whole training steps: vit_mnist at batch 128 went from 300-330 ms to
     * 104-128 ms (bench/README.md). */
    {"Portable Computing Language", 1, "built-in (PoCL CPU)",
     "GemmRoutine XGEMM_MIN_INDIRECT_SIZE=32\n"
     "Xgemm GEMMK=0 KREG=1 KWG=32 KWI=8 MDIMA=4 MDIMC=4 MWG=64 NDIMB=8 NDIMC=8 NWG=64 SA=0 "
     "SB=0 STRM=0 STRN=0 VWM=16 VWN=2\n"
     "XgemmDirect KWID=2 MDIMAD=4 MDIMCD=4 NDIMBD=4 NDIMCD=4 PADA=0 PADB=0 VWMD=4 VWND=4 "
     "WGD=32\n"},
};

/* Splits one "Kernel NAME=VALUE ..." line (in place) and hands it to fn. */
static clvit_status parse_line(char *line, const char *origin, int lineno,
                               clvit_gemm_tuning_line_fn fn, void *user) {
    char *save = NULL;
    char *kernel = strtok_r(line, " \t", &save);
    if (strchr(kernel, '='))
        return clvit_fail(CLVIT_ERR_FORMAT, "%s line %d: expected a kernel name first, got '%s'",
                          origin, lineno, kernel);
    const char *names[MAX_PARAMS];
    size_t values[MAX_PARAMS];
    size_t n = 0;
    for (char *tok = strtok_r(NULL, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        char *eq = strchr(tok, '=');
        char *end = NULL;
        if (!eq || eq == tok || n == MAX_PARAMS)
            return clvit_fail(CLVIT_ERR_FORMAT, "%s line %d: expected NAME=VALUE, got '%s'", origin,
                              lineno, tok);
        unsigned long v = strtoul(eq + 1, &end, 10);
        if (end == eq + 1 || *end || !isdigit((unsigned char)eq[1]))
            return clvit_fail(CLVIT_ERR_FORMAT, "%s line %d: '%s' needs a whole number", origin,
                              lineno, tok);
        *eq = '\0';
        names[n] = tok;
        values[n++] = (size_t)v;
    }
    if (n == 0)
        return clvit_fail(CLVIT_ERR_FORMAT, "%s line %d: kernel '%s' has no parameters", origin,
                          lineno, kernel);
    return fn(user, kernel, names, values, n, origin, lineno);
}

clvit_status clvit_gemm_tuning_parse(const char *text, const char *origin,
                                     clvit_gemm_tuning_line_fn fn, void *user) {
    char *copy = malloc(strlen(text) + 1);
    if (!copy) return clvit_fail(CLVIT_ERR_NOMEM, "GEMM tuning");
    strcpy(copy, text);
    clvit_status st = CLVIT_SUCCESS;
    int lineno = 0;
    /* strtok_r skips empty lines, so count them by hand */
    char *p = copy;
    while (st == CLVIT_SUCCESS && p && *p) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = '\0';
        lineno++;
        char *line = p;
        p = nl ? nl + 1 : NULL;
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        while (*line && isspace((unsigned char)*line))
            line++;
        if (*line) st = parse_line(line, origin, lineno, fn, user);
    }
    free(copy);
    return st;
}

/* Hands one parsed line to CLBlast for the context's device. */
static clvit_status override_line(void *user, const char *kernel, const char **names,
                                  const size_t *values, size_t n, const char *origin, int lineno) {
    const clvit_ctx *ctx = user;
    CLBlastStatusCode s =
        CLBlastOverrideParameters(ctx->device, kernel, CLBlastPrecisionSingle, n, names, values);
    if (s != CLBlastSuccess)
        return clvit_fail(
            CLVIT_ERR_FORMAT, "%s line %d: CLBlast rejected the parameters for '%s': %s", origin,
            lineno, kernel,
            s == CLBlastInvalidOverrideKernel || s == CLBlastDatabaseError ? "no such kernel"
            : s == CLBlastMissingOverrideParameter ? "every parameter of the kernel must be given"
                                                   : "invalid parameters");
    return CLVIT_SUCCESS;
}

clvit_status clvit_gemm_tuning_apply_text(clvit_ctx *ctx, const char *text, const char *origin) {
    return clvit_gemm_tuning_parse(text, origin, override_line, ctx);
}

void clvit_gemm_tuning_path(const clvit_ctx *ctx, char *buf, size_t size) {
    buf[0] = '\0';
    if (!ctx->cache_dir[0]) return;
    const char *parts[] = {ctx->info.platform_name, ctx->info.name, ctx->info.driver_version};
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        h = clvit_fnv1a(h, parts[i], strlen(parts[i]) + 1);
    snprintf(buf, size, "%s/gemm-tuning-%016llx.txt", ctx->cache_dir, (unsigned long long)h);
}

static const builtin_tuning *builtin_for(const clvit_ctx *ctx) {
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
        const builtin_tuning *b = &builtins[i];
        if (strstr(ctx->info.platform_name, b->platform) && (!b->cpu || ctx->info.is_cpu)) return b;
    }
    return NULL;
}

const char *clvit_gemm_tuning_builtin(const clvit_ctx *ctx) {
    const builtin_tuning *b = builtin_for(ctx);
    return b ? b->text : NULL;
}

clvit_status clvit_gemm_tuning_apply(clvit_ctx *ctx) {
    const char *env = getenv("CLVIT_GEMM_TUNING");
    snprintf(ctx->gemm_tuning, sizeof ctx->gemm_tuning, "CLBlast database");
    if (env && (!strcmp(env, "off") || !strcmp(env, "0"))) return CLVIT_SUCCESS;
    if (env && *env) {
        char *text = clvit_read_file(env, NULL);
        if (!text) return clvit_fail(CLVIT_ERR_IO, "CLVIT_GEMM_TUNING: cannot read '%s'", env);
        clvit_status st = clvit_gemm_tuning_apply_text(ctx, text, env);
        free(text);
        if (st == CLVIT_SUCCESS) snprintf(ctx->gemm_tuning, sizeof ctx->gemm_tuning, "%s", env);
        return st;
    }
    char path[600];
    clvit_gemm_tuning_path(ctx, path, sizeof path);
    char *text = path[0] ? clvit_read_file(path, NULL) : NULL;
    if (text) {
        /* A tuning file in the cache is optional: a damaged one is ignored, as a damaged
         * program binary is, and the built-in table applies. */
        clvit_status st = clvit_gemm_tuning_apply_text(ctx, text, path);
        free(text);
        if (st == CLVIT_SUCCESS) {
            snprintf(ctx->gemm_tuning, sizeof ctx->gemm_tuning, "%s", path);
            return CLVIT_SUCCESS;
        }
    }
    const builtin_tuning *b = builtin_for(ctx);
    if (b) {
        CLVIT_CHECK(clvit_gemm_tuning_apply_text(ctx, b->text, b->what));
        snprintf(ctx->gemm_tuning, sizeof ctx->gemm_tuning, "%s", b->what);
    }
    return CLVIT_SUCCESS;
}

const char *clvit_ctx_gemm_tuning(const clvit_ctx *ctx) {
    return ctx ? ctx->gemm_tuning : "";
}
