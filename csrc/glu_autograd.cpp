// torch_act — autograd for linear_glu, in C++ (torch::autograd::Function
// registered under the Autograd key, as csrc/autograd.cpp does for the others).
//
// Forward calls _linear_glu_fwd below autograd and saves input, both weights
// and z = [z_gate | z_up] (the pre-activations, [..., 2N]); backward calls
// _linear_glu_bwd asking only for the gradients that are needed (act(z_gate)
// is recomputed there, see csrc/glu.h).  Double backward is refused.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include "glu.h"

namespace torch_act {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::tuple<at::Tensor, at::Tensor> call_glu_fwd(const at::Tensor& input, const at::Tensor& wg,
                                                const at::Tensor& wu,
                                                const std::optional<at::Tensor>& bg,
                                                const std::optional<at::Tensor>& bu,
                                                c10::string_view act,
                                                std::optional<double> alpha) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("torch_act::_linear_glu_fwd", "")
                       .typed<decltype(call_glu_fwd)>();
  return op.call(input, wg, wu, bg, bu, act, alpha);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> call_glu_bwd(
    const at::Tensor& grad, const at::Tensor& input, const at::Tensor& wg, const at::Tensor& wu,
    const at::Tensor& saved, c10::string_view act, std::optional<double> alpha,
    std::array<bool, 5> mask) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("torch_act::_linear_glu_bwd", "")
                       .typed<decltype(call_glu_bwd)>();
  return op.call(grad, input, wg, wu, saved, act, alpha, mask);
}

class LinearGluFunction : public torch::autograd::Function<LinearGluFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input,
                            const at::Tensor& gate_weight, const at::Tensor& up_weight,
                            const std::optional<at::Tensor>& gate_bias,
                            const std::optional<at::Tensor>& up_bias,
                            c10::string_view activation, std::optional<double> alpha) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [out, z] = call_glu_fwd(input, gate_weight, up_weight, gate_bias, up_bias, activation, alpha);
    ctx->save_for_backward({input, gate_weight, up_weight, z});
    ctx->saved_data["act"] = std::string(activation.data(), activation.size());
    ctx->saved_data["alpha"] = alpha.has_value() ? c10::IValue(*alpha) : c10::IValue();
    ctx->saved_data["has_gate_bias"] = gate_bias.has_value() && gate_bias->defined();
    ctx->saved_data["has_up_bias"] = up_bias.has_value() && up_bias->defined();
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    if (at::GradMode::is_enabled()) {
      for (const auto* list : {&grads, &saved})
        for (const auto& t : *list)
          TORCH_CHECK(!(t.defined() && t.requires_grad()),
                      "linear_glu: double backward (create_graph=True through a torch_act op) "
                      "is not supported");
    }
    const std::string act = ctx->saved_data["act"].toStringRef();
    const auto& av = ctx->saved_data["alpha"];
    const std::optional<double> alpha =
        av.isNone() ? std::nullopt : std::optional<double>(av.toDouble());
    const bool hg = ctx->saved_data["has_gate_bias"].toBool();
    const bool hu = ctx->saved_data["has_up_bias"].toBool();
    // slots: input, gate_weight, up_weight, gate_bias, up_bias, activation, alpha
    const std::array<bool, 5> mask = {ctx->needs_input_grad(0), ctx->needs_input_grad(1),
                                      ctx->needs_input_grad(2), hg && ctx->needs_input_grad(3),
                                      hu && ctx->needs_input_grad(4)};
    auto [dx, dwg, dwu, dbg, dbu] =
        call_glu_bwd(grads[0], saved[0], saved[1], saved[2], saved[3], act, alpha, mask);
    return {mask[0] ? dx : at::Tensor(),  mask[1] ? dwg : at::Tensor(),
            mask[2] ? dwu : at::Tensor(), mask[3] ? dbg : at::Tensor(),
            mask[4] ? dbu : at::Tensor(), at::Tensor(),
            at::Tensor()};
  }
};

at::Tensor linear_glu_autograd(const at::Tensor& input, const at::Tensor& gate_weight,
                               const at::Tensor& up_weight,
                               const std::optional<at::Tensor>& gate_bias,
                               const std::optional<at::Tensor>& up_bias,
                               c10::string_view activation, std::optional<double> alpha) {
  return LinearGluFunction::apply(input, gate_weight, up_weight, gate_bias, up_bias, activation,
                                  alpha);
}

}  // namespace
}  // namespace torch_act

TORCH_LIBRARY_IMPL(torch_act, Autograd, m) {
  m.impl("linear_glu", &torch_act::linear_glu_autograd);
}
