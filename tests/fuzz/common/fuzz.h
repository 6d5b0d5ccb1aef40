/*
 * fuzz.h - the two functions libFuzzer calls in every target
 * (tests/fuzz/<name>.c), declared once.
 */
#ifndef ISL_FUZZ_FUZZ_H
#define ISL_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
