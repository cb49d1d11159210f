/*
 * cmd_train.c - `clvit train`: train a ViT on MNIST, Fashion-MNIST or the Kaggle digit CSV on
 * any OpenCL device. Per epoch: a progress line (redrawn in place on a terminal), then train
 * and validation loss and accuracy and the epoch time, as the seed's loop printed. At the end
 * the held-out test set (IDX t10k files) is evaluated.
 *
 * Reproducibility: everything random derives from --seed: the validation split, the weight
 * initialisation, the per-epoch shuffle (seed, epoch), each image's augmentation (seed, epoch,
 * image) and the dropout masks (seed, step). A checkpoint stores the position (epoch, batch),
 * so --resume continues the same sequence exactly.
 *
 * Checkpoints (--save) are written after every epoch, every --save-every steps and on a stop,
 * always with no step in flight, atomically (a temporary file, fsync, rename, fsync of the
 * directory: kill -9 at any moment leaves the previous checkpoint or the new one). The path is
 * tried before the data is read. A save that fails (disk full, file-size limit) stops the run
 * with one error line and leaves the previous checkpoint as it was. A NaN or Inf loss stops
 * the run with the step, epoch and batch named, and nothing is saved from that state.
 *
 * The command runs in phases over one train_run that owns everything a run holds: the
 * options and settings (parse_options), the data and its split (open_data), the model and
 * trainer (create_trainer), the epochs (train_epochs, one train_epoch each) and the test-set
 * evaluation (evaluate_test). Each phase returns -1 to go on, else the exit code, and
 * train_run_free is the one cleanup path.
 *
 * One device: the pipelined trainer (clvit_train_submit / collect). A --device list or MPI
 * ranks (clvit_dist_init first): a clvit_dp group (lib/dist.c), one synchronous clvit_dp_step
 * per global batch; rank 0 prints and saves after clvit_dp_check, stops are agreed, and a
 * rank's own failure stops the job (clvit_dist_abort).
 */
#include "batch.h"
#include "cli.h"
#include "clvit_data.h"
#include "eval.h"

#include <float.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;
/* The start of every error line after "clvit ": "train", or "train: rank N" in a job of
 * several ranks, so the line says which rank failed. */
static char g_cmd[40] = "train";
static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* Settings that a checkpoint records and --resume restores (unless given again). */
typedef struct settings {
    const char *preset, *epochs, *batch, *lr, *optimizer, *weight_decay, *warmup, *seed, *val_split,
        *label_smoothing, *clip, *drop, *drop_path, *rotate, *shift, *min_lr, *attn_drop;
} settings;

#define SETTING_KEYS(X)                                                                            \
    X(epochs)                                                                                      \
    X(batch)                                                                                       \
    X(lr)                                                                                          \
    X(optimizer)                                                                                   \
    X(weight_decay)                                                                                \
    X(warmup)                                                                                      \
    X(seed)                                                                                        \
    X(val_split)                                                                                   \
    X(label_smoothing)                                                                             \
    X(clip)                                                                                        \
    X(drop)                                                                                        \
    X(attn_drop)                                                                                   \
    X(drop_path)                                                                                   \
    X(rotate)                                                                                      \
    X(shift)                                                                                       \
    X(min_lr)

/* clvit_dp_step takes at most 64 replicas per process. */
#define MAX_DEVICES 64

/* Everything one run holds. train_run_free releases it, whichever phase stopped. */
typedef struct train_run {
    /* options: the strings as given, the settings in force (checkpoint, then flags) */
    settings s, given;
    const char *data, *save, *resume, *init, *log_path, *device, *heads, *limit, *max_steps,
        *save_every;
    int reset_head, no_test;
    long epochs, batch, warmup, seed, limit_n, max_steps_n, heads_n, save_every_n;
    double lr, min_lr, wd, val_split, smoothing, clip, drop, attn_drop, drop_path, rotate, shift;
    clvit_metadata *ck; /* the --resume checkpoint */
    long start_epoch, start_batch;
    /* data */
    clvit_dataset train;
    int *tr_idx, *va_idx, ntr, nva;
    /* devices and processes */
    clvit_dist_info di;           /* this rank of the MPI job (rank 0 of 1 without MPI) */
    int lead;                     /* rank 0: prints, writes the checkpoints and the log */
    int together;                 /* every rank stops here at once (agreed): no MPI_Abort needed */
    clvit_ctx *ctxs[MAX_DEVICES]; /* one per --device item, or this rank's one under MPI */
    int nctx;
    /* model and trainer */
    clvit_model *model;     /* on ctxs[0]: replica 0 */
    clvit_dp *dp;           /* several devices or ranks; NULL: one device, the step pipeline */
    clvit_trainer *trainer; /* the trainer, or replica 0's (owned by dp) */
    const clvit_config *cfg;
    clvit_train_config tc;
    long steps_per_epoch;
    float *x;      /* (batch, C, H, W): the batch built last */
    int32_t *y;    /* (batch) */
    int last_n;    /* images in x */
    float *logits; /* (batch, num_classes): the check before a save */
    int *order;    /* the epoch's shuffled training indices */
    FILE *log;
    /* progress */
    long steps_this_run;
    int stop_signal; /* Ctrl-C seen, by this rank or (under MPI) another */
    long saved_step; /* the step of the checkpoint at --save written by this run, or -1 */
    int tty;         /* stderr is a terminal: the progress line is redrawn in place */
} train_run;

/* Writes the checkpoint with the run's position and settings in its metadata. */
static clvit_status save_checkpoint(clvit_trainer *t, const char *path, const char *epoch,
                                    const char *batch, const char *data, const settings *s) {
    const char *keys[32], *values[32];
    int n = 0;
    keys[n] = "clvit.epoch";
    values[n++] = epoch;
    keys[n] = "clvit.batch";
    values[n++] = batch;
    keys[n] = "clvit.data";
    values[n++] = data;
#define PUT(k)                                                                                     \
    keys[n] = "train." #k;                                                                         \
    values[n++] = s->k;
    SETTING_KEYS(PUT)
#undef PUT
    return clvit_trainer_save(t, path, keys, values, n);
}

/* A diverged run: one line naming the step, where it was (epoch and batch, 0-based here),
 * why, and which checkpoint stays. Returns the exit code. */
static int report_diverged(const train_run *t, long step, long epoch, long b, const char *why) {
    if (t->tty) fprintf(stderr, "\n");
    char kept[600] = "";
    if (t->save && t->saved_step >= 0)
        snprintf(kept, sizeof kept, ", %s (step %ld) kept", t->save, t->saved_step);
    else if (t->save)
        snprintf(kept, sizeof kept, ", no checkpoint written to %s", t->save);
    fprintf(stderr,
            "clvit %s: training diverged at step %ld (epoch %ld/%ld, batch %ld/%ld): %s; "
            "stopped%s\n",
            g_cmd, step, epoch + 1, t->epochs, b + 1, t->steps_per_epoch, why, kept);
    return 1;
}

/* Saves at the position (epoch, batch) with no step in flight. Every loss so far was finite
 * (collected before), but a loss is that of the parameters before its step's update: the
 * parameters the last update left are checked here, by a forward pass on the batch it was
 * trained on, and a NaN or Inf logit stops the run with nothing saved (an absurd learning rate
 * gets there with a finite loss). A failed save is one line on stderr that says the previous
 * checkpoint stays. Returns -1 on success, else the exit code. Rank 0's part of save_at. */
static int save_here(train_run *t, long epoch, long batch) {
    const long step = clvit_trainer_step_count(t->trainer);
    /* last_n is 0 when this run made no step (resumed at the end of an epoch) */
    clvit_status st =
        t->last_n ? clvit_model_forward(t->model, t->x, t->last_n, t->logits) : CLVIT_SUCCESS;
    if (st) return cli_fail(g_cmd, st);
    const size_t nz = (size_t)t->last_n * t->cfg->num_classes;
    for (size_t i = 0; i < nz; i++) {
        if (!isfinite(t->logits[i])) {
            char why[96];
            snprintf(why, sizeof why, "the parameters it left give a logit of %g",
                     (double)t->logits[i]);
            return batch ? report_diverged(t, step, epoch, batch - 1, why)
                         : report_diverged(t, step, epoch - 1, t->steps_per_epoch - 1, why);
        }
    }
    char ep[32], bb[32];
    snprintf(ep, sizeof ep, "%ld", epoch);
    snprintf(bb, sizeof bb, "%ld", batch);
    st = save_checkpoint(t->trainer, t->save, ep, bb, t->data, &t->s);
    if (st) {
        const char *detail = clvit_last_error();
        fprintf(stderr,
                "clvit %s: checkpoint after step %ld not saved: %s%s%s; %s is as it was, "
                "training stopped\n",
                g_cmd, step, clvit_status_string(st), *detail ? ": " : "", detail, t->save);
        return 1;
    }
    t->saved_step = step;
    return -1;
}

/* The checkpoint at (epoch, batch), called by every rank at the same point. With several
 * devices or ranks their parameters are checked to be the same bits first (clvit_dp_check,
 * collective), rank 0 saves, and every rank learns rank 0's outcome, so a failed save or a
 * diverged state stops all of them together. Returns -1 on success, else the exit code. */
static int save_at(train_run *t, long epoch, long batch) {
    if (t->dp) {
        uint64_t hash;
        const clvit_status st = clvit_dp_check(t->dp, &hash);
        if (st) { /* the same failure on every rank (agreed): rank 0 says it */
            t->together = 1;
            return t->lead ? cli_fail(g_cmd, st) : 1;
        }
    }
    int r = t->lead ? save_here(t, epoch, batch) : -1;
    if (t->di.nranks > 1 && clvit_dist_agree(r >= 0 ? CLVIT_ERR_IO : CLVIT_SUCCESS)) {
        t->together = 1;
        if (r < 0) r = 1; /* rank 0 failed and said why */
    }
    return r;
}

static void format_eta(double s, char *buf, size_t size) {
    if (!(s >= 0) || s > 1e7) s = 0;
    int h = (int)(s / 3600), m = (int)(s / 60) % 60, sec = (int)s % 60;
    if (h)
        snprintf(buf, size, "%dh%02dm", h, m);
    else
        snprintf(buf, size, "%dm%02ds", m, sec);
}

/* ---------------------------------------------------------------- options and settings */

static int parse_options(train_run *t, int argc, char **argv) {
    const cli_cmd cmd = {
        "train", "--data (mnist:DIR | fashion:DIR | csv:FILE) [options]",
        "Train a Vision Transformer with Adam or AdamW and cross-entropy. The defaults train the\n"
        "vit_mnist preset to >98.5% MNIST test accuracy. Ctrl-C saves a checkpoint and stops.\n"
        "Checkpoints are replaced atomically: kill -9 at any moment leaves the previous one or\n"
        "the new one, whole. A save that fails (disk full, file-size limit) stops the run with\n"
        "one error line, exit 1, the previous checkpoint as it was; so does a NaN or Inf loss\n"
        "(the step, epoch and batch named), and nothing from that state is saved.\n\n"
        "Data parallel: --device 0:0,1:0 trains one replica per listed device in this process;\n"
        "under mpirun or srun (`mpirun -np 2 clvit train ...`) each rank takes one device, item\n"
        "(local rank mod count) of --device, else $CLVIT_DEVICE or the default. --batch is the\n"
        "global batch, cut into contiguous shares; the gradients are summed before one\n"
        "optimizer step, so the result matches one device within rounding (docs/distributed.md).\n"
        "Rank 0 prints and writes checkpoints; resuming works with any number of devices or\n"
        "ranks. A failing rank prints one line naming it and stops the job.",
        0, 0};
    /* The default recipe: one epoch reaches 95% MNIST test accuracy, twelve reach 98.5% (the
     * README has the runs). Smaller batches than 128 and light augmentation learn faster per
     * epoch on this model: measured at one epoch, batch 128 lr 1e-3 rotate 15 shift 2
     * drop-path 0.1 gave 72.4%, batch 32 lr 1.5e-3 rotate 5 shift 1 drop-path 0 95.8%. */
    const settings defaults = {"vit_mnist", "12", "32",  "1.5e-3", "adamw", "0.05",
                               "1",         "0",  "0.1", "0",      "1.0",   "0",
                               "0",         "5",  "1",   "1e-5",   "0"};
    t->s = defaults;
    settings *g = &t->given;
    const cli_opt opts[] = {
        {"--data", "SPEC", "mnist:DIR, fashion:DIR (IDX, .gz ok) or csv:FILE (Kaggle)", &t->data,
         NULL},
        {"--preset", "NAME", "architecture for a new model (default vit_mnist)", &g->preset, NULL},
        {"--epochs", "N", "epochs (default 12)", &g->epochs, NULL},
        {"--batch", "N", "global batch size, over all devices and ranks (default 32)", &g->batch,
         NULL},
        {"--lr", "X", "peak learning rate (default 1.5e-3)", &g->lr, NULL},
        {"--min-lr", "X", "learning rate at the end of the cosine (default 1e-5)", &g->min_lr,
         NULL},
        {"--optimizer", "NAME", "adam or adamw (default adamw)", &g->optimizer, NULL},
        {"--weight-decay", "X", "weight decay (default 0.05)", &g->weight_decay, NULL},
        {"--warmup", "N",
         "warm-up epochs (at most a tenth of the run), then cosine decay; 0 = constant lr (default "
         "1)",
         &g->warmup, NULL},
        {"--seed", "N", "seed for split, init, shuffling, augmentation, dropout (default 0)",
         &g->seed, NULL},
        {"--val-split", "X", "fraction held out for validation (default 0.1)", &g->val_split, NULL},
        {"--label-smoothing", "X", "cross-entropy label smoothing (default 0)", &g->label_smoothing,
         NULL},
        {"--clip", "X", "global gradient-norm clipping, 0 = off (default 1.0)", &g->clip, NULL},
        {"--drop", "X", "dropout rate (default 0)", &g->drop, NULL},
        {"--attn-drop", "X", "attention dropout rate (default 0)", &g->attn_drop, NULL},
        {"--drop-path", "X", "stochastic depth rate (default 0)", &g->drop_path, NULL},
        {"--rotate", "DEG", "random rotation up to DEG degrees, 0 = off (default 5)", &g->rotate,
         NULL},
        {"--shift", "PX", "random shift up to PX pixels, 0 = off (default 1)", &g->shift, NULL},
        {"--save", "CKPT", "checkpoint written after every epoch and on Ctrl-C", &t->save, NULL},
        {"--save-every", "N", "with --save: also write the checkpoint every N steps, mid-epoch",
         &t->save_every, NULL},
        {"--resume", "CKPT", "continue a run from its checkpoint", &t->resume, NULL},
        {"--init", "WEIGHTS", "start from pretrained weights (.safetensors)", &t->init, NULL},
        {"--reset-head", NULL, "with --init: new zero-initialised head for this dataset", NULL,
         &t->reset_head},
        {"--heads", "H", "heads when --init weights carry no metadata", &t->heads, NULL},
        {"--log", "FILE", "per-epoch metrics as CSV", &t->log_path, NULL},
        {"--limit", "N", "use only the first N training images (quick experiments)", &t->limit,
         NULL},
        {"--max-steps", "N", "stop (and save) after N optimisation steps in this run",
         &t->max_steps, NULL},
        {"--no-test", NULL, "skip the test-set evaluation at the end", NULL, &t->no_test},
        {"--device", "SPEC[,SPEC...]",
         "P:D, gpu, cpu or part of a device name; a comma list: one replica per device "
         "(under MPI: one per local rank)",
         &t->device, NULL},
        {0}};
    int r = cli_parse_flags(&cmd, opts, argc, argv);
    if (r >= 0) return r;
    if (!t->data) {
        fprintf(stderr, "clvit %s: --data is required (e.g. --data mnist:data/mnist)\n", g_cmd);
        return 2;
    }
    if (t->resume && t->init) {
        fprintf(stderr, "clvit %s: --resume and --init exclude each other\n", g_cmd);
        return 2;
    }
    if (t->reset_head && !t->init) {
        fprintf(stderr, "clvit %s: --reset-head needs --init WEIGHTS\n", g_cmd);
        return 2;
    }
    if (t->save_every && !t->save) {
        fprintf(stderr, "clvit %s: --save-every needs --save CKPT\n", g_cmd);
        return 2;
    }
    return -1;
}

/* The checkpoint's settings, then the flags given now, parsed into numbers; the position to
 * resume from. */
static int resolve_settings(train_run *t) {
    if (t->resume) {
        clvit_status cs = clvit_metadata_read(t->resume, &t->ck);
        if (cs) return cli_fail(g_cmd, cs);
    }
    settings *s = &t->s;
    const settings *given = &t->given;
    const clvit_metadata *ck = t->ck;
#define TAKE(k)                                                                                    \
    if (given->k)                                                                                  \
        s->k = given->k;                                                                           \
    else if (ck && clvit_metadata_get(ck, "train." #k))                                            \
        s->k = clvit_metadata_get(ck, "train." #k);
    SETTING_KEYS(TAKE)
#undef TAKE
    if (given->preset) s->preset = given->preset;
    if (cli_int(g_cmd, "--epochs", s->epochs, 1, 100000, &t->epochs) ||
        cli_int(g_cmd, "--batch", s->batch, 1, 65536, &t->batch) ||
        cli_int(g_cmd, "--warmup", s->warmup, 0, 100000, &t->warmup) ||
        cli_int(g_cmd, "--seed", s->seed, 0, 2147483647L, &t->seed) ||
        cli_float(g_cmd, "--lr", s->lr, 0, FLT_MAX, &t->lr) ||
        cli_float(g_cmd, "--min-lr", s->min_lr, 0, 10, &t->min_lr) ||
        cli_float(g_cmd, "--weight-decay", s->weight_decay, 0, 10, &t->wd) ||
        cli_float(g_cmd, "--val-split", s->val_split, 0, 0.9, &t->val_split) ||
        cli_float(g_cmd, "--label-smoothing", s->label_smoothing, 0, 0.99, &t->smoothing) ||
        cli_float(g_cmd, "--clip", s->clip, 0, 1e9, &t->clip) ||
        cli_float(g_cmd, "--drop", s->drop, 0, 0.99, &t->drop) ||
        cli_float(g_cmd, "--attn-drop", s->attn_drop, 0, 0.99, &t->attn_drop) ||
        cli_float(g_cmd, "--drop-path", s->drop_path, 0, 0.99, &t->drop_path) ||
        cli_float(g_cmd, "--rotate", s->rotate, 0, 180, &t->rotate) ||
        cli_float(g_cmd, "--shift", s->shift, 0, 64, &t->shift) ||
        (t->limit && cli_int(g_cmd, "--limit", t->limit, 1, 100000000L, &t->limit_n)) ||
        (t->max_steps &&
         cli_int(g_cmd, "--max-steps", t->max_steps, 1, 1000000000L, &t->max_steps_n)) ||
        (t->heads && cli_int(g_cmd, "--heads", t->heads, 1, 4096, &t->heads_n)) ||
        (t->save_every &&
         cli_int(g_cmd, "--save-every", t->save_every, 1, 1000000000L, &t->save_every_n)))
        return 2;
    if (strcmp(s->optimizer, "adam") && strcmp(s->optimizer, "adamw")) {
        fprintf(stderr, "clvit %s: --optimizer: '%s' is not adam or adamw\n", g_cmd, s->optimizer);
        return 2;
    }
    if (t->resume) {
        const char *e = clvit_metadata_get(ck, "clvit.epoch"),
                   *b = clvit_metadata_get(ck, "clvit.batch");
        if (!e || !b || cli_int(g_cmd, "--resume epoch", e, 0, 100000, &t->start_epoch) ||
            cli_int(g_cmd, "--resume batch", b, 0, 100000000L, &t->start_batch)) {
            fprintf(stderr, "clvit %s: %s: not a clvit training checkpoint (no clvit.epoch)\n",
                    g_cmd, t->resume);
            return 1;
        }
    }
    return -1;
}

/* The checkpoint path, tried now rather than after the first epoch: not a directory, in a
 * directory that exists and takes a new file. */
static int check_save_path(const train_run *t) {
    if (!t->save) return -1;
    const clvit_status st = clvit_atomic_check(t->save);
    if (st) {
        fprintf(stderr, "clvit %s: --save: cannot write a checkpoint there: %s\n", g_cmd,
                clvit_last_error());
        return 1;
    }
    return -1;
}

/* ---------------------------------------------------------------- data */

static int open_data(train_run *t) {
    clvit_status st = clvit_dataset_open(t->data, 0, &t->train);
    if (st) return cli_fail(g_cmd, st);
    if (!t->train.labels) {
        fprintf(stderr, "clvit %s: %s has no labels (a test.csv?); train on train.csv\n", g_cmd,
                t->data);
        return 1;
    }
    int count = t->train.count;
    if (t->limit_n && t->limit_n < count) count = (int)t->limit_n;
    st = clvit_split(count, t->val_split, (uint64_t)t->seed, &t->tr_idx, &t->ntr, &t->va_idx,
                     &t->nva);
    if (st) return cli_fail(g_cmd, st);
    if (t->ntr < 1) {
        fprintf(stderr, "clvit %s: no training images left after the validation split\n", g_cmd);
        return 1;
    }
    return -1;
}

/* ---------------------------------------------------------------- model and trainer */

/* The contexts: under MPI this rank's device, item (local rank mod count) of --device, else
 * CLVIT_DEVICE or the default; in one process one per --device item (one without --device). */
static int create_contexts(train_run *t) {
    const int items = clvit_device_list_count(t->device);
    if (items > MAX_DEVICES) {
        fprintf(stderr, "clvit %s: --device lists %d devices; at most %d\n", g_cmd, items,
                MAX_DEVICES);
        return 2;
    }
    t->nctx = t->di.nranks > 1 || items < 2 ? 1 : items;
    for (int i = 0; i < t->nctx; i++) {
        char spec[256];
        clvit_status st = CLVIT_SUCCESS;
        if (items > 1 || t->di.nranks > 1) {
            const int item = t->di.nranks > 1 ? t->di.local_rank % (items ? items : 1) : i;
            if (items) st = clvit_device_list_item(t->device, item, spec, sizeof spec);
            if (!st && items && !spec[0]) {
                fprintf(stderr, "clvit %s: --device '%s': item %d is empty\n", g_cmd, t->device,
                        item + 1);
                return 2;
            }
        }
        /* one device in one process: --device as given, as before lists existed */
        const char *which = items > 1 || (t->di.nranks > 1 && items) ? spec : t->device;
        if (!st) st = clvit_ctx_create(&t->ctxs[i], which);
        if (st) return cli_fail(g_cmd, st);
    }
    return -1;
}

static int create_model(train_run *t) {
    clvit_ctx *ctx = t->ctxs[0];
    clvit_status st;
    if (t->resume) {
        st = clvit_model_load(ctx, t->resume, NULL, 0, &t->model);
    } else if (t->init) {
        st = clvit_model_load(ctx, t->init, t->given.preset, (int)t->heads_n, &t->model);
        if (!st && t->reset_head) st = clvit_model_reset_head(&t->model, t->train.num_classes);
    } else {
        clvit_config cfg;
        st = clvit_preset(t->s.preset, &cfg);
        if (!st) st = clvit_model_create(ctx, &cfg, (uint64_t)t->seed, &t->model);
    }
    if (!st)
        st = clvit_model_set_dropout(t->model, (float)t->drop, (float)t->attn_drop,
                                     (float)t->drop_path);
    if (st) return cli_fail(g_cmd, st);
    t->cfg = clvit_model_config(t->model);
    if (t->cfg->num_classes < t->train.num_classes) {
        fprintf(stderr,
                "clvit %s: the model has %d classes but %s has %d (use --init with "
                "--reset-head to fine-tune)\n",
                g_cmd, t->cfg->num_classes, t->data, t->train.num_classes);
        return 1;
    }
    return -1;
}

static int create_trainer(train_run *t) {
    t->steps_per_epoch = (t->ntr + t->batch - 1) / t->batch;
    clvit_train_config *tc = &t->tc;
    clvit_train_config_default(tc);
    tc->optimizer = strcmp(t->s.optimizer, "adamw") ? CLVIT_ADAM : CLVIT_ADAMW;
    tc->lr = (float)t->lr;
    tc->min_lr = (float)t->min_lr;
    tc->weight_decay = (float)t->wd;
    tc->clip_norm = (float)t->clip;
    tc->label_smoothing = (float)t->smoothing;
    tc->schedule = t->warmup > 0 ? CLVIT_LR_WARMUP_COSINE : CLVIT_LR_CONSTANT;
    tc->total_steps = t->epochs * t->steps_per_epoch;
    /* warm-up never takes more than a tenth of the run, so a short run still decays */
    tc->warmup_steps = t->warmup * t->steps_per_epoch;
    if (t->warmup > 0 && tc->warmup_steps > tc->total_steps / 10)
        tc->warmup_steps = tc->total_steps / 10 > 0 ? tc->total_steps / 10 : 1;
    tc->seed = (uint64_t)t->seed;
    if (t->nctx > 1 || t->di.nranks > 1) {
        /* a replica per device and rank; collective under MPI (rank 0's start is broadcast) */
        clvit_status st = clvit_dp_create(t->model, t->ctxs, t->nctx, tc, (int)t->batch, &t->dp);
        if (st) return cli_fail(g_cmd, st);
        t->trainer = clvit_dp_trainer(t->dp);
        if (t->resume) { /* the optimizer state on rank 0, then to every rank and replica */
            const clvit_status own =
                t->lead ? clvit_trainer_load_state(t->trainer, t->resume) : CLVIT_SUCCESS;
            st = clvit_dist_agree(own);
            if (st) { /* every rank stops; the one that failed says why */
                t->together = 1;
                return own ? cli_fail(g_cmd, own) : 1;
            }
            st = clvit_dp_sync(t->dp);
            if (st) return cli_fail(g_cmd, st);
        }
    } else { /* one device: the pipelined trainer alone */
        clvit_status st = clvit_trainer_create(t->model, tc, (int)t->batch, &t->trainer);
        if (!st && t->resume) st = clvit_trainer_load_state(t->trainer, t->resume);
        if (st) return cli_fail(g_cmd, st);
    }
    struct stat a, b; /* resuming from the file saved to: it holds this step until replaced */
    if (t->resume && t->save && stat(t->resume, &a) == 0 && stat(t->save, &b) == 0 &&
        a.st_dev == b.st_dev && a.st_ino == b.st_ino)
        t->saved_step = clvit_trainer_step_count(t->trainer);
    const size_t per = (size_t)t->cfg->in_chans * t->cfg->img_size * t->cfg->img_size;
    t->x = malloc((size_t)t->batch * per * sizeof *t->x);
    t->y = malloc((size_t)t->batch * sizeof *t->y);
    t->order = malloc((size_t)t->ntr * sizeof *t->order);
    t->logits = malloc((size_t)t->batch * t->cfg->num_classes * sizeof *t->logits);
    if (!t->x || !t->y || !t->order || !t->logits) {
        fprintf(stderr, "clvit %s: out of memory\n", g_cmd);
        return 1;
    }
    if (t->log_path && t->lead) {
        t->log = fopen(t->log_path, t->resume ? "a" : "w");
        if (!t->log) {
            fprintf(stderr, "clvit %s: --log: cannot write %s\n", g_cmd, t->log_path);
            return 1;
        }
        if (!t->resume)
            fprintf(t->log, "epoch,step,train_loss,train_acc,val_loss,val_acc,lr,epoch_seconds,"
                            "images_per_second,device_buffers,device_bytes\n");
    }
    return -1;
}

static void print_plan(const train_run *t) {
    const clvit_config *cfg = t->cfg;
    const clvit_device_info *dev = clvit_ctx_device(t->ctxs[0]);
    printf("clvit train: %s on %s (%s), CLBlast parameters: %s\n", t->data, dev->name,
           dev->platform_name, clvit_ctx_gemm_tuning(t->ctxs[0]));
    if (t->nctx > 1) {
        printf("  data parallel: %d devices:", t->nctx);
        for (int i = 0; i < t->nctx; i++) {
            const clvit_device_info *d = clvit_ctx_device(t->ctxs[i]);
            printf("%s %s (%s)", i ? "," : "", d->name, d->platform_name);
        }
        printf("\n");
    }
    if (t->di.nranks > 1)
        printf("  MPI: %d ranks (%d on this node), one device each; rank 0 on %s\n", t->di.nranks,
               t->di.local_nranks, dev->name);
    if (t->dp) {
        int s0, c0, sl, cl; /* share sizes differ by at most one: the first and last tell */
        const int shares = t->di.nranks * t->nctx;
        clvit_dist_share((int)t->batch, 0, shares, &s0, &c0);
        clvit_dist_share((int)t->batch, shares - 1, shares, &sl, &cl);
        char sizes[32];
        if (c0 == cl)
            snprintf(sizes, sizeof sizes, "%d", c0);
        else
            snprintf(sizes, sizeof sizes, "%d-%d", c0 < cl ? c0 : cl, c0 < cl ? cl : c0);
        printf("  global batch %ld in %d shares of %s images, gradients summed before one "
               "optimizer step\n",
               t->batch, shares, sizes);
    }
    printf("  model %s: %d x %d x %d, patch %d, dim %d, depth %d, heads %d, %.3f M parameters\n",
           t->resume ? t->resume
           : t->init ? t->init
                     : t->s.preset,
           cfg->in_chans, cfg->img_size, cfg->img_size, cfg->patch_size, cfg->embed_dim, cfg->depth,
           cfg->num_heads, clvit_config_num_params(cfg) / 1e6);
    char sched[64] = "constant";
    if (t->warmup > 0)
        snprintf(sched, sizeof sched, "warm-up %ld steps, cosine to %g", (long)t->tc.warmup_steps,
                 t->min_lr);
    printf("  %d training / %d validation images, batch %ld, %ld steps per epoch, %s lr %g "
           "(%s), weight decay %g, seed %ld\n",
           t->ntr, t->nva, t->batch, t->steps_per_epoch, t->s.optimizer, t->lr, sched, t->wd,
           t->seed);
    printf("  device memory for training%s: %.1f MiB (parameters, gradients, Adam moments, "
           "activations)\n",
           t->dp ? " (per device)" : "", clvit_trainer_device_bytes(t->trainer) / 1048576.0);
    char plan[1024], *line = plan;
    clvit_trainer_buffer_plan(t->trainer, plan, sizeof plan);
    printf("  device buffers (at most %.0f MiB each):\n", dev->max_alloc_bytes / 1048576.0);
    for (char *nl; (nl = strchr(line, '\n')); line = nl + 1)
        printf("    %.*s\n", (int)(nl - line), line);
    if (t->resume)
        printf("  resuming at epoch %ld, batch %ld\n", t->start_epoch + 1, t->start_batch);
    fflush(stdout);
}

/* ---------------------------------------------------------------- the epochs */

/* One epoch's running figures, for the progress line and the epoch summary. */
typedef struct epoch_stats {
    double t0, loss_sum, t_warm;
    long seen_warm, steps_warm, correct, seen, b0, next_plain;
} epoch_stats;

/* The progress line after the step of batch `shown` was collected: redrawn in place on a
 * terminal, else about five plain lines per epoch. Speed and ETA come from the steps after
 * the first collected one, so a slow first step (kernel builds, GEMM tuning) does not
 * inflate them. */
static void show_progress(const train_run *t, long epoch, long shown, double lr, int tty,
                          epoch_stats *e) {
    const double t_now = now();
    if (e->t_warm == 0.0) {
        e->t_warm = t_now;
        e->seen_warm = e->seen;
        e->steps_warm = shown + 1 - e->b0;
    }
    const long done_b = shown + 1 - e->b0, left_b = t->steps_per_epoch - shown - 1;
    const int warm = done_b > e->steps_warm && t_now > e->t_warm;
    const double el = t_now - e->t0,
                 ips = warm ? (e->seen - e->seen_warm) / (t_now - e->t_warm)
                            : e->seen / (el > 0 ? el : 1e-9),
                 per_step = warm ? (t_now - e->t_warm) / (double)(done_b - e->steps_warm)
                                 : el / (double)done_b;
    char eta[32];
    format_eta(per_step * (double)left_b, eta, sizeof eta);
    if (tty) {
        fprintf(stderr,
                "\r  epoch %ld/%ld  %ld/%ld  %.0f img/s  loss %.4f  acc %.4f  "
                "lr %.2e  ETA %s   ",
                epoch + 1, t->epochs, shown + 1, t->steps_per_epoch, ips, e->loss_sum / e->seen,
                (double)e->correct / e->seen, lr, eta);
        fflush(stderr);
    } else if (shown + 1 >= e->next_plain || shown + 1 == t->steps_per_epoch) {
        printf("  epoch %ld/%ld  %ld/%ld  %.0f img/s  loss %.4f  acc %.4f  ETA %s\n", epoch + 1,
               t->epochs, shown + 1, t->steps_per_epoch, ips, e->loss_sum / e->seen,
               (double)e->correct / e->seen, eta);
        fflush(stdout);
        e->next_plain = shown + 1 + (t->steps_per_epoch + 4) / 5;
    }
}

/* Ctrl-C or --max-steps after batch b: saves the position (epoch, b + 1) and returns the exit
 * code. Every rank gets here after the same step. */
static int stop_run(train_run *t, long epoch, long b, int tty) {
    t->together = 1;
    if (tty) fprintf(stderr, "\n");
    int r = 0;
    const char *why = t->stop_signal ? "interrupted" : "stopped";
    if (t->save) {
        r = save_at(t, epoch, b + 1);
        if (r >= 0) return r;
        r = 0;
        if (t->lead)
            printf("  %s after step %ld (epoch %ld, batch %ld): checkpoint %s\n", why,
                   clvit_trainer_step_count(t->trainer), epoch + 1, b + 1, t->save);
    } else if (t->lead) {
        printf("  %s after step %ld (no --save, nothing written)\n", why,
               clvit_trainer_step_count(t->trainer));
    }
    if (t->stop_signal && !r) r = 130;
    return r;
}

/* The training steps of one epoch, from batch e->b0, through the step pipeline: batch b is
 * built and submitted while the device still runs step b - 1, whose results are collected
 * (and shown) after the submit. Before a checkpoint (--save-every, a stop, the end of the
 * epoch) every step in flight is collected, so a NaN or Inf loss is seen before the save and
 * the state it left is never written. Returns -1 at the end of the epoch, else the exit code
 * (a failure, or a stop on Ctrl-C or --max-steps). */
static int train_epoch(train_run *t, long epoch, int tty, epoch_stats *e) {
    const augment_opts aug = {(float)t->rotate, (float)t->shift};
    const long batch = t->batch, ntr = t->ntr;
    int in_flight_n[2] = {0, 0};
    for (long b = e->b0; b < t->steps_per_epoch; b++) {
        int n = (int)(ntr - b * batch < batch ? ntr - b * batch : batch);
        clvit_status st = make_batch(
            &t->train, t->order + b * batch, n, t->cfg, &aug,
            clvit_rng_at((uint64_t)t->seed, 1000003ULL * (uint64_t)epoch + 7), t->x, t->y);
        if (!st) st = clvit_train_submit(t->trainer, t->x, t->y, n);
        in_flight_n[b & 1] = n;
        t->last_n = n;
        const long step = clvit_trainer_step_count(t->trainer); /* batch b's step, 1-based */
        /* a checkpoint after this step (the end of the epoch saves after validation) */
        const int save_due =
            t->save_every_n && step % t->save_every_n == 0 && b + 1 < t->steps_per_epoch;
        const int last = b + 1 == t->steps_per_epoch || interrupted || save_due ||
                         (t->max_steps_n && t->steps_this_run + 1 >= t->max_steps_n);
        clvit_step_result res = {0};
        long shown = b; /* the step whose result this iteration reports */
        if (!st && clvit_train_pending(t->trainer) > 1) {
            shown = b - 1;
            st = clvit_train_collect(t->trainer, &res);
            e->loss_sum += res.loss * in_flight_n[(b - 1) & 1];
            e->correct += res.correct;
            e->seen += in_flight_n[(b - 1) & 1];
        }
        if (!st && last) { /* nothing left in flight: the end of the epoch or run, a save */
            shown = b;
            st = clvit_train_collect(t->trainer, &res);
            e->loss_sum += res.loss * n;
            e->correct += res.correct;
            e->seen += n;
        }
        if (st == CLVIT_ERR_DIVERGED)
            return report_diverged(t, step - (b - shown), epoch, shown, clvit_last_error());
        if (st) return cli_fail(g_cmd, st);
        t->steps_this_run++;
        if (e->seen == 0) continue; /* the first step of the epoch: nothing collected yet */
        show_progress(t, epoch, shown, (double)res.lr, tty, e);
        if (interrupted || (t->max_steps_n && t->steps_this_run >= t->max_steps_n)) {
            t->stop_signal = interrupted;
            return stop_run(t, epoch, b, tty);
        }
        if (save_due) {
            const int r = save_at(t, epoch, b + 1);
            if (r >= 0) return r;
        }
    }
    return -1;
}

/* The training steps of one epoch over several devices or ranks, from batch e->b0: this
 * process builds its range of each global batch and clvit_dp_step runs it to the update
 * (synchronous: the gradients are summed over devices and ranks before the step). After each
 * step the ranks learn whether any saw Ctrl-C, so all stop after the same step. A diverged
 * step (NaN or Inf loss on any rank) is agreed inside clvit_dp_step: every rank stops there and
 * rank 0 alone prints it. Another failed step is this rank's own error (others may wait in a
 * collective): it returns the exit code and cmd_train stops the job. Returns -1 at the end of the
 * epoch, else the exit code. */
static int train_epoch_dp(train_run *t, long epoch, int tty, epoch_stats *e) {
    const augment_opts aug = {(float)t->rotate, (float)t->shift};
    const long batch = t->batch, ntr = t->ntr;
    for (long b = e->b0; b < t->steps_per_epoch; b++) {
        const int n = (int)(ntr - b * batch < batch ? ntr - b * batch : batch);
        int start, count;
        clvit_dp_range(t->dp, n, &start, &count);
        clvit_status st = make_batch(
            &t->train, t->order + b * batch + start, count, t->cfg, &aug,
            clvit_rng_at((uint64_t)t->seed, 1000003ULL * (uint64_t)epoch + 7), t->x, t->y);
        t->last_n = count;
        const long step = clvit_trainer_step_count(t->trainer) + 1; /* batch b's step */
        clvit_step_result res = {0};
        if (!st) st = clvit_dp_step(t->dp, t->x, t->y, n, &res);
        if (st == CLVIT_ERR_DIVERGED) { /* agreed: every rank at this step; rank 0 says it */
            t->together = 1;
            return t->lead ? report_diverged(t, step, epoch, b, clvit_last_error()) : 1;
        }
        int stop = 0;
        if (!st) st = clvit_dist_any(interrupted, &stop);
        if (st) return cli_fail(g_cmd, st);
        t->steps_this_run++;
        e->loss_sum += res.loss * n; /* res: the whole global batch's figures */
        e->correct += res.correct;
        e->seen += n;
        if (t->lead) show_progress(t, epoch, b, (double)res.lr, tty, e);
        if (stop || (t->max_steps_n && t->steps_this_run >= t->max_steps_n)) {
            t->stop_signal = stop;
            return stop_run(t, epoch, b, tty);
        }
        if (t->save_every_n && step % t->save_every_n == 0 && b + 1 < t->steps_per_epoch) {
            const int r = save_at(t, epoch, b + 1);
            if (r >= 0) return r;
        }
    }
    return -1;
}

/* Loss and accuracy over idx[0..n): under MPI each rank evaluates its share and the sums are
 * added over the ranks (the mean loss then adds in another order than one process's). */
static clvit_status evaluate_shared(const train_run *t, const clvit_dataset *ds, const int *idx,
                                    int n, eval_result *ev) {
    if (t->di.nranks < 2) return evaluate(t->model, ds, idx, n, (int)t->batch, ev, NULL, 0);
    int start, count;
    clvit_dist_share(n, t->di.rank, t->di.nranks, &start, &count);
    eval_result mine = {0};
    clvit_status st = CLVIT_SUCCESS;
    if (count > 0) st = evaluate(t->model, ds, idx + start, count, (int)t->batch, &mine, NULL, 0);
    if (st) return st;
    double v[3] = {mine.loss * count, mine.correct, count}; /* loss sum, correct, images */
    st = clvit_dist_sum(v, 3);
    if (st) return st;
    ev->loss = v[2] > 0 ? v[0] / v[2] : 0.0;
    ev->correct = (int)v[1];
    ev->count = (int)v[2];
    ev->accuracy = v[2] > 0 ? v[1] / v[2] : 0.0;
    return CLVIT_SUCCESS;
}

/* After an epoch's steps: validation, the summary line, the CSV row, the checkpoint. */
static int finish_epoch(train_run *t, long epoch, int tty, const epoch_stats *e) {
    if (tty) fprintf(stderr, "\r%*s\r", 100, "");
    const double train_time = now() - e->t0;
    eval_result ev = {0};
    if (t->nva > 0) {
        const clvit_status st = evaluate_shared(t, &t->train, t->va_idx, t->nva, &ev);
        if (st) return cli_fail(g_cmd, st);
    }
    const double epoch_time = now() - e->t0, loss = e->loss_sum / e->seen,
                 acc = (double)e->correct / e->seen;
    if (t->lead && t->nva > 0)
        printf("epoch %ld/%ld  train loss %.4f acc %.4f | val loss %.4f acc %.4f | %.1f s "
               "(%.0f img/s)\n",
               epoch + 1, t->epochs, loss, acc, ev.loss, ev.accuracy, epoch_time,
               e->seen / train_time);
    else if (t->lead) /* --val-split 0: no validation set, so no val figures */
        printf("epoch %ld/%ld  train loss %.4f acc %.4f | %.1f s (%.0f img/s)\n", epoch + 1,
               t->epochs, loss, acc, epoch_time, e->seen / train_time);
    fflush(stdout);
    if (t->log) {
        char val[64] = ","; /* empty fields without a validation set */
        if (t->nva > 0) snprintf(val, sizeof val, "%.6f,%.6f", ev.loss, ev.accuracy);
        const long step = clvit_trainer_step_count(t->trainer);
        uint64_t dev_buffers, dev_bytes; /* what clvit holds on the device: flat in a long run */
        clvit_device_memory_in_use(&dev_buffers, &dev_bytes);
        fprintf(t->log, "%ld,%ld,%.6f,%.6f,%s,%.6g,%.3f,%.1f,%llu,%llu\n", epoch + 1, step, loss,
                acc, val, (double)clvit_trainer_lr(t->trainer, step - 1), epoch_time,
                e->seen / train_time, (unsigned long long)dev_buffers,
                (unsigned long long)dev_bytes);
        fflush(t->log);
    }
    if (t->save) return save_at(t, epoch + 1, 0);
    return -1;
}

static int train_epochs(train_run *t) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    const int tty = t->lead && isatty(STDERR_FILENO);
    t->tty = tty;
    const double run_start = now();
    for (long epoch = t->start_epoch; epoch < t->epochs; epoch++) {
        /* the same order on every rank and for any number of devices */
        clvit_dist_epoch_order(t->tr_idx, t->ntr, (uint64_t)t->seed, epoch, t->order);
        epoch_stats e = {0};
        e.t0 = now();
        e.b0 = epoch == t->start_epoch ? t->start_batch : 0;
        int r = t->dp ? train_epoch_dp(t, epoch, tty, &e) : train_epoch(t, epoch, tty, &e);
        if (r < 0) r = finish_epoch(t, epoch, tty, &e);
        if (r >= 0) return r;
    }
    if (t->lead)
        printf("training done: %ld steps in %.1f s\n", t->steps_this_run, now() - run_start);
    return -1;
}

/* ---------------------------------------------------------------- test set */

static int evaluate_test(train_run *t) {
    if (t->no_test || !dataset_has_test_split(t->data)) return -1;
    clvit_dataset test = {0};
    clvit_status st = clvit_dataset_open(t->data, 1, &test);
    int *all = st ? NULL : malloc((size_t)test.count * sizeof *all);
    if (!st && !all) st = CLVIT_ERR_NOMEM;
    eval_result ev = {0};
    if (!st) {
        for (int i = 0; i < test.count; i++)
            all[i] = i;
        st = evaluate_shared(t, &test, all, test.count, &ev);
    }
    int r = -1;
    if (st)
        r = cli_fail(g_cmd, st);
    else if (t->lead)
        printf("test accuracy %.4f (%d/%d), test loss %.4f\n", ev.accuracy, ev.correct, test.count,
               ev.loss);
    free(all);
    clvit_dataset_free(&test);
    return r;
}

/* ---------------------------------------------------------------- the command */

static void train_run_free(train_run *t) {
    if (t->log) fclose(t->log);
    free(t->order);
    free(t->logits);
    free(t->x);
    free(t->y);
    if (t->dp) /* replica 0's trainer is the group's */
        clvit_dp_free(t->dp);
    else
        clvit_trainer_free(t->trainer);
    clvit_model_free(t->model);
    for (int i = 0; i < t->nctx; i++)
        clvit_ctx_free(t->ctxs[i]);
    clvit_metadata_free(t->ck);
    free(t->tr_idx);
    free(t->va_idx);
    clvit_dataset_free(&t->train);
}

/* Up to the model every rank works alone; here all learn whether every rank got that far, so
 * a failure then (a bad option, a missing file or device) ends the job on every rank without
 * MPI_Abort: the failing rank has said why, the others stop quietly. */
static int agree_setup(train_run *t, int r) {
    if (t->di.nranks < 2) return r;
    const clvit_status st = clvit_dist_agree(r >= 0 ? CLVIT_ERR_INVALID_ARG : CLVIT_SUCCESS);
    t->together = st != CLVIT_SUCCESS;
    return st && r < 0 ? 1 : r;
}

/* MPI starts first (clvit_dist_init: only under a launcher or with CLVIT_MPI=1), before any
 * OpenCL context or thread, and only here: the other commands run as independent processes
 * under mpirun. A rank that fails on its own (not at a point all ranks agree on) has printed
 * one line naming it and stops the job with clvit_dist_abort, as the others may be waiting
 * for it in a collective. */
int cmd_train(int argc, char **argv) {
    train_run t;
    memset(&t, 0, sizeof t);
    t.saved_step = -1;
    clvit_status ds = clvit_dist_init(&argc, &argv, &t.di);
    if (ds) return cli_fail("train", ds);
    if (t.di.nranks > 1) snprintf(g_cmd, sizeof g_cmd, "train: rank %d", t.di.rank);
    t.lead = t.di.rank == 0;
    int r = parse_options(&t, argc, argv);
    if (r < 0) r = resolve_settings(&t);
    if (r < 0 && t.lead) r = check_save_path(&t); /* rank 0 writes the checkpoints */
    if (r < 0) r = open_data(&t);
    if (r < 0) r = create_contexts(&t);
    if (r < 0) r = create_model(&t);
    r = agree_setup(&t, r);
    if (r < 0) r = create_trainer(&t);
    if (r < 0) {
        if (t.lead) print_plan(&t);
        r = train_epochs(&t);
    }
    if (r < 0) r = evaluate_test(&t);
    if (r > 0 && t.di.nranks > 1 && !t.together) clvit_dist_abort(r);
    train_run_free(&t);
    clvit_dist_finalize();
    return r < 0 ? 0 : r;
}
