/*
 * arena.h - a set of tensors that may not fit one allocation: parameters, gradients, Adam's
 * moments, activations. Tensors are placed one after another into buffers ("chunks") of at
 * most the device's largest allocation (CL_DEVICE_MAX_MEM_ALLOC_SIZE, or CLVIT_MAX_ALLOC),
 * and never more than 2^31 - 1 floats, so a 32-bit offset inside any dependency (CLBlast
 * passes some as int) never overflows. A tensor never straddles two chunks.
 *
 * A placed tensor is named by an arena offset: the chunk index in the high bits and the
 * offset in floats inside the chunk in the low CLVIT_ARENA_SHIFT bits. clvit_at() turns it
 * into a tensor handle once the chunks exist. Placement has no gaps, so the tensors also have
 * "dense" offsets, their position in one flat host array (the state_dict order for the
 * parameters): chunk c holds dense floats [first[c], first[c] + floats[c]). The dense helpers
 * read, write and fill such ranges across chunk boundaries.
 */
#ifndef CLVIT_ARENA_H
#define CLVIT_ARENA_H

#include "device.h"

#define CLVIT_ARENA_SHIFT 40
#define CLVIT_ARENA_MAX_CHUNK_FLOATS ((size_t)0x7fffffff)

typedef struct clvit_arena {
    char what[32]; /* "parameters", "activations", ... for messages and the buffer plan */
    size_t cap;    /* most floats per chunk */
    int n;         /* chunks */
    size_t *floats, *first;
    cl_mem *bufs; /* NULL until clvit_arena_alloc */
    size_t total; /* floats over all chunks */
    int failed;   /* a placement did not fit (reported by clvit_arena_alloc) */
    size_t failed_floats;
} clvit_arena;

/* The chunk capacity for this device: its largest allocation in floats, at most 2^31 - 1. */
size_t clvit_arena_cap(const clvit_ctx *ctx);
/* Starts a plan (releases buffers and the previous plan). */
void clvit_arena_begin(clvit_arena *a, const char *what, size_t cap);
/* Places `floats` and returns the arena offset; a tensor larger than the capacity marks the
 * plan failed (clvit_arena_alloc reports it) and returns 0. */
size_t clvit_arena_place(clvit_arena *a, size_t floats);
/* The next `floats` placed must share one buffer (a kernel takes them as one buffer with
 * several offsets): starts a new chunk when they would not fit in the current one. */
void clvit_arena_keep_together(clvit_arena *a, size_t floats);
/* Allocates the planned chunks. */
clvit_status clvit_arena_alloc(clvit_ctx *ctx, clvit_arena *a);
/* Plans and allocates `dst` with the chunk layout of `src` (gradients and moments follow the
 * parameters, so the optimizer runs one launch per chunk). */
clvit_status clvit_arena_like(clvit_ctx *ctx, clvit_arena *dst, const clvit_arena *src,
                              const char *what);
void clvit_arena_release(clvit_arena *a);

/* The tensor at arena offset `aoff`. */
static inline clvit_tensor clvit_at(const clvit_arena *a, size_t aoff) {
    return CLVIT_T(a->bufs[aoff >> CLVIT_ARENA_SHIFT],
                   aoff & (((size_t)1 << CLVIT_ARENA_SHIFT) - 1));
}
/* The arena offset of dense offset `dense` (which must be inside the arena). */
size_t clvit_arena_from_dense(const clvit_arena *a, size_t dense);

/* Dense ranges, split at chunk boundaries. */
clvit_status clvit_arena_write(clvit_ctx *ctx, clvit_arena *a, size_t dense, const float *src,
                               size_t n);
clvit_status clvit_arena_read(clvit_ctx *ctx, const clvit_arena *a, size_t dense, float *dst,
                              size_t n);
/* A non-blocking read of a dense range: *done (set, or NULL when n is 0) completes once every
 * piece is in dst (the queue is in order: the event of the last piece); the caller waits for it
 * before touching dst, and releases it. */
clvit_status clvit_arena_read_async(clvit_ctx *ctx, const clvit_arena *a, size_t dense, float *dst,
                                    size_t n, cl_event *done);
clvit_status clvit_arena_fill(clvit_ctx *ctx, clvit_arena *a, float value);

/* "3 buffers, 12.5 MiB, largest 8.0 MiB" into buf. */
void clvit_arena_describe(const clvit_arena *a, char *buf, size_t size);

#endif
