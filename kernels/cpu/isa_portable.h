// torch_act — the portable ISA prelude: target, SIMD types and names for
// kernels_impl.h.  Included first by the library's kernels_portable.cpp and by every
// activation plugin's portable translation unit (torch_act/activation.h).
// A translation unit includes exactly one prelude, first.
#pragma once
#include <type_traits>

#include "simd_portable.h"

#define TA_ISA portable
#define TA_ISA_NAME "portable"
#define TA_TABLE_FN kernels_portable
#define TA_ISA_SLOT 0  // CpuIsa (csrc/registry.h)
