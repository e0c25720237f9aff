// torch_act — the AVX2 + FMA kernel path: kernels_impl.h compiled for
// AVX2/FMA/F16C with 8-lane float / 4-lane double vectors.  fp32
// microkernel: 6 x 16 C tile in 12 ymm accumulators (2 loads + 6 broadcasts
// per k for 12 FMAs).  bfloat16 is widened to fp32 while packing.  Limits:
// FMA throughput (2 x 8 lanes x 2 flop per cycle) for big K.
#if defined(__x86_64__) || defined(_M_X64)
#include "isa_avx2.h"
#include "kernels_impl.h"
#include "isa_table.h"
#endif
