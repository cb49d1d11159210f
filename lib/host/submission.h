/*
 * submission.h - the Kaggle submission writer (submission.c).
 */
#ifndef CLVIT_SUBMISSION_H
#define CLVIT_SUBMISSION_H

#include "common.h"

/*
 * Kaggle submission CSV: "ImageId,Label" then "i,preds[i-1]" for i = 1..n. Atomic: written
 * to PATH.tmp.PID, fsync'ed, renamed over path.
 */
clvit_status clvit_write_submission(const char *path, const int32_t *preds, int n);

#endif /* CLVIT_SUBMISSION_H */
