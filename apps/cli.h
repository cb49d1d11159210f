/*
 * cli.h - what every clvit command shares: option parsing with --help, number parsing
 * that names the bad argument, and turning a clvit_status into one line on stderr.
 */
#ifndef CLVIT_CLI_H
#define CLVIT_CLI_H

#include "clvit.h"

typedef struct cli_opt {
    const char *name;   /* "--topk" */
    const char *arg;    /* "K" when the option takes a value, NULL for a flag */
    const char *help;   /* one line */
    const char **value; /* set to the value (options with arg) */
    int *flag;          /* set to 1 (flags) */
} cli_opt;

typedef struct cli_cmd {
    const char *name;    /* "predict" */
    const char *usage;   /* "--model MODEL [options] IMAGE..." */
    const char *summary; /* one line */
    int min_pos, max_pos;
} cli_cmd;

/* Parses argv (argv[0] is the command name). Returns 0 to go on, 1 when --help was printed
 * (exit 0), 2 on a usage error (already printed; exit 2). */
int cli_parse(const cli_cmd *cmd, const cli_opt *opts, int argc, char **argv, char ***pos,
              int *npos);
/* For commands without positional arguments: -1 to go on, else the exit code (0 after
 * --help, 2 on a usage error). */
int cli_parse_flags(const cli_cmd *cmd, const cli_opt *opts, int argc, char **argv);
/* Number parsing: 0 on success, else prints "clvit CMD: OPT: ..." and returns 2. */
int cli_int(const char *cmd, const char *opt, const char *s, long min, long max, long *out);
int cli_float(const char *cmd, const char *opt, const char *s, double min, double max, double *out);
/* Prints "clvit CMD: <status>: <detail>" and returns 1. */
int cli_fail(const char *cmd, clvit_status st);

int cmd_devices(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_forward(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);

#endif
