// torch_act — the avx512 ISA prelude: target, SIMD types and names for
// kernels_impl.h.  Included first by the library's kernels_avx512.cpp and by every
// activation plugin's avx512 translation unit (torch_act/activation.h).
// A translation unit includes exactly one prelude, first.
#pragma once
#if !defined(__x86_64__) && !defined(_M_X64)
#error "the avx512 path needs x86-64"
#endif
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma,f16c")
// GCC 12 false positive on _mm512_undefined_* inside the intrinsics headers
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <type_traits>

#include "simd_avx512.h"

#define TA_ISA avx512
#define TA_ISA_NAME "avx512"
#define TA_TABLE_FN kernels_avx512
#define TA_ISA_SLOT 2  // CpuIsa (csrc/registry.h)
