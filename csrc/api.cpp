// torch_act — the public C++ API (csrc/torch_act.h): thin dispatcher calls.
#include "torch_act.h"

#include <ATen/core/dispatch/Dispatcher.h>

#include "build_config.h"
#include "registry.h"
#include "kernels/cpu/cpu_ops.h"

namespace torch_act {

at::Tensor linear_act(const at::Tensor& input, const at::Tensor& weight,
                      const std::optional<at::Tensor>& bias, const std::string& activation,
                      std::optional<double> alpha, const std::string& save) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("torch_act::linear_act", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&,
                                         const std::optional<at::Tensor>&, c10::string_view,
                                         std::optional<double>, c10::string_view)>();
  return op.call(input, weight, bias, activation, alpha, save);
}

at::Tensor linear_glu(const at::Tensor& input, const at::Tensor& gate_weight,
                      const at::Tensor& up_weight, const std::optional<at::Tensor>& gate_bias,
                      const std::optional<at::Tensor>& up_bias, const std::string& activation,
                      std::optional<double> alpha) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("torch_act::linear_glu", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                         const std::optional<at::Tensor>&,
                                         const std::optional<at::Tensor>&, c10::string_view,
                                         std::optional<double>)>();
  return op.call(input, gate_weight, up_weight, gate_bias, up_bias, activation, alpha);
}

at::Tensor mlp(const at::Tensor& input, at::TensorList weights,
               const std::vector<std::optional<at::Tensor>>& biases,
               const std::vector<std::string>& activations,
               const std::vector<std::optional<double>>& alphas) {
  // The same C++ signature as the kernels registered for the schema
  // (csrc/autograd.cpp, csrc/ops.h); the dispatcher checks it.
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("torch_act::mlp", "")
                       .typed<at::Tensor(const at::Tensor&, at::TensorList,
                                         const c10::List<std::optional<at::Tensor>>&,
                                         const std::vector<std::string>&,
                                         const std::vector<std::optional<double>>&)>();
  c10::List<std::optional<at::Tensor>> bias_list;
  bias_list.reserve(biases.size());
  for (const auto& b : biases) bias_list.push_back(b);
  if (alphas.empty()) {
    const std::vector<std::optional<double>> defaults(weights.size(), std::nullopt);
    return op.call(input, weights, bias_list, activations, defaults);
  }
  return op.call(input, weights, bias_list, activations, alphas);
}

at::Tensor mlp_flat(const at::Tensor& input, const at::Tensor& params, at::IntArrayRef sizes,
                    const std::vector<bool>& bias, const std::vector<std::string>& activations,
                    const std::vector<std::optional<double>>& alphas) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("torch_act::mlp_flat", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, c10::IntArrayRef,
                                         const c10::List<bool>&, const std::vector<std::string>&,
                                         const std::vector<std::optional<double>>&)>();
  c10::List<bool> bias_list;
  bias_list.reserve(bias.size());
  for (const bool b : bias) bias_list.push_back(b);
  if (alphas.empty()) {
    const std::vector<std::optional<double>> defaults(activations.size(), std::nullopt);
    return op.call(input, params, sizes, bias_list, activations, defaults);
  }
  return op.call(input, params, sizes, bias_list, activations, alphas);
}

at::Tensor activation(const at::Tensor& input, const std::string& activation,
                      std::optional<double> alpha) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("torch_act::activation", "")
                       .typed<at::Tensor(const at::Tensor&, c10::string_view,
                                         std::optional<double>)>();
  return op.call(input, activation, alpha);
}

at::Tensor linear_cross_entropy(const at::Tensor& input, const at::Tensor& linear_weight,
                                const at::Tensor& target, const std::optional<at::Tensor>& linear_bias,
                                const std::optional<at::Tensor>& weight, const std::string& reduction,
                                int64_t ignore_index, double label_smoothing) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("torch_act::linear_cross_entropy", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                         const std::optional<at::Tensor>&,
                                         const std::optional<at::Tensor>&, c10::string_view, int64_t,
                                         double)>();
  return op.call(input, linear_weight, target, linear_bias, weight, reduction, ignore_index,
                 label_smoothing);
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
  for (const Activation* a : registered_activations()) names.push_back(a->name);
  return names;
}

}  // namespace torch_act
