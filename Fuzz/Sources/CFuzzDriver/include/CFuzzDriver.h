#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (LLVM >= 11), for an entry point other than libFuzzer's own `main`.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
