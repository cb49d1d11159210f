/*
 * fuzz_gemm_tuning.c - the CLBlast tuning file (lib/gemm_tune.c, CLVIT_GEMM_TUNING or the
 * device's file in the cache): '#' comments, one "Kernel NAME=VALUE ..." line per kernel.
 * clvit_gemm_tuning_parse is the text handling of clvit_gemm_tuning_apply_text without the
 * device; here each line goes to a callback that checks what CLBlast would be handed.
 * Checks: the kernel name and every parameter name are non-empty words (no blank, no '='),
 * 1 to 32 parameters per line, line numbers rise, and an error always says something.
 */
#include "device.h"
#include "fuzz_util.h"

#include <ctype.h>

typedef struct seen {
    int lines, last_lineno;
} seen;

static int is_word(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '=' || *s == '#') return 0;
    return 1;
}

static clvit_status on_line(void *user, const char *kernel, const char **names,
                            const size_t *values, size_t n, const char *origin, int lineno) {
    seen *s = user;
    FUZZ_CHECK(!strcmp(origin, "fuzz input"));
    FUZZ_CHECK(lineno > s->last_lineno);
    FUZZ_CHECK(is_word(kernel) && !isspace((unsigned char)kernel[0]));
    FUZZ_CHECK(n >= 1 && n <= 32);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(is_word(names[i]));
    (void)values;
    s->last_lineno = lineno;
    s->lines++;
    /* a kernel named "reject" fails as CLBlast does for an unknown kernel: the parse stops */
    if (!strcmp(kernel, "reject")) return clvit_fail(CLVIT_ERR_FORMAT, "rejected");
    return CLVIT_SUCCESS;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_text(data, size);
    seen s = {0, 0};
    const clvit_status st = clvit_gemm_tuning_parse(text, "fuzz input", on_line, &s);
    if (st != CLVIT_SUCCESS) FUZZ_CHECK(clvit_last_error()[0] != '\0');
    free(text);
    return 0;
}
