/*
 * image.c - image file to normalised CHW float32, as timm's evaluation transform does it
 * with PIL: Resize(floor(img_size / crop_pct), BICUBIC) on the shorter side, CenterCrop,
 * ToTensor, Normalize.
 *
 * Pixels stay 8-bit until the end, like PIL's: stb_image decodes to interleaved HWC uint8
 * (n = 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA); channels are converted in uint8 (RGB -> L with
 * PIL's fixed-point ITU-R 601-2 luma, alpha dropped as convert('RGB') does); the resize is
 * PIL's separable, antialiased convolution with 22-bit fixed-point weights, a horizontal
 * pass into a uint8 (rows, crop_w, C) buffer and a vertical pass into (crop_h, crop_w, C),
 * both rounded and clipped to 0..255, so results match Pillow bit for bit. Only the output
 * columns and rows that survive the centre crop are computed, from the source rows they need. The
 * crop offset uses Python's round-half-to-even, like torchvision; a crop larger than the resized
 * image is zero-padded.
 */
#include "image.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image.h>

#define RESAMPLE_BITS 22 /* Pillow's PRECISION_BITS for 8-bit images */

/* Keys' cubic convolution kernel with a = -0.5 (Pillow's bicubic_filter). */
static double bicubic(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

/* Weights of one axis, for output indices [o0, o0 + n) of a resize in_size -> out_size:
 * output i reads inputs [xmin[i], xmin[i] + cnt[i]) with fixed-point weights
 * w[i * ksize + k]. Pillow's precompute_coeffs + normalize_coeffs_8bpc. */
typedef struct {
    int ksize;
    int *xmin, *cnt;
    int32_t *w;
} axis_coeffs;

static void axis_free(axis_coeffs *c) {
    free(c->xmin);
    free(c->cnt);
    free(c->w);
}

static clvit_status axis_init(axis_coeffs *c, int in_size, int out_size, int o0, int n) {
    memset(c, 0, sizeof *c);
    double scale = (double)in_size / (double)out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * filterscale;
    c->ksize = (int)ceil(support) * 2 + 1;
    size_t nw;
    if (!clvit_mul_size((size_t)n, (size_t)c->ksize, &nw))
        return clvit_fail(CLVIT_ERR_NOMEM, "image resize: %d x %d weights overflow", n, c->ksize);
    c->xmin = malloc((size_t)n * sizeof *c->xmin);
    c->cnt = malloc((size_t)n * sizeof *c->cnt);
    c->w = calloc(nw, sizeof *c->w);
    double *k = malloc((size_t)c->ksize * sizeof *k);
    if (!c->xmin || !c->cnt || !c->w || !k) {
        free(k);
        axis_free(c);
        return clvit_fail(CLVIT_ERR_NOMEM, "image resize: out of memory for weights");
    }
    for (int i = 0; i < n; i++) {
        double center = ((double)(o0 + i) + 0.5) * scale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        if (xmax > c->ksize) xmax = c->ksize; /* cannot happen; keeps the indexing safe */
        double ww = 0.0;
        for (int x = 0; x < xmax; x++) {
            k[x] = bicubic(((double)(x + xmin) - center + 0.5) / filterscale);
            ww += k[x];
        }
        int32_t *wi = c->w + (size_t)i * (size_t)c->ksize;
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? k[x] / ww : k[x];
            v *= (double)(1 << RESAMPLE_BITS);
            wi[x] = (int32_t)(v < 0.0 ? v - 0.5 : v + 0.5);
        }
        c->xmin[i] = xmin;
        c->cnt[i] = xmax;
    }
    free(k);
    return CLVIT_SUCCESS;
}

static uint8_t clip8(int64_t acc) {
    if (acc <= 0) return 0;
    acc >>= RESAMPLE_BITS;
    return (uint8_t)(acc > 255 ? 255 : acc);
}

/* Python's round(d / 2.0) for an integer d >= 0: halves go to the even neighbour. */
static int half_round_even(int d) {
    int k = d / 2;
    if (d % 2 == 0) return d / 2;
    return (k % 2 == 0) ? k : k + 1;
}

/* First resized index the crop takes along one axis; negative when the crop is larger and
 * the image is padded (torchvision pads (crop - size) // 2 before the start). */
static int crop_start(int size, int crop) {
    if (size >= crop) return half_round_even(size - crop);
    return -((crop - size) / 2);
}

/* PNG, JPEG, BMP or GIF by its signature. stb_image reads more (TGA, PNM, PSD, HDR, PIC), but
 * its TGA and PNM decoders fill a truncated file's missing pixels with whatever the heap held
 * (found by fuzzing), and TGA has no signature: almost any file decodes as one. */
static int known_format(const unsigned char *b, size_t n) {
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= 8 && !memcmp(b, png, 8)) return 1;
    if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) return 1;
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') return 1;
    return n >= 6 && (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6));
}

/* A PNG's chunks, walked before stb_image sees the file: a chunk may not declare more bytes
 * than the file has left. stb_image allocates room for an IDAT chunk's declared length before
 * reading it, so a 90-byte file declaring 1.7 GB asked for 1.7 GB (found by fuzz_image: a
 * timeout under ASan, which fills the shadow of every allocation). Not a PNG, or chunks that
 * fit: 1. A file that ends before IEND is left to the decoder. */
static int png_chunks_fit(const unsigned char *b, size_t n, char type[5], uint64_t *len,
                          size_t *left) {
    if (n < 8 || memcmp(b, "\x89PNG\r\n\x1a\n", 8)) return 1;
    for (size_t i = 8; i + 8 <= n;) {
        *len = (uint64_t)b[i] << 24 | (uint64_t)b[i + 1] << 16 | (uint64_t)b[i + 2] << 8 |
               (uint64_t)b[i + 3];
        memcpy(type, b + i + 4, 4);
        type[4] = '\0';
        for (int k = 0; k < 4; k++)
            if (!isalpha((unsigned char)type[k])) type[k] = '?';
        *left = n - i - 8; /* after the length and type: the data and its CRC */
        if (*len > *left || *left - *len < 4) {
            if (*len <= *left) break; /* only the CRC cut off: the decoder's to judge */
            return 0;
        }
        if (!memcmp(type, "IEND", 4)) break;
        i += 12 + (size_t)*len;
    }
    return 1;
}

clvit_status clvit_image_load(const char *path, int img_size, int in_chans, float crop_pct,
                              const float *mean, const float *std, float *out) {
    if (!path || !out) return clvit_fail(CLVIT_ERR_INVALID_ARG, "image: NULL path or output");
    if (img_size <= 0 || img_size > 65536)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "image %s: img_size %d out of range", path,
                          img_size);
    if (in_chans != 1 && in_chans != 3)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "image %s: in_chans %d (want 1 or 3)", path,
                          in_chans);
    if (!(crop_pct > 0.0f)) crop_pct = 1.0f; /* also catches NaN */
    for (int c = 0; c < in_chans; c++) {
        if (std && !(std[c] != 0.0f))
            return clvit_fail(CLVIT_ERR_INVALID_ARG, "image %s: std[%d] is %g", path, c,
                              (double)std[c]);
    }

    /* decoded from memory: stb_image reading a FILE at its end asks stdio for one byte at a
     * time, so a truncated file of a few bytes that declares millions of rows took seconds */
    errno = 0;
    size_t fsize = 0;
    unsigned char *file = (unsigned char *)clvit_read_file(path, &fsize);
    if (!file)
        return clvit_fail(CLVIT_ERR_IO, "image %s: cannot read: %s", path,
                          errno ? strerror(errno) : "not a regular file");
    if (fsize > INT_MAX) {
        free(file);
        return clvit_fail(CLVIT_ERR_UNSUPPORTED, "image %s: %zu bytes, too large", path, fsize);
    }
    if (!known_format(file, fsize)) {
        free(file);
        return clvit_fail(CLVIT_ERR_FORMAT, "image %s: not a PNG, JPEG, BMP or GIF file", path);
    }
    int w = 0, h = 0, n = 0;
    /* the declared size first: a few header bytes can declare a huge image (truncated data
     * decodes as zeros), so it is refused before anything is allocated for it. stb_image's
     * info gives a top-down BMP a negative height (the decoder flips it), hence the llabs. */
    if (stbi_info_from_memory(file, (int)fsize, &w, &h, &n) &&
        llabs((long long)w * (long long)h) > CLVIT_IMAGE_MAX_PIXELS) {
        free(file);
        return clvit_fail(CLVIT_ERR_UNSUPPORTED,
                          "image %s: %dx%d pixels, more than the %lld that are read", path, abs(w),
                          abs(h), (long long)CLVIT_IMAGE_MAX_PIXELS);
    }
    /* then the chunks' declared lengths (after the pixel count, whose error says more) */
    char bad_chunk[5];
    uint64_t chunk_len = 0;
    size_t chunk_left = 0;
    if (!png_chunks_fit(file, fsize, bad_chunk, &chunk_len, &chunk_left)) {
        free(file);
        return clvit_fail(CLVIT_ERR_FORMAT,
                          "image %s: PNG chunk '%s' declares %llu bytes, the file has %zu left",
                          path, bad_chunk, (unsigned long long)chunk_len, chunk_left);
    }
    uint8_t *pix = stbi_load_from_memory(file, (int)fsize, &w, &h, &n, 0);
    free(file);
    if (!pix)
        return clvit_fail(CLVIT_ERR_FORMAT, "image %s: cannot decode: %s", path,
                          stbi_failure_reason());
    if (w <= 0 || h <= 0 || n < 1 || n > 4 || (int64_t)w * (int64_t)h > CLVIT_IMAGE_MAX_PIXELS) {
        stbi_image_free(pix);
        return clvit_fail(CLVIT_ERR_FORMAT, "image %s: bad decoded size %dx%d, %d channels", path,
                          w, h, n);
    }

    clvit_status st = CLVIT_SUCCESS;
    const int C = in_chans;
    uint8_t *src = NULL, *tmp = NULL, *dst = NULL;
    axis_coeffs ch = {0}, cv = {0};
    size_t npix = (size_t)w * (size_t)h; /* stb caps each side at 2^24 and w*h*n at INT_MAX */

    /* channel conversion, HWC uint8 */
    src = malloc(npix * (size_t)C);
    if (!src) {
        st = clvit_fail(CLVIT_ERR_NOMEM, "image %s: out of memory (%dx%d)", path, w, h);
        goto done;
    }
    for (size_t p = 0; p < npix; p++) {
        const uint8_t *q = pix + p * (size_t)n;
        if (C == 1) {
            if (n >= 3) {
                uint32_t l = (uint32_t)q[0] * 19595u + (uint32_t)q[1] * 38470u +
                             (uint32_t)q[2] * 7471u + 0x8000u;
                src[p] = (uint8_t)(l >> 16);
            } else {
                src[p] = q[0];
            }
        } else {
            for (int c = 0; c < 3; c++)
                src[p * 3 + (size_t)c] = n >= 3 ? q[c] : q[0];
        }
    }
    stbi_image_free(pix);
    pix = NULL;

    /* resized size: shorter side = floor(img_size / crop_pct), longer side scaled and
     * truncated, as torchvision's Resize(int) */
    double scale_size = floor((double)img_size / (double)crop_pct);
    if (!(scale_size >= 1.0) || scale_size > 1e7) {
        st = clvit_fail(CLVIT_ERR_INVALID_ARG, "image %s: resize to %g pixels (crop_pct %g)", path,
                        scale_size, (double)crop_pct);
        goto done;
    }
    int s = (int)scale_size;
    int64_t longer = (int64_t)s * (w > h ? w : h) / (w < h ? w : h);
    if (longer > 1000000000) {
        st = clvit_fail(CLVIT_ERR_INVALID_ARG,
                        "image %s: %dx%d resized to shorter side %d is too large", path, w, h, s);
        goto done;
    }
    int rw = w <= h ? s : (int)longer, rh = w <= h ? (int)longer : s;

    /* the part of the resized image the crop keeps: resized [y0, y0+nh) x [x0, x0+nw) lands
     * at output [oy, oy+nh) x [ox, ox+nw); the rest of the output is padding */
    int top = crop_start(rh, img_size), left = crop_start(rw, img_size);
    int y0 = top < 0 ? 0 : top, x0 = left < 0 ? 0 : left;
    int oy = top < 0 ? -top : 0, ox = left < 0 ? -left : 0;
    int nh = rh - y0 < img_size - oy ? rh - y0 : img_size - oy;
    int nw = rw - x0 < img_size - ox ? rw - x0 : img_size - ox;

    CLVIT_TRY(st, axis_init(&ch, w, rw, x0, nw), done);
    CLVIT_TRY(st, axis_init(&cv, h, rh, y0, nh), done);
    /* only the source rows the vertical pass reads, [ylo, yhi), go through the horizontal one:
     * a crop of a tall image needs few of them (as in Pillow, which limits the rows too) */
    int ylo = h, yhi = 0;
    for (int y = 0; y < nh; y++) {
        const int a = rh == h ? y0 + y : cv.xmin[y], b = rh == h ? y0 + y + 1 : a + cv.cnt[y];
        if (a < ylo) ylo = a;
        if (b > yhi) yhi = b;
    }
    if (yhi < ylo) yhi = ylo;
    /* yhi - ylo <= h < 2^24, nw <= 65536, C <= 3 */
    tmp = malloc((size_t)(yhi - ylo) * (size_t)nw * (size_t)C + 1);
    dst = malloc((size_t)nh * (size_t)nw * (size_t)C);
    if (!tmp || !dst) {
        st = clvit_fail(CLVIT_ERR_NOMEM, "image %s: out of memory resizing", path);
        goto done;
    }
    /* horizontal pass: (yhi - ylo, w, C) -> (yhi - ylo, nw, C); skipped, like Pillow, when the
     * width stays */
    for (int y = ylo; y < yhi; y++) {
        const uint8_t *row = src + (size_t)y * (size_t)w * (size_t)C;
        uint8_t *o = tmp + (size_t)(y - ylo) * (size_t)nw * (size_t)C;
        for (int x = 0; x < nw; x++) {
            if (rw == w) {
                for (int c = 0; c < C; c++)
                    o[x * C + c] = row[(size_t)(x0 + x) * C + c];
                continue;
            }
            const int32_t *k = ch.w + (size_t)x * (size_t)ch.ksize;
            for (int c = 0; c < C; c++) {
                int64_t acc = (int64_t)1 << (RESAMPLE_BITS - 1);
                for (int t = 0; t < ch.cnt[x]; t++)
                    acc += (int64_t)row[(size_t)(ch.xmin[x] + t) * C + c] * k[t];
                o[x * C + c] = clip8(acc);
            }
        }
    }
    /* vertical pass: (yhi - ylo, nw, C) -> (nh, nw, C) */
    size_t stride = (size_t)nw * (size_t)C;
    for (int y = 0; y < nh; y++) {
        uint8_t *o = dst + (size_t)y * stride;
        if (rh == h) {
            memcpy(o, tmp + (size_t)(y0 + y - ylo) * stride, stride);
            continue;
        }
        const int32_t *k = cv.w + (size_t)y * (size_t)cv.ksize;
        for (size_t xc = 0; xc < stride; xc++) {
            int64_t acc = (int64_t)1 << (RESAMPLE_BITS - 1);
            for (int t = 0; t < cv.cnt[y]; t++)
                acc += (int64_t)tmp[(size_t)(cv.xmin[y] + t - ylo) * stride + xc] * k[t];
            o[xc] = clip8(acc);
        }
    }

    /* ToTensor + Normalize into CHW; padding is pixel value 0 */
    for (int c = 0; c < C; c++) {
        float m = mean ? mean[c] : 0.0f, sd = std ? std[c] : 1.0f;
        float *plane = out + (size_t)c * (size_t)img_size * (size_t)img_size;
        for (int y = 0; y < img_size; y++) {
            for (int x = 0; x < img_size; x++) {
                int sy = y - oy, sx = x - ox;
                float v = 0.0f;
                if (sy >= 0 && sy < nh && sx >= 0 && sx < nw)
                    v = (float)dst[((size_t)sy * (size_t)nw + (size_t)sx) * C + c] / 255.0f;
                plane[(size_t)y * (size_t)img_size + (size_t)x] = (v - m) / sd;
            }
        }
    }

done:
    if (pix) stbi_image_free(pix);
    free(src);
    free(tmp);
    free(dst);
    axis_free(&ch);
    axis_free(&cv);
    return st;
}

clvit_status clvit_load_image(const clvit_config *cfg, const char *path, float *image) {
    if (!cfg || !path || !image)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_load_image: NULL argument");
    /* clvit_image_load checks the sizes it uses (img_size, in_chans, std) */
    return clvit_image_load(path, cfg->img_size, cfg->in_chans, cfg->crop_pct, cfg->mean, cfg->std,
                            image);
}
