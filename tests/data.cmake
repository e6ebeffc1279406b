# Dataset layer: idx/cifar/hdf5/synthetic loaders and their errors, batches and augmentation,
# epoch order, forget splits; then real MNIST and the CIFAR-10 sample from ECORE_SHARED_DATA.
# Exits 77 (skipped) when that folder is absent, after the unit checks have passed.
ecore_test_exe(test_data SOURCES test_data.c LIBS ecore_solver)
add_test(NAME data COMMAND test_data ${ECORE_SHARED_DATA})
set_tests_properties(data PROPERTIES LABELS "unit" SKIP_RETURN_CODE 77)
