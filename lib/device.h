/*
 * device.h - internal OpenCL plumbing shared by the layer files: the context structure,
 * kernel lookup through the program cache, launches with optional profiling, tensor handles
 * (a buffer and a 64-bit offset in floats) and the GEMM entry points (lib/gemm.c, whose kernel
 * per shape the plan in lib/gemm_plan.c picks). All matrices are row-major.
 */
#ifndef CLVIT_DEVICE_H
#define CLVIT_DEVICE_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include "host/common.h"

/* Records an OpenCL failure with its location and the failing expression, then returns. */
#define CLVIT_CHECK_CL(expr)                                                                       \
    do {                                                                                           \
        cl_int clvit_cl_e_ = (expr);                                                               \
        if (clvit_cl_e_ != CL_SUCCESS)                                                             \
            return clvit_fail(clvit_cl_e_, "%s failed: %s (%d)", #expr,                            \
                              clvit_status_string(clvit_cl_e_), clvit_cl_e_);                      \
    } while (0)

/* Fault injection (runtime.c): CLVIT_FAULT=KIND:N fails the Nth operation of that kind on a
 * context the way the driver would, through the caller's normal error path. Every context
 * counts its operations per kind whether or not a fault is set. */
typedef enum {
    CLVIT_FAULT_ALLOC,   /* buffer creation: CL_MEM_OBJECT_ALLOCATION_FAILURE */
    CLVIT_FAULT_ENQUEUE, /* kernel enqueue or CLBlast GEMM call: CL_OUT_OF_RESOURCES */
    CLVIT_FAULT_WRITE,   /* host-to-device write, fill or copy: CL_OUT_OF_RESOURCES */
    CLVIT_FAULT_READ,    /* device-to-host read: CL_OUT_OF_RESOURCES */
    CLVIT_FAULT_MAP,     /* map or unmap of a staging buffer: CL_MAP_FAILURE */
    CLVIT_FAULT_WAIT,    /* a wait for the device (clFinish, clWaitForEvents), where a failed
                            command shows: CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST */
    CLVIT_FAULT_KINDS
} clvit_fault_kind;

typedef struct clvit_program {
    char file[64];
    char options[256];
    cl_program program;
    cl_kernel *kernels; /* created on demand, names in kernel_names */
    char (*kernel_names)[64];
    int num_kernels;
} clvit_program;

/* One profiled launch: label, kernel or GEMM, start and end in ns. */
typedef struct clvit_prof_event {
    const char *label; /* static string */
    int is_gemm;
    double flops;
    cl_event event;
} clvit_prof_event;

struct clvit_ctx {
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    int owns_context, owns_queue; /* 0 for the caller's objects (clvit_ctx_create_from_cl) */
    clvit_device_info info;
    clvit_program *programs;
    int num_programs;
    char cache_dir[512];   /* "" when the disk cache is disabled */
    int cache_binaries;    /* program binaries go to cache_dir (program.c) */
    char gemm_tuning[600]; /* where CLBlast's parameters came from (gemm_tune.c) */
    cl_mem gemm_temp;      /* CLBlast's scratch for indirect GEMMs (gemm.c), grown on demand */
    size_t gemm_temp_bytes;
    cl_mem gemm_pack; /* op(B) packed as (K, N) for the pack_ candidates (gemm.c) */
    size_t gemm_pack_floats;
    cl_mem scratch; /* small per-context scratch for reductions (clvit_scratch) */
    size_t scratch_floats;
    int row_mode; /* CLVIT_ROW_KERNELS: 0 by device type, 1 work-group, 2 work-item */
    struct clvit_gemm_plan *plan; /* which kernel runs each GEMM shape (gemm_plan.c) */
    /* build statistics, for the bench tool */
    double build_seconds;
    int builds_compiled, builds_from_disk;
    /* profiling: when enabled, launches keep their events */
    int profiling;
    clvit_prof_event *prof;
    int num_prof, cap_prof;
    /* fault injection (CLVIT_FAULT): operations so far per kind, and the one that fails */
    uint64_t fault_count[CLVIT_FAULT_KINDS];
    int fault_kind; /* -1: none */
    uint64_t fault_at;
    int fault_report; /* CLVIT_FAULT=count: the counts go to stderr when the context is freed */
};

/* Sets the fault to inject from a CLVIT_FAULT value and zeroes the counts: NULL, "" or "off"
 * none; "count" none, and the counts are printed when the context is freed; "KIND:N" with KIND
 * alloc, enqueue, write, read, map or wait and N >= 1. Anything else is an error. */
clvit_status clvit_fault_set(clvit_ctx *ctx, const char *spec);
/* Counts one operation of `kind` that is about to run. When it is the one CLVIT_FAULT names,
 * records "injected fault (CLVIT_FAULT=KIND:N): <what> failed with <code>" (what printf-style,
 * formatted only then) and returns the driver's error code for that kind: the caller skips the
 * call and returns the status. Else CLVIT_SUCCESS. */
clvit_status clvit_fault(clvit_ctx *ctx, clvit_fault_kind kind, const char *what, ...)
    CLVIT_PRINTF(3, 4);
/* Operations of `kind` counted on ctx so far. */
uint64_t clvit_fault_count(const clvit_ctx *ctx, clvit_fault_kind kind);
/* Releases the scratch buffers the context grows on demand (reductions, packed GEMM operands,
 * CLBlast's), so that the next work allocates them again as in a new context. */
void clvit_ctx_release_scratch(clvit_ctx *ctx);
/* clEnqueueNDRangeKernel of k over `dims` dimensions, through the fault hook, with a profiling
 * slot (label, is_gemm, flops) when profiling is on. A failure names label, the kernel and the
 * sizes. Every kernel launch of the library goes through here. */
clvit_status clvit_enqueue_kernel(clvit_ctx *ctx, cl_kernel k, const char *label, cl_uint dims,
                                  const size_t *global, const size_t *local, int is_gemm,
                                  double flops);

/* Kernel `name` from cl/<file> built with `options` (NULL = ""). Cached. */
clvit_status clvit_kernel(clvit_ctx *ctx, const char *file, const char *name, const char *options,
                          cl_kernel *out);
/* Monotonic clock in seconds (program.c). */
double clvit_now_seconds(void);
/* FNV-1a hash of cl/<file>'s source as the library would build it (0 if unreadable). */
uint64_t clvit_kernel_file_hash(const char *file);
/* Sets one kernel argument; records kernel and index on failure. */
clvit_status clvit_arg(cl_kernel k, cl_uint index, size_t size, const void *value);
/* Sets arguments 0..n-1 from n (size, pointer) pairs: clvit_args(k, 2, CLVIT_A(x), CLVIT_A(n)). */
clvit_status clvit_args(cl_kernel k, int n, ...);
#define CLVIT_A(v) sizeof(v), (const void *)&(v)
/* The most work-items a work-group of k may have on the context's device: the smaller of
 * the device's max_work_group_size (CLVIT_MAX_WORK_GROUP's emulated value included) and k's
 * CL_KERNEL_WORK_GROUP_SIZE, or k's reqd_work_group_size when that is larger and within the
 * device's; at least 1. */
size_t clvit_local_limit(clvit_ctx *ctx, cl_kernel k);
/* Whether `bytes` more of local memory fit beside what k already uses (its __local arrays
 * and local arguments set so far, CL_KERNEL_LOCAL_MEM_SIZE) in the device's local memory;
 * 0 when the query fails. */
int clvit_local_mem_fits(clvit_ctx *ctx, cl_kernel k, uint64_t bytes);
/* 1-D launch of `global` work-items rounded up to a multiple of `local`, so the kernel must
 * ignore ids >= its n. The local size is always explicit: local 0 picks the smallest power of
 * two >= global, at most 64 and at most clvit_local_limit; a local above clvit_local_limit
 * fails with CL_INVALID_WORK_GROUP_SIZE and a message naming label, the size and the limit. */
clvit_status clvit_launch(clvit_ctx *ctx, cl_kernel k, const char *label, size_t global,
                          size_t local);
/* 3-D launch over (g0, g1, g2) work-items with explicit work-groups of (l0, l1, 1): powers of
 * two, l0 * l1 at most 64 and at most clvit_local_limit, shared between dimensions 0 and 1
 * (8 x 8 when both are large). g0 and g1 are rounded up to multiples of l0 and l1, so the
 * kernel must ignore ids past them; g2 is never padded. */
clvit_status clvit_launch3(clvit_ctx *ctx, cl_kernel k, const char *label, size_t g0, size_t g1,
                           size_t g2);
/* Work-group size for a row kernel over rows of `len` elements, written as "-DWGS=n" into
 * opts. CPUs (PoCL): 16, one SIMD vector of floats, since the runtime vectorises a work-group
 * across lanes and each reduction step is then a single vector operation (measured 4-6x
 * faster than 64 for LayerNorm on 64-wide rows). GPUs: the smallest power of two >= len, at
 * most 64, so short rows leave few work-items idle; also on a CPU when CLVIT_ROW_KERNELS=group
 * forces the GPU form, so tests run the GPU sizes. Either is halved until it is within the
 * device's max_work_group_size (emulated included); the kernel's own limit is only known once
 * it is built, and clvit_launch_rows checks it. */
size_t clvit_row_wgs(const clvit_ctx *ctx, int len, char *opts, size_t size);
/* "-cl-std=CL1.2" for a device whose CL_DEVICE_OPENCL_C_VERSION (opencl_c_version) is
 * OpenCL C 1.2 or later, else "" (1.0 and 1.1 compilers then use their own version; an
 * unreadable string gets "" too). The kernels are written to OpenCL C 1.2. */
const char *clvit_cl_std_option(const char *opencl_c_version);
/* "OpenCL C 1.2 ..." -> 102, "OpenCL C 3.0" -> 300: major * 100 + minor; 0 when the string
 * does not start with "OpenCL C " and a version. */
int clvit_opencl_c_version(const char *opencl_c_version);
/* Parses a byte count: digits, optionally followed by K, M or G (any case; powers of 1024).
 * 1 and *bytes on success; 0 for anything else, 0 itself and overflow. */
int clvit_parse_size(const char *s, uint64_t *bytes);
/* Whether row kernels (LayerNorm) run one work-item per row: on CPUs, or as
 * CLVIT_ROW_KERNELS=item|group forces (so tests can run both forms on one device). */
int clvit_row_kernels_per_item(const clvit_ctx *ctx);
/* A context-owned buffer of *have floats, replaced by one of `floats` when smaller (contents
 * are not kept). */
clvit_status clvit_grow_buffer(clvit_ctx *ctx, cl_mem *buf, size_t *have, size_t floats);
/* Grows ctx->scratch to at least `floats` floats. */
clvit_status clvit_scratch(clvit_ctx *ctx, size_t floats);
/* One work-group of `local` items per row, `rows` groups. A local above clvit_local_limit
 * fails as clvit_launch's does. */
clvit_status clvit_launch_rows(clvit_ctx *ctx, cl_kernel k, const char *label, size_t rows,
                               size_t local);
/* Releases the recorded profiling events (ctx->prof) and empties the list. */
void clvit_prof_reset(clvit_ctx *ctx);
/* The disk-cache directory from CLVIT_CACHE_DIR / XDG_CACHE_HOME / HOME ("" = disabled). */
const char *clvit_cache_dir_default(char *buf, size_t size);
/* Pointer to an event slot for a profiled launch, or NULL when profiling is off. */
cl_event *clvit_prof_slot(clvit_ctx *ctx, const char *label, int is_gemm, double flops);

/* A tensor handle: a buffer and an offset into it, in floats (64-bit). */
typedef struct clvit_tensor {
    cl_mem buf;
    size_t off;
} clvit_tensor;
#define CLVIT_T(b, o) ((clvit_tensor){(b), (o)})

/* Epilogues fused into a GEMM (cl/gemm.cl, EPI): v = alpha * op(A) op(B) + beta * C, then */
typedef enum {
    CLVIT_EPI_NONE,     /* C = v */
    CLVIT_EPI_BIAS,     /* C = v + b */
    CLVIT_EPI_RESIDUAL, /* C = v + b + aux (aux: the residual input) */
    CLVIT_EPI_GELU,     /* aux = v + b (pre-activation, kept for backward), C = gelu(aux) */
    CLVIT_EPI_TANH,     /* aux = v + b, C = tanh(aux) */
    CLVIT_EPI_DGELU,    /* C = v * gelu'(aux), no bias: a GELU's backward folded into the
                           product that computes its output gradient */
} clvit_epilogue;

/* One matrix product, row-major: C (M, N) = epi(alpha * op(A) op(B) + beta * C).
 * op(A) is (M, K): A is (M, K) with ta == 0, (K, M) with ta == 1; likewise op(B) (K, N).
 * batch > 1: `batch` products, A, B, C (and aux) advanced by sa, sb, sc floats each. */
typedef struct clvit_gemm_op {
    int ta, tb;
    size_t m, n, k;
    float alpha, beta;
    clvit_tensor a, b, c;
    size_t lda, ldb, ldc;
    size_t batch, sa, sb, sc;
    clvit_epilogue epi;
    clvit_tensor bias; /* (N), EPI >= BIAS */
    clvit_tensor aux;  /* (M, N) with row stride ldaux: residual in, or pre-activation out */
    size_t ldaux;
    clvit_tensor rowsum; /* (M) when set: alpha * sum_k op(A)[m, k] + beta * rowsum; needs
                            ta == 1 and one batch (dW = dy^T x, with db = colsum(dy) here) */
} clvit_gemm_op;

/* Runs op with the kernel the device's GEMM plan names for its shape (lib/gemm.c), timing
 * the candidates first when the shape is new (lib/gemm_plan.c). */
clvit_status clvit_gemm_run(clvit_ctx *ctx, const char *label, const clvit_gemm_op *op);

/* The LayerNorm that clvit_gemm_ln applies to C's rows: out (M, N) with row stride ldout,
 * mean and rstd (M), weight and bias (N) in one buffer, eps. */
typedef struct clvit_ln_out {
    clvit_tensor out, mean, rstd, w, b;
    size_t ldout;
    float eps;
} clvit_ln_out;
/* Whether gemm_ln (cl/gemm.cl) can run op: x W^T (ta 0, tb 1) with the residual epilogue,
 * alpha 1, beta 0, one batch, N <= CLVIT_GEMM_LN_NMAX. */
#define CLVIT_GEMM_LN_NMAX 256
int clvit_gemm_ln_fits(const clvit_gemm_op *op);
/* op (CLVIT_EPI_RESIDUAL) and the LayerNorm of its output rows: W packed as W^T (the transpose
 * kernel), then one launch of gemm_ln. */
clvit_status clvit_gemm_ln(clvit_ctx *ctx, const char *label, const clvit_gemm_op *op,
                           const clvit_ln_out *ln);

/* C(M,N) = alpha * op(A) op(B) + beta * C, row-major, offsets in floats. */
clvit_status clvit_gemm(clvit_ctx *ctx, const char *label, int trans_a, int trans_b, size_t m,
                        size_t n, size_t k, float alpha, cl_mem a, size_t a_off, size_t lda,
                        cl_mem b, size_t b_off, size_t ldb, float beta, cl_mem c, size_t c_off,
                        size_t ldc);
clvit_status clvit_gemm_batched(clvit_ctx *ctx, const char *label, int trans_a, int trans_b,
                                size_t m, size_t n, size_t k, float alpha, cl_mem a, size_t a_off,
                                size_t lda, size_t a_stride, cl_mem b, size_t b_off, size_t ldb,
                                size_t b_stride, float beta, cl_mem c, size_t c_off, size_t ldc,
                                size_t c_stride, size_t batch);

/* CLBlast parameters for the context's device (gemm_tune.c): CLVIT_GEMM_TUNING, the
 * device's tuning file in the cache, the built-in table, else CLBlast's database. */
clvit_status clvit_gemm_tuning_apply(clvit_ctx *ctx);
/* clvit_gemm_tuning_apply_text, clvit_gemm_tuning_builtin and clvit_gemm_tuning_path are
 * public (clvit.h). The text handling of clvit_gemm_tuning_apply_text, without a device: each
 * non-comment line "Kernel NAME=VALUE ..." is split and handed to fn (kernel, n >= 1 parameter
 * names and whole-number values, origin and the 1-based line number); the first error, the parser's
 * or fn's, stops it. */
typedef clvit_status (*clvit_gemm_tuning_line_fn)(void *user, const char *kernel,
                                                  const char **names, const size_t *values,
                                                  size_t n, const char *origin, int lineno);
clvit_status clvit_gemm_tuning_parse(const char *text, const char *origin,
                                     clvit_gemm_tuning_line_fn fn, void *user);
/* Device buffers. */
clvit_status clvit_buffer(clvit_ctx *ctx, size_t floats, cl_mem *out);
/* Counts a buffer created outside clvit_buffer (clvit_device_memory_in_use) until the driver
 * destroys it. */
void clvit_track_buffer(cl_mem mem, size_t bytes);
clvit_status clvit_write(clvit_ctx *ctx, cl_mem buf, size_t off, const float *src, size_t n);
clvit_status clvit_read(clvit_ctx *ctx, cl_mem buf, size_t off, float *dst, size_t n);
clvit_status clvit_fill(clvit_ctx *ctx, cl_mem buf, size_t off, float value, size_t n);

#endif
