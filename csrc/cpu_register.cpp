// torch_act — CPU registrations: the shared op glue (csrc/ops.h) bound to the
// CPU kernels (kernels/cpu/cpu_ops.h).
#include <torch/library.h>

#include "glu.h"
#include "cross_entropy.h"
#include "ops.h"
#include "save_policy.h"
#include "kernels/cpu/cpu_ops.h"

namespace torch_act {
namespace {
struct CpuKernels {
  static constexpr auto linear_act_forward = &cpu::linear_act_forward;
  static constexpr auto linear_act_backward = &cpu::linear_act_backward;
  static constexpr auto activation_forward = &cpu::activation_forward;
  static constexpr auto activation_backward = &cpu::activation_backward;
  static constexpr auto activation_deriv = &cpu::activation_deriv;
  static constexpr auto linear_glu_forward = &cpu::linear_glu_forward;
  static constexpr auto linear_glu_backward_gate = &cpu::linear_glu_backward_gate;
  static constexpr auto mask_pack = &cpu::mask_pack;
  static constexpr auto mask_grad = &cpu::mask_grad;
};
}  // namespace
}  // namespace torch_act

TORCH_LIBRARY_IMPL(torch_act, CPU, m) {
  torch_act::register_backend<torch_act::CpuKernels>(m);
  torch_act::register_glu_backend<torch_act::CpuKernels>(m);
  torch_act::register_cross_entropy<torch_act::CpuKernels>(m);
  torch_act::register_save_backend<torch_act::CpuKernels>(m);
}
