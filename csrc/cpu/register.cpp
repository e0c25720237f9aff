// torch_act — CPU registrations: the shared op glue (csrc/ops.h) bound to the
// CPU kernels (csrc/cpu/kernels.h).
#include <torch/library.h>

#include "../ops.h"
#include "kernels.h"

namespace torch_act {
namespace {
struct CpuKernels {
  static constexpr auto linear_act_forward = &cpu::linear_act_forward;
  static constexpr auto linear_act_backward = &cpu::linear_act_backward;
  static constexpr auto activation_forward = &cpu::activation_forward;
  static constexpr auto activation_backward = &cpu::activation_backward;
};
using Impl = OpImpls<CpuKernels>;
}  // namespace
}  // namespace torch_act

TORCH_LIBRARY_IMPL(torch_act, CPU, m) {
  m.impl("linear_act", &torch_act::Impl::linear_act);
  m.impl("_linear_act_fwd", &torch_act::Impl::linear_act_fwd);
  m.impl("_linear_act_bwd", &torch_act::Impl::linear_act_bwd);
  m.impl("mlp", &torch_act::Impl::mlp);
  m.impl("_mlp_fwd", &torch_act::Impl::mlp_fwd);
  m.impl("_mlp_bwd", &torch_act::Impl::mlp_bwd);
  m.impl("activation", &torch_act::Impl::activation);
  m.impl("_activation_bwd", &torch_act::Impl::activation_bwd);
}
