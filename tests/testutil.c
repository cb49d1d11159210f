/*
 * testutil.c - see testutil.h.
 */
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

float *tu_read_tensor(const clvit_st_file *f, const char *name, int64_t *numel) {
    const clvit_st_tensor *t = clvit_st_find(f, name);
    assert_non_null(t);
    float *x = malloc((size_t)t->numel * sizeof *x);
    assert_non_null(x);
    assert_int_equal(clvit_st_read_f32(f, t, x), CLVIT_SUCCESS);
    if (numel) *numel = t->numel;
    return x;
}

static int cap_fd = -1, saved_fd = -1;
static char cap_path[64];

void tu_capture_start(void) {
    fflush(stderr);
    snprintf(cap_path, sizeof cap_path, "/tmp/clvit_test_capXXXXXX");
    cap_fd = mkstemp(cap_path);
    assert_true(cap_fd >= 0);
    saved_fd = dup(2);
    assert_true(saved_fd >= 0);
    assert_true(dup2(cap_fd, 2) >= 0);
}

char *tu_capture_end(void) {
    fflush(stderr);
    assert_true(dup2(saved_fd, 2) >= 0);
    close(saved_fd);
    close(cap_fd);
    FILE *f = fopen(cap_path, "rb");
    assert_non_null(f);
    char *text = calloc(4096, 1);
    assert_non_null(text);
    size_t n = fread(text, 1, 4095, f);
    text[n] = '\0';
    fclose(f);
    remove(cap_path);
    if (n) printf("  stderr: %s", text);
    return text;
}

int tu_allclose(const char *what, const float *got, const double *ref, size_t n, double atol,
                double rtol) {
    size_t bad = 0;
    double maxdiff = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (!(d <= atol + rtol * fabs(ref[i]))) { /* also catches NaN */
            if (bad < 5)
                printf("  %s[%zu]: got %.7g want %.7g (diff %.3g)\n", what, i, got[i], ref[i], d);
            bad++;
        }
        if (!(d <= maxdiff)) maxdiff = d;
    }
    if (bad)
        printf("  %s: %zu of %zu mismatches, max |diff| %.4g (atol %g, rtol %g)\n", what, bad, n,
               maxdiff, atol, rtol);
    return bad == 0;
}

int tu_allclose_f(const char *what, const float *got, const float *ref, size_t n, double atol,
                  double rtol) {
    double *r = malloc(n * sizeof *r);
    if (!r) return 0;
    for (size_t i = 0; i < n; i++)
        r[i] = ref[i];
    int ok = tu_allclose(what, got, r, n, atol, rtol);
    free(r);
    return ok;
}

void tu_fill_uniform(float *x, size_t n, uint64_t *state, float lo, float hi) {
    for (size_t i = 0; i < n; i++) {
        *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
        double u = (double)(*state >> 11) / 9007199254740992.0;
        x[i] = lo + (float)u * (hi - lo);
    }
}

static clvit_ctx *shared_ctx;

static void free_ctx(void) {
    clvit_ctx_free(shared_ctx);
    shared_ctx = NULL;
}

/* The context is released by the group teardown, before main returns: an atexit handler runs
 * after the C++ thread_local destructors, and Oclgrind 21.10's runtime pushes every API call's
 * name onto a thread_local std::stack, so OpenCL calls made from atexit write into freed memory
 * there ("corrupted double-linked list"; docs/oclgrind.md). atexit stays as the fallback. */
int tu_teardown(void **state) {
    (void)state;
    free_ctx();
    return 0;
}

int tu_small(void) {
    const char *v = getenv("CLVIT_TEST_SMALL");
    return v && *v && strcmp(v, "0") != 0;
}

clvit_ctx *tu_ctx(void) {
    static int registered;
    if (!shared_ctx) {
        clvit_status st = clvit_ctx_create(&shared_ctx, NULL);
        if (st != CLVIT_SUCCESS) {
            fprintf(stderr, "no OpenCL context: %s: %s\n", clvit_status_string(st),
                    clvit_last_error());
            exit(1);
        }
        if (!registered) atexit(free_ctx);
        registered = 1;
    }
    return shared_ctx;
}
