/*
 * test_runtime.c - the OpenCL runtime: device selection by index, type, name substring and
 * CLVIT_DEVICE, with clear errors for specs that match nothing; the program cache (a cold
 * build writes the disk cache, a new context loads from it, "off" disables it); the
 * CLVIT_KERNEL_DIR developer override; and a failing build reporting the compiler's log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device.h"

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

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_device_selection),
                                       cmocka_unit_test(test_program_cache),
                                       cmocka_unit_test(test_kernel_dir_and_build_log)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
