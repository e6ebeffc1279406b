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
