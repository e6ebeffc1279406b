# Fuzz harnesses (tests/fuzz/, docs/fuzzing.md): each corpus replayed through its harness in
# every build (fuzz_replay_<name>, seconds); with -DECORE_FUZZ=ON (clang) also the libFuzzer
# binaries fuzz_<name>. The _edit harnesses are the HDF5 ones built with h5edit.c: their input
# is a list of edits to a valid file (FUZZ_H5EDIT; the file: FUZZ_TEMPLATE, or for ckpt_edit
# one the harness writes).
set(ECORE_FUZZ_HARNESSES config idx cifar hdf5 ckpt results hdf5_edit ckpt_edit results_edit)
set(ECORE_FUZZ_LIBS_config ecore_plan)
set(ECORE_FUZZ_LIBS_idx ecore_solver)
set(ECORE_FUZZ_LIBS_cifar ecore_solver)
set(ECORE_FUZZ_LIBS_hdf5 ecore_solver)
set(ECORE_FUZZ_LIBS_ckpt ecore_solver)
set(ECORE_FUZZ_LIBS_results ecore_results)
set(ECORE_FUZZ_LIBS_hdf5_edit ecore_solver)
set(ECORE_FUZZ_LIBS_ckpt_edit ecore_solver)
set(ECORE_FUZZ_LIBS_results_edit ecore_results)
set(fuzz_dir ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
set(ECORE_FUZZ_TEMPLATE_hdf5_edit ${fuzz_dir}/corpus/hdf5/seed_nchw)
set(ECORE_FUZZ_TEMPLATE_results_edit ${fuzz_dir}/corpus/results/seed_tiny)

# fuzz_<h>.c, or for an _edit harness its base's source with h5edit.c and the definitions.
function(ecore_fuzz_exe name h)
  string(REGEX REPLACE "_edit$" "" base ${h})
  set(sources fuzz/fuzz_${base}.c fuzz/fuzz_file.c ${ARGN})
  if(NOT base STREQUAL h)
    list(APPEND sources fuzz/h5edit.c)
  endif()
  ecore_test_exe(${name} SOURCES ${sources} LIBS ${ECORE_FUZZ_LIBS_${h}})
  if(NOT base STREQUAL h)
    target_compile_definitions(${name} PRIVATE FUZZ_H5EDIT
                               FUZZ_TEMPLATE="${ECORE_FUZZ_TEMPLATE_${h}}")
  endif()
endfunction()

foreach(h ${ECORE_FUZZ_HARNESSES})
  ecore_fuzz_exe(fuzz_replay_${h} ${h} fuzz/replay.c)
  add_test(NAME fuzz_replay_${h} COMMAND fuzz_replay_${h} ${fuzz_dir}/corpus/${h})
  set_tests_properties(fuzz_replay_${h} PROPERTIES LABELS "unit" TIMEOUT 120
                       ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
  if(ECORE_FUZZ)
    ecore_fuzz_exe(fuzz_${h} ${h})
    target_link_options(fuzz_${h} PRIVATE -fsanitize=fuzzer)
  endif()
endforeach()
