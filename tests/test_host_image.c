/*
 * test_host_image.c - clvit_image_load against values worked out independently: constant
 * images (a constant stays constant through resize and crop), linear ramps (bicubic with
 * a = -0.5 reproduces a linear ramp away from the borders, within 1/255 rounding), exact
 * crops without resize, zero padding when crop_pct > 1, channel conversion, and Pillow
 * 9.4's own output for a 13x9 RGB test pattern (tables below, HWC uint8 laid out CHW; made
 * by Image.resize(BICUBIC) + crop as timm's eval transform does). Test PNGs are written
 * with stb_image_write into a temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stb/stb_image_write.h>

#include "image.h"

/* Pillow 9.4 reference outputs for pattern() below. */
static const uint8_t pil_rgb_8_090[192] = {
    93,  122, 173, 198, 15,  70,  96,  130, 113, 45,  116, 188, 118, 153, 103, 53,  153, 104,
    162, 194, 107, 51,  161, 101, 187, 34,  151, 85,  68,  211, 181, 31,  84,  99,  187, 192,
    173, 141, 81,  110, 165, 236, 108, 70,  101, 159, 170, 242, 238, 129, 27,  67,  116, 192,
    243, 115, 113, 158, 216, 83,  173, 42,  121, 164, 127, 177, 226, 59,  69,  110, 133, 185,
    44,  110, 178, 196, 180, 119, 51,  117, 157, 166, 141, 74,  168, 86,  179, 160, 150, 115,
    92,  154, 104, 53,  91,  117, 182, 66,  88,  101, 199, 66,  112, 71,  30,  36,  24,  42,
    167, 157, 40,  36,  117, 34,  94,  133, 176, 236, 104, 42,  157, 215, 89,  90,  42,  110,
    162, 219, 184, 244, 98,  64,  122, 141, 206, 73,  72,  144, 191, 62,  132, 33,  88,  159,
    72,  105, 68,  101, 72,  174, 61,  121, 50,  119, 62,  199, 184, 114, 57,  123, 165, 139,
    38,  124, 128, 136, 174, 133, 108, 87,  88,  92,  100, 100, 111, 88,  58,  105, 149, 194,
    180, 13,  63,  112, 207, 112, 83,  150, 90,  133, 214, 101,
};

static const uint8_t pil_l_8_090[64] = {
    123, 168, 195, 101, 60,  101, 131, 155, 68,  94,  161, 178, 156, 119, 71,  102,
    146, 141, 139, 113, 139, 85,  161, 138, 150, 91,  106, 139, 102, 107, 115, 91,
    151, 84,  111, 131, 183, 96,  110, 89,  78,  102, 56,  56,  140, 151, 88,  104,
    146, 71,  80,  120, 159, 198, 141, 72,  149, 186, 127, 94,  86,  92,  156, 189,
};

static const uint8_t pil_rgb_20_100[1200] = {
    46,  64,  92,  120, 139, 153, 169, 185, 210, 236, 185, 54,  0,   5,   32,  47,  66,  93,  121,
    140, 78,  92,  94,  96,  113, 134, 152, 170, 196, 223, 180, 64,  11,  29,  59,  79,  95,  97,
    98,  114, 159, 162, 96,  35,  48,  87,  111, 133, 161, 190, 165, 86,  55,  87,  125, 159, 167,
    105, 40,  48,  197, 198, 102, 10,  16,  56,  83,  111, 143, 175, 168, 120, 101, 124, 153, 197,
    205, 114, 17,  16,  112, 137, 111, 80,  72,  78,  97,  128, 169, 214, 219, 184, 144, 94,  74,
    111, 141, 117, 84,  75,  37,  84,  128, 155, 130, 95,  113, 156, 198, 241, 246, 218, 161, 60,
    4,   36,  84,  128, 157, 136, 81,  129, 166, 178, 123, 62,  101, 183, 204, 186, 164, 139, 106,
    55,  37,  80,  129, 166, 182, 131, 166, 201, 202, 175, 91,  16,  81,  204, 199, 110, 56,  32,
    35,  67,  110, 164, 203, 206, 181, 102, 210, 221, 191, 141, 64,  5,   71,  189, 185, 99,  48,
    26,  43,  110, 171, 211, 225, 197, 147, 73,  232, 210, 149, 83,  38,  18,  69,  152, 163, 127,
    102, 81,  99,  172, 226, 235, 216, 157, 90,  44,  200, 172, 111, 56,  49,  66,  106, 156, 170,
    160, 150, 136, 144, 184, 209, 204, 178, 118, 61,  51,  108, 101, 70,  56,  95,  153, 184, 203,
    208, 204, 201, 199, 183, 145, 117, 111, 105, 76,  58,  94,  76,  82,  75,  86,  148, 216, 223,
    198, 191, 192, 195, 199, 179, 122, 81,  79,  85,  79,  87,  145, 146, 150, 151, 163, 213, 255,
    202, 106, 82,  89,  95,  98,  108, 129, 145, 149, 152, 154, 164, 211, 209, 210, 219, 227, 247,
    248, 157, 28,  0,   10,  20,  21,  55,  139, 202, 212, 212, 221, 229, 248, 214, 221, 243, 247,
    204, 140, 74,  13,  9,   32,  48,  50,  80,  149, 203, 216, 223, 244, 251, 212, 190, 206, 239,
    241, 147, 33,  12,  37,  57,  79,  97,  110, 128, 152, 175, 191, 208, 239, 246, 159, 128, 154,
    187, 199, 140, 70,  80,  123, 117, 83,  94,  148, 166, 130, 109, 128, 156, 187, 202, 149, 55,
    92,  120, 143, 153, 162, 194, 225, 177, 74,  73,  175, 197, 99,  34,  55,  93,  120, 145, 156,
    24,  65,  92,  120, 157, 198, 241, 255, 203, 71,  65,  188, 212, 86,  2,   23,  66,  92,  120,
    157, 115, 141, 158, 173, 190, 206, 234, 255, 181, 42,  0,   25,  54,  68,  87,  115, 143, 160,
    175, 191, 108, 112, 128, 148, 168, 187, 215, 236, 184, 80,  37,  52,  72,  94,  110, 110, 114,
    130, 150, 169, 90,  39,  53,  87,  113, 141, 167, 191, 191, 175, 150, 116, 112, 157, 168, 99,
    42,  54,  88,  114, 77,  2,   20,  62,  85,  110, 136, 165, 195, 224, 217, 172, 158, 195, 192,
    89,  6,   20,  63,  87,  84,  73,  101, 132, 132, 130, 163, 205, 195, 149, 150, 197, 207, 163,
    120, 89,  75,  101, 133, 136, 89,  137, 180, 208, 183, 148, 178, 227, 179, 68,  74,  196, 229,
    125, 57,  88,  137, 181, 210, 189, 72,  83,  164, 230, 189, 119, 115, 135, 112, 64,  75,  145,
    171, 132, 98,  85,  96,  168, 232, 196, 56,  11,  123, 225, 175, 79,  39,  26,  46,  92,  105,
    85,  93,  147, 161, 76,  24,  122, 226, 184, 89,  76,  140, 191, 146, 75,  54,  60,  89,  137,
    141, 100, 87,  123, 126, 45,  0,   88,  191, 160, 150, 218, 187, 136, 105, 90,  121, 175, 195,
    192, 181, 159, 126, 79,  38,  4,   0,   61,  134, 126, 167, 252, 195, 115, 83,  77,  115, 175,
    186, 166, 165, 192, 173, 89,  26,  18,  28,  71,  114, 104, 142, 184, 167, 129, 80,  35,  38,
    62,  63,  54,  90,  205, 237, 151, 85,  89,  105, 124, 132, 94,  120, 111, 121, 119, 70,  13,
    0,   0,   0,   0,   46,  187, 248, 195, 146, 132, 127, 130, 125, 78,  100, 29,  42,  65,  47,
    22,  17,  20,  21,  26,  52,  119, 170, 208, 202, 120, 47,  50,  68,  52,  107, 2,   0,   21,
    29,  38,  46,  54,  63,  71,  75,  75,  111, 211, 240, 121, 8,   0,   23,  31,  183, 114, 54,
    12,  17,  41,  61,  81,  96,  107, 117, 120, 148, 219, 247, 191, 121, 61,  17,  18,  253, 238,
    130, 29,  26,  59,  79,  100, 118, 134, 152, 170, 189, 209, 228, 254, 245, 144, 36,  27,  209,
    220, 154, 91,  104, 135, 120, 90,  95,  123, 134, 126, 129, 144, 167, 209, 225, 164, 96,  104,
    124, 147, 156, 165, 201, 224, 164, 67,  55,  96,  95,  52,  38,  64,  95,  125, 149, 158, 167,
    200, 90,  119, 159, 197, 242, 255, 182, 58,  38,  86,  80,  22,  1,   30,  64,  91,  120, 158,
    197, 241, 168, 194, 211, 226, 255, 255, 177, 42,  13,  58,  84,  92,  108, 138, 163, 180, 196,
    228, 235, 136, 160, 165, 183, 205, 235, 244, 182, 81,  46,  57,  77,  107, 125, 125, 130, 146,
    167, 200, 212, 137, 141, 91,  116, 157, 182, 196, 197, 180, 128, 53,  58,  147, 170, 95,  47,
    62,  97,  133, 161, 141, 132, 54,  66,  103, 131, 163, 200, 228, 170, 54,  50,  160, 181, 71,
    0,   20,  61,  82,  104, 136, 154, 122, 74,  49,  106, 181, 178, 137, 101, 65,  64,  100, 106,
    64,  49,  93,  128, 88,  51,  109, 173, 182, 85,  8,   89,  196, 150, 41,  31,  83,  89,  49,
    40,  75,  117, 170, 188, 98,  12,  82,  163, 140, 56,  0,   67,  161, 127, 43,  49,  112, 119,
    69,  65,  131, 176, 175, 146, 65,  0,   61,  139, 68,  24,  9,   56,  116, 107, 72,  91,  145,
    156, 120, 124, 192, 218, 149, 74,  29,  11,  54,  98,  42,  41,  61,  92,  120, 96,  56,  90,
    175, 204, 177, 166, 187, 179, 107, 46,  43,  63,  92,  50,  44,  91,  141, 157, 150, 90,  19,
    67,  199, 255, 237, 199, 141, 91,  55,  46,  89,  142, 159, 69,  80,  135, 183, 175, 140, 78,
    13,  55,  173, 223, 211, 180, 126, 86,  72,  81,  133, 184, 180, 157, 155, 179, 190, 149, 92,
    57,  38,  52,  93,  107, 96,  103, 140, 165, 161, 158, 181, 195, 157, 186, 179, 182, 173, 122,
    66,  53,  63,  61,  54,  48,  42,  67,  137, 187, 190, 182, 186, 178, 131, 114, 117, 120, 118,
    97,  75,  74,  85,  87,  83,  83,  87,  94,  104, 112, 117, 119, 123, 122, 103, 43,  57,  66,
    74,  83,  91,  99,  107, 115, 124, 134, 149, 134, 77,  39,  45,  59,  68,  76,  85,  16,  39,
    50,  64,  87,  110, 125, 136, 148, 160, 179, 207, 182, 79,  9,   17,  41,  52,  65,  87,  17,
    47,  63,  79,  100, 121, 138, 154, 170, 186, 210, 243, 212, 89,  6,   17,  49,  65,  81,  101,
    70,  100, 127, 143, 123, 95,  104, 131, 155, 178, 190, 191, 164, 94,  52,  70,  101, 128, 146,
    128, 140, 167, 207, 220, 146, 56,  53,  92,  124, 154, 149, 108, 88,  97,  116, 141, 168, 207,
    224, 157, 170, 195, 241, 252, 157, 40,  32,  76,  112, 144, 132, 74,  57,  99,  142, 171, 196,
    241, 255, 170,
};

static const uint8_t pil_rgb_4_100[48] = {
    85,  107, 149, 92,  122, 117, 134, 130, 145, 147, 128, 151, 135, 155, 97,  150,
    112, 139, 150, 110, 121, 133, 128, 105, 156, 67,  104, 117, 139, 114, 102, 148,
    151, 158, 99,  114, 127, 90,  124, 114, 116, 106, 109, 121, 102, 111, 142, 103,
};

static char tmpdir[256];

static int setup(void **state) {
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/clvit_img_XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static void rm_file(const char *name) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    remove(p);
}

static int teardown(void **state) {
    (void)state;
    static const char *const names[] = {
        "const.png", "ramp.png", "ramp_down.png", "pattern.png", "crop.png",  "crop11.png",
        "pad.png",   "grey.png", "rgba.png",      "bad.png",     "empty.png", "huge_idat.png"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        rm_file(names[i]);
    return rmdir(tmpdir);
}

static const char *path_of(const char *name) {
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    return p;
}

/* Writes a (h, w, n) uint8 PNG and returns its path. */
static const char *write_png(const char *name, int w, int h, int n, const uint8_t *pix) {
    const char *p = path_of(name);
    assert_int_not_equal(stbi_write_png(p, w, h, n, pix, w * n), 0);
    return p;
}

static const float zero3[3] = {0, 0, 0}, one3[3] = {1, 1, 1};

/* Fails with the first few mismatches when |got - want| > tol. */
static void check_close(const char *what, const float *got, const float *want, size_t n,
                        float tol) {
    size_t bad = 0;
    float maxd = 0;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(got[i] - want[i]);
        if (!(d <= tol)) {
            if (bad < 5) printf("  %s[%zu]: got %.7g want %.7g\n", what, i, got[i], want[i]);
            bad++;
        }
        if (d > maxd) maxd = d;
    }
    if (bad) printf("  %s: %zu of %zu mismatches, max diff %g (tol %g)\n", what, bad, n, maxd, tol);
    assert_int_equal(bad, 0);
}

static uint8_t pattern(int x, int y, int c) {
    return (uint8_t)((x * 37 + y * 91 + c * 53 + (x * y) % 7 * 20) % 256);
}

static const char *write_pattern(void) {
    uint8_t pix[9 * 13 * 3];
    for (int y = 0; y < 9; y++)
        for (int x = 0; x < 13; x++)
            for (int c = 0; c < 3; c++)
                pix[(y * 13 + x) * 3 + c] = pattern(x, y, c);
    return write_png("pattern.png", 13, 9, 3, pix);
}

static void test_constant(void **state) {
    (void)state;
    uint8_t pix[5 * 7];
    memset(pix, 100, sizeof pix);
    const char *p = write_png("const.png", 7, 5, 1, pix);
    const float mean[3] = {0.5f, 0.25f, 0.1f}, std[3] = {0.2f, 0.5f, 2.0f};
    float out[3 * 4 * 4], want[3 * 4 * 4];
    /* shorter side 5 -> floor(4 / 0.875) = 4: a downscale, then a 4x4 crop */
    assert_int_equal(clvit_image_load(p, 4, 3, 0.875f, mean, std, out), CLVIT_SUCCESS);
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 16; i++)
            want[c * 16 + i] = (100.0f / 255.0f - mean[c]) / std[c];
    check_close("constant", out, want, 48, 1e-6f);
    /* upscale, one channel */
    float out1[11 * 11], want1[11 * 11];
    assert_int_equal(clvit_image_load(p, 11, 1, 0.9f, mean, std, out1), CLVIT_SUCCESS);
    for (int i = 0; i < 121; i++)
        want1[i] = (100.0f / 255.0f - mean[0]) / std[0];
    check_close("constant 1ch", out1, want1, 121, 1e-6f);
}

/* Horizontal ramp 10 * x + 5 on a 16x16 image resized to n x n: output column i samples
 * the source at s = (i + 0.5) * 16 / n - 0.5, where the ramp is 10 * s + 5. Columns whose
 * filter support stays inside the image must match to rounding. */
static void check_ramp(const char *name, int n) {
    uint8_t pix[16 * 16];
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 16; x++)
            pix[y * 16 + x] = (uint8_t)(10 * x + 5);
    const char *p = write_png(name, 16, 16, 1, pix);
    float *out = malloc((size_t)n * n * sizeof *out);
    assert_non_null(out);
    assert_int_equal(clvit_image_load(p, n, 1, 1.0f, zero3, one3, out), CLVIT_SUCCESS);
    double scale = 16.0 / n, support = 2.0 * (scale > 1 ? scale : 1);
    int checked = 0;
    for (int i = 0; i < n; i++) {
        double s = (i + 0.5) * scale - 0.5;
        if (s - support < -0.5 || s + support > 15.5) continue; /* edge: renormalised */
        double want = (10.0 * s + 5.0) / 255.0;
        for (int y = 0; y < n; y++) {
            float got = out[y * n + i];
            if (fabs(got - want) > 0.51 / 255.0)
                fail_msg("%s: column %d row %d: got %.6f want %.6f", name, i, y, got, want);
        }
        checked++;
    }
    assert_true(checked >= n / 3);
    free(out);
}

static void test_ramp_up(void **state) {
    (void)state;
    check_ramp("ramp.png", 24);
}

static void test_ramp_down(void **state) {
    (void)state;
    check_ramp("ramp_down.png", 6); /* antialiased: support 2 * 16/6 source pixels */
}

static void check_pillow(const char *what, int img_size, int chans, float crop_pct,
                         const uint8_t *ref) {
    const char *p = write_pattern();
    size_t n = (size_t)chans * img_size * img_size;
    float *out = malloc(n * sizeof *out), *want = malloc(n * sizeof *want);
    assert_non_null(out);
    assert_non_null(want);
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    assert_int_equal(clvit_image_load(p, img_size, chans, crop_pct, mean, std, out), CLVIT_SUCCESS);
    for (size_t i = 0; i < n; i++) {
        int c = (int)(i / ((size_t)img_size * img_size));
        want[i] = ((float)ref[i] / 255.0f - mean[c]) / std[c];
    }
    check_close(what, out, want, n, 1e-6f); /* bit-exact pixels */
    free(out);
    free(want);
}

static void test_pillow_rgb_down(void **state) {
    (void)state;
    check_pillow("pillow rgb 8/0.9", 8, 3, 0.9f, pil_rgb_8_090);
}

static void test_pillow_rgb_down4(void **state) {
    (void)state;
    check_pillow("pillow rgb 4/1.0", 4, 3, 1.0f, pil_rgb_4_100);
}

static void test_pillow_rgb_up(void **state) {
    (void)state;
    check_pillow("pillow rgb 20/1.0", 20, 3, 1.0f, pil_rgb_20_100);
}

static void test_pillow_grey(void **state) {
    (void)state;
    check_pillow("pillow L 8/0.9", 8, 1, 0.9f, pil_l_8_090);
}

/* No resize (shorter side equals img_size), so the crop is exact; the width 13 leaves 3
 * extra columns and torchvision's round(1.5) = 2 (half to even) drops 2 on the left. */
static void test_crop_exact(void **state) {
    (void)state;
    uint8_t pix[10 * 13];
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 13; x++)
            pix[y * 13 + x] = (uint8_t)(x * 19 + y);
    const char *p = write_png("crop.png", 13, 10, 1, pix);
    float out[10 * 10], want[10 * 10];
    assert_int_equal(clvit_image_load(p, 10, 1, 0.0f /* <= 0 means 1 */, NULL, NULL, out),
                     CLVIT_SUCCESS);
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 10; x++)
            want[y * 10 + x] = (float)((x + 2) * 19 + y) / 255.0f;
    check_close("crop", out, want, 100, 0.0f);
    /* 11 wide: one extra column, round(0.5) = 0 keeps columns 0..9 */
    uint8_t pix11[10 * 11];
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 11; x++)
            pix11[y * 11 + x] = (uint8_t)(x * 19 + y);
    p = write_png("crop11.png", 11, 10, 1, pix11);
    assert_int_equal(clvit_image_load(p, 10, 1, -3.0f, NULL, NULL, out), CLVIT_SUCCESS);
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 10; x++)
            want[y * 10 + x] = (float)(x * 19 + y) / 255.0f;
    check_close("crop 11", out, want, 100, 0.0f);
}

/* crop_pct > 1: resized to 5x5, then padded to 8x8 with (8 - 5) // 2 = 1 zero row/column
 * before and 2 after, as torchvision's CenterCrop pads. */
static void test_pad(void **state) {
    (void)state;
    uint8_t pix[6 * 6];
    memset(pix, 200, sizeof pix);
    const char *p = write_png("pad.png", 6, 6, 1, pix);
    const float mean[1] = {0.5f}, std[1] = {0.25f};
    float out[64], want[64];
    assert_int_equal(clvit_image_load(p, 8, 1, 1.5f, mean, std, out), CLVIT_SUCCESS);
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++) {
            int inside = y >= 1 && y < 6 && x >= 1 && x < 6;
            want[y * 8 + x] = ((inside ? 200.0f / 255.0f : 0.0f) - 0.5f) / 0.25f;
        }
    check_close("pad", out, want, 64, 1e-6f);
}

/* Grey replicated to 3 channels; RGB(A) to grey with luma 0.299 R + 0.587 G + 0.114 B. */
static void test_channels(void **state) {
    (void)state;
    uint8_t g[4 * 4];
    for (int i = 0; i < 16; i++)
        g[i] = (uint8_t)(i * 15);
    const char *p = write_png("grey.png", 4, 4, 1, g);
    float out[3 * 16];
    assert_int_equal(clvit_image_load(p, 4, 3, 1.0f, zero3, one3, out), CLVIT_SUCCESS);
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 16; i++)
            assert_float_equal(out[c * 16 + i], g[i] / 255.0f, 1e-7);

    uint8_t rgba[4 * 4 * 4];
    for (int i = 0; i < 16; i++) {
        rgba[i * 4 + 0] = (uint8_t)(i * 16);
        rgba[i * 4 + 1] = (uint8_t)(255 - i * 9);
        rgba[i * 4 + 2] = (uint8_t)(i * 5 + 30);
        rgba[i * 4 + 3] = (uint8_t)(i * 3); /* alpha is dropped, not composited */
    }
    p = write_png("rgba.png", 4, 4, 4, rgba);
    float grey[16];
    assert_int_equal(clvit_image_load(p, 4, 1, 1.0f, NULL, NULL, grey), CLVIT_SUCCESS);
    for (int i = 0; i < 16; i++) {
        double l = 0.299 * rgba[i * 4] + 0.587 * rgba[i * 4 + 1] + 0.114 * rgba[i * 4 + 2];
        assert_float_equal(grey[i], l / 255.0, 0.51 / 255.0);
    }
    assert_int_equal(clvit_image_load(p, 4, 3, 1.0f, NULL, NULL, out), CLVIT_SUCCESS);
    for (int i = 0; i < 16; i++)
        for (int c = 0; c < 3; c++)
            assert_float_equal(out[c * 16 + i], rgba[i * 4 + c] / 255.0f, 1e-7);
}

static void test_bad_files(void **state) {
    (void)state;
    float out[3 * 8 * 8];
    assert_int_equal(clvit_image_load(path_of("missing.png"), 8, 3, 1.0f, NULL, NULL, out),
                     CLVIT_ERR_IO);
    assert_non_null(strstr(clvit_last_error(), "missing.png"));

    FILE *f = fopen(path_of("bad.png"), "wb");
    assert_non_null(f);
    fputs("this is not an image at all", f);
    fclose(f);
    assert_int_equal(clvit_image_load(path_of("bad.png"), 8, 3, 1.0f, NULL, NULL, out),
                     CLVIT_ERR_FORMAT);
    assert_non_null(strstr(clvit_last_error(), "bad.png"));
    printf("  bad file: %s\n", clvit_last_error());

    f = fopen(path_of("empty.png"), "wb");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(clvit_image_load(path_of("empty.png"), 8, 3, 1.0f, NULL, NULL, out),
                     CLVIT_ERR_FORMAT);

    /* a PNG cut short */
    const char *p = write_pattern();
    f = fopen(p, "r+b");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    assert_int_equal(truncate(p, size / 2), 0);
    assert_int_equal(clvit_image_load(p, 8, 3, 1.0f, NULL, NULL, out), CLVIT_ERR_FORMAT);

    /* a chunk that declares more than the file holds (fuzz_image: a 3x2 PNG whose IDAT
     * declares 1.7 GB, which stb_image allocated before reading): refused, naming the chunk */
    static const unsigned char huge_idat[] = {
        0x89, 'P',  'N',  'G',  '\r', '\n', 0x1a, '\n', 0,    0,    0,    13,   'I',  'H',  'D',
        'R',  0,    0,    0,    3,    0,    0,    0,    2,    8,    6,    0,    0,    0,    0x1a,
        0,    0x9d, 0x74, 0x66, 0,    0,    0x1e, 'I',  'D',  'A',  'T',  0x78, 0x9c, 0x63, 0x64,
        0,    0,    0,    0,    'I',  'E',  'N',  'D',  0xae, 0x42, 0x60, 0x82};
    f = fopen(path_of("huge_idat.png"), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(huge_idat, 1, sizeof huge_idat, f), sizeof huge_idat);
    fclose(f);
    assert_int_equal(clvit_image_load(path_of("huge_idat.png"), 8, 3, 1.0f, NULL, NULL, out),
                     CLVIT_ERR_FORMAT);
    printf("  huge chunk: %s\n", clvit_last_error());
    assert_non_null(strstr(clvit_last_error(), "chunk 'IDAT' declares 1711276062 bytes"));

    const char *g = path_of("grey.png");
    assert_int_equal(clvit_image_load(g, 8, 2, 1.0f, NULL, NULL, out), CLVIT_ERR_INVALID_ARG);
    assert_int_equal(clvit_image_load(g, 0, 3, 1.0f, NULL, NULL, out), CLVIT_ERR_INVALID_ARG);
    const float bad_std[3] = {1, 0, 1};
    assert_int_equal(clvit_image_load(g, 8, 3, 1.0f, zero3, bad_std, out), CLVIT_ERR_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constant),
        cmocka_unit_test(test_ramp_up),
        cmocka_unit_test(test_ramp_down),
        cmocka_unit_test(test_pillow_rgb_down),
        cmocka_unit_test(test_pillow_rgb_down4),
        cmocka_unit_test(test_pillow_rgb_up),
        cmocka_unit_test(test_pillow_grey),
        cmocka_unit_test(test_crop_exact),
        cmocka_unit_test(test_pad),
        cmocka_unit_test(test_channels),
        cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
