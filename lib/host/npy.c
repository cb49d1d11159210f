/*
 * npy.c - numpy .npy reader and writer (contract in include/clvit_data.h). File layout:
 *   "\x93NUMPY" | major u8 | minor u8 | header length: u16 LE (1.0) or u32 LE (2.0, 3.0)
 *   | header: a Python dict literal, padded with spaces, ending in '\n', e.g.
 *       {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 *   | data: numel elements, C order
 * The reader parses the dict itself (quoted strings, True/False, tuples of integers) and
 * requires exactly the keys descr, fortran_order and shape; the data size must match what is
 * left of the file. The writer emits version 1.0, '<f4', with the data starting at a
 * multiple of 64 bytes, to PATH.tmp, fsync'ed and renamed over PATH.
 */
#include "clvit_data.h"
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_MAX_HEADER (1u << 20) /* numpy itself refuses more than 10000 bytes by default */
#define NPY_ALIGN 64

typedef unsigned long long ull;

static int host_is_le(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* ---------------------------------------------------------------- header dict parser */

typedef struct npy_header {
    char descr[16];
    int fortran_order;
    int ndim;
    int64_t shape[CLVIT_NPY_MAX_DIMS];
} npy_header;

typedef struct cursor {
    const char *p, *end;
    const char *path;
} cursor;

static void skip_ws(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int peek(const cursor *c) {
    return c->p < c->end ? (unsigned char)*c->p : -1;
}

static clvit_status expect_char(cursor *c, char ch, const char *where) {
    skip_ws(c);
    if (peek(c) != (unsigned char)ch)
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: npy header: expected '%c' %s", c->path, ch, where);
    c->p++;
    return CLVIT_SUCCESS;
}

/* A quoted Python string without escapes, copied into out (size cap). */
static clvit_status parse_string(cursor *c, char *out, size_t cap, const char *what) {
    skip_ws(c);
    int q = peek(c);
    if (q != '\'' && q != '"')
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: npy header: expected a quoted string for %s",
                          c->path, what);
    c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != (char)q) {
        if (*c->p == '\\')
            return clvit_fail(CLVIT_ERR_FORMAT, "%s: npy header: escapes in %s", c->path, what);
        if (n + 1 >= cap)
            return clvit_fail(CLVIT_ERR_FORMAT, "%s: npy header: %s is too long", c->path, what);
        out[n++] = *c->p++;
    }
    if (c->p >= c->end)
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: npy header: unterminated string in %s", c->path,
                          what);
    c->p++;
    out[n] = '\0';
    return CLVIT_SUCCESS;
}

static clvit_status parse_bool(cursor *c, int *out) {
    skip_ws(c);
    size_t left = (size_t)(c->end - c->p);
    if (left >= 4 && memcmp(c->p, "True", 4) == 0) {
        c->p += 4;
        *out = 1;
    } else if (left >= 5 && memcmp(c->p, "False", 5) == 0) {
        c->p += 5;
        *out = 0;
    } else {
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: npy header: fortran_order is not True or False",
                          c->path);
    }
    return CLVIT_SUCCESS;
}

/* A Python tuple of non-negative integers: (), (3,), (2, 3) or (2, 3,); "3L" (Python 2)
 * is accepted. */
static clvit_status parse_shape(cursor *c, npy_header *h) {
    CLVIT_CHECK(expect_char(c, '(', "to open shape"));
    int n = 0, trailing_comma = 0;
    for (;;) {
        skip_ws(c);
        if (peek(c) == ')') {
            c->p++;
            break;
        }
        if (n > 0 && !trailing_comma)
            return clvit_fail(CLVIT_ERR_FORMAT, "%s: npy header: expected ',' in shape", c->path);
        if (peek(c) == '-')
            return clvit_fail(CLVIT_ERR_FORMAT, "%s: npy header: negative dimension in shape",
                              c->path);
        if (peek(c) < '0' || peek(c) > '9')
            return clvit_fail(CLVIT_ERR_FORMAT, "%s: npy header: shape holds a non-integer",
                              c->path);
        if (n == CLVIT_NPY_MAX_DIMS)
            return clvit_fail(CLVIT_ERR_UNSUPPORTED, "%s: more than %d dimensions", c->path,
                              CLVIT_NPY_MAX_DIMS);
        int64_t v = 0;
        while (peek(c) >= '0' && peek(c) <= '9') {
            int digit = *c->p++ - '0';
            if (v > (INT64_MAX - digit) / 10)
                return clvit_fail(CLVIT_ERR_FORMAT, "%s: npy header: dimension overflows", c->path);
            v = v * 10 + digit;
        }
        if (peek(c) == 'L') c->p++;
        h->shape[n++] = v;
        skip_ws(c);
        trailing_comma = 0;
        if (peek(c) == ',') {
            c->p++;
            trailing_comma = 1;
        }
    }
    /* (3) is the integer 3 in Python, not a tuple */
    if (n == 1 && !trailing_comma)
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: npy header: shape (N) is not a tuple", c->path);
    h->ndim = n;
    return CLVIT_SUCCESS;
}

static clvit_status parse_header(const char *text, size_t len, const char *path, npy_header *h) {
    if (memchr(text, '\0', len))
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: npy header holds a NUL byte", path);
    cursor c = {text, text + len, path};
    int seen_descr = 0, seen_fortran = 0, seen_shape = 0;
    CLVIT_CHECK(expect_char(&c, '{', "at the start"));
    for (;;) {
        skip_ws(&c);
        if (peek(&c) == '}') {
            c.p++;
            break;
        }
        char key[32];
        CLVIT_CHECK(parse_string(&c, key, sizeof key, "a key"));
        CLVIT_CHECK(expect_char(&c, ':', "after a key"));
        int *seen;
        if (strcmp(key, "descr") == 0) {
            seen = &seen_descr;
            skip_ws(&c);
            if (peek(&c) == '[')
                return clvit_fail(CLVIT_ERR_UNSUPPORTED,
                                  "%s: structured dtypes are not supported (need '<f4' or '<f8')",
                                  path);
            CLVIT_CHECK(parse_string(&c, h->descr, sizeof h->descr, "descr"));
        } else if (strcmp(key, "fortran_order") == 0) {
            seen = &seen_fortran;
            CLVIT_CHECK(parse_bool(&c, &h->fortran_order));
        } else if (strcmp(key, "shape") == 0) {
            seen = &seen_shape;
            CLVIT_CHECK(parse_shape(&c, h));
        } else {
            return clvit_fail(CLVIT_ERR_FORMAT, "%s: npy header: unexpected key '%s'", path, key);
        }
        if (*seen) return clvit_fail(CLVIT_ERR_FORMAT, "%s: npy header: '%s' twice", path, key);
        *seen = 1;
        skip_ws(&c);
        if (peek(&c) == ',') {
            c.p++;
        } else if (peek(&c) != '}') {
            return clvit_fail(CLVIT_ERR_FORMAT, "%s: npy header: expected ',' or '}' after '%s'",
                              path, key);
        }
    }
    skip_ws(&c);
    if (c.p != c.end)
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: npy header: bytes after the closing '}'", path);
    if (!seen_descr || !seen_fortran || !seen_shape)
        return clvit_fail(CLVIT_ERR_FORMAT, "%s: npy header: missing '%s'", path,
                          !seen_descr     ? "descr"
                          : !seen_fortran ? "fortran_order"
                                          : "shape");
    return CLVIT_SUCCESS;
}

/* ---------------------------------------------------------------- reader */

static clvit_status read_data(FILE *fp, const char *path, size_t itemsize, size_t n, float *dst) {
    if (itemsize == 4) {
        if (fread(dst, 4, n, fp) != n)
            return clvit_fail(CLVIT_ERR_FORMAT, "%s: file ends inside the data", path);
        if (!host_is_le()) {
            unsigned char *b = (unsigned char *)dst;
            for (size_t i = 0; i < n; i++) {
                unsigned char t0 = b[4 * i], t1 = b[4 * i + 1];
                b[4 * i] = b[4 * i + 3];
                b[4 * i + 1] = b[4 * i + 2];
                b[4 * i + 2] = t1;
                b[4 * i + 3] = t0;
            }
        }
        return CLVIT_SUCCESS;
    }
    enum { CHUNK = 1024 };
    unsigned char buf[8 * CHUNK];
    for (size_t done = 0; done < n;) {
        size_t k = n - done;
        if (k > CHUNK) k = CHUNK;
        if (fread(buf, 8, k, fp) != k)
            return clvit_fail(CLVIT_ERR_FORMAT, "%s: file ends inside the data", path);
        for (size_t i = 0; i < k; i++) {
            uint64_t u = 0;
            for (int j = 7; j >= 0; j--)
                u = (u << 8) | buf[8 * i + (size_t)j];
            double d;
            memcpy(&d, &u, sizeof d);
            dst[done + i] = (float)d;
        }
        done += k;
    }
    return CLVIT_SUCCESS;
}

clvit_status clvit_npy_read_f32(const char *path, float **data, int64_t *shape, int *ndim) {
    if (!path || !data || !shape || !ndim)
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_npy_read_f32: NULL argument");
    *data = NULL;
    *ndim = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return clvit_fail(CLVIT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    clvit_status st;
    char *text = NULL;
    float *out = NULL;
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = clvit_fail(CLVIT_ERR_IO, "%s: not a regular file", path);
        goto done;
    }
    uint64_t size = (uint64_t)sb.st_size;
    unsigned char pre[12];
    if (size < 10 || fread(pre, 1, 10, fp) != 10) {
        st = clvit_fail(CLVIT_ERR_FORMAT, "%s: %llu bytes, too short for a .npy file", path,
                        (ull)size);
        goto done;
    }
    if (memcmp(pre, NPY_MAGIC, NPY_MAGIC_LEN) != 0) {
        st = clvit_fail(CLVIT_ERR_FORMAT, "%s: not a .npy file (bad magic)", path);
        goto done;
    }
    int major = pre[6], minor = pre[7];
    uint64_t prefix, hlen;
    if (major == 1 && minor == 0) {
        prefix = 10;
        hlen = (uint64_t)pre[8] | ((uint64_t)pre[9] << 8);
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (size < 12 || fread(pre + 10, 1, 2, fp) != 2) {
            st = clvit_fail(CLVIT_ERR_FORMAT, "%s: file ends inside the header length", path);
            goto done;
        }
        prefix = 12;
        hlen = (uint64_t)pre[8] | ((uint64_t)pre[9] << 8) | ((uint64_t)pre[10] << 16) |
               ((uint64_t)pre[11] << 24);
    } else {
        st = clvit_fail(CLVIT_ERR_FORMAT, "%s: .npy format version %d.%d (1.0, 2.0, 3.0 are read)",
                        path, major, minor);
        goto done;
    }
    if (hlen > size - prefix) {
        st = clvit_fail(CLVIT_ERR_FORMAT,
                        "%s: header length %llu runs past the end of the %llu-byte file", path,
                        (ull)hlen, (ull)size);
        goto done;
    }
    if (hlen > NPY_MAX_HEADER) {
        st = clvit_fail(CLVIT_ERR_FORMAT, "%s: header length %llu above the %u-byte limit", path,
                        (ull)hlen, NPY_MAX_HEADER);
        goto done;
    }
    text = malloc(hlen > 0 ? (size_t)hlen : 1);
    if (!text) {
        st = clvit_fail(CLVIT_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if (fread(text, 1, (size_t)hlen, fp) != (size_t)hlen) {
        st = clvit_fail(CLVIT_ERR_FORMAT, "%s: file ends inside the header", path);
        goto done;
    }
    npy_header h;
    memset(&h, 0, sizeof h);
    CLVIT_TRY(st, parse_header(text, (size_t)hlen, path, &h), done);

    size_t itemsize;
    if (strcmp(h.descr, "<f4") == 0) {
        itemsize = 4;
    } else if (strcmp(h.descr, "<f8") == 0) {
        itemsize = 8;
    } else if (h.descr[0] == '>') {
        st = clvit_fail(CLVIT_ERR_UNSUPPORTED, "%s: big-endian dtype '%s' (need '<f4' or '<f8')",
                        path, h.descr);
        goto done;
    } else {
        st = clvit_fail(CLVIT_ERR_UNSUPPORTED,
                        "%s: dtype '%s' is not supported (need '<f4' or "
                        "'<f8')",
                        path, h.descr);
        goto done;
    }
    if (h.fortran_order) {
        st = clvit_fail(CLVIT_ERR_UNSUPPORTED, "%s: Fortran-order arrays are not supported", path);
        goto done;
    }
    size_t numel = 1, nbytes, outbytes;
    for (int d = 0; d < h.ndim; d++) {
        if ((uint64_t)h.shape[d] > SIZE_MAX || !clvit_mul_size(numel, (size_t)h.shape[d], &numel)) {
            st = clvit_fail(CLVIT_ERR_FORMAT, "%s: shape product overflows", path);
            goto done;
        }
    }
    if (!clvit_mul_size(numel, itemsize, &nbytes) || (uint64_t)numel > (uint64_t)INT64_MAX) {
        st = clvit_fail(CLVIT_ERR_FORMAT, "%s: data size overflows", path);
        goto done;
    }
    uint64_t avail = size - prefix - hlen;
    if (avail != (uint64_t)nbytes) {
        st = clvit_fail(CLVIT_ERR_FORMAT,
                        "%s: shape needs %zu data bytes but the file holds %llu (%s)", path, nbytes,
                        (ull)avail, avail < nbytes ? "truncated" : "trailing bytes");
        goto done;
    }
    outbytes = numel * sizeof(float); /* <= nbytes, so no overflow */
    out = malloc(outbytes > 0 ? outbytes : 1);
    if (!out) {
        st = clvit_fail(CLVIT_ERR_NOMEM, "%s: out of memory for %zu bytes", path, outbytes);
        goto done;
    }
    CLVIT_TRY(st, read_data(fp, path, itemsize, numel, out), done);
    for (int d = 0; d < h.ndim; d++)
        shape[d] = h.shape[d];
    *ndim = h.ndim;
    *data = out;
    out = NULL;
    st = CLVIT_SUCCESS;
done:
    free(out);
    free(text);
    fclose(fp);
    return st;
}

/* ---------------------------------------------------------------- writer */

static int write_f32_le(FILE *fp, const float *data, size_t n) {
    if (n == 0) return 1;
    if (host_is_le()) return fwrite(data, sizeof(float), n, fp) == n;
    /* big-endian host: byte-swap one element at a time (stdio buffers the writes) */
    const unsigned char *src = (const unsigned char *)data;
    for (size_t i = 0; i < n; i++) {
        const unsigned char le[4] = {src[4 * i + 3], src[4 * i + 2], src[4 * i + 1], src[4 * i]};
        if (fwrite(le, 1, 4, fp) != 4) return 0;
    }
    return 1;
}

clvit_status clvit_npy_write_f32(const char *path, const float *data, const int64_t *shape,
                                 int ndim) {
    if (!path || ndim < 0 || ndim > CLVIT_NPY_MAX_DIMS || (ndim > 0 && !shape))
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "clvit_npy_write_f32: bad arguments (ndim %d)",
                          ndim);
    /* header text: the dict, then spaces, then '\n' so that the data starts aligned */
    char hdr[512];
    int len = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    size_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || (uint64_t)shape[d] > SIZE_MAX ||
            !clvit_mul_size(numel, (size_t)shape[d], &numel))
            return clvit_fail(CLVIT_ERR_INVALID_ARG, "%s: bad shape[%d] = %lld", path, d,
                              (long long)shape[d]);
        len += snprintf(hdr + len, sizeof hdr - (size_t)len, "%s%lld", d ? ", " : "",
                        (long long)shape[d]);
    }
    size_t nbytes;
    if (!clvit_mul_size(numel, sizeof(float), &nbytes))
        return clvit_fail(CLVIT_ERR_INVALID_ARG, "%s: array too large", path);
    if (nbytes > 0 && !data) return clvit_fail(CLVIT_ERR_INVALID_ARG, "%s: data is NULL", path);
    len += snprintf(hdr + len, sizeof hdr - (size_t)len, "%s), }", ndim == 1 ? "," : "");
    size_t total = ((size_t)len + 10 + 1 + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
    size_t hlen = total - 10;
    memset(hdr + len, ' ', hlen - 1 - (size_t)len);
    hdr[hlen - 1] = '\n';
    unsigned char pre[10];
    memcpy(pre, NPY_MAGIC, NPY_MAGIC_LEN);
    pre[6] = 1;
    pre[7] = 0;
    pre[8] = (unsigned char)(hlen & 0xff);
    pre[9] = (unsigned char)(hlen >> 8);

    char *tmp;
    FILE *fp;
    CLVIT_CHECK(clvit_atomic_open(path, &fp, &tmp));
    int ok = fwrite(pre, 1, 10, fp) == 10 && fwrite(hdr, 1, hlen, fp) == hlen &&
             write_f32_le(fp, data, numel);
    return clvit_atomic_commit(fp, tmp, path, ok);
}
