/*
 * clvit.h - public C API of clvit: Vision Transformers on any OpenCL device.
 *
 * Layout convention, everywhere in clvit:
 *   - every tensor is row-major (C order, CLBlastLayoutRowMajor) and batch-first;
 *   - images are NCHW float32: (B, C, H, W), already normalised;
 *   - token activations are (B, N, D) with N = tokens (class [, dist], patches), D = embed dim;
 *   - Linear weights are stored as PyTorch does, (out_features, in_features).
 *
 * Every function returns a clvit_status: 0 is success, negative OpenCL error codes pass
 * through unchanged, clvit's own codes are in [-2099, -2000]. clvit_status_string() names a
 * code, clvit_last_error() gives the detail of the most recent failure on this thread.
 * The library never exits or aborts on bad input.
 */
#ifndef CLVIT_H
#define CLVIT_H

#include <stddef.h>
#include <stdint.h>

/* OpenCL is part of the interface (cl_mem, cl_context...): clvit's kernels are OpenCL C 1.2,
 * and the headers' 1.2 API is what clvit uses unless the includer asked for another. */
#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Everything declared below is the library's interface: the shared library is built with
 * -fvisibility=hidden and exports exactly the functions this header declares. */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/* ---------------------------------------------------------------- version
 * The version is written here, once: CMakeLists.txt reads these three lines for
 * project(VERSION), the shared library's SOVERSION (the major), clvitConfigVersion.cmake and
 * clvit.pc; the GEMM plan files are keyed by CLVIT_VERSION. */
#define CLVIT_VERSION_MAJOR 1
#define CLVIT_VERSION_MINOR 0
#define CLVIT_VERSION_PATCH 0
#define CLVIT_VERSION_STR1_(x) #x
#define CLVIT_VERSION_STR_(x) CLVIT_VERSION_STR1_(x)
/* "MAJOR.MINOR.PATCH" of the header a program was compiled with. */
#define CLVIT_VERSION                                                                              \
    CLVIT_VERSION_STR_(CLVIT_VERSION_MAJOR)                                                        \
    "." CLVIT_VERSION_STR_(CLVIT_VERSION_MINOR) "." CLVIT_VERSION_STR_(CLVIT_VERSION_PATCH)
/* "MAJOR.MINOR.PATCH" of the library that runs (with a shared library, the one loaded, which
 * may be newer than the header the program was compiled with). */
const char *clvit_version(void);

typedef int clvit_status;

enum {
    CLVIT_SUCCESS = 0,
    CLVIT_ERR_INVALID_ARG = -2000, /* a bad argument from the caller */
    CLVIT_ERR_IO = -2001,          /* a file could not be opened, read or written */
    CLVIT_ERR_FORMAT = -2002,      /* a file is malformed or truncated */
    CLVIT_ERR_NOMEM = -2003,       /* host allocation failed */
    CLVIT_ERR_SHAPE = -2004,       /* sizes that do not fit together */
    CLVIT_ERR_NOT_FOUND = -2005,   /* a named thing (preset, tensor, device) does not exist */
    CLVIT_ERR_BUILD = -2006,       /* an OpenCL program failed to build (log in last error) */
    CLVIT_ERR_CLBLAST = -2007,     /* CLBlast returned an error */
    CLVIT_ERR_NO_DEVICE = -2008,   /* no OpenCL device matches */
    CLVIT_ERR_UNSUPPORTED = -2009, /* valid but not supported (dtype, option) */
    CLVIT_ERR_INTERRUPTED = -2010, /* stopped on request (Ctrl-C) */
    CLVIT_ERR_DIVERGED = -2011,    /* training produced a NaN or Inf loss or gradient norm */
    CLVIT_ERR_REPLICAS = -2012,    /* data-parallel replicas or ranks hold different weights,
                                      or another rank failed (clvit_dist_agree) */
};

const char *clvit_status_string(clvit_status status);
/* Detail of the last failure on the calling thread ("" when none). */
const char *clvit_last_error(void);

/* ---------------------------------------------------------------- devices */

/* Bits of clvit_device_info.limits_emulated. */
enum {
    CLVIT_EMULATED_MAX_ALLOC = 1,      /* max_alloc_bytes lowered by CLVIT_MAX_ALLOC */
    CLVIT_EMULATED_MAX_WORK_GROUP = 2, /* max_work_group_size lowered by CLVIT_MAX_WORK_GROUP */
};

typedef struct clvit_device_info {
    int platform_index, device_index;
    char platform_name[128], platform_version[128];
    char name[128], vendor[128], driver_version[128], device_version[128], opencl_c_version[128];
    int is_gpu, is_cpu;
    int host_unified_memory; /* CL_DEVICE_HOST_UNIFIED_MEMORY: shares host memory (integrated
                                GPUs, CPUs); 0 for a discrete GPU or when the query fails */
    unsigned compute_units, clock_mhz;
    uint64_t global_mem_bytes, local_mem_bytes, max_alloc_bytes;
    size_t max_work_group_size;
    int fp16, fp64;
    /* Device-limit emulation: CLVIT_MAX_ALLOC=SIZE (bytes, or with a K, M or G suffix, powers
     * of 1024: "64M") and CLVIT_MAX_WORK_GROUP=N lower max_alloc_bytes and
     * max_work_group_size to those values where the device's own are larger, and clvit then
     * behaves as if the device had them. limits_emulated: the CLVIT_EMULATED_* bits of the
     * limits that were lowered (0: the device's own). A malformed value makes
     * clvit_list_devices and clvit_ctx_create fail with CLVIT_ERR_INVALID_ARG. */
    int limits_emulated;
} clvit_device_info;

/* Lists every device of every platform. *infos is malloc'ed; free() it. */
clvit_status clvit_list_devices(clvit_device_info **infos, int *count);

/*
 * The default device among infos[0..n-1], the one clvit uses when neither a device spec nor
 * CLVIT_DEVICE names one. The rule, first by kind:
 *   1. a discrete GPU (a GPU without host-unified memory),
 *   2. an integrated GPU (a GPU with host-unified memory),
 *   3. any other device that is neither GPU nor CPU (an accelerator),
 *   4. a CPU;
 * then, among devices of the same kind, the most compute units x clock (MHz), then the most
 * global memory, then the first listed. Returns -1 when n <= 0.
 */
int clvit_default_device_index(const clvit_device_info *infos, int n);
/* The index in infos[0..n-1] of the device that `device_spec` selects, as clvit_ctx_create
 * chooses (see below), in *index; CLVIT_ERR_NO_DEVICE when the spec matches none. */
clvit_status clvit_select_device(const clvit_device_info *infos, int n, const char *device_spec,
                                 int *index);

/*
 * Context: one OpenCL device, context and in-order profiling queue, plus the program cache.
 * device_spec: "P:D" indices, "gpu", "cpu", or a case-insensitive substring of the device
 * name. NULL or "" means the CLVIT_DEVICE environment variable, else the default device
 * (clvit_default_device_index: discrete GPU, integrated GPU, other accelerator, CPU).
 * "gpu" and "cpu" apply the same rule to the GPUs or the CPUs alone.
 */
typedef struct clvit_ctx clvit_ctx;
clvit_status clvit_ctx_create(clvit_ctx **ctx, const char *device_spec);
void clvit_ctx_free(clvit_ctx *ctx);
const clvit_device_info *clvit_ctx_device(const clvit_ctx *ctx);
/* Where the context's CLBlast GEMM parameters come from: "CLBlast database", a built-in
 * entry such as "built-in (PoCL CPU)", or a tuning file's path (see CLVIT_GEMM_TUNING and
 * `clvit-bench --tune-gemm`). */
const char *clvit_ctx_gemm_tuning(const clvit_ctx *ctx);
/* Blocks until all queued work on the context is done. */
clvit_status clvit_ctx_finish(clvit_ctx *ctx);

/* ---------------------------------------------------------------- models */

typedef enum { CLVIT_POOL_TOKEN = 0, CLVIT_POOL_AVG = 1 } clvit_pool;
typedef enum { CLVIT_POS_LEARNED = 0, CLVIT_POS_SINCOS = 1 } clvit_pos_embed;

typedef struct clvit_config {
    int img_size, patch_size, in_chans, num_classes;
    int embed_dim, depth, num_heads;
    float mlp_ratio;         /* hidden = (int)(embed_dim * mlp_ratio), as the seed */
    int qkv_bias;            /* 1: qkv Linear has a bias */
    float qk_scale;          /* 0: head_dim^-0.5 */
    int representation_size; /* 0: no pre-logits layer; ignored when distilled */
    int distilled;           /* DeiT distillation token and head */
    clvit_pool pool;         /* class token (seed default) or mean of patch tokens */
    clvit_pos_embed pos_embed;
    float drop_rate, attn_drop_rate, drop_path_rate; /* training only */
    float mean[3], std[3];                           /* input normalisation for images */
    float crop_pct;                                  /* resize to img_size/crop_pct, centre crop */
} clvit_config;

/* Fills cfg from a preset name (see clvit_preset_name). */
clvit_status clvit_preset(const char *name, clvit_config *cfg);
/* i-th preset name, NULL past the end. */
const char *clvit_preset_name(int i);
/* Checks a configuration; the message says what is wrong. */
clvit_status clvit_config_validate(const clvit_config *cfg);
/* Parameters and forward FLOPs (multiply-add = 2) per image. */
int64_t clvit_config_num_params(const clvit_config *cfg);
double clvit_config_flops(const clvit_config *cfg);

typedef struct clvit_model clvit_model;

/* A model with freshly initialised weights (the seed's init rules), on the context's device. */
clvit_status clvit_model_create(clvit_ctx *ctx, const clvit_config *cfg, uint64_t seed,
                                clvit_model **model);
/*
 * Loads safetensors weights with timm, torchvision or Hugging Face tensor names (the naming is
 * detected). The architecture comes from the file's __metadata__ when present, else from a
 * Hugging Face config.json beside the file, else from preset (may be NULL), else is inferred
 * from tensor shapes (num_heads: heads_override when > 0, else 12 for width 768, 16 for 1024
 * and 1280, else width / 64, with a note on stderr that the count was assumed).
 */
clvit_status clvit_model_load(clvit_ctx *ctx, const char *path, const char *preset,
                              int heads_override, clvit_model **model);
/* Only the architecture of a weights file, resolved as clvit_model_load does. */
clvit_status clvit_read_config(const char *path, const char *preset, int heads_override,
                               clvit_config *cfg);
/* Writes weights (timm names) and the configuration as metadata; atomic. */
clvit_status clvit_model_save(clvit_model *model, const char *path);
void clvit_model_free(clvit_model *model);
/* Training regularisation: dropout after the position embedding, in the attention projection
 * and the MLP (drop_rate), on the attention probabilities (attn_drop_rate), and drop-path with
 * the seed's linear rule. Inference ignores all three. */
clvit_status clvit_model_set_dropout(clvit_model *model, float drop_rate, float attn_drop_rate,
                                     float drop_path_rate);
/*
 * Fine-tuning: replaces the whole head (pre-logits and classifier, and the distillation
 * head) by a zero-initialised Linear with num_classes outputs, as the ViT paper and the seed
 * describe; every other weight is kept. *model is replaced by the new model.
 */
clvit_status clvit_model_reset_head(clvit_model **model, int num_classes);
const clvit_config *clvit_model_config(const clvit_model *model);

/*
 * images: (B, C, H, W) float32 on the host; logits: (B, num_classes) on the host.
 * For distilled models the logits are the mean of both heads (inference behaviour).
 */
clvit_status clvit_model_forward(clvit_model *model, const float *images, int batch, float *logits);

/* ---------------------------------------------------------------- training */

typedef enum { CLVIT_ADAM = 0, CLVIT_ADAMW = 1 } clvit_optimizer;
typedef enum { CLVIT_LR_CONSTANT = 0, CLVIT_LR_WARMUP_COSINE = 1 } clvit_lr_schedule;

typedef struct clvit_train_config {
    clvit_optimizer optimizer;
    float lr, beta1, beta2, eps;
    float weight_decay;    /* Adam: L2 added to the gradient; AdamW: decoupled */
    float clip_norm;       /* global gradient norm limit, 0 = off */
    float label_smoothing; /* 0 = plain cross-entropy */
    clvit_lr_schedule schedule;
    long warmup_steps, total_steps; /* warm-up is linear from 0; cosine decays to min_lr */
    float min_lr;
    uint64_t seed; /* dropout and drop-path masks */
} clvit_train_config;

/* Adam, lr 1e-3, betas (0.9, 0.999), eps 1e-8, no decay, no clipping, constant lr. */
void clvit_train_config_default(clvit_train_config *tc);

/*
 * A trainer owns, for one model and one largest batch size, everything a step needs:
 * gradients, Adam moments and training activations, allocated once. Loss: mean
 * cross-entropy over the batch (distilled models: mean of the two heads' losses).
 */
typedef struct clvit_trainer clvit_trainer;
clvit_status clvit_trainer_create(clvit_model *model, const clvit_train_config *tc, int max_batch,
                                  clvit_trainer **out);
void clvit_trainer_free(clvit_trainer *t);

typedef struct clvit_step_result {
    double loss;      /* mean over the batch */
    int correct;      /* argmax == label */
    float lr;         /* learning rate used */
    double grad_norm; /* before clipping (computed when clipping is on, else 0) */
} clvit_step_result;

/* One optimisation step on images (B, C, H, W) and labels (B). */
clvit_status clvit_train_step(clvit_trainer *t, const float *images, const int32_t *labels,
                              int batch, clvit_step_result *res);
/* The same step in two halves, so the host can prepare the next batch while the device
 * runs this one: clvit_train_submit copies the batch, enqueues the whole step (upload,
 * forward, loss, backward, clipping, Adam, the reads of its results) and returns without
 * waiting; clvit_train_collect waits for the oldest submitted step and fills res. At most two
 * steps are in flight (a third submit fails until one is collected). A diverged step (a NaN
 * or Inf loss, or gradient norm when clipping) is reported by collect as CLVIT_ERR_DIVERGED,
 * after that step's update was applied, so the parameters are no longer trustworthy: from
 * then on clvit_trainer_save refuses to write. Checkpoints, clvit_train_step and
 * clvit_train_grads first wait for the steps in flight. */
clvit_status clvit_train_submit(clvit_trainer *t, const float *images, const int32_t *labels,
                                int batch);
clvit_status clvit_train_collect(clvit_trainer *t, clvit_step_result *res);
/* Steps submitted and not yet collected (0, 1 or 2). */
int clvit_train_pending(const clvit_trainer *t);
/* The buffers the trainer and model hold, one line per role ("parameters: 2 buffers,
 * 330.2 MiB, largest 256.0 MiB" ...), written into buf. */
void clvit_trainer_buffer_plan(const clvit_trainer *t, char *buf, size_t size);
/* Forward and backward only (gradients left in the trainer, no update), in training mode. */
clvit_status clvit_train_grads(clvit_trainer *t, const float *images, const int32_t *labels,
                               int batch, clvit_step_result *res);
/* Copies the gradients (same order and size as the parameters) to the host. */
clvit_status clvit_trainer_read_grads(clvit_trainer *t, float *host, size_t count);
/* Learning rate at a step under the configured schedule. */
float clvit_trainer_lr(const clvit_trainer *t, long step);
long clvit_trainer_step_count(const clvit_trainer *t);
/* Device bytes held by the model and the trainer (parameters, gradients, moments,
 * activations, scratch). */
size_t clvit_trainer_device_bytes(const clvit_trainer *t);

/*
 * Checkpoints are safetensors: the weights under timm names (so clvit_model_load,
 * `clvit predict` and PyTorch read them), Adam moments as optim.m.<name> / optim.v.<name>,
 * and in the metadata the model configuration, clvit.step and the caller's extra keys
 * (epoch, RNG state...). Written atomically: a temporary file, fsync, rename, fsync of the
 * directory; a failure (disk full, file-size limit) leaves the previous file as it was.
 * Never written from a bad state: the save fails with CLVIT_ERR_DIVERGED when a step in
 * flight or before diverged, or when a parameter or moment holds a NaN or Inf.
 */
clvit_status clvit_trainer_save(clvit_trainer *t, const char *path, const char *const *keys,
                                const char *const *values, int num);
/* Restores the moments and step from a checkpoint written by clvit_trainer_save (the
 * weights are loaded with clvit_model_load). */
clvit_status clvit_trainer_load_state(clvit_trainer *t, const char *path);
/* Whether path can be written the way clvit writes checkpoints and its other files (a
 * temporary file beside it, then a rename), found out before the work that produces its
 * contents, so a long run does not fail at its first save: path is not a directory, and
 * PATH.tmp can be created in its directory (it is created and removed again; path itself is
 * not touched). Fails with CLVIT_ERR_IO naming the reason (missing directory, permission,
 * read-only file system, is a directory). */
clvit_status clvit_atomic_check(const char *path);

/* ---------------------------------------------------------------- OpenCL objects, buffers, GEMM
 * For programs that run OpenCL work of their own beside clvit's on the same device (clvit-bench
 * does): the context's OpenCL objects, float buffers, clvit's GEMM and CLBlast's parameters.
 * A clvit_ctx is not thread-safe: one thread at a time calls functions on it. */

/* The context's OpenCL context, device and command queue (in order). Owned by ctx and valid
 * until clvit_ctx_free (clRetain* one to keep it longer), except those the caller gave to
 * clvit_ctx_create_from_cl, which stay the caller's. Work enqueued on the queue runs in order
 * with clvit's own. */
cl_context clvit_ctx_cl_context(const clvit_ctx *ctx);
cl_device_id clvit_ctx_cl_device(const clvit_ctx *ctx);
cl_command_queue clvit_ctx_cl_queue(const clvit_ctx *ctx);

/* A read-write device buffer of `floats` floats (checked against the device's max_alloc_bytes,
 * CLVIT_MAX_ALLOC included). The caller owns it: clReleaseMemObject. */
clvit_status clvit_buffer_create(clvit_ctx *ctx, size_t floats, cl_mem *buf);
/* Blocking copies of n floats between host memory and buf at `off` floats into it. */
clvit_status clvit_buffer_write(clvit_ctx *ctx, cl_mem buf, size_t off, const float *src, size_t n);
clvit_status clvit_buffer_read(clvit_ctx *ctx, cl_mem buf, size_t off, float *dst, size_t n);
/* Enqueues setting n floats of buf from `off` to value; clvit_ctx_finish waits for it. */
clvit_status clvit_buffer_fill(clvit_ctx *ctx, cl_mem buf, size_t off, float value, size_t n);

/*
 * SGEMM, row-major, offsets and leading dimensions in floats:
 *   C (m, n) = alpha * op(A) op(B) + beta * C,  op(A) (m, k), op(B) (k, n),
 * A is (m, k) (lda >= k) when trans_a == 0, (k, m) (lda >= m) when 1; likewise B. Enqueued, not
 * waited for (clvit_ctx_finish). It runs the kernel that the device's GEMM plan names for the
 * shape, timing the candidates (clvit's kernels and CLBlast) the first time a shape runs, as
 * the model's own products do (CLVIT_GEMM_TUNE). The batched form runs `batch` products with
 * A, B and C advanced by a_stride, b_stride, c_stride floats each.
 */
clvit_status clvit_sgemm(clvit_ctx *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                         float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off,
                         size_t ldb, float beta, cl_mem c, size_t c_off, size_t ldc);
clvit_status clvit_sgemm_batched(clvit_ctx *ctx, int trans_a, int trans_b, size_t m, size_t n,
                                 size_t k, float alpha, cl_mem a, size_t a_off, size_t lda,
                                 size_t a_stride, cl_mem b, size_t b_off, size_t ldb,
                                 size_t b_stride, float beta, cl_mem c, size_t c_off, size_t ldc,
                                 size_t c_stride, size_t batch);

/* CLBlast's GEMM kernel parameters, when the plan runs CLBlast (see clvit_ctx_gemm_tuning).
 * clvit_gemm_tuning_apply_text applies tuning text, lines "Kernel NAME=VALUE ..." and '#'
 * comments (the format of `clvit-bench --tune-gemm`'s files; origin names the text in error
 * messages). CLBlast keeps an override for the device, in every context, for the rest of the
 * process; it cannot be undone. */
clvit_status clvit_gemm_tuning_apply_text(clvit_ctx *ctx, const char *text, const char *origin);
/* clvit's built-in tuning text for the context's device, NULL when it has none. */
const char *clvit_gemm_tuning_builtin(const clvit_ctx *ctx);
/* The device's tuning file in the cache directory, which clvit reads when it exists ("" when
 * the cache is disabled). */
void clvit_gemm_tuning_path(const clvit_ctx *ctx, char *buf, size_t size);

/* ---------------------------------------------------------------- profiling, build statistics */

/* Program builds on a context so far (kernel compile time, kept apart from run time). */
typedef struct clvit_build_stats {
    double seconds; /* wall time spent getting programs: compiling or loading from disk */
    int compiled;   /* programs compiled from source */
    int from_disk;  /* programs loaded from the disk cache */
} clvit_build_stats;
void clvit_ctx_build_stats(const clvit_ctx *ctx, clvit_build_stats *stats);

/* One profiled launch: a kernel of clvit's or a GEMM (a GEMM run by CLBlast: its last kernel;
 * CLBlast's helper kernels before it run in the gap since the previous record). */
typedef struct clvit_profile_record {
    const char *label;       /* what ran: "qkv", "layernorm_fwd"...; owned by the library,
                                valid while the record is (until clvit_profile_reset) */
    int is_gemm;             /* 1: a matrix product (label: the Linear or product it is) */
    double flops;            /* floating-point operations (multiply-add = 2), 0 when unknown */
    double start_ns, end_ns; /* CL_PROFILING_COMMAND_START / _END on the device's clock; NAN
                                when the launch failed or the driver gives no times */
} clvit_profile_record;

/* on != 0: every launch of clvit on ctx from now on is recorded (after clvit_profile_reset
 * empties the records, it starts a fresh list); on == 0 stops recording and keeps the list. */
void clvit_profile_enable(clvit_ctx *ctx, int on);
/* Releases the records (their OpenCL events) and empties the list. clvit_ctx_free does too. */
void clvit_profile_reset(clvit_ctx *ctx);
/* Records so far. */
int clvit_profile_count(const clvit_ctx *ctx);
/* Record i, 0 <= i < clvit_profile_count. Its times are final once the work has finished
 * (clvit_ctx_finish). */
clvit_status clvit_profile_get(const clvit_ctx *ctx, int i, clvit_profile_record *rec);

/* ================================================================ using a model
 * Interoperation with the caller's OpenCL objects, forward passes on device buffers, the
 * pooled features before the head, images with the model's preprocessing, and the metadata
 * a training run wrote.
 *
 * Thread safety. The last error is per thread. Functions without a context or model
 * (clvit_status_string, devices listing and selection, presets and configurations,
 * clvit_read_config, clvit_load_image, the clvit_metadata_* calls) may run on any threads at
 * once. A context and everything made from it (its models and trainers) must be used by one
 * thread at a time: the caller serialises calls that share a context, clvit_ctx_finish
 * included; distinct contexts may run on distinct threads at the same time. A
 * clvit_metadata may be read from several threads at once (it is never modified).
 *
 * Ownership and lifetimes.
 *   - Free every model and trainer before the context they were made on; a trainer before
 *     its model.
 *   - clvit_ctx_device(), clvit_ctx_gemm_tuning(): valid until clvit_ctx_free.
 *   - clvit_model_config(): valid until the model is freed or replaced. clvit_model_reset_head
 *     frees the old model: the old model pointer, its config pointer and any trainer made
 *     on it are invalid after it (free such a trainer first); clvit_model_set_dropout
 *     changes the contents in place.
 *   - clvit_last_error(): valid until the next clvit call on the same thread.
 *   - clvit_metadata_key/value/get(): valid until clvit_metadata_free.
 *   - Buffers passed to the *_cl calls stay the caller's: clvit neither retains nor releases
 *     them, and they must stay valid until the work enqueued on them is done.
 */
/*
 * A context on the caller's OpenCL objects. device must be one of context's devices.
 * queue: an in-order command queue of that context and device (an out-of-order one is
 * refused with CLVIT_ERR_UNSUPPORTED); clvit enqueues all its work there, so work the caller
 * enqueues on the same queue before and after a clvit call is ordered with it. NULL:
 * clvit creates its own in-order queue on the context (with profiling) and releases it in
 * clvit_ctx_free. The caller's context, device and queue are never retained or released by
 * clvit: they stay the caller's and must outlive the clvit context. clvit_ctx_free waits
 * for the queue to finish (clFinish) before it returns. Per-kernel profiling (the bench)
 * needs a queue created with CL_QUEUE_PROFILING_ENABLE. Device limits and their emulation
 * (CLVIT_MAX_ALLOC, CLVIT_MAX_WORK_GROUP) apply as in clvit_ctx_create; platform_index and
 * device_index in clvit_ctx_device() are -1 when the device is not among those listed.
 */
clvit_status clvit_ctx_create_from_cl(clvit_ctx **ctx, cl_context context, cl_device_id device,
                                      cl_command_queue queue);
/*
 * Forward pass on device buffers, no host copy: images (B, C, H, W) float32 at the start of
 * `images`, logits (B, num_classes) float32 written at the start of `logits`; both buffers of
 * the context's cl_context and at least that large (CLVIT_ERR_SHAPE otherwise; a
 * clCreateSubBuffer gives an offset). The work is enqueued on the context's queue and the
 * call returns without waiting: wait with clvit_ctx_finish, or enqueue further work on the
 * same queue. Logits are as clvit_model_forward's (mean of both heads when distilled).
 */
clvit_status clvit_model_forward_cl(clvit_model *model, cl_mem images, int batch, cl_mem logits);

/*
 * Features: the input of the classifier head, per image, clvit_model_feature_dim() floats:
 * the pooled token (class token, or the patch mean with CLVIT_POOL_AVG) after the final
 * LayerNorm, through the pre-logits Linear + tanh when the model has one
 * (representation_size > 0), so logits = head.weight · features + head.bias. Distilled
 * models give two: [class token | distillation token] (2 x embed_dim), the inputs of the head
 * and of head_dist, whose outputs' mean is the logits (timm's forward_head(pre_logits=True)
 * returns the mean of the two halves). Embeddings for retrieval, or inputs to a new head.
 */
int clvit_model_feature_dim(const clvit_model *model);
/* images (B, C, H, W) on the host -> features (B, feature_dim) on the host. */
clvit_status clvit_model_features(clvit_model *model, const float *images, int batch,
                                  float *features);
/* The same on device buffers, enqueued as clvit_model_forward_cl. */
clvit_status clvit_model_features_cl(clvit_model *model, cl_mem images, int batch, cl_mem features);

/*
 * An image file (PNG, JPEG, BMP or GIF) with cfg's evaluation preprocessing, as `clvit
 * predict` does and timm's eval transform: converted to cfg->in_chans channels, shorter side
 * resized to img_size / crop_pct (bicubic, as Pillow), centre crop img_size x img_size,
 * scaled to [0, 1] and normalised with cfg->mean and cfg->std. image: (in_chans, img_size,
 * img_size) float32, one image of the (B, C, H, W) input.
 */
clvit_status clvit_load_image(const clvit_config *cfg, const char *path, float *image);

/*
 * The metadata of a safetensors file (__metadata__, string -> string), read from its header
 * only: a checkpoint's configuration, clvit.step, clvit.optimizer and the extra keys given to
 * clvit_trainer_save (clvit train writes clvit.epoch, clvit.batch, clvit.data and its
 * settings as train.* there).
 */
typedef struct clvit_metadata clvit_metadata;
clvit_status clvit_metadata_read(const char *path, clvit_metadata **meta);
/* Entries, in the file's order. */
int clvit_metadata_count(const clvit_metadata *meta);
/* Key and value of entry i (NULL when i is out of range). */
const char *clvit_metadata_key(const clvit_metadata *meta, int i);
const char *clvit_metadata_value(const clvit_metadata *meta, int i);
/* The value of key, NULL when absent. */
const char *clvit_metadata_get(const clvit_metadata *meta, const char *key);
void clvit_metadata_free(clvit_metadata *meta);

/* ---------------------------------------------------------------- device memory */

/* ---------------------------------------------------------------- data-parallel training
 *
 * One replica (model + trainer) per device, in one process (clvit_dp over several contexts)
 * and/or one process per device under MPI (clvit_dist_init, then a clvit_dp over that rank's
 * context). A global batch of G images is cut into S = ranks x local replicas contiguous
 * shares (clvit_dist_share); share s = rank * replicas + r. Each replica computes the gradient
 * of its share with the loss scaled by 1 / G, so the replicas' gradients add up to the
 * one-device gradient of the mean loss over the global batch; the dropout and drop-path masks
 * of an image depend on its index in the global batch, not on the replica that holds it.
 * The gradients are summed in a fixed order: replicas of a process in replica order on the
 * host, then over ranks with MPI_Iallreduce per bucket, started while the backward still runs
 * (buckets of whole parameter groups, the same every step; Open MPI's ring algorithm, pinned
 * unless the user chose one: for a fixed rank count and bucket plan its order of additions is
 * fixed), and ONE optimizer step runs on replica 0 of each process; its
 * parameters are then copied to the process's other replicas, so every replica holds the
 * same bits whatever the vendors. Ranks apply the same Adam step to the same summed gradient;
 * clvit_dp_check verifies that their parameters are bit-identical (same device kind and
 * driver on every rank is the assumption). Checkpoints come from replica 0's trainer and do
 * not depend on the number of devices or ranks.
 */

/* The trainer's data-parallel primitives, for other reductions than clvit_dp's.
 * clvit_train_submit_share: forward and backward of images [sample0, sample0 + batch) of a
 * global batch of global_batch images, loss gradient scaled by 1 / global_batch, no update;
 * non-blocking like clvit_train_submit, collected with clvit_train_collect (whose loss is the
 * mean over the share). clvit_trainer_write_grads: replaces the gradients (as read by
 * clvit_trainer_read_grads). clvit_trainer_apply_grads: clipping (when configured) and one
 * Adam/AdamW step on the gradients held, advancing the step count; fills res->lr and
 * res->grad_norm. */
clvit_status clvit_train_submit_share(clvit_trainer *t, const float *images, const int32_t *labels,
                                      int batch, int sample0, int global_batch);
clvit_status clvit_trainer_write_grads(clvit_trainer *t, const float *host, size_t count);
clvit_status clvit_trainer_apply_grads(clvit_trainer *t, clvit_step_result *res);

/* The processes of an MPI job. Without MPI (not built with it, or not started by mpirun or
 * srun): rank 0 of 1, and every clvit_dist_* call below is a local no-op. */
typedef struct clvit_dist_info {
    int rank, nranks;             /* in MPI_COMM_WORLD */
    int local_rank, local_nranks; /* among the ranks on this node (MPI_COMM_TYPE_SHARED): the
                                     index to pick this rank's device with */
    int mpi;                      /* 1 when MPI is initialised */
} clvit_dist_info;
/* 1 when clvit was built with MPI. */
int clvit_dist_available(void);
/* Initialises MPI when built with it and the process was started by an MPI launcher
 * (Open MPI's mpirun, PMIx or PMI: srun) or CLVIT_MPI=1; CLVIT_MPI=0 keeps a single process.
 * Before MPI_Init it pins Open MPI's allreduce to the ring algorithm unless
 * OMPI_MCA_coll_tuned_allreduce_algorithm is set. Call once, first thing in main. */
clvit_status clvit_dist_init(int *argc, char ***argv, clvit_dist_info *info);
/* MPI_Finalize (after a successful run). */
void clvit_dist_finalize(void);
/* Stops every rank of the job (MPI_Abort with code) after the caller printed why; returns
 * only without MPI, so the caller then exits with code itself. For a failing rank: the
 * others may be waiting in a collective and would otherwise hang. */
void clvit_dist_abort(int code);
/* Sums n doubles over the ranks in place (metrics: validation loss sums, counts). */
clvit_status clvit_dist_sum(double *values, int n);
/* Collective: *any = 1 when flag is set on any rank (a Ctrl-C seen by some ranks: every rank
 * must stop after the same step). */
clvit_status clvit_dist_any(int flag, int *any);
/* Collective: CLVIT_SUCCESS when st is CLVIT_SUCCESS on every rank, else the failing status of
 * the lowest failing rank (this rank's own st when it failed), so all ranks stop together
 * after a step that only some could finish (rank 0's checkpoint write). */
clvit_status clvit_dist_agree(clvit_status st);

/* Device spec lists, "0:0,1:0": the number of comma-separated items, and item i copied into
 * buf (CLVIT_ERR_INVALID_ARG when i is out of range or it does not fit). */
int clvit_device_list_count(const char *list);
clvit_status clvit_device_list_item(const char *list, int i, char *buf, size_t size);

/* Share `share` of `nshares` of a batch of `batch` images: [*start, *start + *count), shares
 * contiguous and in order, sizes differing by at most one (floor(batch * s / nshares)). */
void clvit_dist_share(int batch, int share, int nshares, int *start, int *count);
/* The sample order of an epoch: samples[0..n) shuffled from (seed, epoch), identical on every
 * rank and for any number of devices (the order `clvit train` uses). Global batch b of the
 * epoch is order[b * G, b * G + G) (shorter at the end); a process trains on its range of it
 * (clvit_dp_range). */
void clvit_dist_epoch_order(const int *samples, int n, uint64_t seed, long epoch, int *order);

typedef struct clvit_dp clvit_dp;
/* A replica group: model (on ctxs[0]; the group borrows it and it must outlive the group) is
 * replica 0; replicas 1..nctx-1 are copies of it on ctxs[1..] (contexts the caller made and
 * frees after the group, any vendors; the same device twice works). Each replica gets a trainer
 * with tc for its share of at most max_global_batch images. Under MPI (clvit_dist_init found
 * ranks), rank 0's parameters, Adam state and step are broadcast (clvit_dp_sync) so all
 * ranks start equal. */
clvit_status clvit_dp_create(clvit_model *model, clvit_ctx *const *ctxs, int nctx,
                             const clvit_train_config *tc, int max_global_batch, clvit_dp **out);
/* Frees the replicas 1.. and every trainer (not model 0, not the contexts). */
void clvit_dp_free(clvit_dp *g);
/* Replica 0's trainer: the optimizer state, step count, learning rate, checkpoints
 * (clvit_trainer_save on rank 0 only; clvit_trainer_load_state then clvit_dp_sync). */
clvit_trainer *clvit_dp_trainer(clvit_dp *g);
int clvit_dp_replicas(const clvit_dp *g);
/* The range [*start, *start + *count) of a global batch of global_batch images that this
 * process's replicas train on (the whole batch without MPI). */
void clvit_dp_range(const clvit_dp *g, int global_batch, int *start, int *count);
/* One step: images (count, C, H, W) and labels (count) are this process's range of the
 * global batch (clvit_dp_range); returns after the update, with every replica's parameters
 * equal. res: loss mean and correct count over the whole global batch (all ranks), lr, norm
 * before clipping. Collective under MPI; a rank that gets an error must clvit_dist_abort. */
clvit_status clvit_dp_step(clvit_dp *g, const float *images, const int32_t *labels,
                           int global_batch, clvit_step_result *res);
/* Copies replica 0's parameters to the other replicas and, under MPI, rank 0's parameters,
 * Adam moments and step to every rank (after clvit_trainer_load_state on rank 0). Collective. */
clvit_status clvit_dp_sync(clvit_dp *g);
/* A 64-bit FNV-1a hash of replica 0's parameters in *hash; CLVIT_ERR_REPLICAS when any
 * replica or rank holds other bits. Collective; reads every replica's parameters. */
clvit_status clvit_dp_check(clvit_dp *g, uint64_t *hash);
/* Seconds spent since the group was made: computing (forward + backward on the devices,
 * waiting for the slowest), gradient reads and the host sum, MPI_Allreduce, the optimizer
 * step, and copying parameters to the replicas; steps counted. With overlap (the gradients
 * read and all-reduced in buckets while the backward runs, CLVIT_DIST_OVERLAP_KB, default
 * 4096; 0 turns it off): compute runs to the end of the backward, gather is the host sums,
 * allreduce the part of it left after the backward; buckets counts the buckets reduced and
 * early_buckets those whose allreduce started before the backward had ended on the device. */
typedef struct clvit_dp_times {
    double compute, gather, allreduce, update, broadcast;
    long steps;
    long buckets, early_buckets;
} clvit_dp_times;
void clvit_dp_times_get(const clvit_dp *g, clvit_dp_times *times);

/* Device memory the library holds in this process, over all contexts: the buffers it created
 * (parameters, activations, trainer state, scratch, staging) and the driver has not yet
 * destroyed. For leak checks and long runs; thread-safe. */
void clvit_device_memory_in_use(uint64_t *buffers, uint64_t *bytes);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* CLVIT_H */
