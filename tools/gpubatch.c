// gpubatch: the command-line tool. `gpubatch help` lists what it does.
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "asan_pin.h"
#include "cli.h"

double cli_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

const char *cli_json_escape(const char *s, char *buf, size_t cap) {
  size_t j = 0;
  for (; *s && j + 7 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      buf[j++] = '\\';
      buf[j++] = (char)c;
    } else if (c < 0x20) {
      j += (size_t)snprintf(buf + j, cap - j, "\\u%04x", c);
    } else {
      buf[j++] = (char)c;
    }
  }
  buf[j] = '\0';
  return buf;
}

gpb_device *cli_open_device(int index) {
  gpb_device *dev = NULL;
  gpb_status st = index >= 0 ? gpb_device_open((uint32_t)index, NULL, &dev) : gpb_device_open_default(NULL, &dev);
  if (st != GPB_OK) {
    fprintf(stderr, "gpubatch: %s: %s\n", gpb_status_name(st), gpb_last_error());
    return NULL;
  }
  return dev;
}

void cli_print_counters_json(FILE *out, const gpb_counters *c) {
  for (size_t i = 0; i < gpb_counter_count(); i++) {
    fprintf(out, "%s\"%s\": %llu", i ? ", " : "", gpb_counter_name(i), (unsigned long long)gpb_counter_value(c, i));
  }
}

static const char *type_name(gpb_device_type t) {
  switch (t) {
  case GPB_DEVICE_INTEGRATED_GPU: return "integrated GPU";
  case GPB_DEVICE_DISCRETE_GPU: return "discrete GPU";
  case GPB_DEVICE_VIRTUAL_GPU: return "virtual GPU";
  case GPB_DEVICE_CPU: return "CPU";
  default: return "other";
  }
}

static int cmd_devices(int argc, char **argv) {
  bool json = false;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--json") == 0) {
      json = true;
    } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      printf("usage: gpubatch devices [--json]\n"
             "Lists the Vulkan devices and marks the default one ($GPB_DEVICE, else the first\n"
             "usable discrete GPU, else the first usable device).\n");
      return 0;
    } else {
      fprintf(stderr, "gpubatch devices: unknown option '%s' (usage: gpubatch devices [--json])\n", argv[i]);
      return 2;
    }
  }
  uint32_t count = 0;
  gpb_status st = gpb_device_count(&count);
  if (st != GPB_OK) {
    fprintf(stderr, "gpubatch: %s\n", gpb_last_error());
    return 1;
  }
  // A GPB_DEVICE that names no device is an error: the list still prints,
  // then the exit status says the default cannot be had.
  uint32_t def = UINT32_MAX;
  bool no_default = count > 0 && gpb_device_default_index(&def) != GPB_OK;
  char default_error[512] = "";
  if (no_default) snprintf(default_error, sizeof default_error, "%s", gpb_last_error());
  if (json)
    printf("{\"default\": %d, \"devices\": [", def == UINT32_MAX ? -1 : (int)def);
  else if (count == 0)
    printf("no Vulkan devices found (install a driver, e.g. mesa-vulkan-drivers)\n");
  for (uint32_t i = 0; i < count; i++) {
    gpb_device_info info;
    if (gpb_device_get_info(i, &info) != GPB_OK) continue;
    uint64_t local = 0;
    for (uint32_t h = 0; h < info.heap_count; h++) local += info.heaps[h].device_local ? info.heaps[h].size : 0;
    char name[600], drv[600];
    if (json) {
      printf("%s{\"index\": %u, \"name\": \"%s\", \"type\": \"%s\", \"vendor_id\": %u, \"driver\": \"%s\", "
             "\"api\": \"%u.%u.%u\", \"device_local_bytes\": %llu, \"compute_units\": %u, \"subgroup_size\": %u, "
             "\"usable\": %s}",
             i ? ", " : "", i, cli_json_escape(info.name, name, sizeof name), type_name(info.type), info.vendor_id,
             cli_json_escape(info.driver_info, drv, sizeof drv), (info.api_version >> 22 & 0x7fu),
             (info.api_version >> 12 & 0x3ffu), (info.api_version & 0xfffu), (unsigned long long)local,
             info.compute_units, info.subgroup_size, info.usable ? "true" : "false");
    } else {
      printf("%c %u: %s (%s), driver %s %s, Vulkan %u.%u, %.1f GiB device-local%s%s\n", i == def ? '*' : ' ', i,
             info.name, type_name(info.type), info.driver_name, info.driver_info, (info.api_version >> 22 & 0x7fu),
             (info.api_version >> 12 & 0x3ffu), (double)local / (1 << 30),
             info.usable ? "" : ", unusable: ", info.usable ? "" : info.unusable_reason);
    }
  }
  if (json)
    printf("]}\n");
  else if (count > 0 && !no_default)
    printf("(* = default device; choose another with GPB_DEVICE=<index>)\n");
  if (no_default) {
    fprintf(stderr, "gpubatch: %s\n", default_error);
    return 1;
  }
  return 0;
}

// The llama example is a program of its own (examples/llama), so that the
// CLI does not link it: `gpubatch llama[-gen|-convert] ...` runs
// gpubatch-llama [gen|convert] ... from the folder this program was run from
// (the build folder, or the install's bindir, where both are installed).
// Returns only when it could not be run.
static int run_llama(const char *argv0, const char *command, const char *sub, int argc, char **argv) {
  static const char program[] = "gpubatch-llama";
  char path[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n > 0) {
    path[n] = '\0';
  } else if (strchr(argv0, '/')) {
    snprintf(path, sizeof path, "%s", argv0);
  } else {
    path[0] = '\0'; // run by name from $PATH: look for it there too
  }
  char *slash = strrchr(path, '/');
  char exe[PATH_MAX + sizeof program];
  if (slash) {
    slash[1] = '\0';
    snprintf(exe, sizeof exe, "%s%s", path, program);
  } else {
    snprintf(exe, sizeof exe, "%s", program);
  }
  char **args = calloc((size_t)argc + 3, sizeof *args);
  if (!args) {
    fprintf(stderr, "gpubatch %s: out of memory\n", command);
    return 1;
  }
  int k = 0;
  args[k++] = exe;
  if (sub) args[k++] = (char *)sub;
  for (int i = 0; i < argc; i++) args[k++] = argv[i];
  args[k] = NULL;
  fflush(NULL);
  if (slash)
    execv(exe, args);
  else
    execvp(exe, args);
  int err = errno;
  fprintf(stderr,
          "gpubatch %s: cannot run the llama example's program '%s': %s (it is built with the llama example, "
          "GPB_BUILD_LLAMA=ON, and installed beside gpubatch)\n",
          command, exe, strerror(err));
  free(args);
  return err == ENOENT ? 127 : 126;
}

static void usage(FILE *out) {
  fprintf(out, "usage: gpubatch <command> [options]     (gpubatch --version, <command> --help)\n"
               "  devices [--json]                 list Vulkan devices, mark the default\n"
               "  bench chain [options]            time N tiny dispatches (see bench chain --help)\n"
#ifdef GPB_HAVE_SELFTEST
               "  selftest [options]               randomized programs checked against a CPU model\n"
#endif
               "  llama ...                        decode a llama2.c checkpoint or GGUF model (see llama --help)\n"
               "  llama-gen ...                    write a random llama2.c checkpoint\n"
               "  llama-convert ...                write a model as GGUF (f32/f16/bf16/q8_0/q4_0)\n"
               "                                   (the llama commands run gpubatch-llama, installed beside gpubatch)\n"
               "environment: GPB_DEVICE=<index>, GPB_MODE=immediate|batched, GPB_VALIDATION=1\n");
}

int main(int argc, char **argv) {
  asan_pin_driver_libraries();
  if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
    // The library linked, and the headers this program was built with.
    printf("gpubatch %s (headers %s)\n", gpb_version_string(), GPB_VERSION_STRING);
    return 0;
  }
  if (strcmp(argv[1], "devices") == 0) return cmd_devices(argc - 2, argv + 2);
#ifdef GPB_HAVE_SELFTEST
  if (strcmp(argv[1], "selftest") == 0) return cli_selftest(argc - 2, argv + 2);
#endif
  if (strcmp(argv[1], "bench") == 0) {
    if (argc >= 3 && strcmp(argv[2], "chain") == 0) return cli_bench_chain(argc - 3, argv + 3);
    if (argc >= 3 && (strcmp(argv[2], "-h") == 0 || strcmp(argv[2], "--help") == 0)) {
      printf("usage: gpubatch bench chain [options]   (gpubatch bench chain --help)\n");
      return 0;
    }
    if (argc >= 3)
      fprintf(stderr, "gpubatch bench: unknown benchmark '%s' (try: bench chain)\n", argv[2]);
    else
      fprintf(stderr, "gpubatch bench: which benchmark? (try: bench chain)\n");
    return 2;
  }
  if (strcmp(argv[1], "llama") == 0) return run_llama(argv[0], argv[1], NULL, argc - 2, argv + 2);
  if (strcmp(argv[1], "llama-gen") == 0) return run_llama(argv[0], argv[1], "gen", argc - 2, argv + 2);
  if (strcmp(argv[1], "llama-convert") == 0) return run_llama(argv[0], argv[1], "convert", argc - 2, argv + 2);
  fprintf(stderr, "gpubatch: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
