#pragma once
// Shared by the libFuzzer harnesses: a property that does not hold is a crash, like any other.
#include <cstdio>
#include <cstdlib>

#define SIGIL_FUZZ_ASSERT(cond)                                                           \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "property violated: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)
