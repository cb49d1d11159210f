/*
 * clvit.c - the clvit command: dispatch to one cmd_*.c file per command.
 */
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"devices", cmd_devices, "list OpenCL platforms and devices"},
    {"info", cmd_info, "show a model's architecture, parameters and FLOPs"},
    {"predict", cmd_predict, "classify images (PNG/JPEG) with a model"},
    {"forward", cmd_forward, "run a model on an .npy batch and write logits as .npy"},
    {"train", cmd_train, "train a model (MNIST, Fashion-MNIST, Kaggle CSV)"},
    {"eval", cmd_eval, "accuracy, per-class accuracy and confusion matrix on a dataset"},
};

static void usage(FILE *out) {
    fprintf(out,
            "clvit %s - Vision Transformers on any OpenCL device\n\n"
            "usage: clvit COMMAND [options]\n\ncommands:\n",
            clvit_version());
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\nEvery command takes --device SPEC (P:D, gpu, cpu, or part of a device name;\n"
            "default: $CLVIT_DEVICE, else the first GPU, else the first device) and --help.\n");
}

int main(int argc, char **argv) {
    /* Over a file-size limit (ulimit -f) the write fails with EFBIG and the command says so,
     * with the file it was replacing left as it was; by default SIGXFSZ would kill the
     * process without a word. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("clvit %s\n", clvit_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "clvit: unknown command '%s' (see clvit --help)\n", argv[1]);
    return 2;
}
