# The config layer, grid expansion and `ecore plan` (harness/config/, harness/plan/).
ecore_test_exe(test_config SOURCES test_config.c LIBS ecore_harness)
add_test(NAME config COMMAND test_config $<TARGET_FILE:ecore> ${CMAKE_SOURCE_DIR})
set_tests_properties(config PROPERTIES LABELS "unit" SKIP_RETURN_CODE 77)

ecore_test_exe(test_grid SOURCES test_grid.c LIBS ecore_harness)
add_test(NAME grid COMMAND test_grid)
set_tests_properties(grid PROPERTIES LABELS "unit" SKIP_RETURN_CODE 77)
