# The results file, merge and report (results/, harness/cli/cmd_merge.c, harness/cli/cmd_report.c).
ecore_test_exe(test_results SOURCES test_results.c LIBS ecore_results)
# The cost of an append as the file grows: a benchmark (bench_results DIR [ROWS]), not a test.
ecore_test_exe(bench_results SOURCES bench_results.c LIBS ecore_results)

add_test(NAME results_unit COMMAND test_results)
add_test(NAME results_cli COMMAND test_results --cli $<TARGET_FILE:ecore>)
# Reads a file written by the C library back with h5py; needs /usr/bin/python3 with h5py and
# numpy (exit 77, skipped, without them).
add_test(NAME results_h5py
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_results_h5py.py
                 $<TARGET_FILE:test_results> $<TARGET_FILE:ecore>)
set_tests_properties(results_unit results_cli results_h5py PROPERTIES
                     LABELS "unit" SKIP_RETURN_CODE 77 TIMEOUT 300)

# `ecore report --claims` (results/claims.c): verdicts of tables built in memory, and the CLI.
ecore_test_exe(test_claims SOURCES test_claims.c LIBS ecore_results)
add_test(NAME claims_unit COMMAND test_claims)
add_test(NAME claims_cli COMMAND test_claims --cli $<TARGET_FILE:ecore>)
set_tests_properties(claims_unit claims_cli PROPERTIES LABELS "unit" TIMEOUT 300)

# `ecore export` and scripts/ecore_results.py on a real tiny sweep's file, value for value
# (harness/export/, harness/cli/cmd_export.c); needs /usr/bin/python3 with h5py and pandas.
add_test(NAME results_export
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_export.py $<TARGET_FILE:ecore>
                 ${CMAKE_CURRENT_SOURCE_DIR}/configs/tiny.yaml)
set_tests_properties(results_export PROPERTIES LABELS "unit" SKIP_RETURN_CODE 77 TIMEOUT 300
                     ENVIRONMENT "OPENBLAS_NUM_THREADS=1")

# `ecore report --plots` on two tiny sweeps, every figure rendered with rsvg-convert and
# checked: nothing drawn outside the plot rectangles, fitted y ranges, dodged lines, legends
# (exit 77, skipped, without rsvg-convert or PIL).
add_test(NAME results_plots
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_plots.py $<TARGET_FILE:ecore>
                 ${CMAKE_CURRENT_SOURCE_DIR}/configs/tiny.yaml)
set_tests_properties(results_plots PROPERTIES LABELS "unit" SKIP_RETURN_CODE 77 TIMEOUT 300)
