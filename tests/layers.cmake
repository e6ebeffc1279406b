# Layer forward/backward against naive double-precision references and finite differences.
ecore_test_exe(test_layers SOURCES test_layers.c LIBS ecore_solver)
add_test(NAME layers COMMAND test_layers)
set_tests_properties(layers PROPERTIES LABELS "unit" SKIP_RETURN_CODE 77)

# Swin's layers (layernorm, gelu, patch merging, shifted window attention), the same way.
ecore_test_exe(test_layers_swin SOURCES test_layers_swin.c LIBS ecore_solver)
add_test(NAME layers_swin COMMAND test_layers_swin)
set_tests_properties(layers_swin PROPERTIES LABELS "unit")
