// Builds volk (Debian ships it as a source file, libvulkan-volk-dev).
#include <volk.c>
