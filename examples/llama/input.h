// input.h: opening the files a model is read from.
//
// A path may name anything: opening a FIFO with no writer blocks forever,
// and a device or directory is no model. llama_open_input opens without
// blocking and accepts regular files only, so a mistaken path fails at once
// with a message instead of hanging.
#ifndef LLAMA_INPUT_H
#define LLAMA_INPUT_H

#include <stdio.h>

#include "error.h"

// Opens `path` for reading if it is a regular file; NULL with a message
// ("<what> '<path>': ...") otherwise. The caller fcloses it.
FILE *llama_open_input(const char *path, const char *what, llama_error *err);

#endif
