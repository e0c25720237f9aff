// torch_act — the AVX-512 kernel path: kernels_impl.h compiled for
// AVX-512F/BW/VL/DQ (+ AVX512-BF16 vdpbf16ps for bfloat16, used only when the
// CPU has it) with 16-lane float / 8-lane double vectors.  fp32 microkernel:
// 12 x 32 C tile in 24 zmm accumulators, 2 vector loads + 12 embedded
// broadcasts per k for 24 FMAs; peak = 2 FMA units x 16 lanes x 2 flop per
// cycle per core.  Limits: FMA throughput for big K; packing and the epilogue
// (O(MN + MK + NK)) for small ones.
#if defined(__x86_64__) || defined(_M_X64)
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma,f16c")
// GCC 12 false positive on _mm512_undefined_* inside the intrinsics headers
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <type_traits>

#include "simd_avx512.h"

#define TA_ISA avx512
#define TA_ISA_NAME "avx512"
#define TA_TABLE_FN kernels_avx512
#include "kernels_impl.h"

#endif
