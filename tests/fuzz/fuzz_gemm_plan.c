/*
 * fuzz_gemm_plan.c - the GEMM plan file (lib/gemm_plan.c, gemm-plan-*.txt beside the program
 * cache): a magic line, then "ta tb M N K batch candidate microseconds quick|deep" lines and
 * "ln M N K fused|apart microseconds" lines.
 * clvit_gemm_plan_parse_text parses as loading the file does, without a device.
 * Checks: the result is -1 (the file is discarded) or a number of distinct shapes no larger
 * than the number of lines.
 */
#include "fuzz_util.h"
#include "gemm_plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_text(data, size);
    int lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    const int n = clvit_gemm_plan_parse_text(text);
    FUZZ_CHECK(n >= -1 && n <= lines + 1);
    free(text);
    return 0;
}
