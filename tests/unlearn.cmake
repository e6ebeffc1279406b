# Unlearning methods, EC's losses and modules (the unlearning issue).
set(FIXTURES ${CMAKE_CURRENT_SOURCE_DIR}/fixtures)

ecore_test_exe(test_contrastive SOURCES test_contrastive.c LIBS ecore_jobs ecore_config)
add_test(NAME unlearn_contrastive COMMAND test_contrastive ${FIXTURES}/contrastive.h5)
set_tests_properties(unlearn_contrastive PROPERTIES LABELS "unit")

# Every base method on the real MNIST (skips without it).
ecore_test_exe(test_unlearn SOURCES test_unlearn.c LIBS ecore_jobs ecore_config)
add_test(NAME unlearn_methods COMMAND test_unlearn ${ECORE_SHARED_DATA}/mnist)
set_tests_properties(unlearn_methods PROPERTIES LABELS "unit" SKIP_RETURN_CODE 77
                     ENVIRONMENT "OPENBLAS_NUM_THREADS=1")

# EC data-parallel: groups of 2 (and 4) ranks give the run of 1 rank (pretraining and unlearning).
ecore_test_exe(test_unlearn_mpi SOURCES test_unlearn_mpi.c LIBS ecore_jobs ecore_config)
foreach(np 2 4)
  add_test(NAME unlearn_mpi_np${np} COMMAND ${ECORE_MPIRUN} -np ${np} $<TARGET_FILE:test_unlearn_mpi>)
  set_tests_properties(unlearn_mpi_np${np} PROPERTIES LABELS "mpi" ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
endforeach()

# EC on the real MNIST: pretraining, alone, plugged in, variants, checkpoints (skips without it).
ecore_test_exe(test_ec SOURCES test_ec.c LIBS ecore_jobs ecore_config)
add_test(NAME unlearn_ec COMMAND test_ec ${ECORE_SHARED_DATA}/mnist)
set_tests_properties(unlearn_ec PROPERTIES LABELS "unit" SKIP_RETURN_CODE 77
                     ENVIRONMENT "OPENBLAS_NUM_THREADS=1")

# The EC step against a plain step (a benchmark: built, never run by CTest).
ecore_test_exe(bench_ec SOURCES bench_ec.c LIBS ecore_jobs ecore_config)

# The literature's baselines (bad_teacher, ssd, unsir, be) on the real MNIST, alone and with EC
# (skips without it). "long": the sanitizer build leaves it out (2 minutes there); the methods'
# code runs under the sanitizers in unlearn_mpi_np2/np4.
ecore_test_exe(test_baselines SOURCES test_baselines.c LIBS ecore_jobs ecore_config)
add_test(NAME unlearn_baselines COMMAND test_baselines ${ECORE_SHARED_DATA}/mnist)
set_tests_properties(unlearn_baselines PROPERTIES LABELS "unit;long" SKIP_RETURN_CODE 77
                     ENVIRONMENT "OPENBLAS_NUM_THREADS=1")

# EC on swin_t: a tiny sweep on the CIFAR-10 sample (skips without it).
add_test(NAME unlearn_swin_ec COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_swin_ec.py
                                      $<TARGET_FILE:ecore> ${ECORE_SHARED_DATA})
set_tests_properties(unlearn_swin_ec PROPERTIES LABELS "unit" SKIP_RETURN_CODE 77
                     ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
