/*
 * fuzz_image.c - image decoding (PNG, JPEG and the rest stb_image reads) with clvit's
 * preprocessing (lib/host/image.c): channel conversion, bicubic resize of the shorter side to
 * img_size / crop_pct, centre crop or padding, normalisation.
 * Input: 3 bytes of settings, then the image file.
 *   byte 0: img_size = 1 + byte % 64, or 224 when the byte is 255 (the ImageNet models)
 *   byte 1: bit 0: 3 channels, else 1; bit 1: no mean/std (raw [0, 1])
 *   byte 2: crop_pct = byte / 128 (0 gives the default, 1.0)
 * Checks: an accepted image fills every output value with a finite number within the range
 * normalisation allows ((0 - mean) / std .. (1 - mean) / std); a file that is not PNG, JPEG,
 * BMP or GIF is refused as malformed, an image that declares more than
 * CLVIT_IMAGE_MAX_PIXELS as unsupported. Images that declare between 65536
 * pixels and that limit are skipped: they only make the same loops longer, legitimately
 * slow under the sanitizers and coverage tracing.
 */
#include "fuzz_util.h"
#include "image.h"

#include <math.h>

#include <stb/stb_image.h>

#define HARNESS_MAX_PIXELS ((int64_t)1 << 16)

/* The formats clvit reads, by their first bytes (the test's own copy of the rule). */
static int readable(const uint8_t *b, size_t n) {
    return (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) ||
           (n >= 3 && !memcmp(b, "\xff\xd8\xff", 3)) || (n >= 2 && !memcmp(b, "BM", 2)) ||
           (n >= 6 && (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    const int img_size = data[0] == 255 ? 224 : 1 + data[0] % 64;
    const int chans = data[1] & 1 ? 3 : 1;
    const int raw = data[1] & 2;
    const float crop_pct = (float)data[2] / 128.0f;
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    int w = 0, h = 0, nc = 0;
    const int64_t declared = stbi_info_from_memory(data + 3, (int)(size - 3), &w, &h, &nc)
                                 ? llabs((long long)w * (long long)h) /* BMP: h < 0 */
                                 : -1;
    const int known = readable(data + 3, size - 3);
    if (known && declared > HARNESS_MAX_PIXELS && declared <= CLVIT_IMAGE_MAX_PIXELS) return 0;
    const char *path = fuzz_path("input.img");
    fuzz_write(path, data + 3, size - 3, 0);

    const size_t n = (size_t)chans * (size_t)img_size * (size_t)img_size;
    float *out = malloc(n * sizeof *out);
    FUZZ_CHECK(out != NULL);
    for (size_t i = 0; i < n; i++)
        out[i] = NAN; /* every value must be written */
    const clvit_status st =
        clvit_image_load(path, img_size, chans, crop_pct, raw ? NULL : mean, raw ? NULL : std, out);
    if (st == CLVIT_SUCCESS) {
        for (int c = 0; c < chans; c++) {
            const float lo = raw ? 0.0f : (0.0f - mean[c]) / std[c];
            const float hi = raw ? 1.0f : (1.0f - mean[c]) / std[c];
            for (size_t i = 0; i < (size_t)img_size * (size_t)img_size; i++) {
                const float v = out[(size_t)c * (size_t)img_size * (size_t)img_size + i];
                FUZZ_CHECK(isfinite(v) && v >= lo - 1e-4f && v <= hi + 1e-4f);
            }
        }
    } else {
        FUZZ_CHECK(clvit_last_error()[0] != '\0');
    }
    if (!known)
        FUZZ_CHECK(st == CLVIT_ERR_FORMAT);
    else if (declared > CLVIT_IMAGE_MAX_PIXELS)
        FUZZ_CHECK(st == CLVIT_ERR_UNSUPPORTED);
    free(out);
    return 0;
}
