/*
 * eval.h - evaluating a model on dataset images: mean cross-entropy, accuracy, per-class
 * accuracy and the confusion matrix, shared by `clvit train` (validation, test) and
 * `clvit eval`.
 */
#ifndef CLVIT_EVAL_H
#define CLVIT_EVAL_H

#include "clvit.h"
#include "clvit_data.h"

#define EVAL_MAX_CLASSES 64

typedef struct eval_result {
    double loss, accuracy;
    int correct, count, num_classes;
    /* confusion[true][pred], filled when the model has at most EVAL_MAX_CLASSES classes */
    int confusion[EVAL_MAX_CLASSES][EVAL_MAX_CLASSES];
} eval_result;

/* Evaluates images idx[0..n) in batches. preds (n) receives the argmax when not NULL; with
 * an unlabelled dataset only preds are produced (loss and accuracy stay 0). */
clvit_status evaluate(clvit_model *model, const clvit_dataset *ds, const int *idx, int n, int batch,
                      eval_result *res, int32_t *preds, int quiet);

#endif
