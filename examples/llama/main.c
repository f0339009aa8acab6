// main.c: the standalone gpubatch-llama program.
//   gpubatch-llama gen [options]   -> gpb_llama_gen_main
//   gpubatch-llama convert [options] -> gpb_llama_convert_main
//   gpubatch-llama [options]       -> gpb_llama_main
#include <string.h>

#include "../../tools/asan_pin.h"
#include "llama_cli.h"

int main(int argc, char **argv) {
  asan_pin_driver_libraries();
  if (argc > 1 && strcmp(argv[1], "gen") == 0) return gpb_llama_gen_main(argc - 1, argv + 1);
  if (argc > 1 && strcmp(argv[1], "convert") == 0) return gpb_llama_convert_main(argc - 1, argv + 1);
  return gpb_llama_main(argc, argv);
}
