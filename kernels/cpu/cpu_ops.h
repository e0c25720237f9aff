// torch_act — the CPU kernel interface.
//
// The op layer (csrc/ops.cpp checks, csrc/cpu_register.cpp glue) validates
// arguments, allocates outputs and calls these functions; they assume valid
// inputs and write every element of every defined output.
//
// Shapes: M rows (all leading dims of the input flattened), K input features,
// N output features.  Dtypes: all tensors of one call share the dtype of `x`
// (float32, float64, bfloat16, float16); float32/bf16/fp16 accumulate in
// float32, float64 in float64.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "../kernel_set.h"

namespace torch_act {
namespace cpu {

// out = act(x . w^T + b)
//   x [M, K] any strides; w [N, K] any strides; b [N] contiguous or undefined.
//   out [M, N] contiguous.  preact: undefined, or [M, N] contiguous and then it
//   receives z = x . w^T + b (the value before the activation).
//   Softmax / log_softmax normalise each row of `out` over its N entries.
void linear_act_forward(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, const KernelSet& act,
                        double alpha, const at::Tensor& out, const at::Tensor& preact);

// Gated linear unit, one GEMM pass (kernels/cpu/glu.cpp):
//   out = act(x . wg^T + bg) * (x . wu^T + bu)
//   x [M, K] any strides, K > 0; wg, wu [N, K] any strides; bg, bu [N]
//   contiguous or undefined; act elementwise.  out [M, N] contiguous.  z:
//   undefined, or [M, 2N] contiguous and then it receives [z_gate | z_up].
void linear_glu_forward(const at::Tensor& x, const at::Tensor& wg, const at::Tensor& wu,
                        const at::Tensor& bg, const at::Tensor& bu, const KernelSet& act,
                        double alpha, const at::Tensor& out, const at::Tensor& z);

// linear_glu's backward through the gate in one pass (kernels/cpu/glu.cpp):
//   h = act(z_gate), d_up = g * h, d_gate = g * z_up * act'(z_gate)
//   g [M, N] any strides; z [M, 2N] = [z_gate | z_up] contiguous; d_gate,
//   d_up [M, N] contiguous; act elementwise.
void linear_glu_backward_gate(const at::Tensor& g, const at::Tensor& z, const KernelSet& act,
                              double alpha, const at::Tensor& d_gate, const at::Tensor& d_up);

// Backward of out = act(x . w^T + b), given g = dL/dout [M, N] (any strides).
//   s: what the forward saved, [M, N] contiguous: out when
//      the activation saves its output (registry: backward_uses_output), else the pre-activation z; undefined
//      for Saves::Nothing (identity).
//   dx [M, K], dw [N, K], db [N]: contiguous outputs, each undefined when not
//   wanted.  db is reduced deterministically (no atomics, fixed order).
void linear_act_backward(const at::Tensor& g, const at::Tensor& x, const at::Tensor& w,
                         const at::Tensor& s, const KernelSet& act, double alpha, const at::Tensor& dx,
                         const at::Tensor& dw, const at::Tensor& db);

// out = act(x), elementwise; row activations over the last dim.
//   x and out contiguous, same shape (rows = numel / size(-1)).
void activation_forward(const at::Tensor& x, const KernelSet& act, double alpha, const at::Tensor& out);

// dx = g * act'(s)  (s as in linear_act_backward); all contiguous, same shape.
void activation_backward(const at::Tensor& g, const at::Tensor& s, const KernelSet& act, double alpha,
                         const at::Tensor& dx);

// out = D_order(g, s) (activations.h: backward2 / backward3), order 2 or 3 and
// defined by the activation (the op checks); elementwise activations only;
// all contiguous, same shape and dtype.
void activation_deriv(const at::Tensor& g, const at::Tensor& s, const KernelSet& act, double alpha,
                      int64_t order, const at::Tensor& out);

// How many distinct threads one at::parallel_for of ours runs on right now
// (at most at::get_num_threads()): 1 means the kernels cannot use threads,
// e.g. a build without OpenMP where ATen's backend needs it.  For the tests.
// save="mask": bits [M, ceil(N/8)] uint8 from the saved rows s [M, N]
// (contiguous; y or z as the activation saves), and dz = g * slope(bit)
// (g [M, N] any strides, out [M, N] contiguous; on / off: the activation's
// mask_slope).
void mask_pack(const at::Tensor& s, const KernelSet& act, double alpha, double off,
               const at::Tensor& bits);
void mask_grad(const at::Tensor& g, const at::Tensor& bits, double on, double off,
               const at::Tensor& out);

int64_t parallel_width();

// Bytes of kernel scratch the calling thread holds between calls (bounded:
// buffers above 16 MiB per slot are freed when the call that grew them ends).
int64_t scratch_bytes_held();

// Single-thread GFLOP/s of the active path's fp32 microkernel alone (kc-deep
// panels resident in cache: no packing, no memory traffic) and of a pure FMA
// loop (the core's measured FMA throughput), each timed for about `seconds`.
struct MicroPeak {
  std::string isa;
  int64_t mr, nr, kc;
  double microkernel_gflops, fma_loop_gflops;
  // the bf16 pair kernel and a pure vdpbf16ps loop; 0 without AVX512-BF16
  double bf16_microkernel_gflops, bf16_dot_loop_gflops;
};
MicroPeak micro_peak(double seconds);

// The kernels of built-in activation `index` (TORCH_ACT_BUILTIN_ACTIVATIONS
// order) for CPU path `isa`, or nullptr when this build lacks that path.
const ActKernels* builtin_kernels(CpuIsa isa, int index);

// Runtime ISA selection (kernels/cpu/isa.cpp).
// Paths compiled into this build, best first, e.g. {"avx512", "avx2", "portable"}.
std::vector<std::string> compiled_isas();
// Paths this machine can run, best first.
std::vector<std::string> supported_isas();
// The path in use (chosen once at load: TORCH_ACT_CPU_ISA if set, else the best supported).
std::string current_isa();
// Force a path ("avx512", "avx2", "portable"); throws c10::Error if unknown or unsupported.
void set_isa(const std::string& isa);

}  // namespace cpu
}  // namespace torch_act
