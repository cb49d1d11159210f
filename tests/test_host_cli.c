/*
 * test_host_cli.c - the CLI's argument handling (apps/cli.c), host only so it also runs
 * under AddressSanitizer: options with and without values, --opt=value, flags, positional
 * arguments, "--", --help, unknown options, missing values, argument counts, and the
 * number parsers naming the option on error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../apps/cli.c"

static const cli_cmd cmd = {"demo", "[options] FILE...", "A demo command.", 1, 3};

static int parse(int argc, char **argv, const char **model, const char **topk, int *verbose,
                 char ***pos, int *npos) {
    const cli_opt opts[] = {{"--model", "FILE", "weights", model, NULL},
                            {"--topk", "K", "top-k", topk, NULL},
                            {"--verbose", NULL, "chatty", NULL, verbose},
                            {0}};
    return cli_parse(&cmd, opts, argc, argv, pos, npos);
}

static void test_values_flags_positional(void **s) {
    (void)s;
    char *argv[] = {"demo", "a.png", "--model", "m.st", "--topk=3", "--verbose", "--", "--x.png"};
    const char *model = NULL, *topk = NULL;
    int verbose = 0, npos = 0;
    char **pos = NULL;
    assert_int_equal(parse(8, argv, &model, &topk, &verbose, &pos, &npos), 0);
    assert_string_equal(model, "m.st");
    assert_string_equal(topk, "3");
    assert_int_equal(verbose, 1);
    assert_int_equal(npos, 2);
    assert_string_equal(pos[0], "a.png");
    assert_string_equal(pos[1], "--x.png"); /* after "--" everything is positional */
    free(pos);
}

static void test_errors(void **s) {
    (void)s;
    const char *model = NULL, *topk = NULL;
    int verbose = 0, npos = 0;
    char **pos = NULL;
    char *unknown[] = {"demo", "a", "--bogus"};
    assert_int_equal(parse(3, unknown, &model, &topk, &verbose, &pos, &npos), 2);
    char *missing[] = {"demo", "a", "--model"};
    assert_int_equal(parse(3, missing, &model, &topk, &verbose, &pos, &npos), 2);
    char *flag_value[] = {"demo", "a", "--verbose=1"};
    assert_int_equal(parse(3, flag_value, &model, &topk, &verbose, &pos, &npos), 2);
    char *too_few[] = {"demo"};
    assert_int_equal(parse(1, too_few, &model, &topk, &verbose, &pos, &npos), 2);
    char *too_many[] = {"demo", "a", "b", "c", "d"};
    assert_int_equal(parse(5, too_many, &model, &topk, &verbose, &pos, &npos), 2);
    char *prefix[] = {"demo", "a", "--mode", "x"}; /* no prefix matching */
    assert_int_equal(parse(4, prefix, &model, &topk, &verbose, &pos, &npos), 2);
    char *help[] = {"demo", "--help"};
    assert_int_equal(parse(2, help, &model, &topk, &verbose, &pos, &npos), 1);
}

static void test_numbers(void **s) {
    (void)s;
    long v = 0;
    double d = 0;
    assert_int_equal(cli_int("demo", "--n", "42", 1, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(cli_int("demo", "--n", "0", 1, 100, &v), 2);  /* below range */
    assert_int_equal(cli_int("demo", "--n", "4x", 1, 100, &v), 2); /* trailing junk */
    assert_int_equal(cli_int("demo", "--n", "", 1, 100, &v), 2);   /* empty */
    assert_int_equal(cli_int("demo", "--n", "99999999999999999999", 1, 100, &v), 2);
    assert_int_equal(cli_float("demo", "--lr", "1e-3", 0, 1, &d), 0);
    assert_true(d == 1e-3);
    assert_int_equal(cli_float("demo", "--lr", "nan", 0, 1, &d), 2);
    assert_int_equal(cli_float("demo", "--lr", "inf", 0, 1, &d), 2);
    assert_int_equal(cli_float("demo", "--lr", "2", 0, 1, &d), 2);
    assert_int_equal(cli_float("demo", "--lr", "abc", 0, 1, &d), 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_values_flags_positional),
                                       cmocka_unit_test(test_errors),
                                       cmocka_unit_test(test_numbers)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
