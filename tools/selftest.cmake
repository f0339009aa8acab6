# `gpubatch selftest`: the randomized differential tester of streams (issue 3).
# Included by the top-level CMakeLists.txt before the CLI target exists; adds
# its sources, kernels and define to the CLI, and registers its tests.
list(APPEND GPB_CLI_EXTRA_SOURCES tools/selftest.c tools/selftest_gen.c tools/selftest_run.c)
list(APPEND GPB_CLI_EXTRA_KERNELS
  kernels/selftest_scale.comp kernels/selftest_scale_inplace.comp kernels/selftest_add.comp
  kernels/selftest_copy.comp kernels/selftest_scan.comp kernels/selftest_scan_inplace.comp
  kernels/selftest_reduce.comp)
list(APPEND GPB_CLI_EXTRA_DEFINES GPB_HAVE_SELFTEST)

if(BUILD_TESTING)
  # Sized for about a minute each on lavapipe with 2 cores (see the report of
  # issue 3 for measured times). Any mismatch, error or validation message
  # fails a test.
  add_test(NAME selftest_lavapipe COMMAND gpubatch_cli selftest --seed 1 --programs 300)
  # Three streams: waits between every pair, with no transitivity assumed.
  add_test(NAME selftest_three_streams COMMAND gpubatch_cli selftest --seed 2 --programs 120 --streams 3)
  # The default stream in immediate mode (created streams pick their own mode).
  add_test(NAME selftest_immediate COMMAND gpubatch_cli selftest --seed 3 --programs 80)
  set_tests_properties(selftest_immediate PROPERTIES ENVIRONMENT "GPB_MODE=immediate")
  # Synchronization validation is what sees missing barriers on lavapipe,
  # which runs commands in order and so hides most of them in the results.
  add_test(NAME selftest_validation COMMAND gpubatch_cli selftest --seed 4 --programs 40)
  set_tests_properties(selftest_validation PROPERTIES ENVIRONMENT "GPB_VALIDATION=1")
  # A tester that cannot fail proves nothing: with one dispatch per program
  # left out on the device, the run must fail.
  add_test(NAME selftest_can_fail COMMAND gpubatch_cli selftest --seed 5 --programs 20 --inject-bug)
  set_tests_properties(selftest_can_fail PROPERTIES WILL_FAIL TRUE)
  set_tests_properties(selftest_lavapipe selftest_three_streams selftest_immediate selftest_validation
    selftest_can_fail PROPERTIES LABELS "gpu;selftest" TIMEOUT 600)
endif()
