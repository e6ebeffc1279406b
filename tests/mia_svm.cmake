# The RBF-SVM membership attack (eval.mia_model: svm): against scikit-learn on a committed
# fixture (tests/make_mia_svm_fixture.py), and end to end on MNIST.
ecore_test_exe(test_mia_svm SOURCES test_mia_svm.c LIBS ecore_solver ${LIBSVM_LIBRARY})
target_include_directories(test_mia_svm PRIVATE ${LIBSVM_INCLUDE_DIR})
add_test(NAME mia_svm_sklearn COMMAND test_mia_svm ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/mia_svm.h5)
set_tests_properties(mia_svm_sklearn PROPERTIES LABELS "unit")

# A sweep on MNIST with eval.mia_model: svm: the original's efficacy low, the retrained's high.
find_program(DEBIAN_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
add_test(NAME mia_svm_mnist
         COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_mia_svm_mnist.py $<TARGET_FILE:ecore>
                 ${CMAKE_CURRENT_SOURCE_DIR}/configs/mia_svm_mnist.yaml ${ECORE_SHARED_DATA}/mnist)
set_tests_properties(mia_svm_mnist PROPERTIES LABELS "long" SKIP_RETURN_CODE 77
                     ENVIRONMENT "OPENBLAS_NUM_THREADS=1")

# `ecore eval --mia-model svm` on the small checkpoints of metrics.cmake (synthetic data, their
# settings): the fine-tuned u.h5 gets none of the forget set right, so the attack must judge it
# non-member; and a value that is not an attack (exit 2, the message names the key and choices).
set(MIA_SVM_CKPTS ${CMAKE_CURRENT_BINARY_DIR}/metrics_eval)
add_test(NAME mia_svm_eval_cli COMMAND $<TARGET_FILE:ecore> eval ${MIA_SVM_CKPTS}/u.h5
         --data synthetic --set data.synthetic.size=28 --set data.synthetic.noise=0.3
         --set data.synthetic.train_per_class=1000 --set data.synthetic.test_per_class=200 --max-train 1000 --max-test 500 --forget-classes 3,8 --no-cka --no-knn --mia-model svm)
set_tests_properties(mia_svm_eval_cli PROPERTIES LABELS "unit" FIXTURES_REQUIRED metrics_ckpts
                     ENVIRONMENT "OPENBLAS_NUM_THREADS=1"
                     PASS_REGULAR_EXPRESSION "forget_acc=0\\.0.*mia_efficacy=(0\\.9|1\\.0).*mia_samples=400\n")
add_test(NAME mia_svm_bad_model COMMAND sh -c "$<TARGET_FILE:ecore> eval x.h5 --data synthetic --forget-classes 3 --mia-model forest 2>&1; echo exit=$?")
set_tests_properties(mia_svm_bad_model PROPERTIES LABELS "unit"
                     PASS_REGULAR_EXPRESSION "eval.mia_model: 'forest' is not one of logistic, svm.*exit=2")
