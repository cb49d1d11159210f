/*
 * repro_clblast_oclgrind.c - standalone reproduction for docs/oclgrind.md: is the wrong
 * `clvit forward` under Oclgrind with ~1,000 uninitialised-value reports in CLBlast's
 * XgemmDirectTT a bug of clvit's arguments, of CLBlast, or of the simulator? No clvit code.
 *
 * Build (from the repository root):
 *   cc -std=c11 -O1 -Wall -o build/repro_clblast_oclgrind tools/repro_clblast_oclgrind.c \
 *      -lclblast -lOpenCL
 * Run (each mode prints what it checked and PASS/FAIL; exit status 0 on PASS):
 *   build/repro_clblast_oclgrind sgemm [M N K TA TB A_OFF LDA B_OFF LDB C_OFF LDC]
 *       CLBlastSgemm, row-major, with clvit's patch-embedding call by default (NT, 32x32x49,
 *       A at 1568 with lda 49, B at 576 with ldb 49, beta 0), every buffer written from the
 *       host, checked against a double-precision host product.
 *   build/repro_clblast_oclgrind sgemm-unwritten-a [same]
 *       the same, but A's region is never written (what clvit's im2col output is after
 *       Oclgrind aborts im2col, below): XgemmDirectTT then reads uninitialised memory.
 *   build/repro_clblast_oclgrind freeze
 *       a 3-line kernel with the index split `i % K`, `i / K` of clvit's im2col; LLVM's
 *       DivRemPairs pass turns it into a `freeze` instruction at Oclgrind's default -Oz.
 *   build/repro_clblast_oclgrind shuffle11
 *       v.hi of a float16 (a shufflevector selecting elements 8..15), built with
 *       -cl-opt-disable; its element 3 is v[11] and is never uninitialised.
 * under `oclgrind --uninitialized --data-races --check-api`, and natively for comparison.
 * REPRO_DEVICE=substring picks a device by name (e.g. pthread, llvmpipe); default: the first.
 */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <clblast_c.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                                                \
    do {                                                                                           \
        cl_int e_ = (call);                                                                        \
        if (e_ != CL_SUCCESS) {                                                                    \
            fprintf(stderr, "%s:%d: %s failed: %d\n", __FILE__, __LINE__, #call, e_);              \
            exit(2);                                                                               \
        }                                                                                          \
    } while (0)

static cl_context context;
static cl_command_queue queue;
static cl_device_id device;

static int contains_nocase(const char *hay, const char *needle) {
    for (; *hay; hay++) {
        size_t i = 0;
        while (needle[i] && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (!needle[i]) return 1;
    }
    return 0;
}

static void open_device(void) {
    const char *want = getenv("REPRO_DEVICE");
    cl_platform_id plats[16];
    cl_uint np = 0;
    CHECK(clGetPlatformIDs(16, plats, &np));
    int found = 0;
    for (cl_uint p = 0; p < np && !found; p++) {
        cl_device_id devs[16];
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 16, devs, &nd) != CL_SUCCESS) continue;
        for (cl_uint d = 0; d < nd && !found; d++) {
            char name[256] = "";
            clGetDeviceInfo(devs[d], CL_DEVICE_NAME, sizeof name, name, NULL);
            if (!want || !*want || contains_nocase(name, want)) {
                device = devs[d];
                found = 1;
                printf("device: %s\n", name);
            }
        }
    }
    if (!found) {
        fprintf(stderr, "no OpenCL device%s%s\n", want ? " matching " : "", want ? want : "");
        exit(2);
    }
    cl_int e;
    context = clCreateContext(NULL, 1, &device, NULL, NULL, &e);
    CHECK(e);
    queue = clCreateCommandQueue(context, device, 0, &e);
    CHECK(e);
}

static void close_device(void) {
    /* CLBlast's cached programs, released now rather than by its static destructors at exit,
     * when Oclgrind's runtime no longer takes calls (docs/oclgrind.md) */
    CLBlastClearCache();
    clReleaseCommandQueue(queue);
    clReleaseContext(context);
}

static cl_kernel build_kernel(const char *src, const char *name, const char *options,
                              cl_program *prog) {
    cl_int e;
    *prog = clCreateProgramWithSource(context, 1, &src, NULL, &e);
    CHECK(e);
    if (clBuildProgram(*prog, 1, &device, options, NULL, NULL) != CL_SUCCESS) {
        char log[4096] = "";
        clGetProgramBuildInfo(*prog, device, CL_PROGRAM_BUILD_LOG, sizeof log, log, NULL);
        fprintf(stderr, "build failed:\n%s\n", log);
        exit(2);
    }
    cl_kernel k = clCreateKernel(*prog, name, &e);
    CHECK(e);
    return k;
}

/* Deterministic values in [-1, 1). */
static float value(size_t i, unsigned salt) {
    unsigned x = (unsigned)i * 2654435761u + salt * 40503u;
    x ^= x >> 13;
    x *= 0x5bd1e995u;
    x ^= x >> 15;
    return (float)(x % 2000u) / 1000.0f - 1.0f;
}

static int run_sgemm(int argc, char **argv, int write_a) {
    /* clvit's call for the patch embedding of a 28x28 / patch 7 / batch 2 model: row-major,
     * C (32 x 32) = cols (32 x 49) x W^T, W (32 x 49); see docs/oclgrind.md */
    size_t v[11] = {32, 32, 49, 0, 1, 1568, 49, 576, 49, 3136, 32};
    for (int i = 0; i < 11 && i + 2 < argc; i++)
        v[i] = strtoull(argv[i + 2], NULL, 10);
    const size_t M = v[0], N = v[1], K = v[2], ta = v[3], tb = v[4];
    const size_t a_off = v[5], lda = v[6], b_off = v[7], ldb = v[8], c_off = v[9], ldc = v[10];
    const size_t a_rows = ta ? K : M, b_rows = tb ? N : K;
    const size_t na = a_off + a_rows * lda, nb = b_off + b_rows * ldb, nc = c_off + M * ldc;
    printf("CLBlastSgemm row-major %s%s M %zu N %zu K %zu, A off %zu ld %zu, B off %zu ld %zu, "
           "C off %zu ld %zu, alpha 1, beta 0; A %s\n",
           ta ? "T" : "N", tb ? "T" : "N", M, N, K, a_off, lda, b_off, ldb, c_off, ldc,
           write_a ? "written" : "never written");
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b), *c = malloc(nc * sizeof *c);
    if (!a || !b || !c) return 2;
    for (size_t i = 0; i < na; i++)
        a[i] = value(i, 1);
    for (size_t i = 0; i < nb; i++)
        b[i] = value(i, 2);
    for (size_t i = 0; i < nc; i++)
        c[i] = value(i, 3);
    cl_int e;
    cl_mem da = clCreateBuffer(context, CL_MEM_READ_WRITE, na * sizeof *a, NULL, &e);
    CHECK(e);
    cl_mem db = clCreateBuffer(context, CL_MEM_READ_WRITE, nb * sizeof *b, NULL, &e);
    CHECK(e);
    cl_mem dc = clCreateBuffer(context, CL_MEM_READ_WRITE, nc * sizeof *c, NULL, &e);
    CHECK(e);
    if (write_a)
        CHECK(clEnqueueWriteBuffer(queue, da, CL_TRUE, 0, na * sizeof *a, a, 0, NULL, NULL));
    CHECK(clEnqueueWriteBuffer(queue, db, CL_TRUE, 0, nb * sizeof *b, b, 0, NULL, NULL));
    CHECK(clEnqueueWriteBuffer(queue, dc, CL_TRUE, 0, nc * sizeof *c, c, 0, NULL, NULL));
    CLBlastStatusCode s =
        CLBlastSgemm(CLBlastLayoutRowMajor, ta ? CLBlastTransposeYes : CLBlastTransposeNo,
                     tb ? CLBlastTransposeYes : CLBlastTransposeNo, M, N, K, 1.0f, da, a_off, lda,
                     db, b_off, ldb, 0.0f, dc, c_off, ldc, &queue, NULL);
    if (s != CLBlastSuccess) {
        fprintf(stderr, "CLBlastSgemm: status %d\n", (int)s);
        return 2;
    }
    float *got = malloc(nc * sizeof *got);
    if (!got) return 2;
    CHECK(clEnqueueReadBuffer(queue, dc, CL_TRUE, 0, nc * sizeof *got, got, 0, NULL, NULL));
    double maxerr = 0.0, maxref = 0.0;
    size_t bad = 0;
    for (size_t m = 0; m < M; m++)
        for (size_t n = 0; n < N; n++) {
            double r = 0.0;
            for (size_t k = 0; k < K; k++)
                r += (double)a[a_off + (ta ? k * lda + m : m * lda + k)] *
                     (double)b[b_off + (tb ? n * ldb + k : k * ldb + n)];
            const double d = fabs((double)got[c_off + m * ldc + n] - r);
            if (!(d <= 1e-5 + 1e-4 * fabs(r))) bad++;
            if (!(d <= maxerr)) maxerr = d;
            if (fabs(r) > maxref) maxref = fabs(r);
        }
    for (size_t i = 0; i < c_off; i++) /* C before its offset stays untouched */
        if (got[i] != c[i]) bad++;
    printf("max |C - reference| %.3g (max |reference| %.3g), %zu of %zu elements wrong: %s\n",
           maxerr, maxref, bad, M * N, bad ? "FAIL" : "PASS");
    free(a), free(b), free(c), free(got);
    clReleaseMemObject(da), clReleaseMemObject(db), clReleaseMemObject(dc);
    return bad ? 1 : 0;
}

static int run_freeze(void) {
    /* im2col's index split; -Oz (Oclgrind's default) makes `i % K` a freeze + mul + sub */
    static const char *src = "__kernel void split(__global int *out, int K, int n) {\n"
                             "    const size_t i = get_global_id(0);\n"
                             "    if (i >= (size_t)n) return;\n"
                             "    out[i] = (int)(i % K) * 1000 + (int)(i / K);\n"
                             "}\n";
    enum { n = 37, K = 5 };
    cl_program prog;
    cl_kernel k = build_kernel(src, "split", "", &prog);
    int out[n];
    for (int i = 0; i < n; i++)
        out[i] = -1;
    cl_int e;
    cl_mem d =
        clCreateBuffer(context, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, sizeof out, out, &e);
    CHECK(e);
    const int kk = K, nn = n;
    CHECK(clSetKernelArg(k, 0, sizeof d, &d));
    CHECK(clSetKernelArg(k, 1, sizeof kk, &kk));
    CHECK(clSetKernelArg(k, 2, sizeof nn, &nn));
    const size_t global = 40, local = 8;
    CHECK(clEnqueueNDRangeKernel(queue, k, 1, NULL, &global, &local, 0, NULL, NULL));
    CHECK(clEnqueueReadBuffer(queue, d, CL_TRUE, 0, sizeof out, out, 0, NULL, NULL));
    int bad = 0;
    for (int i = 0; i < n; i++)
        bad += out[i] != (i % K) * 1000 + i / K;
    printf("index split kernel: %d of %d outputs wrong or never written: %s\n", bad, n,
           bad ? "FAIL" : "PASS");
    clReleaseMemObject(d);
    clReleaseKernel(k);
    clReleaseProgram(prog);
    return bad ? 1 : 0;
}

static int run_shuffle11(void) {
    /* at -O0 v.hi is `shufflevector <16 x float> %v, poison, <8..15>`; h.s3 is v[11] */
    static const char *src =
        "__kernel void hi_half(__global const float *in, __global int *out) {\n"
        "    const float16 v = vload16(0, in);\n"
        "    const float8 h = v.hi;\n"
        "    int r = 0;\n"
        "    if (h.s2 > 0.0f) r += 1;  /* v[10] */\n"
        "    if (h.s3 > 0.0f) r += 2;  /* v[11] */\n"
        "    if (h.s4 > 0.0f) r += 4;  /* v[12] */\n"
        "    out[0] = r;\n"
        "}\n";
    cl_program prog;
    cl_kernel k = build_kernel(src, "hi_half", "-cl-opt-disable", &prog);
    float in[16];
    for (int i = 0; i < 16; i++)
        in[i] = 1.0f + i;
    int out = -1;
    cl_int e;
    cl_mem din =
        clCreateBuffer(context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sizeof in, in, &e);
    CHECK(e);
    cl_mem dout =
        clCreateBuffer(context, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, sizeof out, &out, &e);
    CHECK(e);
    CHECK(clSetKernelArg(k, 0, sizeof din, &din));
    CHECK(clSetKernelArg(k, 1, sizeof dout, &dout));
    const size_t one = 1;
    CHECK(clEnqueueNDRangeKernel(queue, k, 1, NULL, &one, &one, 0, NULL, NULL));
    CHECK(clEnqueueReadBuffer(queue, dout, CL_TRUE, 0, sizeof out, &out, 0, NULL, NULL));
    printf("float16 .hi kernel: result %d (want 7), every input written: %s\n", out,
           out == 7 ? "PASS" : "FAIL");
    clReleaseMemObject(din);
    clReleaseMemObject(dout);
    clReleaseKernel(k);
    clReleaseProgram(prog);
    return out == 7 ? 0 : 1;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "sgemm";
    int rc;
    open_device();
    if (!strcmp(mode, "sgemm"))
        rc = run_sgemm(argc, argv, 1);
    else if (!strcmp(mode, "sgemm-unwritten-a"))
        rc = run_sgemm(argc, argv, 0);
    else if (!strcmp(mode, "freeze"))
        rc = run_freeze();
    else if (!strcmp(mode, "shuffle11"))
        rc = run_shuffle11();
    else {
        fprintf(stderr, "usage: %s sgemm|sgemm-unwritten-a|freeze|shuffle11 [...]\n", argv[0]);
        rc = 2;
    }
    close_device();
    return rc;
}
