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
    /* zlib's default 8 KiB input buffer: gzread inflates straight into buf, and a larger
     * buffer only made each open slower (fuzz_idx ran 1.5x faster without the 128 KiB one) */
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
