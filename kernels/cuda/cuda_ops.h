// torch_act — the CUDA kernel interface.
//
// Same four functions and the same contracts as csrc/cpu/kernels.h (shapes,
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

#include "../activations.h"

namespace torch_act {
namespace cuda {

// out = act(x . w^T + b)
//   x [M, K] any strides; w [N, K] any strides; b [N] contiguous or undefined.
//   out [M, N] contiguous; preact undefined or [M, N] contiguous (receives z).
void linear_act_forward(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, Act act,
                        double alpha, const at::Tensor& out, const at::Tensor& preact);

// Backward of out = act(x . w^T + b); g [M, N] any strides; s [M, N]
// contiguous (y or z, see backward_uses_output) or undefined for identity;
// dx [M, K], dw [N, K], db [N] contiguous, each undefined when not wanted.
// db is reduced deterministically (per-block partial sums, fixed-order second pass).
void linear_act_backward(const at::Tensor& g, const at::Tensor& x, const at::Tensor& w,
                         const at::Tensor& s, Act act, double alpha, const at::Tensor& dx,
                         const at::Tensor& dw, const at::Tensor& db);

// out = act(x), elementwise; row activations over the last dim.  Contiguous, same shape.
void activation_forward(const at::Tensor& x, Act act, double alpha, const at::Tensor& out);

// dx = g * act'(s); all contiguous, same shape.
void activation_backward(const at::Tensor& g, const at::Tensor& s, Act act, double alpha,
                         const at::Tensor& dx);

}  // namespace cuda
}  // namespace torch_act
