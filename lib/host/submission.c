/*
 * submission.c - see include/clvit_data.h: the Kaggle digit-recognizer submission CSV
 * ("ImageId,Label", then one "id,label" line per image, ids from 1), written atomically.
 */
#include "clvit_data.h"
#include "common.h"

#include <stdio.h>

clvit_status clvit_write_submission(const char *path, const int32_t *preds, int n) {
    if (!path || (!preds && n > 0) || n < 0)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "submission: bad arguments (n=%d)", n);
    char *tmp;
    FILE *f;
    CLVIT_CHECK(clvit_atomic_open(path, &f, &tmp));
    int ok = fputs("ImageId,Label\n", f) >= 0;
    for (int i = 0; ok && i < n; i++)
        ok = fprintf(f, "%d,%d\n", i + 1, (int)preds[i]) > 0;
    return clvit_atomic_commit(f, tmp, path, ok);
}
