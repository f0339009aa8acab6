// Shared helpers of the gpubatch command-line tool.
#ifndef GPB_TOOLS_CLI_H
#define GPB_TOOLS_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "gpubatch/gpubatch.h"

// Opens --device I if given (index >= 0), else the default device; prints
// the error and returns NULL on failure.
gpb_device *cli_open_device(int index);

// Prints counters as a JSON object body: "name": value, ...
void cli_print_counters_json(FILE *out, const gpb_counters *c);

double cli_now_us(void);
const char *cli_json_escape(const char *s, char *buf, size_t cap);

int cli_bench_chain(int argc, char **argv);
// `gpubatch selftest` (tests/selftest/selftest*.c), when built with GPB_HAVE_SELFTEST.
int cli_selftest(int argc, char **argv);

#endif
