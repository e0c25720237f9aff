// torch_act — what the compute layer needs to run one activation: its kernel
// tables, one per CPU ISA path (kernels/cpu/kernel_table.h: cpu::ActKernels)
// and one for CUDA (kernels/cuda/cuda_ops.h: cuda::ActKernels), each
// instantiated from the activation's functor, and the two facts the drivers
// branch on (row activation; identity).  The registry (csrc/registry.h) keeps
// one KernelSet per activation; kernels never look activations up by name.
#pragma once

#include "activations.h"

namespace torch_act {

namespace cpu {
struct ActKernels;
}
namespace cuda {
struct ActKernels;
}

// CPU ISA paths, in the order of KernelSet::cpu.
enum class CpuIsa : int { Portable = 0, Avx2 = 1, Avx512 = 2, Amx = 3 };
constexpr int kNumCpuIsas = 4;

struct KernelSet {
  const char* name = "";            // the activation's name (error messages)
  Rowwise rowwise = Rowwise::None;  // softmax / log_softmax: rows are normalised
  bool identity = false;            // the built-in identity: dz = g, no pass needed
  const cpu::ActKernels* cpu[kNumCpuIsas] = {};  // null: not compiled for that path
  const cuda::ActKernels* cuda = nullptr;        // null: no CUDA kernels
};

}  // namespace torch_act
