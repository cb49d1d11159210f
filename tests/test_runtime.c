/*
 * test_runtime.c - the OpenCL runtime: device selection by index, type, name substring and
 * CLVIT_DEVICE, with clear errors for specs that match nothing; the program cache (a cold
 * build writes the disk cache, a new context loads from it, "off" disables it); the
 * CLVIT_KERNEL_DIR developer override; a failing build reporting the compiler's log; and
 * the CLBlast GEMM parameters (CLVIT_GEMM_TUNING, the per-device file in the cache, the
 * built-in table): malformed files give one error naming the file and line, a damaged cache
 * file is ignored, and GEMMs under a tuned parameter set are still correct.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <math.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gemm_plan.h"

static void test_device_selection(void **s) {
    (void)s;
    clvit_device_info *infos;
    int n;
    assert_int_equal(clvit_list_devices(&infos, &n), CLVIT_SUCCESS);
    assert_true(n >= 1);
    clvit_ctx *ctx;
    char spec[32];
    snprintf(spec, sizeof spec, "%d:%d", infos[0].platform_index, infos[0].device_index);
    assert_int_equal(clvit_ctx_create(&ctx, spec), CLVIT_SUCCESS);
    assert_string_equal(clvit_ctx_device(ctx)->name, infos[0].name);
    clvit_ctx_free(ctx);
    /* a case-changed piece of the name selects the same device */
    char piece[8] = {0};
    for (int i = 0; i < 6 && infos[0].name[i]; i++)
        piece[i] = (char)toupper((unsigned char)infos[0].name[i]);
    assert_int_equal(clvit_ctx_create(&ctx, piece), CLVIT_SUCCESS);
    assert_string_equal(clvit_ctx_device(ctx)->name, infos[0].name);
    clvit_ctx_free(ctx);
    const char *type = infos[0].is_gpu ? "gpu" : infos[0].is_cpu ? "cpu" : NULL;
    if (type) {
        assert_int_equal(clvit_ctx_create(&ctx, type), CLVIT_SUCCESS);
        clvit_ctx_free(ctx);
    }
    assert_int_equal(clvit_ctx_create(&ctx, "99:99"), CLVIT_ERR_NO_DEVICE);
    assert_non_null(strstr(clvit_last_error(), "no device 99:99"));
    assert_int_equal(clvit_ctx_create(&ctx, "no-such-device-anywhere"), CLVIT_ERR_NO_DEVICE);
    assert_non_null(strstr(clvit_last_error(), "no-such-device-anywhere"));
    /* the environment variable is used when no spec is given */
    setenv("CLVIT_DEVICE", "no-such-device-anywhere", 1);
    assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_ERR_NO_DEVICE);
    assert_non_null(strstr(clvit_last_error(), "CLVIT_DEVICE"));
    setenv("CLVIT_DEVICE", spec, 1);
    assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_SUCCESS);
    clvit_ctx_free(ctx);
    unsetenv("CLVIT_DEVICE");
    free(infos);
}

static int count_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".bin")) n++;
    closedir(d);
    return n;
}

static void test_program_cache(void **s) {
    (void)s;
    char dir[] = "/tmp/clvit_cacheXXXXXX";
    assert_non_null(mkdtemp(dir));
    setenv("CLVIT_CACHE_DIR", dir, 1);
    clvit_ctx *ctx;
    cl_kernel k, k2;
    /* CLVIT_BINARY_CACHE=0: nothing written, whatever the device */
    setenv("CLVIT_BINARY_CACHE", "0", 1);
    assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_SUCCESS);
    assert_int_equal(clvit_kernel(ctx, "linear.cl", "bias_add", NULL, &k), CLVIT_SUCCESS);
    assert_int_equal(ctx->builds_compiled, 1);
    clvit_ctx_free(ctx);
    assert_int_equal(count_files(dir), 0);
    /* the mechanism itself (on PoCL it is off by default: PoCL caches kernels itself) */
    setenv("CLVIT_BINARY_CACHE", "1", 1);
    assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_SUCCESS);
    assert_int_equal(clvit_kernel(ctx, "linear.cl", "bias_add", NULL, &k), CLVIT_SUCCESS);
    assert_int_equal(clvit_kernel(ctx, "linear.cl", "bias_add", NULL, &k2), CLVIT_SUCCESS);
    assert_ptr_equal(k, k2); /* memory cache */
    assert_int_equal(ctx->builds_compiled, 1);
    assert_int_equal(ctx->builds_from_disk, 0);
    clvit_ctx_free(ctx);
    assert_int_equal(count_files(dir), 1);
    assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_SUCCESS);
    assert_int_equal(clvit_kernel(ctx, "linear.cl", "bias_add", NULL, &k), CLVIT_SUCCESS);
    assert_int_equal(ctx->builds_compiled, 0);
    assert_int_equal(ctx->builds_from_disk, 1); /* warm: from disk */
    /* other options are another program */
    assert_int_equal(clvit_kernel(ctx, "linear.cl", "bias_add", "-DUNUSED=1", &k2), CLVIT_SUCCESS);
    assert_int_equal(ctx->builds_compiled, 1);
    clvit_ctx_free(ctx);
    assert_int_equal(count_files(dir), 2);
    /* a corrupt cache file is rebuilt from source, not trusted */
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strstr(e->d_name, ".bin")) continue;
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "wb");
        fputs("garbage", f);
        fclose(f);
    }
    closedir(d);
    assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_SUCCESS);
    assert_int_equal(clvit_kernel(ctx, "linear.cl", "bias_add", NULL, &k), CLVIT_SUCCESS);
    assert_int_equal(ctx->builds_compiled, 1);
    clvit_ctx_free(ctx);
    /* "off" disables the disk cache */
    setenv("CLVIT_CACHE_DIR", "off", 1);
    assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_SUCCESS);
    assert_string_equal(ctx->cache_dir, "");
    assert_int_equal(clvit_kernel(ctx, "linear.cl", "bias_add", NULL, &k), CLVIT_SUCCESS);
    assert_int_equal(ctx->builds_compiled, 1);
    clvit_ctx_free(ctx);
    unsetenv("CLVIT_CACHE_DIR");
    unsetenv("CLVIT_BINARY_CACHE");
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_kernel_dir_and_build_log(void **s) {
    (void)s;
    char dir[] = "/tmp/clvit_kdirXXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/broken.cl", dir);
    FILE *f = fopen(path, "w");
    fputs("__kernel void broken(__global float *x) { x[0] = undefined_name; }\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/fine.cl", dir);
    f = fopen(path, "w");
    fputs("__kernel void fine(__global float *x) { x[get_global_id(0)] = 1.0f; }\n", f);
    fclose(f);
    setenv("CLVIT_KERNEL_DIR", dir, 1);
    setenv("CLVIT_CACHE_DIR", "off", 1);
    clvit_ctx *ctx;
    cl_kernel k;
    assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_SUCCESS);
    assert_int_equal(clvit_kernel(ctx, "fine.cl", "fine", NULL, &k), CLVIT_SUCCESS);
    assert_int_equal(clvit_kernel(ctx, "broken.cl", "broken", NULL, &k), CLVIT_ERR_BUILD);
    printf("  build error: %.200s\n", clvit_last_error());
    assert_non_null(strstr(clvit_last_error(), "broken.cl"));
    assert_non_null(strstr(clvit_last_error(), "undefined_name")); /* from the compiler log */
    assert_int_equal(clvit_kernel(ctx, "absent.cl", "x", NULL, &k), CLVIT_ERR_IO);
    assert_int_equal(clvit_kernel(ctx, "fine.cl", "no_such_kernel", NULL, &k),
                     CL_INVALID_KERNEL_NAME);
    clvit_ctx_free(ctx);
    unsetenv("CLVIT_KERNEL_DIR");
    /* without the override the embedded sources are used: fine.cl is not one of them */
    assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_SUCCESS);
    assert_int_equal(clvit_kernel(ctx, "fine.cl", "fine", NULL, &k), CLVIT_ERR_NOT_FOUND);
    clvit_ctx_free(ctx);
    unsetenv("CLVIT_CACHE_DIR");
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* C = A B^T (trans_b) or A^T B (trans_a) through CLBlast against double precision. */
static void check_gemm(clvit_ctx *ctx, int ta, int tb, size_t m, size_t n, size_t k) {
    float *a = malloc(m * k * sizeof *a), *b = malloc(k * n * sizeof *b),
          *c = malloc(m * n * sizeof *c);
    for (size_t i = 0; i < m * k; i++)
        a[i] = (float)((i * 37 % 101) / 50.0 - 1.0);
    for (size_t i = 0; i < k * n; i++)
        b[i] = (float)((i * 53 % 97) / 48.0 - 1.0);
    cl_mem da, db, dc;
    assert_int_equal(clvit_buffer(ctx, m * k, &da), CLVIT_SUCCESS);
    assert_int_equal(clvit_buffer(ctx, k * n, &db), CLVIT_SUCCESS);
    assert_int_equal(clvit_buffer(ctx, m * n, &dc), CLVIT_SUCCESS);
    assert_int_equal(clvit_write(ctx, da, 0, a, m * k), CLVIT_SUCCESS);
    assert_int_equal(clvit_write(ctx, db, 0, b, k * n), CLVIT_SUCCESS);
    const size_t lda = ta ? m : k, ldb = tb ? k : n;
    /* CLBlast itself, whatever the GEMM plan would pick */
    const clvit_gemm_op op = {.ta = ta,
                              .tb = tb,
                              .m = m,
                              .n = n,
                              .k = k,
                              .alpha = 1.0f,
                              .a = CLVIT_T(da, 0),
                              .b = CLVIT_T(db, 0),
                              .c = CLVIT_T(dc, 0),
                              .lda = lda,
                              .ldb = ldb,
                              .ldc = n,
                              .batch = 1};
    assert_int_equal(clvit_gemm_launch(ctx, "t", &op, clvit_gemm_cand_find("clblast")),
                     CLVIT_SUCCESS);
    assert_int_equal(clvit_read(ctx, dc, 0, c, m * n), CLVIT_SUCCESS);
    double worst = 0.0;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double ref = 0.0;
            for (size_t p = 0; p < k; p++)
                ref += (double)(ta ? a[p * lda + i] : a[i * lda + p]) *
                       (double)(tb ? b[j * ldb + p] : b[p * ldb + j]);
            double d = fabs(c[i * n + j] - ref);
            if (d > worst) worst = d;
        }
    assert_true(worst < 1e-4 * (double)k);
    clReleaseMemObject(da);
    clReleaseMemObject(db);
    clReleaseMemObject(dc);
    free(a);
    free(b);
    free(c);
}

#define TUNED_XGEMM                                                                                \
    "Xgemm GEMMK=0 KREG=1 KWG=32 KWI=8 MDIMA=4 MDIMC=4 MWG=64 NDIMB=8 NDIMC=8 NWG=64 SA=0 SB=0 "   \
    "STRM=0 STRN=0 VWM=16 VWN=2\n"

static void test_gemm_tuning(void **s) {
    (void)s;
    char dir[] = "/tmp/clvit_tuneXXXXXX";
    assert_non_null(mkdtemp(dir));
    setenv("CLVIT_CACHE_DIR", dir, 1);
    char path[256];
    clvit_ctx *ctx;
    setenv("CLVIT_GEMM_TUNING", "off", 1);
    assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_SUCCESS);
    assert_string_equal(clvit_ctx_gemm_tuning(ctx), "CLBlast database");
    clvit_ctx_free(ctx);
    /* an explicit file that is missing or malformed: one error naming the file and line */
    snprintf(path, sizeof path, "%s/absent.txt", dir);
    setenv("CLVIT_GEMM_TUNING", path, 1);
    assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_ERR_IO);
    assert_non_null(strstr(clvit_last_error(), path));
    static const struct {
        const char *text, *expect;
    } bad[] = {
        {"# comment\nXgemm KWG\n", "line 2: expected NAME=VALUE"},
        {"Xgemm KWG=x16\n", "line 1: 'KWG=x16' needs a whole number"},
        {"\n\nXgemm\n", "line 3: kernel 'Xgemm' has no parameters"},
        {"Xgemm KWG=16\n", "CLBlast rejected the parameters for 'Xgemm'"},
        {"NoSuchKernel A=1\n", "CLBlast rejected"},
    };
    snprintf(path, sizeof path, "%s/bad.txt", dir);
    setenv("CLVIT_GEMM_TUNING", path, 1);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, bad[i].text);
        assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_ERR_FORMAT);
        printf("  bad tuning file: %s\n", clvit_last_error());
        assert_non_null(strstr(clvit_last_error(), path));
        assert_non_null(strstr(clvit_last_error(), bad[i].expect));
    }
    /* a valid explicit file: applied, and GEMMs (odd sizes, padded) are still right */
    snprintf(path, sizeof path, "%s/good.txt", dir);
    setenv("CLVIT_GEMM_TUNING", path, 1);
    write_file(path, "# tuned\nGemmRoutine XGEMM_MIN_INDIRECT_SIZE=16\n" TUNED_XGEMM);
    assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_SUCCESS);
    assert_string_equal(clvit_ctx_gemm_tuning(ctx), path);
    check_gemm(ctx, 0, 1, 100, 70, 37);
    check_gemm(ctx, 0, 0, 130, 64, 64);
    check_gemm(ctx, 1, 0, 64, 48, 200);
    clvit_ctx_free(ctx);
    /* the device's file in the cache is used without the variable... */
    unsetenv("CLVIT_GEMM_TUNING");
    assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_SUCCESS);
    const char *builtin = clvit_gemm_tuning_builtin(ctx);
    if (builtin)
        assert_non_null(strstr(clvit_ctx_gemm_tuning(ctx), "built-in"));
    else
        assert_string_equal(clvit_ctx_gemm_tuning(ctx), "CLBlast database");
    char cache_file[600];
    clvit_gemm_tuning_path(ctx, cache_file, sizeof cache_file);
    assert_non_null(strstr(cache_file, dir));
    clvit_ctx_free(ctx);
    write_file(cache_file, "GemmRoutine XGEMM_MIN_INDIRECT_SIZE=16\n" TUNED_XGEMM);
    assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_SUCCESS);
    assert_string_equal(clvit_ctx_gemm_tuning(ctx), cache_file);
    check_gemm(ctx, 0, 1, 33, 20, 64);
    clvit_ctx_free(ctx);
    /* ...and a damaged one is ignored, as a damaged program binary is */
    write_file(cache_file, "Xgemm garbage\n");
    assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_SUCCESS);
    assert_string_not_equal(clvit_ctx_gemm_tuning(ctx), cache_file);
    clvit_ctx_free(ctx);
    unsetenv("CLVIT_CACHE_DIR");
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_selection), cmocka_unit_test(test_program_cache),
        cmocka_unit_test(test_kernel_dir_and_build_log), cmocka_unit_test(test_gemm_tuning)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
