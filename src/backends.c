// The backend registry: every backend built into this library, in order of
// preference (core/backend.h says how one is chosen). The list is generated
// by CMake (gpb_add_backend_registry), one GPB_BACKEND(<table symbol>) line
// per backend, so a library variant (tests with a fake backend) differs
// from the shipped one by its list only.
#include "core/backend.h"

#define GPB_BACKEND(symbol) extern const gpb_backend symbol;
#include "gpb_backend_list.h"
#undef GPB_BACKEND

const gpb_backend *const gpb_backends[] = {
#define GPB_BACKEND(symbol) &symbol,
#include "gpb_backend_list.h"
#undef GPB_BACKEND
    NULL,
};
