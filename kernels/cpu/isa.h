// torch_act — runtime ISA selection for the CPU kernels (isa.cpp), used by
// the driver (linear_act.cpp).  Baseline TUs only.
#pragma once

#include "kernel_table.h"

namespace torch_act {
namespace cpu {

// The kernel table in use (chosen once at load; set_isa() switches it).
const KernelTable* active_kernels();
// Use the AVX512-BF16 dot-product microkernel for bfloat16: the CPU has it and
// TORCH_ACT_CPU_BF16_DOT is "1", or is unset and the CPU has no AMX.
bool bf16_dot_enabled();
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
