# Interval checkpoints of the original and retrained models' training (resume after a kill).
ecore_test_exe(test_train_resume SOURCES test_train_resume.c LIBS ecore_jobs ecore_config)
add_test(NAME train_resume COMMAND test_train_resume)
set_tests_properties(train_resume PROPERTIES LABELS "unit")
add_test(NAME train_resume_np2 COMMAND ${ECORE_MPIRUN} -np 2 $<TARGET_FILE:test_train_resume>)
set_tests_properties(train_resume_np2 PROPERTIES LABELS "mpi" ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
