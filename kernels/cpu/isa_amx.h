// torch_act — the amx ISA prelude: target, SIMD types and names for
// kernels_impl.h.  Included first by the library's kernels_amx.cpp and by every
// activation plugin's amx translation unit (torch_act/activation.h).
// A translation unit includes exactly one prelude, first.
#pragma once
#if !defined(__x86_64__) && !defined(_M_X64)
#error "the amx path needs x86-64"
#endif
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma,f16c,amx-tile,amx-bf16")
// GCC 12 false positive on _mm512_undefined_* inside the intrinsics headers
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <type_traits>

#define TA_AVX512_NS amx
#include "simd_avx512.h"

#define TA_HAS_AMX 1
#define TA_ISA amx
#define TA_ISA_NAME "amx"
#define TA_TABLE_FN kernels_amx
#define TA_ISA_SLOT 3  // CpuIsa (csrc/registry.h)
