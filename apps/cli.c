/*
 * cli.c - option parsing and error reporting shared by the clvit commands.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_help(const cli_cmd *cmd, const cli_opt *opts) {
    printf("usage: clvit %s %s\n\n%s\n\noptions:\n", cmd->name, cmd->usage, cmd->summary);
    for (const cli_opt *o = opts; o->name; o++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        printf("  %-24s %s\n", left, o->help);
    }
    printf("  %-24s %s\n", "-h, --help", "show this help");
}

int cli_parse(const cli_cmd *cmd, const cli_opt *opts, int argc, char **argv, char ***pos,
              int *npos) {
    char **positional = calloc((size_t)argc + 1, sizeof *positional);
    if (!positional) {
        fprintf(stderr, "clvit %s: out of memory\n", cmd->name);
        return 2;
    }
    int n = 0, only_pos = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == '\0') {
            positional[n++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_pos = 1;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            print_help(cmd, opts);
            free(positional);
            return 1;
        }
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const cli_opt *o = opts;
        for (; o->name; o++)
            if (strlen(o->name) == len && !strncmp(o->name, a, len)) break;
        if (!o->name) {
            fprintf(stderr, "clvit %s: unknown option '%.*s' (see clvit %s --help)\n", cmd->name,
                    (int)len, a, cmd->name);
            free(positional);
            return 2;
        }
        if (o->arg) {
            const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v) {
                fprintf(stderr, "clvit %s: option %s needs a value %s\n", cmd->name, o->name,
                        o->arg);
                free(positional);
                return 2;
            }
            *o->value = v;
        } else {
            if (eq) {
                fprintf(stderr, "clvit %s: option %s takes no value\n", cmd->name, o->name);
                free(positional);
                return 2;
            }
            *o->flag = 1;
        }
    }
    if (n < cmd->min_pos || (cmd->max_pos >= 0 && n > cmd->max_pos)) {
        if (n < cmd->min_pos)
            fprintf(stderr, "clvit %s: missing argument\nusage: clvit %s %s\n", cmd->name,
                    cmd->name, cmd->usage);
        else
            fprintf(stderr, "clvit %s: unexpected argument '%s'\nusage: clvit %s %s\n", cmd->name,
                    positional[cmd->max_pos], cmd->name, cmd->usage);
        free(positional);
        return 2;
    }
    *pos = positional;
    *npos = n;
    return 0;
}

int cli_parse_flags(const cli_cmd *cmd, const cli_opt *opts, int argc, char **argv) {
    char **pos;
    int npos;
    int r = cli_parse(cmd, opts, argc, argv, &pos, &npos);
    if (r) return r == 1 ? 0 : 2;
    free(pos);
    return -1;
}

int cli_int(const char *cmd, const char *opt, const char *s, long min, long max, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno) {
        fprintf(stderr, "clvit %s: %s: '%s' is not an integer\n", cmd, opt, s);
        return 2;
    }
    if (v < min || v > max) {
        fprintf(stderr, "clvit %s: %s: %ld is out of range [%ld, %ld]\n", cmd, opt, v, min, max);
        return 2;
    }
    *out = v;
    return 0;
}

int cli_float(const char *cmd, const char *opt, const char *s, double min, double max,
              double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v)) {
        fprintf(stderr, "clvit %s: %s: '%s' is not a number\n", cmd, opt, s);
        return 2;
    }
    if (v < min || v > max) {
        fprintf(stderr, "clvit %s: %s: %g is out of range [%g, %g]\n", cmd, opt, v, min, max);
        return 2;
    }
    *out = v;
    return 0;
}

int cli_fail(const char *cmd, clvit_status st) {
    const char *detail = clvit_last_error();
    fprintf(stderr, "clvit %s: %s%s%s\n", cmd, clvit_status_string(st), *detail ? ": " : "",
            detail);
    return 1;
}
