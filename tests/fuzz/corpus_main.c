// A plain main() for a fuzz target: runs every file named on the command
// line, or found directly in a folder named there, through
// LLVMFuzzerTestOneInput once, in name order. This is how ctest replays the
// seed corpus (tests/fuzz/corpus/<target>/) without clang or libFuzzer; a
// finding aborts, after the name of the input was printed.
//
// With --each first, every input runs in a process of its own (this program
// again, on that one file), and the inputs that failed are listed at the
// end: slower, but one finding does not hide the next.
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *self;  // argv[0], for --each
static bool each;         // one process per input
static int failed_inputs; // with --each

// Runs this program on `path` alone; counts and names a failure.
static int run_file_in_child(const char *path) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    execl(self, self, path, (char *)NULL);
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return 1;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "FAILED %s (%s %d)\n", path, WIFSIGNALED(status) ? "signal" : "exit code",
            WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    failed_inputs++;
  }
  return 0;
}

static int run_file(const char *path) {
  if (each) return run_file_in_child(path);
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "%s: cannot open\n", path);
    return 1;
  }
  uint8_t *data = NULL;
  size_t size = 0, cap = 0;
  for (;;) {
    if (size == cap) {
      cap = cap ? cap * 2 : 4096;
      uint8_t *grown = realloc(data, cap);
      if (!grown) {
        free(data);
        fclose(f);
        fprintf(stderr, "%s: out of memory\n", path);
        return 1;
      }
      data = grown;
    }
    size_t n = fread(data + size, 1, cap - size, f);
    if (n == 0) break;
    size += n;
  }
  fclose(f);
  fprintf(stderr, "input %s (%zu bytes)\n", path, size);
  // libFuzzer hands over a buffer of exactly `size` bytes: so does this.
  uint8_t *exact = malloc(size ? size : 1);
  if (exact && size) memcpy(exact, data, size);
  free(data);
  if (!exact) return 1;
  LLVMFuzzerTestOneInput(exact, size);
  free(exact);
  return 0;
}

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int run_dir(const char *dir, int *count) {
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "%s: cannot open folder\n", dir);
    return 1;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      char **grown = realloc(names, cap * sizeof *names);
      if (!grown) break;
      names = grown;
    }
    size_t len = strlen(dir) + strlen(e->d_name) + 2;
    names[n] = malloc(len);
    if (!names[n]) break;
    snprintf(names[n++], len, "%s/%s", dir, e->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof *names, compare_names);
  int failures = 0;
  for (size_t i = 0; i < n; i++) {
    struct stat st;
    if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
      failures += run_file(names[i]);
      (*count)++;
    }
    free(names[i]);
  }
  free(names);
  return failures;
}

int main(int argc, char **argv) {
  self = argv[0];
  int first = 1;
  if (argc > 1 && strcmp(argv[1], "--each") == 0) each = true, first = 2;
  if (!each) LLVMFuzzerInitialize(&argc, &argv);
  int failures = 0, count = 0;
  for (int i = first; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "%s: no such file or folder\n", argv[i]);
      failures++;
    } else if (S_ISDIR(st.st_mode)) {
      failures += run_dir(argv[i], &count);
    } else {
      failures += run_file(argv[i]);
      count++;
    }
  }
  printf("%d inputs run, %d could not be read", count, failures);
  if (each) printf(", %d failed", failed_inputs);
  printf("\n");
  return failures == 0 && failed_inputs == 0 && count > 0 ? 0 : 1;
}
