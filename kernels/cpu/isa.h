// torch_act — runtime ISA selection for the CPU kernels (isa.cpp), used by
// the driver (linear_act.cpp).  Baseline TUs only.
#pragma once

#include "kernel_table.h"

namespace torch_act {
namespace cpu {

// The kernel table in use (chosen once at load; set_isa() switches it).
const KernelTable* active_kernels();
// Use the AVX512-BF16 dot-product microkernel for bfloat16 (CPU has it and
// TORCH_ACT_CPU_BF16_DOT is not "0").
bool bf16_dot_enabled();

}  // namespace cpu
}  // namespace torch_act
