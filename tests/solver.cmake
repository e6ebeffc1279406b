# Models, optimiser, data parallelism, checkpoints (the solver issue).
set(FIXTURES ${CMAKE_CURRENT_SOURCE_DIR}/fixtures)

ecore_test_exe(test_models SOURCES test_models.c LIBS ecore_solver)
add_test(NAME models_vs_pytorch COMMAND test_models ${FIXTURES}/cnn4.h5 ${FIXTURES}/mlp.h5
         ${FIXTURES}/resnet18_w8.h5 ${FIXTURES}/resnet50_w4.h5 ${FIXTURES}/swin_t_w6.h5
         ${FIXTURES}/resnet18_imagenet_w8.h5 ${FIXTURES}/resnet50_imagenet_w4.h5)
set_tests_properties(models_vs_pytorch PROPERTIES LABELS "unit")

ecore_test_exe(test_ckpt SOURCES test_ckpt.c LIBS ecore_solver)
add_test(NAME ckpt COMMAND test_ckpt)
set_tests_properties(ckpt PROPERTIES LABELS "unit")

# Data parallelism: every run compares groups of 1, 2 and 4 ranks that fit in the world.
ecore_test_exe(test_dist SOURCES test_dist.c LIBS ecore_solver)
foreach(np 1 2 4)
  add_test(NAME dist_np${np} COMMAND ${ECORE_MPIRUN} -np ${np} $<TARGET_FILE:test_dist>)
  set_tests_properties(dist_np${np} PROPERTIES LABELS "mpi" ENVIRONMENT "OPENBLAS_NUM_THREADS=1")
endforeach()

# The accuracy goals on the real MNIST, 2 ranks x 1 thread.
ecore_test_exe(test_mnist_train SOURCES test_mnist_train.c LIBS ecore_solver)
add_test(NAME mnist_train COMMAND ${ECORE_MPIRUN} -np 2 $<TARGET_FILE:test_mnist_train>
         ${ECORE_SHARED_DATA}/mnist)
set_tests_properties(mnist_train PROPERTIES LABELS "long;mpi" SKIP_RETURN_CODE 77
                     ENVIRONMENT "OPENBLAS_NUM_THREADS=1")

# Graph models (EC's auxiliary modules' engine): gradients against finite differences.
ecore_test_exe(test_graph SOURCES test_graph.c LIBS ecore_solver)
add_test(NAME graph COMMAND test_graph)
set_tests_properties(graph PROPERTIES LABELS "unit")
