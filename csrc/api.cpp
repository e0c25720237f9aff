// torch_act — the public C++ API (csrc/torch_act.h): thin dispatcher calls.
#include "torch_act.h"

#include <ATen/core/dispatch/Dispatcher.h>

#include "activations.h"
#include "build_config.h"
#include "cpu/kernels.h"

namespace torch_act {

at::Tensor linear_act(const at::Tensor& input, const at::Tensor& weight,
                      const std::optional<at::Tensor>& bias, const std::string& activation,
                      std::optional<double> alpha) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("torch_act::linear_act", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&,
                                         const std::optional<at::Tensor>&, c10::string_view,
                                         std::optional<double>)>();
  return op.call(input, weight, bias, activation, alpha);
}

at::Tensor activation(const at::Tensor& input, const std::string& activation,
                      std::optional<double> alpha) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("torch_act::activation", "")
                       .typed<at::Tensor(const at::Tensor&, c10::string_view,
                                         std::optional<double>)>();
  return op.call(input, activation, alpha);
}

BuildInfo build_info() {
  BuildInfo info;
  info.version = TORCH_ACT_VERSION;
  info.cpu_isas = cpu::compiled_isas();
#ifdef TORCH_ACT_WITH_CUDA
  info.with_cuda = true;
  info.cuda_arch_list = TORCH_ACT_CUDA_ARCH_LIST;
#endif
  info.torch_version = TORCH_ACT_TORCH_VERSION;
  return info;
}

std::vector<std::string> activation_names() {
  std::vector<std::string> names;
  for (const auto& e : kActTable) names.emplace_back(e.name);
  return names;
}

}  // namespace torch_act
