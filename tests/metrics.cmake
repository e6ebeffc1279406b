# Evaluation metrics: CKA (vs a numpy fixture), k-NN, MIA, accuracies, the data-parallel
# evaluation, MNIST, and the `ecore eval` command.
ecore_test_exe(test_metrics SOURCES test_metrics.c LIBS ecore_solver ecore_config)

add_test(NAME metrics_unit COMMAND test_metrics unit ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/cka.h5)
set_tests_properties(metrics_unit PROPERTIES LABELS "unit" ENVIRONMENT "OPENBLAS_NUM_THREADS=1")

# 2 ranks (even shares) and 3 (uneven shares, more ranks than some batches' points).
foreach(np 2 3)
  add_test(NAME metrics_mpi_np${np} COMMAND ${ECORE_MPIRUN} -np ${np} $<TARGET_FILE:test_metrics> mpi)
  set_tests_properties(metrics_mpi_np${np} PROPERTIES LABELS "mpi" ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
endforeach()

add_test(NAME metrics_mnist COMMAND ${ECORE_MPIRUN} -np 2 $<TARGET_FILE:test_metrics> mnist
         ${ECORE_SHARED_DATA}/mnist)
set_tests_properties(metrics_mnist PROPERTIES LABELS "long;mpi" SKIP_RETURN_CODE 77
                     ENVIRONMENT "OPENBLAS_NUM_THREADS=1")

# `ecore eval` on small checkpoints that test_metrics writes.
set(EVAL_DIR ${CMAKE_CURRENT_BINARY_DIR}/metrics_eval)
add_test(NAME metrics_eval_ckpts COMMAND test_metrics ckpt ${EVAL_DIR})
set_tests_properties(metrics_eval_ckpts PROPERTIES LABELS "unit" FIXTURES_SETUP metrics_ckpts
                     ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
# The checkpoints are for the solver's default synthetic set: 10 classes of 1x28x28, noise 0.3.
set(EVAL_ARGS --data synthetic --set data.synthetic.size=28 --set data.synthetic.noise=0.3
    --set data.synthetic.train_per_class=1000 --set data.synthetic.test_per_class=200
    --max-train 1000 --max-test 500 --forget-classes 3,8 --cka-batch 64)
add_test(NAME metrics_eval_cli COMMAND $<TARGET_FILE:ecore> eval ${EVAL_DIR}/u.h5
         --original ${EVAL_DIR}/o.h5 --retrain ${EVAL_DIR}/rt.h5 ${EVAL_ARGS})
set_tests_properties(metrics_eval_cli PROPERTIES LABELS "unit" FIXTURES_REQUIRED metrics_ckpts
                     ENVIRONMENT "OPENBLAS_NUM_THREADS=1"
                     PASS_REGULAR_EXPRESSION "train_retain=800\n.*cka_original_layer4=[0-9.]+\n.*knn_forget_acc_layer1=[0-9.]+\n.*avg_gap=[0-9.]+\n")
# The original against itself: CKA 1 at every point (the settings from a config this time).
add_test(NAME metrics_eval_self COMMAND $<TARGET_FILE:ecore> eval ${EVAL_DIR}/o.h5
         --original ${EVAL_DIR}/o.h5 --config ${CMAKE_SOURCE_DIR}/tests/configs/eval_fixture.yaml
         --no-knn --no-mia)
set_tests_properties(metrics_eval_self PROPERTIES LABELS "unit" FIXTURES_REQUIRED metrics_ckpts
                     PASS_REGULAR_EXPRESSION "cka_original_layer1=1.0000.*cka_original_layer2=1.0000.*cka_original_layer3=1.0000.*cka_original_layer4=1.0000")
add_test(NAME metrics_eval_mpi COMMAND ${ECORE_MPIRUN} -np 2 $<TARGET_FILE:ecore> eval
         ${EVAL_DIR}/u.h5 --original ${EVAL_DIR}/o.h5 ${EVAL_ARGS})
set_tests_properties(metrics_eval_mpi PROPERTIES LABELS "mpi" FIXTURES_REQUIRED metrics_ckpts
                     ENVIRONMENT "OPENBLAS_NUM_THREADS=1"
                     PASS_REGULAR_EXPRESSION "ranks=2\n.*cka_original_layer4=[0-9.]+\n")
# Exit codes: 2 for bad flags, 1 for a bad checkpoint (the message names the file).
add_test(NAME metrics_eval_bad_flag COMMAND sh -c "$<TARGET_FILE:ecore> eval x.h5 --data synthetic --forget-classes 3 --knn-k 0; test $? -eq 2")
# A flag's value is checked as its key's: the message names the key.
add_test(NAME metrics_eval_bad_key COMMAND sh -c "$<TARGET_FILE:ecore> eval x.h5 --data synthetic --forget-classes 3 --set eval.cka_batch=1 2>&1; echo exit=$?")
set_tests_properties(metrics_eval_bad_key PROPERTIES LABELS "unit"
                     PASS_REGULAR_EXPRESSION "--set eval.cka_batch=1: eval.cka_batch: 1 is out of range.*exit=2")
add_test(NAME metrics_eval_no_forget COMMAND sh -c "$<TARGET_FILE:ecore> eval x.h5 --data synthetic; test $? -eq 2")
add_test(NAME metrics_eval_bad_ckpt COMMAND sh -c "$<TARGET_FILE:ecore> eval ${EVAL_DIR}/not_a_checkpoint.h5 --data synthetic --max-train 100 --max-test 50 --forget-classes 3 2>&1; test $? -eq 1")
set_tests_properties(metrics_eval_bad_ckpt PROPERTIES FIXTURES_REQUIRED metrics_ckpts
                     PASS_REGULAR_EXPRESSION "not_a_checkpoint.h5: not an HDF5 file")
add_test(NAME metrics_eval_help COMMAND $<TARGET_FILE:ecore> eval --help)
set_tests_properties(metrics_eval_bad_flag metrics_eval_no_forget metrics_eval_bad_ckpt
                     metrics_eval_help PROPERTIES LABELS "unit")
