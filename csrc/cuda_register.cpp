// torch_act — CUDA registrations: the shared op glue (csrc/ops.h) bound to the
// CUDA kernels (kernels/kernels.h).  Compiled only in CUDA builds.
#ifdef TORCH_ACT_WITH_CUDA  // the whole file
#include <torch/library.h>

#include "../kernels/kernels.h"
#include "ops.h"

namespace torch_act {
namespace {
struct CudaKernels {
  static constexpr auto linear_act_forward = &cuda::linear_act_forward;
  static constexpr auto linear_act_backward = &cuda::linear_act_backward;
  static constexpr auto activation_forward = &cuda::activation_forward;
  static constexpr auto activation_backward = &cuda::activation_backward;
};
using CudaImpl = OpImpls<CudaKernels>;
}  // namespace
}  // namespace torch_act

TORCH_LIBRARY_IMPL(torch_act, CUDA, m) {
  m.impl("linear_act", &torch_act::CudaImpl::linear_act);
  m.impl("_linear_act_fwd", &torch_act::CudaImpl::linear_act_fwd);
  m.impl("_linear_act_bwd", &torch_act::CudaImpl::linear_act_bwd);
  m.impl("mlp", &torch_act::CudaImpl::mlp);
  m.impl("_mlp_fwd", &torch_act::CudaImpl::mlp_fwd);
  m.impl("_mlp_bwd", &torch_act::CudaImpl::mlp_bwd);
  m.impl("activation", &torch_act::CudaImpl::activation);
  m.impl("_activation_bwd", &torch_act::CudaImpl::activation_bwd);
}
#endif  // TORCH_ACT_WITH_CUDA
