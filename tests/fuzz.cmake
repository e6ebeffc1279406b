# Fuzz harnesses (tests/fuzz/, docs/fuzzing.md): each corpus replayed through its harness in
# every build (fuzz_replay_<name>, seconds); with -DECORE_FUZZ=ON (clang) also the libFuzzer
# binaries fuzz_<name>.
set(ECORE_FUZZ_HARNESSES config idx cifar hdf5 ckpt results)
set(ECORE_FUZZ_LIBS_config ecore_plan)
set(ECORE_FUZZ_LIBS_idx ecore_solver)
set(ECORE_FUZZ_LIBS_cifar ecore_solver)
set(ECORE_FUZZ_LIBS_hdf5 ecore_solver)
set(ECORE_FUZZ_LIBS_ckpt ecore_solver)
set(ECORE_FUZZ_LIBS_results ecore_results)
set(fuzz_dir ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
foreach(h ${ECORE_FUZZ_HARNESSES})
  ecore_test_exe(fuzz_replay_${h} SOURCES fuzz/replay.c fuzz/fuzz_${h}.c fuzz/fuzz_file.c
                 LIBS ${ECORE_FUZZ_LIBS_${h}})
  add_test(NAME fuzz_replay_${h} COMMAND fuzz_replay_${h} ${fuzz_dir}/corpus/${h})
  set_tests_properties(fuzz_replay_${h} PROPERTIES LABELS "unit" TIMEOUT 120
                       ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
  if(ECORE_FUZZ)
    ecore_test_exe(fuzz_${h} SOURCES fuzz/fuzz_${h}.c fuzz/fuzz_file.c LIBS ${ECORE_FUZZ_LIBS_${h}})
    target_link_options(fuzz_${h} PRIVATE -fsanitize=fuzzer)
  endif()
endforeach()
