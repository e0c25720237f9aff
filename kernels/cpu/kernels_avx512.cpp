// torch_act — the AVX-512 kernel path: kernels_impl.h compiled for
// AVX-512F/BW/VL/DQ (+ AVX512-BF16 vdpbf16ps for bfloat16, used only when the
// CPU has it) with 16-lane float / 8-lane double vectors.  fp32 microkernel:
// 12 x 32 C tile in 24 zmm accumulators, 2 vector loads + 12 embedded
// broadcasts per k for 24 FMAs.  Peak: 2 FMA units x 16 lanes x 2 flop = 64
// fp32 flop per cycle per core (32 fp64); the Sapphire Rapids here sustains
// ~2.6 GHz with zmm FMAs, i.e. ~166-170 GFLOP/s per core (measured with a
// register-only FMA loop), so 85% is ~142 GFLOP/s per core.  Limits: L2->L1
// traffic for the streamed B panels and memory bandwidth for packing / the
// output for big K; the epilogue (O(MN)) for small K.
#if defined(__x86_64__) || defined(_M_X64)
#include "isa_avx512.h"
#include "kernels_impl.h"
#include "isa_table.h"
#endif
