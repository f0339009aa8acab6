// The linked library's version (the headers' may differ: see version.h).
#include "gpubatch/version.h"

uint32_t gpb_version(void) { return GPB_VERSION; }

const char *gpb_version_string(void) { return GPB_VERSION_STRING; }
