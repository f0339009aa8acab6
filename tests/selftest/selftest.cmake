# `gpubatch selftest`: the randomized differential tester of streams.
# Included by the top-level CMakeLists.txt before the CLI target exists; adds
# its sources, kernels and define to the CLI, and registers its tests.
set(selftest_dir ${CMAKE_CURRENT_LIST_DIR})
list(APPEND GPB_CLI_EXTRA_SOURCES ${selftest_dir}/selftest.c ${selftest_dir}/selftest_gen.c
  ${selftest_dir}/selftest_legalize.c ${selftest_dir}/selftest_run.c)
foreach(k scale scale_inplace add copy scan scan_inplace reduce)
  list(APPEND GPB_CLI_EXTRA_KERNELS ${selftest_dir}/kernels/selftest_${k}.comp)
endforeach()
list(APPEND GPB_CLI_EXTRA_DEFINES GPB_HAVE_SELFTEST)

if(BUILD_TESTING)
  # Each takes seconds on lavapipe with 2 cores. Any mismatch, failed call,
  # validation message, crash or hang fails a test.
  #
  # Most of the time goes to the runs with the validation layer: lavapipe
  # runs commands in order, so a missing barrier rarely shows in the results
  # without it, and in a mutation pass the validation runs caught everything
  # the others caught. The runs without it stay short and check the results
  # at full speed.
  #
  # Every program destroys its streams as soon as it ends (and `recreate`
  # mid-program): lavapipe's late access to a destroyed timeline is covered
  # by the runtime (tests/upstream/lavapipe-stream-destroy.md).
  set(selftest_known_bug)
  add_test(NAME selftest_lavapipe COMMAND gpubatch_cli selftest --seed 1 --programs 2000 ${selftest_known_bug})
  # Three streams and longer programs: waits between every pair, none assumed transitive.
  add_test(NAME selftest_three_streams
    COMMAND gpubatch_cli selftest --seed 2 --programs 1000 --streams 3 --ops 100 ${selftest_known_bug})
  # The default stream in immediate mode (created streams pick their own mode).
  add_test(NAME selftest_immediate COMMAND gpubatch_cli selftest --seed 3 --programs 2000 ${selftest_known_bug})
  set_tests_properties(selftest_immediate PROPERTIES ENVIRONMENT "GPB_MODE=immediate")
  # Captured programs replayed often, on any stream, between ordinary work.
  add_test(NAME selftest_captures
    COMMAND gpubatch_cli selftest --seed 8 --programs 2000 --weight capture=20 --weight replay=30 ${selftest_known_bug})
  # Synchronization validation is what sees missing barriers on lavapipe,
  # which runs commands in order and so hides most of them in the results.
  add_test(NAME selftest_validation COMMAND gpubatch_cli selftest --seed 4 --programs 5000 ${selftest_known_bug})
  add_test(NAME selftest_validation_three_streams
    COMMAND gpubatch_cli selftest --seed 5 --programs 1200 --streams 3 --ops 100 ${selftest_known_bug})
  add_test(NAME selftest_validation_captures
    COMMAND gpubatch_cli selftest --seed 9 --programs 1000 --weight capture=20 --weight replay=30 ${selftest_known_bug})
  # Streams destroyed and created again mid-program, often right after another
  # stream submitted work behind a wait on them; validated, so that a
  # semaphore or command buffer destroyed while in use is reported.
  add_test(NAME selftest_stream_destroy
    COMMAND gpubatch_cli selftest --seed 6 --programs 1000 --weight recreate=10 ${selftest_known_bug})
  set_tests_properties(selftest_validation selftest_validation_three_streams selftest_validation_captures
    selftest_stream_destroy PROPERTIES ENVIRONMENT "GPB_VALIDATION=1")
  # A tester that cannot fail proves nothing: with one dispatch per program
  # left out on the device (the model still runs it), the run must fail.
  add_test(NAME selftest_can_fail COMMAND gpubatch_cli selftest --seed 7 --programs 20 --inject-bug ${selftest_known_bug})
  set_tests_properties(selftest_can_fail PROPERTIES WILL_FAIL TRUE)
  # A hang (a synchronization bug can cause one) fails in 5 minutes, not in 25.
  set_tests_properties(selftest_lavapipe selftest_three_streams selftest_immediate selftest_captures
    selftest_validation selftest_validation_three_streams selftest_validation_captures selftest_stream_destroy
    selftest_can_fail PROPERTIES LABELS "gpu;selftest" TIMEOUT 300)
endif()
