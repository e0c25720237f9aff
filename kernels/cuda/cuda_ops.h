// torch_act — the CUDA kernel interface.
//
// The same functions and contracts as kernels/cpu/cpu_ops.h (shapes,
// strides, what `s` / `preact` are, which outputs may be undefined); the op
// glue (csrc/ops.h, OpImpls<K>) validates arguments and allocates outputs,
// and csrc/cuda_register.cpp binds it to these functions under the CUDA key.
//
// All tensors of one call are on one CUDA device (the glue checks it); each
// function sets a device guard for it and launches on the current stream of
// that device.  No host synchronisation and no cudaMalloc (workspaces come
// from at::empty), so every function can be captured in a CUDA graph.
#pragma once

#include <ATen/core/Tensor.h>

#include "../kernel_set.h"

namespace torch_act {
namespace cuda {

// The kernels that depend on the activation, instantiated from its functor
// (act_kernels.cuh: make_act_kernels<Op>).  Row activations (softmax,
// log_softmax) have none of the three functions: rowwise.cu serves them.
struct ActKernels {
  int epilogue = -1;  // index in the GEMM epilogue's built-in list, -1: a plugin's (the
                      // GEMM stores z, then `forward` runs over the output in place)
  // out = act(x), elementwise, contiguous, same shape (out may be x)
  void (*forward)(const at::Tensor& x, const at::Tensor& out, double alpha) = nullptr;
  // dx = g * act'(s), elementwise, contiguous
  void (*backward)(const at::Tensor& g, const at::Tensor& s, const at::Tensor& dx,
                   double alpha) = nullptr;
  // dz (optional, [M, N] unit column stride) = g * act'(s) for g [M, N] any strides,
  // s [M, N] contiguous or undefined; db (optional) = column sums, deterministic
  void (*dact_bias)(const at::Tensor& g, const at::Tensor& s, const at::Tensor& dz,
                    const at::Tensor& db, double alpha) = nullptr;
  // out = D_order(g, s) (activations.h: backward2 / backward3), order 2 or 3,
  // elementwise, contiguous
  void (*deriv)(const at::Tensor& g, const at::Tensor& s, const at::Tensor& out, double alpha,
                int order) = nullptr;
};

// The built-ins' kernels, in TORCH_ACT_BUILTIN_ACTIVATIONS order ([0]: identity).
const ActKernels& builtin_kernels(int index);

// out = act(x . w^T + b)
//   x [M, K] any strides; w [N, K] any strides; b [N] contiguous or undefined.
//   out [M, N] contiguous; preact undefined or [M, N] contiguous (receives z).
void linear_act_forward(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, const KernelSet& act,
                        double alpha, const at::Tensor& out, const at::Tensor& preact);

// Gated linear unit, one GEMM (glu.cu): out = act(x . wg^T + bg) * (x . wu^T + bu)
//   x [M, K] any strides, K > 0; wg, wu [N, K] any strides; bg, bu [N]
//   contiguous or undefined; act elementwise.  out [M, N] contiguous.  z:
//   undefined, or [M, 2N] contiguous and then it receives [z_gate | z_up].
//   (The contract of cpu::linear_glu_forward.)
void linear_glu_forward(const at::Tensor& x, const at::Tensor& wg, const at::Tensor& wu,
                        const at::Tensor& bg, const at::Tensor& bu, const KernelSet& act,
                        double alpha, const at::Tensor& out, const at::Tensor& z);

// Backward of out = act(x . w^T + b); g [M, N] any strides; s [M, N]
// contiguous (y or z, see backward_uses_output) or undefined for identity;
// dx [M, K], dw [N, K], db [N] contiguous, each undefined when not wanted.
// db is reduced deterministically (per-block partial sums, fixed-order second pass).
void linear_act_backward(const at::Tensor& g, const at::Tensor& x, const at::Tensor& w,
                         const at::Tensor& s, const KernelSet& act, double alpha, const at::Tensor& dx,
                         const at::Tensor& dw, const at::Tensor& db);

// out = act(x), elementwise; row activations over the last dim.  Contiguous, same shape.
void activation_forward(const at::Tensor& x, const KernelSet& act, double alpha, const at::Tensor& out);

// dx = g * act'(s); all contiguous, same shape.
void activation_backward(const at::Tensor& g, const at::Tensor& s, const KernelSet& act, double alpha,
                         const at::Tensor& dx);

// out = D_order(g, s), order 2 or 3 (elementwise activations); all contiguous.
void activation_deriv(const at::Tensor& g, const at::Tensor& s, const KernelSet& act, double alpha,
                      int64_t order, const at::Tensor& out);

}  // namespace cuda
}  // namespace torch_act
