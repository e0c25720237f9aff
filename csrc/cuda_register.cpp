// torch_act — CUDA registrations: the shared op glue (csrc/ops.h) bound to the
// CUDA kernels (kernels/cuda/cuda_ops.h).  Compiled only in CUDA builds.
#ifdef TORCH_ACT_WITH_CUDA  // the whole file
#include <torch/library.h>

#include "kernels/cuda/cuda_ops.h"
#include "glu.h"
#include "cross_entropy.h"
#include "ops.h"
#include "save_policy.h"

namespace torch_act {
namespace {
struct CudaKernels {
  static constexpr auto linear_act_forward = &cuda::linear_act_forward;
  static constexpr auto linear_act_backward = &cuda::linear_act_backward;
  // linear_glu's forward as one GEMM with gate and up in the same tile (kernels/cuda/glu.cu)
  static constexpr auto linear_glu_forward = &cuda::linear_glu_forward;
  static constexpr auto activation_forward = &cuda::activation_forward;
  static constexpr auto activation_backward = &cuda::activation_backward;
  static constexpr auto activation_deriv = &cuda::activation_deriv;
  // save="mask": ATen ops around our activation backward kernel (csrc/save_policy.h)
  static void mask_pack(const at::Tensor& s, const KernelSet& act, double alpha, double off,
                        const at::Tensor& bits) {
    composite_mask_pack<CudaKernels>(s, act, alpha, off, bits);
  }
  static void mask_grad(const at::Tensor& g, const at::Tensor& bits, double on, double off,
                        const at::Tensor& out) {
    composite_mask_grad(g, bits, on, off, out);
  }
};
}  // namespace
}  // namespace torch_act

TORCH_LIBRARY_IMPL(torch_act, CUDA, m) {
  torch_act::register_backend<torch_act::CudaKernels>(m);
  torch_act::register_glu_backend<torch_act::CudaKernels>(m);
  torch_act::register_cross_entropy<torch_act::CudaKernels>(m);
  torch_act::register_save_backend<torch_act::CudaKernels>(m);
}
#endif  // TORCH_ACT_WITH_CUDA
