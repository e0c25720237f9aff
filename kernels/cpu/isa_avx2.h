// torch_act — the avx2 ISA prelude: target, SIMD types and names for
// kernels_impl.h.  Included first by the library's kernels_avx2.cpp and by every
// activation plugin's avx2 translation unit (torch_act/activation.h).
// A translation unit includes exactly one prelude, first.
#pragma once
#if !defined(__x86_64__) && !defined(_M_X64)
#error "the avx2 path needs x86-64"
#endif
#pragma GCC target("avx2,fma,f16c")

#include <type_traits>

#include "simd_avx2.h"

#define TA_ISA avx2
#define TA_ISA_NAME "avx2"
#define TA_TABLE_FN kernels_avx2
#define TA_ISA_SLOT 1  // CpuIsa (csrc/registry.h)
