/*
 * cmd_eval.c - `clvit eval`: accuracy, per-class accuracy and the confusion matrix of a
 * model (a trained checkpoint, or any weights) on a dataset; on an IDX directory the
 * official test set (t10k-*). With --submission, writes the Kaggle file (ImageId,Label),
 * which also works for the unlabelled test.csv.
 */
#include "batch.h"
#include "cli.h"
#include "eval.h"
#include "model_arg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_eval(int argc, char **argv) {
    const cli_cmd cmd = {"eval",
                         "--model CKPT --data (mnist:DIR | fashion:DIR | csv:FILE) [options]",
                         "Evaluate a model on a dataset: accuracy, per-class accuracy, confusion "
                         "matrix.\nIDX directories are evaluated on their test set (t10k-*).",
                         0, 0};
    model_arg ma = {0};
    const char *data = NULL, *submission = NULL, *batch_s = "256", *split = "test";
    const cli_opt opts[] = {
        MODEL_ARG_OPTS(ma),
        {"--data", "SPEC", "mnist:DIR, fashion:DIR or csv:FILE", &data, NULL},
        {"--split", "NAME", "test (default) or train, for IDX directories", &split, NULL},
        {"--submission", "FILE", "write predictions as a Kaggle CSV (ImageId,Label)", &submission,
         NULL},
        {"--batch", "N", "images per device pass (default 256)", &batch_s, NULL},
        {0}};
    int r = cli_parse_flags(&cmd, opts, argc, argv);
    if (r >= 0) return r;
    r = 0;
    long batch;
    if (!data) {
        fprintf(stderr, "clvit eval: --data is required\n");
        return 2;
    }
    if (strcmp(split, "test") && strcmp(split, "train")) {
        fprintf(stderr, "clvit eval: --split: '%s' is not test or train\n", split);
        return 2;
    }
    if (cli_int("eval", "--batch", batch_s, 1, 65536, &batch)) return 2;
    clvit_dataset ds = {0};
    clvit_status st = clvit_dataset_open(data, !strcmp(split, "test"), &ds);
    if (st) return cli_fail("eval", st);
    if (!ds.labels && !submission) {
        fprintf(stderr,
                "clvit eval: %s has no labels: give --submission FILE to write "
                "predictions\n",
                data);
        clvit_dataset_free(&ds);
        return 2;
    }
    clvit_ctx *ctx = NULL;
    clvit_model *model = NULL;
    int *idx = malloc((size_t)ds.count * sizeof *idx);
    int32_t *preds = malloc((size_t)ds.count * sizeof *preds);
    eval_result *ev = calloc(1, sizeof *ev);
    if (!idx || !preds || !ev) {
        fprintf(stderr, "clvit eval: out of memory\n");
        r = 1;
    }
    if (!r) r = model_arg_open("eval", &ma, &ctx, &model);
    if (!r) {
        for (int i = 0; i < ds.count; i++)
            idx[i] = i;
        st = evaluate(model, &ds, idx, ds.count, (int)batch, ev, preds, 0);
        if (!st && submission) st = clvit_write_submission(submission, preds, ds.count);
        if (st) r = cli_fail("eval", st);
    }
    if (!r && ev->count) {
        const int K = ev->num_classes;
        printf("%s (%s split): %d images\n", data, dataset_has_test_split(data) ? split : "csv",
               ev->count);
        printf("accuracy %.4f (%d/%d), loss %.4f\n", ev->accuracy, ev->correct, ev->count,
               ev->loss);
        if (K <= EVAL_MAX_CLASSES) {
            printf("\nper-class accuracy:\n");
            for (int k = 0; k < K; k++) {
                int total = 0;
                for (int p = 0; p < K; p++)
                    total += ev->confusion[k][p];
                if (total)
                    printf("  class %2d: %.4f (%d/%d)\n", k, (double)ev->confusion[k][k] / total,
                           ev->confusion[k][k], total);
            }
            printf("\nconfusion matrix (rows: true class, columns: predicted):\n      ");
            for (int p = 0; p < K; p++)
                printf("%6d", p);
            printf("\n");
            for (int k = 0; k < K; k++) {
                printf("  %2d: ", k);
                for (int p = 0; p < K; p++)
                    printf("%6d", ev->confusion[k][p]);
                printf("\n");
            }
        }
    }
    if (!r && submission) printf("wrote %d predictions to %s\n", ds.count, submission);
    free(ev);
    free(idx);
    free(preds);
    clvit_model_free(model);
    clvit_ctx_free(ctx);
    clvit_dataset_free(&ds);
    return r;
}
