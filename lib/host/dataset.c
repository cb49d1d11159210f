/*
 * dataset.c - see dataset.h. Files are read whole through zlib (gzread passes plain files
 * through unchanged), so every size in a header is checked against the bytes actually
 * there before it is used. IDX header (big-endian u32s): images 0x00000803, count, rows,
 * cols, then (count, rows, cols) bytes; labels 0x00000801, count, then count bytes.
 */
#include "dataset.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_LABELS_MAGIC 0x00000801u
#define MNIST_CLASSES 10
#define CSV_SIDE 28
#define CSV_PIXELS (CSV_SIDE * CSV_SIDE)
#define READ_LIMIT ((size_t)1 << 34) /* 16 GiB: refuse larger (or gzip bombs) */

/* ---------------------------------------------------------------- whole-file reading */

/* gzerror's message without the "path: " prefix zlib puts on it. */
static const char *zlib_msg(const char *msg, const char *path) {
    size_t plen = strlen(path);
    if (msg && strncmp(msg, path, plen) == 0 && strncmp(msg + plen, ": ", 2) == 0)
        return msg + plen + 2;
    return msg ? msg : "unknown zlib error";
}

static clvit_status read_all(const char *path, uint8_t **data, size_t *size) {
    *data = NULL;
    *size = 0;
    errno = 0;
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return clvit_fail(CLVIT_ERR_IO, "%s: cannot open: %s", path,
                          errno ? strerror(errno) : "out of memory");
    gzbuffer(gz, 1u << 17);
    size_t cap = 1u << 16, n = 0; /* doubled as needed: label files are a few KiB */
    uint8_t *buf = malloc(cap);
    clvit_status st;
    if (!buf) {
        st = clvit_fail(CLVIT_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (;;) {
        if (n == cap) {
            if (cap >= READ_LIMIT) {
                st = clvit_fail(CLVIT_ERR_FORMAT, "%s: larger than %zu bytes", path, READ_LIMIT);
                goto fail;
            }
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                st = clvit_fail(CLVIT_ERR_NOMEM, "%s: out of memory after %zu bytes", path, n);
                goto fail;
            }
            buf = nb;
            cap *= 2;
        }
        size_t want = cap - n;
        if (want > (1u << 30)) want = 1u << 30;
        int got = gzread(gz, buf + n, (unsigned)want);
        if (got < 0) {
            int zerr = 0;
            const char *msg = gzerror(gz, &zerr);
            st = clvit_fail(zerr == Z_ERRNO ? CLVIT_ERR_IO : CLVIT_ERR_FORMAT,
                            "%s: read failed after %zu bytes: %s", path, n,
                            zerr == Z_ERRNO ? strerror(errno) : zlib_msg(msg, path));
            goto fail;
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    /* a truncated gzip stream reads as EOF plus a pending error */
    int zerr = 0;
    const char *msg = gzerror(gz, &zerr);
    if (zerr != Z_OK && zerr != Z_STREAM_END) {
        st = clvit_fail(CLVIT_ERR_FORMAT, "%s: corrupt or truncated gzip data after %zu bytes: %s",
                        path, n, zlib_msg(msg, path));
        goto fail;
    }
    gzclose(gz);
    *data = buf;
    *size = n;
    return CLVIT_SUCCESS;
fail:
    free(buf);
    gzclose(gz);
    return st;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* ---------------------------------------------------------------- IDX */

void clvit_dataset_free(clvit_dataset *ds) {
    if (!ds) return;
    free(ds->images);
    free(ds->labels);
    memset(ds, 0, sizeof *ds);
}

static clvit_status idx_images(const char *path, clvit_dataset *out) {
    uint8_t *d;
    size_t n;
    CLVIT_CHECK(read_all(path, &d, &n));
    clvit_status st = CLVIT_SUCCESS;
    if (n >= 4 && be32(d) != IDX_IMAGES_MAGIC) {
        st = clvit_fail(CLVIT_ERR_FORMAT,
                        "%s: bad IDX magic 0x%08x (want 0x%08x, unsigned bytes, 3 dims)", path,
                        be32(d), IDX_IMAGES_MAGIC);
        goto done;
    }
    if (n < 16) {
        st = clvit_fail(CLVIT_ERR_FORMAT, "%s: truncated IDX header (%zu of 16 bytes)", path, n);
        goto done;
    }
    uint32_t count = be32(d + 4), rows = be32(d + 8), cols = be32(d + 12);
    if (count > INT_MAX || rows == 0 || cols == 0 || rows > 65535 || cols > 65535) {
        st = clvit_fail(CLVIT_ERR_FORMAT, "%s: implausible IDX dims %u x %u x %u", path, count,
                        rows, cols);
        goto done;
    }
    uint64_t need = (uint64_t)count * rows * cols; /* < 2^63 */
    if ((uint64_t)(n - 16) != need) {
        st = clvit_fail(CLVIT_ERR_FORMAT,
                        "%s: %s: header says %u images of %u x %u = %llu pixel bytes, file has "
                        "%zu",
                        path, (uint64_t)(n - 16) < need ? "truncated" : "trailing data", count,
                        rows, cols, (unsigned long long)need, n - 16);
        goto done;
    }
    /* keep the buffer, dropping the header */
    memmove(d, d + 16, (size_t)need);
    uint8_t *img = realloc(d, need ? (size_t)need : 1);
    if (img) d = img;
    out->images = d;
    d = NULL;
    out->count = (int)count;
    out->rows = (int)rows;
    out->cols = (int)cols;
done:
    free(d);
    return st;
}

static clvit_status idx_labels(const char *path, int32_t **labels, int *count) {
    uint8_t *d;
    size_t n;
    CLVIT_CHECK(read_all(path, &d, &n));
    clvit_status st = CLVIT_SUCCESS;
    int32_t *lab = NULL;
    if (n >= 4 && be32(d) != IDX_LABELS_MAGIC) {
        st = clvit_fail(CLVIT_ERR_FORMAT,
                        "%s: bad IDX magic 0x%08x (want 0x%08x, unsigned bytes, 1 dim)", path,
                        be32(d), IDX_LABELS_MAGIC);
        goto done;
    }
    if (n < 8) {
        st = clvit_fail(CLVIT_ERR_FORMAT, "%s: truncated IDX header (%zu of 8 bytes)", path, n);
        goto done;
    }
    uint32_t cnt = be32(d + 4);
    if (cnt > INT_MAX || (uint64_t)(n - 8) != cnt) {
        st = clvit_fail(CLVIT_ERR_FORMAT, "%s: %s: header says %u labels, file has %zu bytes", path,
                        (uint64_t)(n - 8) < cnt ? "truncated" : "trailing data", cnt, n - 8);
        goto done;
    }
    lab = malloc(cnt ? (size_t)cnt * sizeof *lab : 1);
    if (!lab) {
        st = clvit_fail(CLVIT_ERR_NOMEM, "%s: out of memory for %u labels", path, cnt);
        goto done;
    }
    for (uint32_t i = 0; i < cnt; i++) {
        if (d[8 + i] >= MNIST_CLASSES) {
            st = clvit_fail(CLVIT_ERR_FORMAT, "%s: record %u: label %u out of range 0..%d", path, i,
                            (unsigned)d[8 + i], MNIST_CLASSES - 1);
            goto done;
        }
        lab[i] = d[8 + i];
    }
    *labels = lab;
    lab = NULL;
    *count = (int)cnt;
done:
    free(lab);
    free(d);
    return st;
}

clvit_status clvit_idx_load(const char *images_path, const char *labels_path, clvit_dataset *out) {
    if (!out) return clvit_fail(CLVIT_ERR_INVALID_ARG, "idx: NULL output");
    memset(out, 0, sizeof *out);
    if (!images_path) return clvit_fail(CLVIT_ERR_INVALID_ARG, "idx: NULL images path");
    clvit_dataset ds = {0};
    CLVIT_CHECK(idx_images(images_path, &ds));
    ds.num_classes = MNIST_CLASSES;
    if (labels_path) {
        int nlab = 0;
        clvit_status st = idx_labels(labels_path, &ds.labels, &nlab);
        if (st == CLVIT_SUCCESS && nlab != ds.count)
            st = clvit_fail(CLVIT_ERR_FORMAT, "%s has %d images but %s has %d labels", images_path,
                            ds.count, labels_path, nlab);
        if (st != CLVIT_SUCCESS) {
            clvit_dataset_free(&ds);
            return st;
        }
    }
    *out = ds;
    return CLVIT_SUCCESS;
}

/* ---------------------------------------------------------------- CSV */

/* Parses one unsigned decimal field [p, end) into *v; 0 when it is not one. Spaces and
 * quotes around the digits are allowed. */
static int parse_field(const char *p, const char *end, long *v) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '"'))
        p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '"'))
        end--;
    if (p == end) return 0;
    long x = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9') return 0;
        if (x < 1000000) x = x * 10 + (*p - '0'); /* saturate: anything this large is bad */
    }
    *v = x;
    return 1;
}

static int count_fields(const char *p, const char *end) {
    int n = 1;
    for (; p < end; p++)
        n += *p == ',';
    return n;
}

static int is_blank(const char *p, const char *end) {
    for (; p < end; p++)
        if (*p != ' ' && *p != '\t') return 0;
    return 1;
}

/* Copies the field for an error message, shortened and made printable. */
static const char *field_text(const char *p, const char *end, char *buf, size_t cap) {
    size_t n = 0;
    for (; p < end && n + 1 < cap; p++)
        buf[n++] = (*p >= 32 && *p < 127) ? *p : '?';
    buf[n] = '\0';
    return buf;
}

clvit_status clvit_csv_load(const char *path, clvit_dataset *out) {
    if (!out) return clvit_fail(CLVIT_ERR_INVALID_ARG, "csv: NULL output");
    memset(out, 0, sizeof *out);
    if (!path) return clvit_fail(CLVIT_ERR_INVALID_ARG, "csv: NULL path");
    uint8_t *data;
    size_t size;
    CLVIT_CHECK(read_all(path, &data, &size));
    const char *s = (const char *)data, *end = s + size;
    clvit_status st = CLVIT_SUCCESS;
    clvit_dataset ds = {0};

    /* header, line 1 (a UTF-8 byte-order mark is skipped) */
    if (size >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) s += 3;
    const char *eol = memchr(s, '\n', (size_t)(end - s));
    const char *hend = eol ? eol : end;
    if (hend > s && hend[-1] == '\r') hend--;
    if (is_blank(s, hend)) {
        st = clvit_fail(CLVIT_ERR_FORMAT, "%s line 1: empty file or header", path);
        goto done;
    }
    int hcols = count_fields(s, hend);
    const char *c1 = memchr(s, ',', (size_t)(hend - s));
    char first[16];
    field_text(s, c1 ? c1 : hend, first, sizeof first);
    const char *f = first;
    while (*f == ' ' || *f == '"')
        f++;
    int named_label = strncmp(f, "label", 5) == 0 && strspn(f + 5, " \t\"") == strlen(f + 5);
    int labelled = named_label || hcols == CSV_PIXELS + 1;
    int want = labelled ? CSV_PIXELS + 1 : CSV_PIXELS;
    if (hcols != want) {
        st = clvit_fail(CLVIT_ERR_FORMAT,
                        "%s line 1: header has %d columns, want %d (label,pixel0..pixel783) or "
                        "%d (pixel0..pixel783)",
                        path, hcols, CSV_PIXELS + 1, CSV_PIXELS);
        goto done;
    }
    s = eol ? eol + 1 : end;

    /* an upper bound on records: the newlines left plus one */
    size_t maxrec = 1;
    for (const char *p = s; p < end; p++)
        maxrec += *p == '\n';
    if (maxrec > INT_MAX) {
        st = clvit_fail(CLVIT_ERR_FORMAT, "%s: too many lines", path);
        goto done;
    }
    ds.images = malloc(maxrec * CSV_PIXELS);
    if (labelled) ds.labels = malloc(maxrec * sizeof *ds.labels);
    if (!ds.images || (labelled && !ds.labels)) {
        st = clvit_fail(CLVIT_ERR_NOMEM, "%s: out of memory for %zu records", path, maxrec);
        goto done;
    }
    int line = 1, count = 0;
    while (s < end) {
        line++;
        eol = memchr(s, '\n', (size_t)(end - s));
        const char *lend = eol ? eol : end;
        const char *next = eol ? eol + 1 : end;
        if (lend > s && lend[-1] == '\r') lend--;
        if (is_blank(s, lend)) {
            s = next;
            continue;
        }
        int ncols = count_fields(s, lend);
        if (ncols != want) {
            st = clvit_fail(CLVIT_ERR_FORMAT, "%s line %d: %d columns, want %d", path, line, ncols,
                            want);
            goto done;
        }
        uint8_t *img = ds.images + (size_t)count * CSV_PIXELS;
        const char *p = s;
        for (int c = 0; c < want; c++) {
            const char *fe = memchr(p, ',', (size_t)(lend - p));
            if (!fe) fe = lend;
            long v;
            char txt[24];
            if (!parse_field(p, fe, &v)) {
                st = clvit_fail(CLVIT_ERR_FORMAT, "%s line %d column %d: '%s' is not an integer",
                                path, line, c + 1, field_text(p, fe, txt, sizeof txt));
                goto done;
            }
            int is_label = labelled && c == 0;
            long hi = is_label ? MNIST_CLASSES - 1 : 255;
            if (v > hi) {
                st = clvit_fail(CLVIT_ERR_FORMAT, "%s line %d column %d: %s %s out of range 0..%ld",
                                path, line, c + 1, is_label ? "label" : "pixel",
                                field_text(p, fe, txt, sizeof txt), hi);
                goto done;
            }
            if (is_label)
                ds.labels[count] = (int32_t)v;
            else
                img[c - labelled] = (uint8_t)v;
            p = fe + 1;
        }
        count++;
        s = next;
    }
    if (count == 0) {
        st = clvit_fail(CLVIT_ERR_FORMAT, "%s: no data lines after the header", path);
        goto done;
    }
    ds.count = count;
    ds.rows = ds.cols = CSV_SIDE;
    ds.num_classes = MNIST_CLASSES;
    *out = ds;
    memset(&ds, 0, sizeof ds);
done:
    clvit_dataset_free(&ds);
    free(data);
    return st;
}

/* ---------------------------------------------------------------- dataset specs */

static int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Finds DIR/<split>-<kind>-ubyte, also spelt <split>-<kind-with-dot>-ubyte, each with or
 * without .gz. kind is "images-idx3" or "labels-idx1". */
static clvit_status find_idx(const char *dir, const char *split, const char *kind, char *path,
                             size_t cap) {
    static const char *const fmts[] = {"%s/%s-%s-ubyte", "%s/%s-%s-ubyte.gz"};
    char dotted[32];
    snprintf(dotted, sizeof dotted, "%s", kind);
    char *dash = strchr(dotted, '-');
    if (dash) *dash = '.';
    const char *kinds[] = {kind, dotted};
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 2; i++) {
            int n = snprintf(path, cap, fmts[i], dir, split, kinds[k]);
            if (n < 0 || (size_t)n >= cap)
                return clvit_fail(CLVIT_ERR_INVALID_ARG, "dataset directory name too long: %s",
                                  dir);
            if (file_exists(path)) return CLVIT_SUCCESS;
        }
    }
    return clvit_fail(CLVIT_ERR_IO, "%s/%s-%s-ubyte[.gz] not found (run scripts/fetch_data.sh?)",
                      dir, split, kind);
}

clvit_status clvit_dataset_open(const char *spec, int split_test, clvit_dataset *out) {
    if (!out) return clvit_fail(CLVIT_ERR_INVALID_ARG, "dataset: NULL output");
    memset(out, 0, sizeof *out);
    if (!spec) return clvit_fail(CLVIT_ERR_INVALID_ARG, "dataset: NULL spec");
    if (strncmp(spec, "csv:", 4) == 0) return clvit_csv_load(spec + 4, out);
    const char *dir = NULL;
    if (strncmp(spec, "mnist:", 6) == 0) dir = spec + 6;
    if (strncmp(spec, "fashion:", 8) == 0) dir = spec + 8;
    if (!dir)
        return clvit_fail(CLVIT_ERR_INVALID_ARG,
                          "dataset '%s': want mnist:DIR, fashion:DIR or csv:FILE", spec);
    if (!*dir) return clvit_fail(CLVIT_ERR_INVALID_ARG, "dataset '%s': empty directory", spec);
    const char *split = split_test ? "t10k" : "train";
    char img[4096], lab[4096];
    CLVIT_CHECK(find_idx(dir, split, "images-idx3", img, sizeof img));
    CLVIT_CHECK(find_idx(dir, split, "labels-idx1", lab, sizeof lab));
    return clvit_idx_load(img, lab, out);
}

/* ---------------------------------------------------------------- RNG and splits */

#define SPLITMIX_GAMMA 0x9E3779B97F4A7C15ULL

static uint64_t splitmix_mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint64_t clvit_rng_next(uint64_t *state) {
    *state += SPLITMIX_GAMMA;
    return splitmix_mix(*state);
}

uint64_t clvit_rng_at(uint64_t seed, uint64_t i) {
    return splitmix_mix(seed + (i + 1) * SPLITMIX_GAMMA);
}

float clvit_rng_uniform(uint64_t *state) {
    return (float)(clvit_rng_next(state) >> 40) * (1.0f / 16777216.0f);
}

uint32_t clvit_rng_below(uint64_t *state, uint32_t n) {
    if (n == 0) return 0;
    /* Lemire's multiply-shift with rejection of the biased low products */
    uint64_t m = (clvit_rng_next(state) >> 32) * (uint64_t)n;
    uint32_t lo = (uint32_t)m;
    if (lo < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (lo < t) {
            m = (clvit_rng_next(state) >> 32) * (uint64_t)n;
            lo = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

void clvit_shuffle(int *idx, int n, uint64_t *state) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)clvit_rng_below(state, (uint32_t)i + 1);
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

clvit_status clvit_split(int count, double val_fraction, uint64_t seed, int **train_idx,
                         int *ntrain, int **val_idx, int *nval) {
    if (!train_idx || !ntrain || !val_idx || !nval)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "split: NULL output");
    *train_idx = *val_idx = NULL;
    *ntrain = *nval = 0;
    if (count < 0) return clvit_fail(CLVIT_ERR_INVALID_ARG, "split: count %d < 0", count);
    if (!(val_fraction >= 0.0 && val_fraction <= 1.0))
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "split: val_fraction %g not in [0, 1]",
                          val_fraction);
    int nv = (int)floor((double)count * val_fraction + 0.5);
    if (nv > count) nv = count;
    int nt = count - nv;
    int *all = malloc((size_t)(count ? count : 1) * sizeof *all);
    int *tr = malloc((size_t)(nt ? nt : 1) * sizeof *tr);
    int *va = malloc((size_t)(nv ? nv : 1) * sizeof *va);
    if (!all || !tr || !va) {
        free(all);
        free(tr);
        free(va);
        return clvit_fail(CLVIT_ERR_NOMEM, "split: out of memory for %d indices", count);
    }
    for (int i = 0; i < count; i++)
        all[i] = i;
    uint64_t state = seed;
    clvit_shuffle(all, count, &state);
    if (nv) memcpy(va, all, (size_t)nv * sizeof *va);
    if (nt) memcpy(tr, all + nv, (size_t)nt * sizeof *tr);
    free(all);
    qsort(va, (size_t)nv, sizeof *va, cmp_int);
    qsort(tr, (size_t)nt, sizeof *tr, cmp_int);
    *train_idx = tr;
    *val_idx = va;
    *ntrain = nt;
    *nval = nv;
    return CLVIT_SUCCESS;
}

/* ---------------------------------------------------------------- augmentation */

clvit_status clvit_augment(const uint8_t *src, int rows, int cols, float max_rot_deg,
                           float max_shift_px, uint64_t *rng, float *dst) {
    if (!src || !dst || !rng) return clvit_fail(CLVIT_ERR_INVALID_ARG, "augment: NULL argument");
    if (rows <= 0 || cols <= 0)
        return clvit_fail(CLVIT_ERR_SHAPE, "augment: image %d x %d", rows, cols);
    if (!(max_rot_deg >= 0.0f && max_rot_deg <= 360.0f) ||
        !(max_shift_px >= 0.0f && max_shift_px <= 1e6f))
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "augment: max_rot_deg %g, max_shift_px %g",
                          (double)max_rot_deg, (double)max_shift_px);
    float u_rot = clvit_rng_uniform(rng), u_dx = clvit_rng_uniform(rng),
          u_dy = clvit_rng_uniform(rng);
    double angle = (2.0 * u_rot - 1.0) * max_rot_deg * (3.14159265358979323846 / 180.0);
    double dx = nearbyint((2.0 * u_dx - 1.0) * max_shift_px);
    double dy = nearbyint((2.0 * u_dy - 1.0) * max_shift_px);
    double cs = cos(angle), sn = sin(angle);
    double cx = 0.5 * (cols - 1), cy = 0.5 * (rows - 1);
    for (int y = 0; y < rows; y++) {
        for (int x = 0; x < cols; x++) {
            /* inverse map: source = R(-angle) (out - centre - shift) + centre; a positive
             * angle turns the picture counter-clockwise on screen (y down) */
            double u = x - cx - dx, v = y - cy - dy;
            double sx = cs * u - sn * v + cx, sy = sn * u + cs * v + cy;
            double fx = floor(sx), fy = floor(sy);
            double ax = sx - fx, ay = sy - fy;
            double acc = 0.0;
            if (fx >= -1.0 && fx < cols && fy >= -1.0 && fy < rows) {
                int x0 = (int)fx, y0 = (int)fy;
                for (int j = 0; j < 2; j++) {
                    int yy = y0 + j;
                    if (yy < 0 || yy >= rows) continue;
                    double wy = j ? ay : 1.0 - ay;
                    for (int i = 0; i < 2; i++) {
                        int xx = x0 + i;
                        if (xx < 0 || xx >= cols) continue;
                        double wx = i ? ax : 1.0 - ax;
                        acc += wx * wy * src[(size_t)yy * (size_t)cols + (size_t)xx];
                    }
                }
            }
            dst[(size_t)y * (size_t)cols + (size_t)x] = (float)(acc / 255.0);
        }
    }
    return CLVIT_SUCCESS;
}

clvit_status clvit_normalise(const uint8_t *src, size_t n, float mean, float std, float *dst) {
    if ((!src || !dst) && n) return clvit_fail(CLVIT_ERR_INVALID_ARG, "normalise: NULL array");
    if (!(std != 0.0f)) return clvit_fail(CLVIT_ERR_INVALID_ARG, "normalise: std %g", (double)std);
    for (size_t i = 0; i < n; i++)
        dst[i] = ((float)src[i] / 255.0f - mean) / std;
    return CLVIT_SUCCESS;
}

clvit_status clvit_normalise_f(float *x, size_t n, float mean, float std) {
    if (!x && n) return clvit_fail(CLVIT_ERR_INVALID_ARG, "normalise: NULL array");
    if (!(std != 0.0f)) return clvit_fail(CLVIT_ERR_INVALID_ARG, "normalise: std %g", (double)std);
    for (size_t i = 0; i < n; i++)
        x[i] = (x[i] - mean) / std;
    return CLVIT_SUCCESS;
}

/* ---------------------------------------------------------------- submission */

clvit_status clvit_write_submission(const char *path, const int32_t *preds, int n) {
    if (!path || (!preds && n > 0) || n < 0)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "submission: bad arguments (n=%d)", n);
    char *tmp;
    FILE *f;
    CLVIT_CHECK(clvit_atomic_open(path, &f, &tmp));
    int ok = fputs("ImageId,Label\n", f) >= 0;
    for (int i = 0; ok && i < n; i++)
        ok = fprintf(f, "%d,%d\n", i + 1, (int)preds[i]) > 0;
    return clvit_atomic_commit(f, tmp, path, ok);
}
