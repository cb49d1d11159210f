/*
 * test_runtime.c - the OpenCL runtime: device selection by index, type, name substring and
 * CLVIT_DEVICE, with clear errors for specs that match nothing; the program cache (a cold
 * build writes the disk cache, a new context loads from it, "off" disables it); the
 * CLVIT_KERNEL_DIR developer override; a failing build reporting the compiler's log; and
 * the CLBlast GEMM parameters (CLVIT_GEMM_TUNING, the per-device file in the cache, the
 * built-in table): malformed files give one error naming the file and line, a damaged cache
 * file is ignored, and GEMMs under a tuned parameter set are still correct. Then the default
 * device rule on synthetic device lists; the device-limit emulation (CLVIT_MAX_ALLOC,
 * CLVIT_MAX_WORK_GROUP: the limits in clvit_ctx_device, a malformed value one clear error);
 * explicit work-group sizes (chosen within the limit, padding ignored by 1-D and 3-D
 * kernels, a size over the limit an error naming the kernel, not a crash); and -cl-std
 * chosen from the OpenCL C version, with the disk cache keyed by the options as built. And
 * the device-memory account (clvit_device_memory_in_use): a model and trainer that ran a step
 * hold at least what the trainer reports, and once they and the context are freed the count
 * is back where it began.
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
#include <time.h>
#include <unistd.h>

#include "gemm_plan.h"

/* CLVIT_DEVICE as the test run set it (CI may pick a device with it), restored after tests
 * that change it. */
static char *saved_device_env;

static void restore_device_env(void) {
    if (saved_device_env)
        setenv("CLVIT_DEVICE", saved_device_env, 1);
    else
        unsetenv("CLVIT_DEVICE");
}

/* The emulated limits as the test run set them (CI may run every test under them): cleared
 * while the tests of the emulation itself run, then restored. */
static const char *const LIMIT_VARS[2] = {"CLVIT_MAX_ALLOC", "CLVIT_MAX_WORK_GROUP"};
static char *saved_limits[2];

static void clear_limits(void) {
    for (int i = 0; i < 2; i++) {
        const char *v = getenv(LIMIT_VARS[i]);
        free(saved_limits[i]);
        saved_limits[i] = v ? strdup(v) : NULL;
        unsetenv(LIMIT_VARS[i]);
    }
}

static void restore_limits(void) {
    for (int i = 0; i < 2; i++) {
        if (saved_limits[i])
            setenv(LIMIT_VARS[i], saved_limits[i], 1);
        else
            unsetenv(LIMIT_VARS[i]);
        free(saved_limits[i]);
        saved_limits[i] = NULL;
    }
}

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
    /* without either, the default rule's device */
    unsetenv("CLVIT_DEVICE");
    const int def = clvit_default_device_index(infos, n);
    assert_true(def >= 0 && def < n);
    assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_SUCCESS);
    assert_int_equal(clvit_ctx_device(ctx)->platform_index, infos[def].platform_index);
    assert_int_equal(clvit_ctx_device(ctx)->device_index, infos[def].device_index);
    clvit_ctx_free(ctx);
    restore_device_env();
    free(infos);
}

/* A synthetic device for the default rule. */
static clvit_device_info fake_device(const char *name, int gpu, int cpu, int unified, unsigned cu,
                                     unsigned mhz, uint64_t mem_gib) {
    clvit_device_info d;
    memset(&d, 0, sizeof d);
    snprintf(d.name, sizeof d.name, "%s", name);
    d.is_gpu = gpu;
    d.is_cpu = cpu;
    d.host_unified_memory = unified;
    d.compute_units = cu;
    d.clock_mhz = mhz;
    d.global_mem_bytes = mem_gib << 30;
    return d;
}

static void test_default_device_rule(void **s) {
    (void)s;
    const clvit_device_info cpu = fake_device("big cpu", 0, 1, 1, 64, 3000, 256),
                            igpu = fake_device("igpu", 1, 0, 1, 96, 1300, 16),
                            dgpu = fake_device("dgpu", 1, 0, 0, 20, 1500, 8),
                            accel = fake_device("accel", 0, 0, 0, 4, 500, 1);
    /* kind first, whatever the order and however fast the others are */
    {
        const clvit_device_info l[] = {cpu, igpu, accel, dgpu};
        assert_int_equal(clvit_default_device_index(l, 4), 3);
        assert_int_equal(clvit_default_device_index(l, 3), 1); /* no discrete GPU */
        assert_int_equal(clvit_default_device_index(l, 1), 0); /* only a CPU */
    }
    {
        const clvit_device_info l[] = {cpu, accel};
        assert_int_equal(clvit_default_device_index(l, 2), 1); /* accelerator before CPU */
    }
    assert_int_equal(clvit_default_device_index(&cpu, 0), -1);
    assert_int_equal(clvit_default_device_index(NULL, 3), -1);
    /* among equals: compute units x clock, then global memory, then list order */
    {
        const clvit_device_info l[] = {fake_device("small", 1, 0, 0, 30, 1500, 24),
                                       fake_device("fast", 1, 0, 0, 40, 1500, 8),
                                       fake_device("fast, more memory", 1, 0, 0, 60, 1000, 12),
                                       fake_device("fast, more memory 2", 1, 0, 0, 60, 1000, 12)};
        assert_int_equal(clvit_default_device_index(l, 2), 1);
        assert_int_equal(clvit_default_device_index(l, 4), 2);
    }
    /* the specs: "gpu" and "cpu" apply the rule within their type; NULL the whole rule */
    unsetenv("CLVIT_DEVICE");
    const clvit_device_info l[] = {cpu, igpu, dgpu, fake_device("cpu 2", 0, 1, 1, 2, 2000, 4)};
    int i = -1;
    assert_int_equal(clvit_select_device(l, 4, NULL, &i), CLVIT_SUCCESS);
    assert_int_equal(i, 2);
    assert_int_equal(clvit_select_device(l, 4, "gpu", &i), CLVIT_SUCCESS);
    assert_int_equal(i, 2);
    assert_int_equal(clvit_select_device(l, 4, "cpu", &i), CLVIT_SUCCESS);
    assert_int_equal(i, 0);
    assert_int_equal(clvit_select_device(l, 4, "IGP", &i), CLVIT_SUCCESS);
    assert_int_equal(i, 1);
    assert_int_equal(clvit_select_device(l, 1, "gpu", &i), CLVIT_ERR_NO_DEVICE);
    assert_non_null(strstr(clvit_last_error(), "no GPU device"));
    setenv("CLVIT_DEVICE", "cpu 2", 1);
    assert_int_equal(clvit_select_device(l, 4, NULL, &i), CLVIT_SUCCESS);
    assert_int_equal(i, 3);
    restore_device_env();
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

static void test_emulated_limits(void **s) {
    (void)s;
    clear_limits();
    uint64_t bytes = 0;
    assert_true(clvit_parse_size("64M", &bytes) && bytes == 64u << 20);
    assert_true(clvit_parse_size("3k", &bytes) && bytes == 3072);
    assert_true(clvit_parse_size("2G", &bytes) && bytes == 2ull << 30);
    assert_true(clvit_parse_size("1000", &bytes) && bytes == 1000);
    static const char *bad_sizes[] = {"",
                                      "0",
                                      "M",
                                      "-5",
                                      " 64M",
                                      "64MB",
                                      "64 M",
                                      "1.5G",
                                      "x64",
                                      "99999999999999999999",
                                      "17179869184G"};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++)
        assert_false(clvit_parse_size(bad_sizes[i], &bytes));
    clvit_ctx *ctx;
    assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_SUCCESS);
    const clvit_device_info real = *clvit_ctx_device(ctx);
    assert_int_equal(real.limits_emulated, 0);
    clvit_ctx_free(ctx);
    /* lower limits are emulated, and the context and the device list both show them */
    setenv("CLVIT_MAX_ALLOC", "64M", 1);
    setenv("CLVIT_MAX_WORK_GROUP", "64", 1);
    assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_SUCCESS);
    const clvit_device_info *d = clvit_ctx_device(ctx);
    assert_string_equal(d->name, real.name);
    if (real.max_alloc_bytes > (64u << 20)) {
        assert_int_equal(d->max_alloc_bytes, 64u << 20);
        assert_true(d->limits_emulated & CLVIT_EMULATED_MAX_ALLOC);
        /* a buffer over it fails as it would on such a device, naming the variable */
        cl_mem buf;
        assert_int_equal(clvit_buffer(ctx, (64u << 20) / sizeof(float) + 1, &buf),
                         CL_INVALID_BUFFER_SIZE);
        assert_non_null(strstr(clvit_last_error(), "CLVIT_MAX_ALLOC"));
        assert_int_equal(clvit_buffer(ctx, (64u << 20) / sizeof(float), &buf), CLVIT_SUCCESS);
        clReleaseMemObject(buf);
    }
    if (real.max_work_group_size > 64) {
        assert_int_equal(d->max_work_group_size, 64);
        assert_true(d->limits_emulated & CLVIT_EMULATED_MAX_WORK_GROUP);
    }
    clvit_ctx_free(ctx);
    clvit_device_info *infos;
    int n;
    assert_int_equal(clvit_list_devices(&infos, &n), CLVIT_SUCCESS);
    for (int i = 0; i < n; i++) {
        assert_true(infos[i].max_alloc_bytes <= (64u << 20));
        assert_true(infos[i].max_work_group_size <= 64);
    }
    free(infos);
    /* limits above the device's change nothing */
    setenv("CLVIT_MAX_ALLOC", "1048576G", 1);
    setenv("CLVIT_MAX_WORK_GROUP", "1000000", 1);
    assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_SUCCESS);
    assert_int_equal(clvit_ctx_device(ctx)->max_alloc_bytes, real.max_alloc_bytes);
    assert_int_equal(clvit_ctx_device(ctx)->max_work_group_size, real.max_work_group_size);
    assert_int_equal(clvit_ctx_device(ctx)->limits_emulated, 0);
    clvit_ctx_free(ctx);
    /* a malformed value: one clear error from both entry points, not a silent default */
    unsetenv("CLVIT_MAX_WORK_GROUP");
    static const char *bad_alloc[] = {"lots", "0", "64X", "-1M"};
    for (size_t i = 0; i < sizeof bad_alloc / sizeof bad_alloc[0]; i++) {
        setenv("CLVIT_MAX_ALLOC", bad_alloc[i], 1);
        ctx = NULL;
        assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_ERR_INVALID_ARG);
        assert_null(ctx);
        assert_non_null(strstr(clvit_last_error(), "CLVIT_MAX_ALLOC"));
        assert_non_null(strstr(clvit_last_error(), bad_alloc[i]));
        assert_int_equal(clvit_list_devices(&infos, &n), CLVIT_ERR_INVALID_ARG);
    }
    printf("  bad CLVIT_MAX_ALLOC: %s\n", clvit_last_error());
    unsetenv("CLVIT_MAX_ALLOC");
    static const char *bad_wg[] = {"none", "0", "64k", "1e3"};
    for (size_t i = 0; i < sizeof bad_wg / sizeof bad_wg[0]; i++) {
        setenv("CLVIT_MAX_WORK_GROUP", bad_wg[i], 1);
        assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_ERR_INVALID_ARG);
        assert_non_null(strstr(clvit_last_error(), "CLVIT_MAX_WORK_GROUP"));
    }
    printf("  bad CLVIT_MAX_WORK_GROUP: %s\n", clvit_last_error());
    /* an empty value is no value */
    setenv("CLVIT_MAX_WORK_GROUP", "", 1);
    assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_SUCCESS);
    assert_int_equal(clvit_ctx_device(ctx)->limits_emulated, 0);
    clvit_ctx_free(ctx);
    restore_limits();
}

/* Kernels that record, per item, the local size they ran with, and ignore padding ids. */
static const char *const LAUNCH_CL =
    "__kernel void ids1(__global int *out, int n) {\n"
    "    const size_t i = get_global_id(0);\n"
    "    if (i >= (size_t)n) return;\n"
    "    out[i] = (int)get_local_size(0);\n"
    "}\n"
    "__kernel void ids3(__global int *out, __global int *wg, int n0, int n1) {\n"
    "    const int i0 = get_global_id(0), i1 = get_global_id(1), i2 = get_global_id(2);\n"
    "    if (i0 >= n0 || i1 >= n1) return;\n"
    "    const size_t at = ((size_t)i2 * n1 + i1) * n0 + i0;\n"
    "    out[at] = i0 + 1000 * i1 + 1000000 * i2;\n"
    "    wg[at] = (int)(get_local_size(0) * get_local_size(1) * get_local_size(2));\n"
    "}\n";

static void read_ints(clvit_ctx *ctx, cl_mem buf, int *dst, size_t n) {
    assert_int_equal(
        clEnqueueReadBuffer(ctx->queue, buf, CL_TRUE, 0, n * sizeof *dst, dst, 0, NULL, NULL),
        CL_SUCCESS);
}

/* Launches ids1 over n items with `local` (0: the runtime's choice); the local size used, or
 * -1 when the launch failed; every item checked. */
static int run_ids1(clvit_ctx *ctx, cl_kernel k, int n, size_t local) {
    cl_mem buf;
    assert_int_equal(clvit_buffer(ctx, (size_t)n, &buf), CLVIT_SUCCESS);
    int *host = malloc((size_t)n * sizeof *host);
    assert_int_equal(clvit_args(k, 2, CLVIT_A(buf), CLVIT_A(n)), CLVIT_SUCCESS);
    int used = -1;
    if (clvit_launch(ctx, k, "ids1", (size_t)n, local) == CLVIT_SUCCESS) {
        read_ints(ctx, buf, host, (size_t)n);
        used = host[0];
        for (int i = 0; i < n; i++)
            assert_int_equal(host[i], used);
    }
    free(host);
    clReleaseMemObject(buf);
    return used;
}

/* Launches ids3 over (n0, n1, n2); checks every item and returns the work-group size. */
static int run_ids3(clvit_ctx *ctx, cl_kernel k, int n0, int n1, int n2) {
    const size_t total = (size_t)n0 * n1 * n2;
    cl_mem out, wg;
    assert_int_equal(clvit_buffer(ctx, total, &out), CLVIT_SUCCESS);
    assert_int_equal(clvit_buffer(ctx, total, &wg), CLVIT_SUCCESS);
    assert_int_equal(clvit_fill(ctx, out, 0, -1.0f, total), CLVIT_SUCCESS);
    assert_int_equal(clvit_args(k, 4, CLVIT_A(out), CLVIT_A(wg), CLVIT_A(n0), CLVIT_A(n1)),
                     CLVIT_SUCCESS);
    assert_int_equal(clvit_launch3(ctx, k, "ids3", (size_t)n0, (size_t)n1, (size_t)n2),
                     CLVIT_SUCCESS);
    int *o = malloc(total * sizeof *o), *w = malloc(total * sizeof *w);
    read_ints(ctx, out, o, total);
    read_ints(ctx, wg, w, total);
    for (int i2 = 0; i2 < n2; i2++)
        for (int i1 = 0; i1 < n1; i1++)
            for (int i0 = 0; i0 < n0; i0++) {
                const size_t at = ((size_t)i2 * n1 + i1) * n0 + i0;
                assert_int_equal(o[at], i0 + 1000 * i1 + 1000000 * i2);
                assert_int_equal(w[at], w[0]);
            }
    const int used = w[0];
    free(o);
    free(w);
    clReleaseMemObject(out);
    clReleaseMemObject(wg);
    return used;
}

static void test_local_sizes(void **s) {
    (void)s;
    char dir[] = "/tmp/clvit_launchXXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/launch.cl", dir);
    write_file(path, LAUNCH_CL);
    setenv("CLVIT_KERNEL_DIR", dir, 1);
    setenv("CLVIT_CACHE_DIR", "off", 1);
    clear_limits();
    clvit_ctx *ctx;
    cl_kernel k1, k3;
    char opts[32];
    /* the device's own limits: the runtime picks powers of two up to 64 */
    assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_SUCCESS);
    assert_int_equal(clvit_kernel(ctx, "launch.cl", "ids1", NULL, &k1), CLVIT_SUCCESS);
    assert_int_equal(clvit_kernel(ctx, "launch.cl", "ids3", NULL, &k3), CLVIT_SUCCESS);
    const size_t limit = clvit_local_limit(ctx, k1);
    assert_true(limit >= 1 && limit <= ctx->info.max_work_group_size);
    if (limit >= 64) {
        assert_int_equal(run_ids1(ctx, k1, 1000, 0), 64);
        assert_int_equal(run_ids1(ctx, k1, 5, 0), 8); /* no more than 5 items need */
        assert_int_equal(run_ids3(ctx, k3, 37, 5, 3), 64);
        assert_int_equal(run_ids3(ctx, k3, 100, 1, 2), 64);
    }
    assert_int_equal(run_ids1(ctx, k1, 77, 1), 1);
    assert_true(clvit_local_mem_fits(ctx, k1, 1024) || ctx->info.local_mem_bytes < 1024);
    assert_false(clvit_local_mem_fits(ctx, k1, ctx->info.local_mem_bytes + 1));
    clvit_ctx_free(ctx);
    /* an emulated limit of 16: chosen sizes stay within it, larger requests fail clearly */
    setenv("CLVIT_MAX_WORK_GROUP", "16", 1);
    assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_SUCCESS);
    assert_int_equal(clvit_kernel(ctx, "launch.cl", "ids1", NULL, &k1), CLVIT_SUCCESS);
    assert_int_equal(clvit_kernel(ctx, "launch.cl", "ids3", NULL, &k3), CLVIT_SUCCESS);
    assert_int_equal(clvit_local_limit(ctx, k1), 16);
    assert_int_equal(run_ids1(ctx, k1, 1000, 0), 16);
    assert_int_equal(run_ids1(ctx, k1, 1000, 16), 16);
    assert_int_equal(run_ids3(ctx, k3, 37, 5, 3), 16);
    assert_int_equal(run_ids3(ctx, k3, 1, 50, 1), 16);
    assert_int_equal(run_ids1(ctx, k1, 1000, 32), -1);
    printf("  over the limit: %s\n", clvit_last_error());
    assert_non_null(strstr(clvit_last_error(), "kernel ids1"));
    assert_non_null(strstr(clvit_last_error(), "size 32"));
    assert_non_null(strstr(clvit_last_error(), "limit 16"));
    assert_non_null(strstr(clvit_last_error(), "CLVIT_MAX_WORK_GROUP"));
    assert_int_equal(clvit_launch_rows(ctx, k1, "rows", 10, 64), CL_INVALID_WORK_GROUP_SIZE);
    assert_non_null(strstr(clvit_last_error(), "kernel rows"));
    /* the row kernels' size: within the limit for CPUs and, on the GPU path, too */
    assert_true(clvit_row_wgs(ctx, 1000, opts, sizeof opts) <= 16);
    const int was_cpu = ctx->info.is_cpu;
    ctx->info.is_cpu = 0;
    assert_int_equal(clvit_row_wgs(ctx, 1000, opts, sizeof opts), 16);
    assert_string_equal(opts, "-DWGS=16");
    assert_int_equal(clvit_row_wgs(ctx, 5, opts, sizeof opts), 8);
    ctx->info.is_cpu = was_cpu;
    clvit_ctx_free(ctx);
    /* a limit that is no power of two: the runtime's sizes are the power of two below it */
    setenv("CLVIT_MAX_WORK_GROUP", "48", 1);
    assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_SUCCESS);
    assert_int_equal(clvit_kernel(ctx, "launch.cl", "ids1", NULL, &k1), CLVIT_SUCCESS);
    assert_int_equal(clvit_kernel(ctx, "launch.cl", "ids3", NULL, &k3), CLVIT_SUCCESS);
    assert_int_equal(run_ids1(ctx, k1, 1000, 0), 32);
    if (clvit_local_limit(ctx, k1) >= 48) /* rusticl llvmpipe reports 32 for every kernel */
        assert_int_equal(run_ids1(ctx, k1, 1000, 48), 48); /* an explicit 48 is within it */
    assert_int_equal(run_ids3(ctx, k3, 40, 40, 2), 32);
    ctx->info.is_cpu = 0;
    assert_int_equal(clvit_row_wgs(ctx, 1000, opts, sizeof opts), 32);
    ctx->info.is_cpu = 1;
    clvit_ctx_free(ctx);
    restore_limits();
    unsetenv("CLVIT_KERNEL_DIR");
    unsetenv("CLVIT_CACHE_DIR");
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* The build options a program was built with, as the driver reports them. */
static void program_options(clvit_ctx *ctx, const char *file, char *buf, size_t size) {
    buf[0] = '\0';
    for (int i = 0; i < ctx->num_programs; i++)
        if (!strcmp(ctx->programs[i].file, file))
            assert_int_equal(clGetProgramBuildInfo(ctx->programs[i].program, ctx->device,
                                                   CL_PROGRAM_BUILD_OPTIONS, size, buf, NULL),
                             CL_SUCCESS);
}

static void test_cl_std(void **s) {
    (void)s;
    assert_int_equal(clvit_opencl_c_version("OpenCL C 1.2 PoCL"), 102);
    assert_int_equal(clvit_opencl_c_version("OpenCL C 1.1"), 101);
    assert_int_equal(clvit_opencl_c_version("OpenCL C 1.0 "), 100);
    assert_int_equal(clvit_opencl_c_version("OpenCL C 2.0 "), 200);
    assert_int_equal(clvit_opencl_c_version("OpenCL C 3.0"), 300);
    static const char *bad[] = {NULL,           "",           "OpenCL 1.2",    "OpenCL C",
                                "OpenCL C x.y", "OpenCL C 1", "OpenCL C -1.2", "opencl c 1.2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(clvit_opencl_c_version(bad[i]), 0);
    assert_string_equal(clvit_cl_std_option("OpenCL C 1.2 "), "-cl-std=CL1.2");
    assert_string_equal(clvit_cl_std_option("OpenCL C 3.0 "), "-cl-std=CL1.2");
    assert_string_equal(clvit_cl_std_option("OpenCL C 1.1 "), "");
    assert_string_equal(clvit_cl_std_option("OpenCL C 1.0"), "");
    assert_string_equal(clvit_cl_std_option("something else"), "");
    /* on this device: built with the option its version allows, and a device that reports
     * 1.1 gets a build without it, under another disk-cache key */
    char dir[] = "/tmp/clvit_stdXXXXXX";
    assert_non_null(mkdtemp(dir));
    setenv("CLVIT_CACHE_DIR", dir, 1);
    setenv("CLVIT_BINARY_CACHE", "1", 1);
    clvit_ctx *ctx;
    cl_kernel k;
    char built[256];
    assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_SUCCESS);
    const char *expect = clvit_cl_std_option(ctx->info.opencl_c_version);
    printf("  %s: '%s'\n", ctx->info.opencl_c_version, expect);
    assert_int_equal(clvit_kernel(ctx, "linear.cl", "bias_add", NULL, &k), CLVIT_SUCCESS);
    program_options(ctx, "linear.cl", built, sizeof built);
    assert_true(*expect ? strstr(built, expect) != NULL : strstr(built, "-cl-std") == NULL);
    clvit_ctx_free(ctx);
    assert_int_equal(count_files(dir), 1);
    assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_SUCCESS);
    snprintf(ctx->info.opencl_c_version, sizeof ctx->info.opencl_c_version, "OpenCL C 1.1 test");
    assert_int_equal(clvit_kernel(ctx, "linear.cl", "bias_add", NULL, &k), CLVIT_SUCCESS);
    program_options(ctx, "linear.cl", built, sizeof built);
    assert_null(strstr(built, "-cl-std"));
    if (*expect) { /* a different option string: compiled, not the other's binary */
        assert_int_equal(ctx->builds_compiled, 1);
        assert_int_equal(ctx->builds_from_disk, 0);
    }
    clvit_ctx_free(ctx);
    assert_int_equal(count_files(dir), *expect ? 2 : 1);
    unsetenv("CLVIT_CACHE_DIR");
    unsetenv("CLVIT_BINARY_CACHE");
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* Buffers still counted after waiting up to 2 s for the driver to destroy the released ones
 * (it may do so in its own threads, once the commands that used them are done). */
static uint64_t settled_buffers(uint64_t want, uint64_t *bytes) {
    uint64_t n = 0;
    for (int i = 0; i < 200; i++) {
        clvit_device_memory_in_use(&n, bytes);
        if (n <= want) break;
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    return n;
}

static void test_device_memory_account(void **s) {
    (void)s;
    uint64_t n0, b0, n1, b1, n2, b2;
    clvit_device_memory_in_use(&n0, &b0);
    clvit_ctx *ctx = NULL;
    assert_int_equal(clvit_ctx_create(&ctx, NULL), CLVIT_SUCCESS);
    clvit_config cfg;
    assert_int_equal(clvit_preset("vit_mnist_tiny", &cfg), CLVIT_SUCCESS);
    clvit_model *m = NULL;
    assert_int_equal(clvit_model_create(ctx, &cfg, 1, &m), CLVIT_SUCCESS);
    clvit_train_config tc;
    clvit_train_config_default(&tc);
    clvit_trainer *t = NULL;
    assert_int_equal(clvit_trainer_create(m, &tc, 4, &t), CLVIT_SUCCESS);
    float x[4 * 28 * 28];
    for (int i = 0; i < 4 * 28 * 28; i++)
        x[i] = (float)(i % 17) / 17.0f;
    const int32_t y[4] = {1, 2, 3, 4};
    clvit_step_result res;
    assert_int_equal(clvit_train_step(t, x, y, 4, &res), CLVIT_SUCCESS);
    clvit_device_memory_in_use(&n1, &b1);
    printf("  in use: %llu buffers, %llu bytes (trainer: %zu bytes)\n",
           (unsigned long long)(n1 - n0), (unsigned long long)(b1 - b0),
           clvit_trainer_device_bytes(t));
    assert_true(n1 > n0);
    assert_true(b1 - b0 >= clvit_trainer_device_bytes(t));
    cl_mem extra;
    assert_int_equal(clvit_buffer(ctx, 1000, &extra), CLVIT_SUCCESS);
    clvit_device_memory_in_use(&n2, &b2);
    assert_true(n2 == n1 + 1 && b2 == b1 + 4000);
    clReleaseMemObject(extra);
    clvit_trainer_free(t);
    clvit_model_free(m);
    clvit_ctx_free(ctx);
    assert_int_equal(settled_buffers(n0, &b2), n0);
    assert_true(b2 == b0);
}

int main(void) {
    const char *env = getenv("CLVIT_DEVICE");
    saved_device_env = env ? strdup(env) : NULL;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_device_selection),
                                       cmocka_unit_test(test_default_device_rule),
                                       cmocka_unit_test(test_program_cache),
                                       cmocka_unit_test(test_kernel_dir_and_build_log),
                                       cmocka_unit_test(test_gemm_tuning),
                                       cmocka_unit_test(test_emulated_limits),
                                       cmocka_unit_test(test_local_sizes),
                                       cmocka_unit_test(test_cl_std),
                                       cmocka_unit_test(test_device_memory_account)};
    /* CLVIT_TEST_SKIP=test_kernel_dir_and_build_log under Oclgrind --check-api, which reports
     * that test's deliberate build failure and missing kernel as API errors */
    if (getenv("CLVIT_TEST_FILTER")) cmocka_set_test_filter(getenv("CLVIT_TEST_FILTER"));
    if (getenv("CLVIT_TEST_SKIP")) cmocka_set_skip_filter(getenv("CLVIT_TEST_SKIP"));
    const int failed = cmocka_run_group_tests(tests, NULL, NULL);
    free(saved_device_env);
    return failed;
}
