// llama_cli.h: the llama example's two commands, callable from any main().
//
//   gpb_llama_main:     greedy decoding of a llama2.c checkpoint on gpubatch
//                       (or on the CPU reference), with timings and counters.
//   gpb_llama_gen_main: writes a random-weight checkpoint (and tokenizer).
//
// Both take argv in the usual form: argv[0] is the command's name (used only
// in the usage text), options follow. They print, and return the process
// exit status (0 success, 1 failure, 2 bad usage); they never call exit().
// The gpubatch-llama program (main.c) forwards here; `gpubatch llama ...`,
// `gpubatch llama-gen ...` and `gpubatch llama-convert ...` run that program.
#ifndef LLAMA_CLI_H
#define LLAMA_CLI_H

int gpb_llama_main(int argc, char **argv);
int gpb_llama_gen_main(int argc, char **argv);
// gpb_llama_convert_main: writes a model as GGUF (`llama-convert`).
int gpb_llama_convert_main(int argc, char **argv);
// Prints what a model file holds (`llama --model F --info`); the exit status.
int gpb_llama_info(const char *path, const char *tokenizer_path);

#endif
