# The coordinator: scheduling over rank groups, sweeps.
ecore_test_exe(test_sched SOURCES test_sched.c LIBS ecore_harness)
foreach(cfg "1;1" "2;1" "4;1" "4;2")
  list(GET cfg 0 np)
  list(GET cfg 1 rpr)
  add_test(NAME sched_np${np}_rpr${rpr} COMMAND ${ECORE_MPIRUN} -np ${np} $<TARGET_FILE:test_sched> ${rpr})
  set_tests_properties(sched_np${np}_rpr${rpr} PROPERTIES LABELS "mpi" ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
endforeach()

# End to end: sweeps at 1/2/4 ranks, kill and resume, shards and merge, the file via h5py.
find_program(DEBIAN_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
add_test(NAME sweep_e2e
         COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_sweep.py $<TARGET_FILE:ecore>
                 ${CMAKE_CURRENT_SOURCE_DIR}/configs/tiny.yaml ${ECORE_MPIRUN})
set_tests_properties(sweep_e2e PROPERTIES LABELS "mpi" SKIP_RETURN_CODE 77
                     ENVIRONMENT "OPENBLAS_NUM_THREADS=1;OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")

# ecore status on a partial sweep (rows dropped and failed through h5py): counts, reasons, ETA.
add_test(NAME status_e2e
         COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_status.py $<TARGET_FILE:ecore>
                 ${CMAKE_CURRENT_SOURCE_DIR}/configs/tiny.yaml ${ECORE_MPIRUN})
set_tests_properties(status_e2e PROPERTIES LABELS "mpi" SKIP_RETURN_CODE 77
                     ENVIRONMENT "OPENBLAS_NUM_THREADS=1;OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")

# Extending a sweep (more seeds, grid values, cases into its file), merges of one sweep's
# files, and a file written before sweep ids named what runs share (tests/fixtures/sweep_v1.h5).
add_test(NAME sweep_extend
         COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_extend.py $<TARGET_FILE:ecore>
                 ${CMAKE_CURRENT_SOURCE_DIR}/configs/tiny.yaml
                 ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/sweep_v1.h5)
set_tests_properties(sweep_extend PROPERTIES LABELS "unit" SKIP_RETURN_CODE 77
                     ENVIRONMENT "OPENBLAS_NUM_THREADS=1")

# The command line: a suggestion for a mistyped command, the version, one way to report an
# unknown option in every command (exit 2 each; the echo makes the exit code part of the output).
set(ECORE_BIN $<TARGET_FILE:ecore>)
add_test(NAME cli_messages COMMAND sh -c
         "${ECORE_BIN} swep 2>&1; echo exit=$?; ${ECORE_BIN} -V; echo exit=$?; for c in plan sweep status report merge bench eval export; do ${ECORE_BIN} $c --bogus 2>&1; echo exit=$?; done")
set_tests_properties(cli_messages PROPERTIES LABELS "unit" PASS_REGULAR_EXPRESSION
  "did you mean 'sweep'.*exit=2.*ecore [0-9.]+ .*exit=0.*plan: unknown option '--bogus' \\(see 'ecore plan --help'\\)\nexit=2\n.*sweep: unknown option '--bogus'.*\nexit=2\n.*status: unknown option '--bogus'.*\nexit=2\n.*report: unknown option '--bogus'.*\nexit=2\n.*merge: unknown option '--bogus'.*\nexit=2\n.*bench: unknown option '--bogus'.*\nexit=2\n.*eval: unknown option '--bogus'.*\nexit=2\n.*export: unknown option '--bogus'.*\nexit=2")

# The one argument parser: suggestions, value forms, ranges, positional arguments, "--".
add_test(NAME cli_parse COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_cli.sh ${ECORE_BIN})
set_tests_properties(cli_parse PROPERTIES LABELS "unit" PASS_REGULAR_EXPRESSION "all cases pass")

# Bring your own model: PyTorch-trained models converted (scripts/torch_to_ecore.py), checked by
# plan, and unlearned by a sweep; rows against `ecore eval` and PyTorch's accuracies.
add_test(NAME byom COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_byom.py
                           $<TARGET_FILE:ecore> ${CMAKE_SOURCE_DIR} ${ECORE_SHARED_DATA})
set_tests_properties(byom PROPERTIES LABELS "unit" SKIP_RETURN_CODE 77
                     ENVIRONMENT "OPENBLAS_NUM_THREADS=1")

# ecore bench data-parallel on 2 ranks: the step profile's rows, BN messages per layer, the
# gradient sum in buckets or in one message with the same training, per-rank BN statistics.
add_test(NAME bench_profile COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/test_bench.sh ${ECORE_BIN}
                                    ${ECORE_MPIRUN})
set_tests_properties(bench_profile PROPERTIES LABELS "mpi" PASS_REGULAR_EXPRESSION "all cases pass")

# torchvision's swin_t converted (scripts/torch_to_ecore.py): ecore's logits against PyTorch's,
# refusals, and `ecore plan` checking the file against model.patch and model.window.
ecore_test_exe(ckpt_logits SOURCES ckpt_logits.c LIBS ecore_solver)
add_test(NAME swin_convert COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_swin_convert.py
                                   $<TARGET_FILE:ecore> $<TARGET_FILE:ckpt_logits> ${CMAKE_SOURCE_DIR})
set_tests_properties(swin_convert PROPERTIES LABELS "unit" SKIP_RETURN_CODE 77
                     ENVIRONMENT "OPENBLAS_NUM_THREADS=1")

# ImageNet: a tiny image folder packed by scripts/pack_imagenet.py (pixels as torchvision's
# transform), torchvision's resnet18 (ImageNet stem) converted by scripts/torch_to_ecore.py and
# evaluated by ecore on it as PyTorch classifies; plan refuses the other stem.
add_test(NAME imagenet COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_imagenet.py
                               $<TARGET_FILE:ecore> ${CMAKE_SOURCE_DIR})
set_tests_properties(imagenet PROPERTIES LABELS "unit" SKIP_RETURN_CODE 77
                     ENVIRONMENT "OPENBLAS_NUM_THREADS=1")

# Every configs/*.yaml passes ecore plan on data of its shape (the ImageNet subsets packed from a
# tiny image folder by scripts/pack_imagenet.py).
add_test(NAME configs_plan COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_configs_plan.py
                                   $<TARGET_FILE:ecore> ${CMAKE_SOURCE_DIR})
set_tests_properties(configs_plan PROPERTIES LABELS "unit" SKIP_RETURN_CODE 77)
