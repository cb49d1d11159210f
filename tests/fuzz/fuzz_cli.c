/*
 * fuzz_cli.c - the command line's argument handling (apps/cli.c: options with values, --opt=value,
 * flags, "--", -h/--help, positional counts, the integer and number parsers) and the size
 * syntax of CLVIT_MAX_ALLOC (clvit_parse_size, lib/runtime.c).
 * Input: byte 0 sets the command's positional limits (min 0-3, max -1 (none) to 4), the rest
 * is the argument list, NUL-separated (at most 64 arguments).
 * Checks: cli_parse returns 0, 1 or 2; on 0 the positional arguments are the inputs that are
 * neither options nor their values, within the limits; each value an option received is one
 * of the arguments or the text after its '='; the number parsers accept only values in range;
 * an accepted size is a positive multiple of its unit.
 */
#include "cli.c"
#include "device.h"
#include "fuzz_util.h"

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int min_pos = data[0] & 3, max_pos = (int)((data[0] >> 2) % 6) - 1;
    char *text = malloc(size);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = "demo";
    for (char *p = text; p < text + size && argc < MAX_ARGS + 1; p += strlen(p) + 1)
        argv[argc++] = p;
    argv[argc] = NULL;

    const cli_cmd cmd = {"demo", "[options] FILE...", "A command under test.", min_pos, max_pos};
    const char *model = NULL, *topk = NULL, *lr = NULL, *size_s = NULL;
    int verbose = 0, quiet = 0;
    const cli_opt opts[] = {{"--model", "FILE", "weights", &model, NULL},
                            {"--topk", "K", "an integer", &topk, NULL},
                            {"--lr", "X", "a number", &lr, NULL},
                            {"--max-alloc", "SIZE", "a size", &size_s, NULL},
                            {"--verbose", NULL, "a flag", NULL, &verbose},
                            {"-q", NULL, "a short flag", NULL, &quiet},
                            {0}};
    char **pos = NULL;
    int npos = -1;
    const int r = cli_parse(&cmd, opts, argc, argv, &pos, &npos);
    FUZZ_CHECK(r == 0 || r == 1 || r == 2);
    if (r == 0) {
        FUZZ_CHECK(npos >= min_pos && (max_pos < 0 || npos <= max_pos) && npos < argc);
        for (int i = 0; i < npos; i++) {
            int found = 0;
            for (int j = 1; j < argc && !found; j++)
                found = pos[i] == argv[j];
            FUZZ_CHECK(found);
        }
        free(pos);
        const char *values[] = {model, topk, lr, size_s};
        for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
            if (!values[i]) continue;
            FUZZ_CHECK(values[i] >= text && values[i] < text + size);
            long l;
            double d;
            if (!cli_int("demo", "--topk", values[i], -5, 1000, &l))
                FUZZ_CHECK(l >= -5 && l <= 1000);
            if (!cli_float("demo", "--lr", values[i], 0, 10, &d)) FUZZ_CHECK(d >= 0 && d <= 10);
            uint64_t bytes;
            if (clvit_parse_size(values[i], &bytes)) FUZZ_CHECK(bytes > 0);
        }
    }
    free(text);
    return 0;
}
