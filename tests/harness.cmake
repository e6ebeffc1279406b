# The coordinator: scheduling over rank groups, sweeps.
ecore_test_exe(test_sched SOURCES test_sched.c LIBS ecore_harness)
foreach(cfg "1;1" "2;1" "4;1" "4;2")
  list(GET cfg 0 np)
  list(GET cfg 1 rpr)
  add_test(NAME sched_np${np}_rpr${rpr} COMMAND ${ECORE_MPIRUN} -np ${np} $<TARGET_FILE:test_sched> ${rpr})
  set_tests_properties(sched_np${np}_rpr${rpr} PROPERTIES LABELS "mpi" ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
endforeach()
