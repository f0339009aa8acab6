// input.c: opening model files without blocking.
#define _POSIX_C_SOURCE 200809L // open flags, fdopen
#include "input.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

FILE *llama_open_input(const char *path, const char *what, llama_error *err) {
  // O_NONBLOCK: a FIFO opens at once instead of waiting for a writer; the
  // file type is then checked on what was opened, not on the path.
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    llama_error_set(err, "%s '%s': cannot open: %s", what, path, strerror(errno));
    return NULL;
  }
  struct stat st;
  const char *why = NULL;
  if (fstat(fd, &st) != 0)
    why = strerror(errno);
  else if (!S_ISREG(st.st_mode))
    why = S_ISDIR(st.st_mode)    ? "is a directory"
          : S_ISFIFO(st.st_mode) ? "is a FIFO, not a regular file"
                                 : "is not a regular file";
  int flags = why ? 0 : fcntl(fd, F_GETFL);
  if (!why && (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0)) why = strerror(errno);
  FILE *f = why ? NULL : fdopen(fd, "rb");
  if (!f) {
    if (!why) why = strerror(errno);
    llama_error_set(err, "%s '%s': %s", what, path, why);
    close(fd);
  }
  return f;
}
