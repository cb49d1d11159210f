/*
 * arena.c - tensors placed into as many buffers as the device's allocation limit takes
 * (see arena.h).
 */
#include "arena.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "12.5 MiB", "48.0 KiB", "3 bytes" */
static void fmt_bytes(double bytes, char *buf, size_t size) {
    if (bytes >= 1073741824.0)
        snprintf(buf, size, "%.2f GiB", bytes / 1073741824.0);
    else if (bytes >= 1048576.0)
        snprintf(buf, size, "%.1f MiB", bytes / 1048576.0);
    else if (bytes >= 1024.0)
        snprintf(buf, size, "%.1f KiB", bytes / 1024.0);
    else
        snprintf(buf, size, "%.0f bytes", bytes);
}

size_t clvit_arena_cap(const clvit_ctx *ctx) {
    size_t cap = (size_t)(ctx->info.max_alloc_bytes / sizeof(float));
    if (cap == 0)
        cap = (size_t)(ctx->info.global_mem_bytes / 4 / sizeof(float)); /* the minimum
                                                                           the spec
                                                                           allows */
    if (cap == 0 || cap > CLVIT_ARENA_MAX_CHUNK_FLOATS) cap = CLVIT_ARENA_MAX_CHUNK_FLOATS;
    return cap;
}

void clvit_arena_release(clvit_arena *a) {
    for (int i = 0; a->bufs && i < a->n; i++)
        if (a->bufs[i]) clReleaseMemObject(a->bufs[i]);
    free(a->bufs);
    free(a->floats);
    free(a->first);
    a->bufs = NULL;
    a->floats = a->first = NULL;
    a->n = 0;
    a->total = 0;
}

void clvit_arena_begin(clvit_arena *a, const char *what, size_t cap) {
    clvit_arena_release(a);
    snprintf(a->what, sizeof a->what, "%s", what);
    a->cap = cap ? cap : 1;
    a->failed = 0;
    a->failed_floats = 0;
}

/* Appends an empty chunk; 0 on allocation failure (then the plan is marked failed). */
static int new_chunk(clvit_arena *a) {
    size_t *fl = realloc(a->floats, (size_t)(a->n + 1) * sizeof *fl);
    if (fl) a->floats = fl;
    size_t *fi = realloc(a->first, (size_t)(a->n + 1) * sizeof *fi);
    if (fi) a->first = fi;
    if (!fl || !fi) {
        a->failed = 2;
        return 0;
    }
    a->floats[a->n] = 0;
    a->first[a->n] = a->total;
    a->n++;
    return 1;
}

size_t clvit_arena_place(clvit_arena *a, size_t floats) {
    if (floats > a->cap) {
        if (!a->failed) {
            a->failed = 1;
            a->failed_floats = floats;
        }
        return 0;
    }
    if (a->n == 0 || a->floats[a->n - 1] + floats > a->cap)
        if (!new_chunk(a)) return 0;
    const size_t c = (size_t)(a->n - 1);
    const size_t off = a->floats[c];
    a->floats[c] += floats;
    a->total += floats;
    return (c << CLVIT_ARENA_SHIFT) | off;
}

void clvit_arena_keep_together(clvit_arena *a, size_t floats) {
    if (floats > a->cap) {
        if (!a->failed) {
            a->failed = 1;
            a->failed_floats = floats;
        }
        return;
    }
    if (a->n > 0 && a->floats[a->n - 1] + floats > a->cap) new_chunk(a);
}

clvit_status clvit_arena_alloc(clvit_ctx *ctx, clvit_arena *a) {
    if (a->failed == 2) return clvit_fail(CLVIT_ERR_NOMEM, "%s: buffer plan", a->what);
    if (a->failed) {
        char need[32], cap[32];
        fmt_bytes(a->failed_floats * 4.0, need, sizeof need);
        fmt_bytes(a->cap * 4.0, cap, sizeof cap);
        return clvit_fail(CL_INVALID_BUFFER_SIZE,
                          "%s: one tensor (or a group one kernel reads) needs %s, more than the "
                          "device's largest allocation (%s); use a smaller batch or another device",
                          a->what, need, cap);
    }
    if (a->n == 0 && !new_chunk(a)) return clvit_fail(CLVIT_ERR_NOMEM, "%s: buffer plan", a->what);
    a->bufs = calloc((size_t)a->n, sizeof *a->bufs);
    if (!a->bufs) return clvit_fail(CLVIT_ERR_NOMEM, "%s: buffer list", a->what);
    for (int i = 0; i < a->n; i++) {
        clvit_status st = clvit_buffer(ctx, a->floats[i] ? a->floats[i] : 1, &a->bufs[i]);
        if (st) return st;
    }
    return CLVIT_SUCCESS;
}

clvit_status clvit_arena_like(clvit_ctx *ctx, clvit_arena *dst, const clvit_arena *src,
                              const char *what) {
    clvit_arena_begin(dst, what, src->cap);
    for (int i = 0; i < src->n; i++) {
        if (!new_chunk(dst)) break;
        dst->floats[i] = src->floats[i];
        dst->total += src->floats[i];
    }
    return clvit_arena_alloc(ctx, dst);
}

/* The chunk holding dense offset d (the last one when d is the end). */
static int chunk_of(const clvit_arena *a, size_t d) {
    int lo = 0, hi = a->n - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (a->first[mid] <= d)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

size_t clvit_arena_from_dense(const clvit_arena *a, size_t dense) {
    const int c = chunk_of(a, dense);
    return ((size_t)c << CLVIT_ARENA_SHIFT) | (dense - a->first[c]);
}

/* Calls fn on each chunk piece of the dense range [dense, dense + n). */
#define FOR_PIECES(a, dense, n, body)                                                              \
    for (size_t done_ = 0; done_ < (n);) {                                                         \
        const int c_ = chunk_of((a), (dense) + done_);                                             \
        const size_t in_ = (dense) + done_ - (a)->first[c_];                                       \
        size_t len_ = (a)->floats[c_] - in_;                                                       \
        if (len_ > (n)-done_) len_ = (n)-done_;                                                    \
        if (len_ == 0) return clvit_fail(CLVIT_ERR_INVALID_ARG, "%s: range outside", (a)->what);   \
        body;                                                                                      \
        done_ += len_;                                                                             \
    }

clvit_status clvit_arena_write(clvit_ctx *ctx, clvit_arena *a, size_t dense, const float *src,
                               size_t n) {
    FOR_PIECES(a, dense, n, CLVIT_CHECK(clvit_write(ctx, a->bufs[c_], in_, src + done_, len_)))
    return CLVIT_SUCCESS;
}

clvit_status clvit_arena_read(clvit_ctx *ctx, const clvit_arena *a, size_t dense, float *dst,
                              size_t n) {
    FOR_PIECES(a, dense, n, CLVIT_CHECK(clvit_read(ctx, a->bufs[c_], in_, dst + done_, len_)))
    return CLVIT_SUCCESS;
}

clvit_status clvit_arena_read_async(clvit_ctx *ctx, const clvit_arena *a, size_t dense, float *dst,
                                    size_t n, cl_event *done) {
    *done = NULL;
    FOR_PIECES(a, dense, n, {
        if (*done) clReleaseEvent(*done);
        *done = NULL;
        CLVIT_CHECK(clvit_fault(ctx, CLVIT_FAULT_READ, "clEnqueueReadBuffer(gradients)"));
        CLVIT_CHECK_CL(clEnqueueReadBuffer(ctx->queue, a->bufs[c_], CL_FALSE, in_ * sizeof(float),
                                           len_ * sizeof(float), dst + done_, 0, NULL, done));
    })
    return CLVIT_SUCCESS;
}

clvit_status clvit_arena_fill(clvit_ctx *ctx, clvit_arena *a, float value) {
    for (int i = 0; i < a->n; i++)
        if (a->floats[i]) CLVIT_CHECK(clvit_fill(ctx, a->bufs[i], 0, value, a->floats[i]));
    return CLVIT_SUCCESS;
}

void clvit_arena_describe(const clvit_arena *a, char *buf, size_t size) {
    size_t largest = 0;
    for (int i = 0; i < a->n; i++)
        if (a->floats[i] > largest) largest = a->floats[i];
    char total[32], big[32];
    fmt_bytes(a->total * 4.0, total, sizeof total);
    fmt_bytes(largest * 4.0, big, sizeof big);
    snprintf(buf, size, "%d buffer%s, %s, largest %s", a->n, a->n == 1 ? "" : "s", total, big);
}
