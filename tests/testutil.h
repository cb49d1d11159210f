/*
 * testutil.h - helpers for device tests: the shared context, random data, fixture tensors,
 * stderr capture, and the tolerance check |a - r| <= atol + rtol * |r| that prints the first
 * mismatches.
 */
#ifndef CLVIT_TESTUTIL_H
#define CLVIT_TESTUTIL_H

#include "clvit.h"
#include "host/safetensors.h"
#include <stddef.h>
#include <stdint.h>

/* Returns 1 when every element is within tolerance; else prints up to 5 mismatches and the
 * max difference, and returns 0. */
int tu_allclose(const char *what, const float *got, const double *ref, size_t n, double atol,
                double rtol);
int tu_allclose_f(const char *what, const float *got, const float *ref, size_t n, double atol,
                  double rtol);
/* Deterministic uniform floats in [lo, hi). */
void tu_fill_uniform(float *x, size_t n, uint64_t *state, float lo, float hi);
/* Tensor `name` of f as a malloc'ed float array (*numel its size, when numel is not NULL);
 * a missing tensor or a failed read fails the test. */
float *tu_read_tensor(const clvit_st_file *f, const char *name, int64_t *numel);
/* stderr captured between tu_capture_start and tu_capture_end, which returns what was written
 * (malloc'ed, the caller frees) and echoes it to stdout. */
void tu_capture_start(void);
char *tu_capture_end(void);
/* The test context (CLVIT_DEVICE or default device), created once. */
clvit_ctx *tu_ctx(void);
/* cmocka group teardown that releases the test context: pass it to cmocka_run_group_tests so
 * that no OpenCL call runs from an atexit handler (see testutil.c). */
int tu_teardown(void **state);
/* 1 when CLVIT_TEST_SMALL is set (scripts/oclgrind.sh sets it): tests leave out their largest
 * shapes, which take many minutes on a simulator. */
int tu_small(void);

#endif
