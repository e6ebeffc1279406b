// fuzz.h: what the fuzz harnesses share. Each harness is one LLVMFuzzerTestOneInput; libFuzzer
// calls it (the ECORE_FUZZ clang build) and so does replay.c (every build, under CTest).
#pragma once

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// Writes data [size] to this process's temp file for `tag` (created on the first call, reused
// after) and returns its path; NULL if it cannot be written (the harness then skips the input).
// Readers that take a path read it from there.
const char *fuzz_file(const char *tag, const uint8_t *data, size_t size);
// The bytes of the file at path [*size], malloc'd; NULL if it cannot be read.
uint8_t *fuzz_read(const char *path, size_t *size);

// Applies the edits that data encodes (h5edit.c) to the valid HDF5 file at path, through the
// HDF5 API, so that it stays valid HDF5; -1 if it cannot be opened or closed.
int h5edit_apply(const char *path, const uint8_t *data, size_t size);
