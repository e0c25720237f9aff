// torch_act — autograd for the public ops, in C++ (torch::autograd::Function
// registered under the Autograd key), so LibTorch programs get gradients too.
//
// Forward calls the internal *_fwd op below autograd and saves the minimum:
// the output when the activation's derivative can be written from it, the
// pre-activation otherwise (activations.h: Saves).  Backward calls the
// internal *_bwd op, asking only for the gradients that are needed.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <algorithm>

#include "ops.h"

namespace torch_act {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Backward runs with grad mode on only under create_graph=True.  Our backward
// ops have no derivatives of their own, so rather than return gradients that
// silently carry no graph, refuse.
void check_no_double_backward(const char* op, const variable_list& grads,
                              const variable_list& saved) {
  if (!at::GradMode::is_enabled()) return;
  for (const auto* list : {&grads, &saved}) {
    for (const auto& t : *list) {
      TORCH_CHECK(!(t.defined() && t.requires_grad()), op,
                  ": double backward (create_graph=True through a torch_act op, e.g. for a "
                  "gradient penalty) is not supported");
    }
  }
}

// An undefined tensor (None passed where a Tensor is required) would fail in
// the autograd machinery with "tensor does not have a device"; name it instead.
void require_defined(const char* op, const char* arg, const at::Tensor& t) {
  TORCH_CHECK(t.defined(), op, ": ", arg, " must be a tensor, got None (an undefined tensor)");
}

// ---------------------------------------------------------------- linear_act
std::tuple<at::Tensor, at::Tensor> call_linear_act_fwd(const at::Tensor& input,
                                                       const at::Tensor& weight,
                                                       const std::optional<at::Tensor>& bias,
                                                       c10::string_view act,
                                                       std::optional<double> alpha) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("torch_act::_linear_act_fwd", "")
                       .typed<decltype(call_linear_act_fwd)>();
  return op.call(input, weight, bias, act, alpha);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> call_linear_act_bwd(
    const at::Tensor& grad, const at::Tensor& input, const at::Tensor& weight,
    const at::Tensor& saved, c10::string_view act, std::optional<double> alpha,
    std::array<bool, 3> mask) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("torch_act::_linear_act_bwd", "")
                       .typed<decltype(call_linear_act_bwd)>();
  return op.call(grad, input, weight, saved, act, alpha, mask);
}

class LinearActFunction : public torch::autograd::Function<LinearActFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input,
                            const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                            c10::string_view activation, std::optional<double> alpha) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [out, pre] = call_linear_act_fwd(input, weight, bias, activation, alpha);
    const Activation& act = parse_act("linear_act", activation);
    const double a = resolve_alpha("linear_act", act, alpha);
    const Saves saves = act.saves;
    at::Tensor saved = saves == Saves::Nothing ? pre  // empty
                       : act.backward_uses_output(a) ? out
                                                      : pre;
    ctx->save_for_backward({input, weight, saved});
    ctx->saved_data["act"] = std::string(activation.data(), activation.size());
    ctx->saved_data["alpha"] = alpha.has_value() ? c10::IValue(*alpha) : c10::IValue();
    ctx->saved_data["has_bias"] = bias.has_value() && bias->defined();
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    check_no_double_backward("linear_act", grads, saved);
    const std::string act = ctx->saved_data["act"].toStringRef();
    const auto& av = ctx->saved_data["alpha"];
    const std::optional<double> alpha =
        av.isNone() ? std::nullopt : std::optional<double>(av.toDouble());
    const bool has_bias = ctx->saved_data["has_bias"].toBool();
    // The autograd argument slots: input, weight, bias (only when given; an
    // absent optional is not a variable), activation, alpha.
    const std::array<bool, 3> mask = {ctx->needs_input_grad(0), ctx->needs_input_grad(1),
                                      has_bias && ctx->needs_input_grad(2)};
    // grads[0] is defined: the context materialises undefined grads as zeros.
    auto [dx, dw, db] = call_linear_act_bwd(grads[0], saved[0], saved[1], saved[2], act, alpha, mask);
    return {mask[0] ? dx : at::Tensor(), mask[1] ? dw : at::Tensor(),
            mask[2] ? db : at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

at::Tensor linear_act_autograd(const at::Tensor& input, const at::Tensor& weight,
                               const std::optional<at::Tensor>& bias, c10::string_view activation,
                               std::optional<double> alpha) {
  require_defined("linear_act", "input", input);
  require_defined("linear_act", "weight", weight);
  return LinearActFunction::apply(input, weight, bias, activation, alpha);
}

// ---------------------------------------------------------------- activation
at::Tensor call_activation(const at::Tensor& input, c10::string_view act,
                           std::optional<double> alpha) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("torch_act::activation", "")
                       .typed<decltype(call_activation)>();
  return op.call(input, act, alpha);
}

at::Tensor call_activation_bwd(const at::Tensor& grad, const at::Tensor& saved,
                               c10::string_view act, std::optional<double> alpha) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("torch_act::_activation_bwd", "")
                       .typed<decltype(call_activation_bwd)>();
  return op.call(grad, saved, act, alpha);
}

class ActivationFunction : public torch::autograd::Function<ActivationFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input,
                            c10::string_view activation, std::optional<double> alpha) {
    at::AutoDispatchBelowADInplaceOrView guard;
    at::Tensor out = call_activation(input, activation, alpha);
    const Activation& act = parse_act("activation", activation);
    const double a = resolve_alpha("activation", act, alpha);
    const Saves saves = act.saves;
    // The input itself is the pre-activation: nothing extra to compute or copy.
    at::Tensor saved = saves == Saves::Nothing        ? input.new_empty({0})
                       : act.backward_uses_output(a) ? out
                                                      : input;
    ctx->save_for_backward({saved});
    ctx->saved_data["act"] = std::string(activation.data(), activation.size());
    ctx->saved_data["alpha"] = alpha.has_value() ? c10::IValue(*alpha) : c10::IValue();
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    check_no_double_backward("activation", grads, saved);
    const std::string act = ctx->saved_data["act"].toStringRef();
    const auto& av = ctx->saved_data["alpha"];
    const std::optional<double> alpha =
        av.isNone() ? std::nullopt : std::optional<double>(av.toDouble());
    at::Tensor dx = call_activation_bwd(grads[0], saved[0], act, alpha);
    return {dx, at::Tensor(), at::Tensor()};
  }
};

at::Tensor activation_autograd(const at::Tensor& input, c10::string_view activation,
                               std::optional<double> alpha) {
  require_defined("activation", "input", input);
  return ActivationFunction::apply(input, activation, alpha);
}

// ---------------------------------------------------------------- mlp
using BiasList = c10::List<std::optional<at::Tensor>>;

std::vector<at::Tensor> call_mlp_fwd(const at::Tensor& input, at::TensorList weights,
                                     const BiasList& biases,
                                     const std::vector<std::string>& activations,
                                     const std::vector<std::optional<double>>& alphas) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("torch_act::_mlp_fwd", "")
                       .typed<decltype(call_mlp_fwd)>();
  return op.call(input, weights, biases, activations, alphas);
}

std::vector<at::Tensor> call_mlp_bwd(const at::Tensor& grad, const at::Tensor& input,
                                     at::TensorList weights, const BiasList& biases,
                                     at::TensorList saved,
                                     const std::vector<std::string>& activations,
                                     const std::vector<std::optional<double>>& alphas,
                                     bool input_grad) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("torch_act::_mlp_bwd", "")
                       .typed<decltype(call_mlp_bwd)>();
  return op.call(grad, input, weights, biases, saved, activations, alphas, input_grad);
}

// One autograd node for the whole stack.  Autograd variables must be defined
// tensors, so the biases travel as a list of the present ones plus a mask.
class MlpFunction : public torch::autograd::Function<MlpFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input,
                            at::TensorList weights, at::TensorList present_biases,
                            const std::vector<bool>& has_bias,
                            const std::vector<std::string>& activations,
                            const std::vector<std::optional<double>>& alphas) {
    at::AutoDispatchBelowADInplaceOrView guard;
    const size_t L = weights.size();
    const BiasList bl = expand_biases(present_biases, has_bias);
    std::vector<at::Tensor> ys = call_mlp_fwd(input, weights, bl, activations, alphas);
    std::vector<at::Tensor> to_save;
    to_save.reserve(1 + L + present_biases.size() + 2 * L);
    to_save.push_back(input);
    for (const auto& w : weights) to_save.push_back(w);
    for (const auto& b : present_biases) to_save.push_back(b);
    for (const auto& y : ys) to_save.push_back(y);
    ctx->save_for_backward(to_save);
    c10::List<bool> hb;
    for (const bool h : has_bias) hb.push_back(h);
    ctx->saved_data["has_bias"] = hb;
    ctx->saved_data["activations"] = c10::List<std::string>(activations);
    c10::List<std::optional<double>> al;
    for (const auto& a : alphas) al.push_back(a);
    ctx->saved_data["alphas"] = al;
    return ys[2 * L - 2];
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    check_no_double_backward("mlp", grads, saved);
    std::vector<bool> has_bias;
    for (const bool b : ctx->saved_data["has_bias"].toBoolList()) has_bias.push_back(b);
    const size_t L = has_bias.size();
    const size_t nb = static_cast<size_t>(std::count(has_bias.begin(), has_bias.end(), true));
    const at::Tensor& input = saved[0];
    std::vector<at::Tensor> weights(saved.begin() + 1, saved.begin() + 1 + L);
    std::vector<at::Tensor> present(saved.begin() + 1 + L, saved.begin() + 1 + L + nb);
    std::vector<at::Tensor> ys(saved.begin() + 1 + L + nb, saved.end());
    std::vector<std::string> acts;
    for (const c10::IValue& a : ctx->saved_data["activations"].toList()) acts.push_back(a.toStringRef());
    std::vector<std::optional<double>> alphas;
    for (const c10::IValue& a : ctx->saved_data["alphas"].toList())
      alphas.push_back(a.isNone() ? std::nullopt : std::optional<double>(a.toDouble()));
    auto g = call_mlp_bwd(grads[0], input, weights, expand_biases(present, has_bias), ys, acts,
                          alphas, ctx->needs_input_grad(0));
    // slots: input, weights[L], present biases[nb], has_bias, activations, alphas
    variable_list out;
    out.reserve(1 + L + nb + 3);
    out.push_back(ctx->needs_input_grad(0) ? g[0] : at::Tensor());
    for (size_t i = 0; i < L; ++i) out.push_back(g[1 + i]);
    for (size_t i = 0; i < L; ++i)
      if (has_bias[i]) out.push_back(g[1 + L + i]);
    out.resize(out.size() + 3);
    return out;
  }

  static BiasList expand_biases(at::TensorList present, const std::vector<bool>& has_bias) {
    BiasList bl;
    size_t j = 0;
    for (const bool h : has_bias) bl.push_back(h ? std::optional<at::Tensor>(present[j++]) : std::nullopt);
    return bl;
  }
};

at::Tensor mlp_autograd(const at::Tensor& input, at::TensorList weights, const BiasList& biases,
                        const std::vector<std::string>& activations,
                        const std::vector<std::optional<double>>& alphas) {
  require_defined("mlp", "input", input);
  for (const auto& w : weights) require_defined("mlp", "weights[i]", w);
  std::vector<at::Tensor> present;
  std::vector<bool> has_bias;
  for (size_t i = 0; i < biases.size(); ++i) {
    const std::optional<at::Tensor> b = biases.get(i);
    has_bias.push_back(b.has_value() && b->defined());
    if (has_bias.back()) present.push_back(*b);
  }
  return MlpFunction::apply(input, weights, at::TensorList(present), has_bias, activations, alphas);
}

}  // namespace
}  // namespace torch_act

TORCH_LIBRARY_IMPL(torch_act, Autograd, m) {
  m.impl("linear_act", &torch_act::linear_act_autograd);
  m.impl("activation", &torch_act::activation_autograd);
  m.impl("mlp", &torch_act::mlp_autograd);
}
