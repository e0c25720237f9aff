// torch_act — autocast: under torch.autocast the linear ops run in the
// autocast dtype (float16 / bfloat16), like F.linear does; inputs are cast
// (with autocast's weight cache), then the op is redispatched below autocast.
// The kernels accumulate in float32 whatever the storage dtype.  `activation`
// has no autocast rule: it runs in its input's dtype, as F.gelu & co do.
// linear_cross_entropy runs its linear in the autocast dtype (as F.linear) and
// returns a float32 loss (cross_entropy is on autocast's float32 list); the
// class weights are used as given (the op computes in float32 anyway).
#include <ATen/autocast_mode.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include "torch_act.h"

namespace torch_act {
namespace {

template <c10::DeviceType D, c10::DispatchKey Key>
struct Autocast {
  static at::Tensor cast(const at::Tensor& t) {
    return at::autocast::cached_cast(at::autocast::get_autocast_dtype(D), t, D);
  }
  static std::optional<at::Tensor> cast(const std::optional<at::Tensor>& t) {
    return t.has_value() ? std::optional<at::Tensor>(cast(*t)) : std::nullopt;
  }

  static at::Tensor linear_act_fn(const at::Tensor& input, const at::Tensor& weight,
                                  const std::optional<at::Tensor>& bias,
                                  c10::string_view activation, std::optional<double> alpha,
                                  c10::string_view save) {
    c10::impl::ExcludeDispatchKeyGuard no_autocast(Key);
    return torch_act::linear_act(cast(input), cast(weight), cast(bias),
                                 std::string(activation.data(), activation.size()), alpha,
                                 std::string(save.data(), save.size()));
  }

  static at::Tensor mlp_fn(const at::Tensor& input, at::TensorList weights,
                           const c10::List<std::optional<at::Tensor>>& biases,
                           const std::vector<std::string>& activations,
                           const std::vector<std::optional<double>>& alphas) {
    c10::impl::ExcludeDispatchKeyGuard no_autocast(Key);
    std::vector<at::Tensor> ws;
    for (const auto& w : weights) ws.push_back(cast(w));
    c10::List<std::optional<at::Tensor>> bs;
    for (size_t i = 0; i < biases.size(); ++i) bs.push_back(cast(biases.get(i)));
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("torch_act::mlp", "")
                         .typed<decltype(mlp_fn)>();
    return op.call(cast(input), ws, bs, activations, alphas);
  }

  static at::Tensor linear_cross_entropy_fn(const at::Tensor& input, const at::Tensor& linear_weight,
                                            const at::Tensor& target,
                                            const std::optional<at::Tensor>& linear_bias,
                                            const std::optional<at::Tensor>& weight,
                                            c10::string_view reduction, int64_t ignore_index,
                                            double label_smoothing) {
    c10::impl::ExcludeDispatchKeyGuard no_autocast(Key);
    return torch_act::linear_cross_entropy(cast(input), cast(linear_weight), target,
                                           cast(linear_bias), weight,
                                           std::string(reduction.data(), reduction.size()),
                                           ignore_index, label_smoothing)
        .to(at::kFloat);
  }
};

using AutocastCPU = Autocast<c10::DeviceType::CPU, c10::DispatchKey::AutocastCPU>;
using AutocastCUDA = Autocast<c10::DeviceType::CUDA, c10::DispatchKey::AutocastCUDA>;

}  // namespace
}  // namespace torch_act

TORCH_LIBRARY_IMPL(torch_act, AutocastCPU, m) {
  m.impl("linear_act", &torch_act::AutocastCPU::linear_act_fn);
  m.impl("mlp", &torch_act::AutocastCPU::mlp_fn);
  m.impl("linear_cross_entropy", &torch_act::AutocastCPU::linear_cross_entropy_fn);
}

TORCH_LIBRARY_IMPL(torch_act, AutocastCUDA, m) {
  m.impl("linear_act", &torch_act::AutocastCUDA::linear_act_fn);
  m.impl("mlp", &torch_act::AutocastCUDA::mlp_fn);
  m.impl("linear_cross_entropy", &torch_act::AutocastCUDA::linear_cross_entropy_fn);
}
