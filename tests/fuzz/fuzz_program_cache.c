/*
 * fuzz_program_cache.c - the program cache's files (lib/program.c): what clvit checks before a
 * cached binary reaches the driver (the envelope of lib/host/files.c: magic, size, FNV-1a
 * hash), read from disk as load_binary reads it, and the device's OpenCL C version string,
 * which decides the -cl-std option that is part of every cache key.
 * Checks: any input taken as a cache file yields a payload only when it is whole and its hash
 * matches; the input wrapped as a payload comes back unchanged, from memory and from a file;
 * the wrapped file with one byte changed or one byte short is refused; the version is 0 or
 * major * 100 + minor with major >= 1, and -cl-std=CL1.2 is chosen exactly from 1.2 up; a
 * directory is not read as a file.
 */
#include "device.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int once;
    if (!once) {
        /* a directory where a cache file should be is no file (its "size" can be LONG_MAX,
         * which once went to malloc) */
        const char *file = fuzz_path("probe");
        char dir[512];
        snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(file, '/') - file), file);
        FUZZ_CHECK(clvit_read_file(dir, NULL) == NULL);
        once = 1;
    }
    /* the input as a cache file */
    size_t n = 0;
    const unsigned char *payload = clvit_blob_payload(data, size, &n);
    if (payload) {
        FUZZ_CHECK(size >= CLVIT_BLOB_HEADER && n == size - CLVIT_BLOB_HEADER);
        FUZZ_CHECK(payload == data + CLVIT_BLOB_HEADER);
    }

    /* the input as a driver's binary, written to the cache and read back */
    unsigned char *file = malloc(size + CLVIT_BLOB_HEADER);
    FUZZ_CHECK(file != NULL);
    clvit_blob_header(data, size, file);
    if (size) memcpy(file + CLVIT_BLOB_HEADER, data, size);
    payload = clvit_blob_payload(file, size + CLVIT_BLOB_HEADER, &n);
    FUZZ_CHECK(payload && n == size && (size == 0 || !memcmp(payload, data, size)));
    FUZZ_CHECK(!clvit_blob_payload(file, size + CLVIT_BLOB_HEADER - 1, &n));
    const size_t at = size ? data[0] * 7919u % (size + CLVIT_BLOB_HEADER) : 0;
    file[at] ^= 0x5a;
    FUZZ_CHECK(!clvit_blob_payload(file, size + CLVIT_BLOB_HEADER, &n));
    file[at] ^= 0x5a;
    const char *path = fuzz_path("program.bin");
    fuzz_write(path, file, size + CLVIT_BLOB_HEADER, 0);
    size_t len = 0;
    char *back = clvit_read_file(path, &len);
    FUZZ_CHECK(back && len == size + CLVIT_BLOB_HEADER);
    payload = clvit_blob_payload(back, len, &n);
    FUZZ_CHECK(payload && n == size && (size == 0 || !memcmp(payload, data, size)));
    free(back);
    free(file);

    /* the input as CL_DEVICE_OPENCL_C_VERSION */
    char *text = fuzz_text(data, size);
    const int v = clvit_opencl_c_version(text);
    FUZZ_CHECK(v == 0 || (v >= 100 && v % 100 < 100));
    const char *std = clvit_cl_std_option(text);
    FUZZ_CHECK(!strcmp(std, v >= 102 ? "-cl-std=CL1.2" : ""));
    free(text);
    return 0;
}
