# Hardening tests, included at the end of tests/CMakeLists.txt.
# Run a group with ctest -R (name) or -L (label): misuse, fuzz, soak, thread.
# tests/README.md says what each covers and how to run the long modes.

# Kernels a device cannot run (beyond its limits or features), for the
# misuse catalogue and the fuzz seeds.
add_library(gpb_hardening_kernels INTERFACE)
gpb_embed_kernels(TARGET gpb_hardening_kernels SOURCES
  fuzz/kernels/too_many_invocations.comp fuzz/kernels/too_much_shared.comp fuzz/kernels/uses_int64.comp)

# Misuse catalogue: every public call against bad handles, sizes, ranges
# and options (the table in tests/README.md).
gpb_test(test_misuse GPU LABELS misuse)
target_link_libraries(test_misuse PRIVATE gpb_hardening_kernels)
target_compile_definitions(test_misuse PRIVATE GPB_TEST_KERNEL_DIR="${CMAKE_CURRENT_BINARY_DIR}/kernels")

# Soak: mixed operations, host RSS and device memory must stay flat. The
# ctest run is short and runs with the validation layer (20,000 ops cost
# about the same time either way on lavapipe) once, in the plain build: in a
# sanitizer build, where the layer's own allocations go through the
# sanitizer's allocator (+40 s under ASan), it runs without;
# GPB_SOAK_OPS=1000000 GPB_TEST_NO_VALIDATION=1 runs the long mode.
gpb_test(test_soak GPU LABELS soak)
if(GPB_SANITIZE)
  set_tests_properties(test_soak PROPERTIES ENVIRONMENT GPB_TEST_NO_VALIDATION=1)
endif()

# 8 threads with their own streams and the shared default stream; the CI
# runs label `thread` under ThreadSanitizer.
gpb_test(test_threads8 GPU LABELS thread)

# Fuzz targets (tests/fuzz/). Every build replays the seed corpus through a
# plain main() driver, so the regression runs with any compiler:
# fuzz_<target>_corpus.
# fuzz_kernel_dispatch is fuzz_kernel built with FUZZ_DISPATCH (accepted
# kernels are also dispatched), on fuzz_kernel's corpus.
set(GPB_FUZZ_TARGETS fuzz_kernel fuzz_kernel_dispatch fuzz_api)
function(gpb_fuzz_source target out_source out_corpus)
  if(target STREQUAL "fuzz_kernel_dispatch")
    set(${out_source} fuzz/fuzz_kernel.c PARENT_SCOPE)
    set(${out_corpus} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/fuzz_kernel PARENT_SCOPE)
  else()
    set(${out_source} fuzz/${target}.c PARENT_SCOPE)
    set(${out_corpus} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${target} PARENT_SCOPE)
  endif()
endfunction()
foreach(target ${GPB_FUZZ_TARGETS})
  gpb_fuzz_source(${target} source corpus)
  add_executable(${target}_corpus ${source} fuzz/corpus_main.c)
  target_link_libraries(${target}_corpus PRIVATE gpubatch_internal gpb_test_kernels)
  if(target STREQUAL "fuzz_kernel_dispatch")
    target_compile_definitions(${target}_corpus PRIVATE FUZZ_DISPATCH=1)
  endif()
  add_test(NAME ${target}_corpus COMMAND ${target}_corpus ${corpus})
  set_tests_properties(${target}_corpus PROPERTIES LABELS "fuzz;gpu" TIMEOUT 600)
endforeach()

# libFuzzer builds of the same targets, for fuzzing (clang only):
#   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DGPB_FUZZ=ON -DGPB_BUILD_LLAMA=OFF
#   cmake --build build-fuzz -j2 --target fuzz_kernel fuzz_api
#   LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp:print_suppressions=0 GPB_TEST_NO_VALIDATION=1 \
#     build-fuzz/tests/fuzz_api -jobs=1 -max_total_time=600 /tmp/fuzz_api_work tests/fuzz/corpus/fuzz_api
# (tests/README.md: the fuzzing record, and how new corpus entries are kept).
# The library gets coverage instrumentation (fuzzer-no-link) and ASan +
# UBSan, so that libFuzzer is guided by the library's branches.
option(GPB_FUZZ "Build the libFuzzer targets in tests/fuzz (needs clang)" OFF)
if(GPB_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "GPB_FUZZ=ON needs clang: configure with -DCMAKE_C_COMPILER=clang")
  endif()
  set(fuzz_sanitizers address,undefined)
  target_compile_options(gpubatch_objects PRIVATE -fsanitize=fuzzer-no-link,${fuzz_sanitizers} -fno-omit-frame-pointer
                                          -fno-sanitize-recover=all)
  # Every program linking the instrumented library needs the runtimes. The
  # C++ one too: without ASan's operator new, allocations the validation
  # layer makes through libstdc++ reach LeakSanitizer with stacks its fast
  # unwinder cannot follow, so fuzz/lsan.supp cannot match the layer's name
  # (fuzz_api_corpus failed on the layer's own leaks with validation on).
  target_link_options(gpubatch INTERFACE -fsanitize=fuzzer-no-link,${fuzz_sanitizers} -fsanitize-link-c++-runtime)
  # The shared library is not fuzzed (its instrumented objects would need the
  # fuzzer's runtime at link time).
  if(TARGET gpubatch_shared)
    set_target_properties(gpubatch_shared PROPERTIES EXCLUDE_FROM_ALL ON)
  endif()
  # The soak test's own code is not instrumented: tell it its RSS measures ASan.
  target_compile_definitions(test_soak PRIVATE GPB_LIBRARY_SANITIZED=1)
  foreach(target ${GPB_FUZZ_TARGETS})
    gpb_fuzz_source(${target} source corpus)
    add_executable(${target} ${source})
    target_link_libraries(${target} PRIVATE gpubatch_internal gpb_test_kernels)
    if(target STREQUAL "fuzz_kernel_dispatch")
      target_compile_definitions(${target} PRIVATE FUZZ_DISPATCH=1)
    endif()
    target_compile_options(${target} PRIVATE -fsanitize=fuzzer,${fuzz_sanitizers} -fno-omit-frame-pointer
                                             -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=fuzzer,${fuzz_sanitizers})
    # The corpus once through the libFuzzer binary (its own input handling).
    add_test(NAME ${target}_libfuzzer_corpus COMMAND ${target} -runs=0 ${corpus})
    set_tests_properties(${target}_libfuzzer_corpus PROPERTIES LABELS "fuzz;gpu" TIMEOUT 600
                         ENVIRONMENT "LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/fuzz/lsan.supp")
    set_tests_properties(${target}_corpus PROPERTIES
                         ENVIRONMENT "LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/fuzz/lsan.supp")
  endforeach()
endif()
