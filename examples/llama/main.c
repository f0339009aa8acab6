// main.c: the standalone gpubatch-llama program (`gpubatch llama`,
// `gpubatch llama-gen` and `gpubatch llama-convert` run it).
//   gpubatch-llama gen [options]     -> gpb_llama_gen_main
//   gpubatch-llama convert [options] -> gpb_llama_convert_main
//   gpubatch-llama [options]         -> gpb_llama_main
#include <string.h>

#include "asan_pin.h"
#include "llama_cli.h"

int main(int argc, char **argv) {
  asan_pin_driver_libraries();
  // The commands name themselves in their usage text by argv[0].
  static char gen[] = "gpubatch-llama gen", convert[] = "gpubatch-llama convert", llama[] = "gpubatch-llama";
  if (argc > 1 && strcmp(argv[1], "gen") == 0) {
    argv[1] = gen;
    return gpb_llama_gen_main(argc - 1, argv + 1);
  }
  if (argc > 1 && strcmp(argv[1], "convert") == 0) {
    argv[1] = convert;
    return gpb_llama_convert_main(argc - 1, argv + 1);
  }
  if (argc > 0) argv[0] = llama;
  return gpb_llama_main(argc, argv);
}
