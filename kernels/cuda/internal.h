// torch_act — host-side entry points shared between the CUDA kernel files
// (not part of the op interface; see cuda_ops.h for that).
#pragma once

#include <ATen/core/Tensor.h>

#include "../kernel_set.h"

namespace torch_act {
namespace cuda {

// c = act(a . b^T + bias) with a [M, K], b [N, K] (any strides), c [M, N]
// contiguous, bias [N] contiguous or undefined, preact undefined or [M, N]
// contiguous (receives z).  Row activations normalise each row of c.  Used
// for the forward and (identity, no bias) for both backward products.
// act: nullptr for the identity (the backward products).
void gemm_act(const at::Tensor& a, const at::Tensor& b, const at::Tensor& c,
              const at::Tensor& bias, const at::Tensor& preact, const KernelSet* act,
              double alpha);

// Row softmax / log_softmax over the last dim of x [rows, n] (contiguous);
// y may alias x.
void softmax_forward(const at::Tensor& x, const at::Tensor& y, bool log);
// dx = row backward of softmax / log_softmax; g, y contiguous [rows, n]; dx
// [rows, n] with unit column stride and row stride dx.stride(0) (may be padded).
void softmax_backward(const at::Tensor& g, const at::Tensor& y, const at::Tensor& dx, bool log);

}  // namespace cuda
}  // namespace torch_act
