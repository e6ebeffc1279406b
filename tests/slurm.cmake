# Slurm: the slurm/ scripts (ecore-submit, sweep/merge/report jobs, requeue and the warning
# signal) end to end on a one-node Slurm cluster that the test brings up and takes down
# (slurm/local-cluster.sh). Skips (77) without munge and Slurm (apt-get install slurmctld
# slurmd slurm-client munge), h5py, or the real MNIST in ECORE_SHARED_DATA.
add_test(NAME slurm_e2e
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_slurm.sh $<TARGET_FILE:ecore>
                 ${CMAKE_CURRENT_SOURCE_DIR}/configs/slurm_mnist.yaml ${ECORE_SHARED_DATA}/mnist
                 ${ECORE_MPIRUN})
set_tests_properties(slurm_e2e PROPERTIES LABELS "slurm;long" SKIP_RETURN_CODE 77 TIMEOUT 600
                     RUN_SERIAL TRUE
                     ENVIRONMENT "OPENBLAS_NUM_THREADS=1;OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
