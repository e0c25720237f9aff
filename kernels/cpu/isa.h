// torch_act — runtime ISA selection for the CPU kernels (isa.cpp), used by
// the driver (linear_act.cpp).  Baseline TUs only.
#pragma once

#include "kernel_table.h"

namespace torch_act {
namespace cpu {

// The kernel table in use (chosen once at load; set_isa() switches it).
const KernelTable* active_kernels();
// Which kernel bfloat16 GEMMs use on the avx512 path: the AVX512-BF16
// vdpbf16ps pair kernel, or fp32 FMAs on operands widened while packing.
// TORCH_ACT_CPU_BF16_DOT=1/0 when set; else measured once, on first use: the
// dot kernel where a vdpbf16ps loop runs >= 1.25x the flops of an FMA loop
// (Zen 4: 2x; Sapphire Rapids: 0.5x).  Never on CPUs without AVX512-BF16.
struct Bf16Kernel {
  bool dot = false;
  const char* why = "";  // "measured", "TORCH_ACT_CPU_BF16_DOT", or why not
  double dot_gflops = 0, fma_gflops = 0;  // the timed loops, one core ("measured" only)
};
const Bf16Kernel& bf16_kernel();
// The blocking query's bf16_dot argument for problem p on table kt: 1 only
// for a bf16 operand on the avx512 path with the dot kernel chosen (asks
// bf16_kernel(), so fp32 / fp64 GEMMs never trigger the timing).
int32_t bf16_dot_for(const KernelTable* kt, const GemmProblem& p);
// The CPU has AVX512-BF16 (vdpbf16ps), whether or not the GEMM uses it.
bool cpu_has_bf16_dot();
// The L2 size in bytes the GEMM's kc x nc B slices are sized to (half of it):
// TORCH_ACT_L2_BYTES when set (clamped to [128 KiB, 64 MiB]), else 0: the
// ISA kernels' own TA_L2_BYTES (2 MiB, kernels_impl.h).
// Not the detected size: on a Zen 4 (1 MiB L2) 1 MiB and 2 MiB measured the
// same within the noise, 512 KiB slower at 2048^3 (benchmarks/RESULTS.md), so
// the default stays what the kernels were tuned with; the variable is for tuning.
int64_t l2_bytes();

}  // namespace cpu
}  // namespace torch_act
