/*
 * image_list.h - the images a command was given, as one list of paths: image files as
 * they are, directories as their image files (PNG, JPEG, BMP, GIF by extension, sorted by
 * name, not recursive, hidden files left out), and list files (`@FILE` or --list FILE: one
 * path per line, a file or a directory, paths relative to the current directory; blank lines
 * and lines starting with '#' skipped). Every path is checked to exist before any work, so a
 * typo fails at once with one line.
 */
#ifndef CLVIT_IMAGE_LIST_H
#define CLVIT_IMAGE_LIST_H

typedef struct image_list {
    char **paths; /* n entries, malloc'ed */
    int n, cap;
} image_list;

/* Adds one argument (a file, a directory, or "@FILE"); list_file 1 reads arg as a list file
 * (--list). Returns 0, else prints "clvit CMD: ..." on stderr and returns 1. */
int image_list_add(image_list *l, const char *cmd, const char *arg, int list_file);
void image_list_free(image_list *l);

#endif
