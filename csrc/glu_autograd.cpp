// torch_act — autograd for linear_glu and its internal ops, in C++ (Autograd-key
// kernels with a hand-built Node, as csrc/autograd.cpp does for linear_act;
// the design: csrc/autograd_common.h and docs/autograd.md).
//
//   linear_glu       the op below autograd when nothing needs gradients, else
//                    _linear_glu_fwd's kernel
//   _linear_glu_fwd  Node LinearGluBackward; saves input, both weights, the
//                    biases and z = [z_gate | z_up] (the pre-activations, [..., 2N]);
//                    its backward is _linear_glu_bwd through the dispatcher
//                    (z recomputed by a differentiable GEMM when the gradient
//                    itself is to be differentiated: z is no output of the Node)
//   _linear_glu_bwd  fused below autograd (csrc/glu.h), or -- when its inputs
//                    need a graph (create_graph, forward-over-reverse, torch.func)
//                    -- the same result from differentiable pieces: act(z_gate)
//                    by our activation op, d_gate = D_1(g * z_up, s) by our
//                    _activation_deriv kernel (their Nodes give every later
//                    order), d_up = g * act(z_gate), then the GEMMs.
// Forward mode (dual tensors, jvp, jacfwd): the op from differentiable pieces,
// act(x Wg^T + bg) * (x Wu^T + bu), whose tangent formulas are D_1's.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "autograd_common.h"
#include "glu.h"

namespace torch_act {
namespace autograd_detail {
namespace {

using torch::autograd::collect_next_edges;
using torch::autograd::compute_requires_grad;
using torch::autograd::Node;
using torch::autograd::SavedVariable;
using torch::autograd::set_history;
using torch::autograd::variable_list;
using OptT = std::optional<at::Tensor>;

using GluSig = at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, const OptT&,
                          const OptT&, c10::string_view, std::optional<double>);
using GluFwdSig = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&,
                                                     const at::Tensor&, const OptT&, const OptT&,
                                                     c10::string_view, std::optional<double>);
using GluBwdSig = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>(
    const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
    c10::string_view, std::optional<double>, std::array<bool, 5>);

auto& glu_handle() {
  static auto op = c10::Dispatcher::singleton().findSchemaOrThrow("torch_act::linear_glu", "").typed<GluSig>();
  return op;
}
auto& glu_fwd_handle() {
  static auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("torch_act::_linear_glu_fwd", "").typed<GluFwdSig>();
  return op;
}
auto& glu_bwd_handle() {
  static auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("torch_act::_linear_glu_bwd", "").typed<GluBwdSig>();
  return op;
}

bool any_fw(const at::Tensor& x, const at::Tensor& wg, const at::Tensor& wu, const OptT& bg,
            const OptT& bu) {
  return has_fw(x) || has_fw(wg) || has_fw(wu) || has_fw(bg) || has_fw(bu);
}

// z = [x Wg^T + bg | x Wu^T + bu] by differentiable GEMMs.
at::Tensor pre_graph(const at::Tensor& x, const at::Tensor& wg, const at::Tensor& wu,
                     const OptT& bg, const OptT& bu) {
  return at::cat({at::linear(x, wg, bg), at::linear(x, wu, bu)}, -1);
}

struct LinearGluBackward : public Node {
  SavedVariable x_, wg_, wu_, bg_, bu_, z_;
  bool has_bg = false, has_bu = false;
  std::string act_name;
  std::optional<double> alpha;

  std::string name() const override { return "torch_act::LinearGluBackward"; }
  void release_variables() override {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto* v : {&x_, &wg_, &wu_, &bg_, &bu_, &z_}) v->reset_data();
  }
  // Edges: input, gate_weight, up_weight, gate_bias, up_bias (absent ones empty).
  variable_list apply(variable_list&& grads) override {
    std::lock_guard<std::mutex> lock(mutex_);
    variable_list out(5);
    const at::Tensor& g = grads[0];
    if (!g.defined()) return out;
    const std::array<bool, 5> mask = {should_compute_output(0), should_compute_output(1),
                                      should_compute_output(2), has_bg && should_compute_output(3),
                                      has_bu && should_compute_output(4)};
    if (!(mask[0] || mask[1] || mask[2] || mask[3] || mask[4])) return out;
    const at::Tensor x = x_.unpack(), wg = wg_.unpack(), wu = wu_.unpack();
    const OptT bg = has_bg ? OptT(bg_.unpack()) : std::nullopt;
    const OptT bu = has_bu ? OptT(bu_.unpack()) : std::nullopt;
    const bool graph = at::GradMode::is_enabled() &&
                       (requires_grad(x) || requires_grad(wg) || requires_grad(wu) ||
                        (bg && requires_grad(*bg)) || (bu && requires_grad(*bu)));
    const at::Tensor z = graph || any_fw(x, wg, wu, bg, bu) ? pre_graph(x, wg, wu, bg, bu) : z_.unpack();
    auto [dx, dwg, dwu, dbg, dbu] = glu_bwd_handle().call(g, x, wg, wu, z, act_name, alpha, mask);
    const at::Tensor* r[5] = {&dx, &dwg, &dwu, &dbg, &dbu};
    for (int i = 0; i < 5; ++i)
      if (mask[i]) out[i] = *r[i];
    return out;
  }
};

std::tuple<at::Tensor, at::Tensor> linear_glu_fwd_autograd(
    const at::Tensor& input, const at::Tensor& gate_weight, const at::Tensor& up_weight,
    const OptT& gate_bias, const OptT& up_bias, c10::string_view activation,
    std::optional<double> alpha) {
  const char* op = "linear_glu";
  require_defined(op, "input", input);
  require_defined(op, "gate_weight", gate_weight);
  require_defined(op, "up_weight", up_weight);
  if (any_fw(input, gate_weight, up_weight, gate_bias, up_bias)) {
    // forward mode: differentiable pieces (the GEMMs' tangents, then D_1's)
    check_glu_args(op, input, gate_weight, up_weight, gate_bias, up_bias, activation, alpha);
    const int64_t n = gate_weight.size(0);
    const at::Tensor z = pre_graph(input, gate_weight, up_weight, gate_bias, up_bias);
    const at::Tensor h = activation_handle().call(z.narrow(-1, 0, n), activation, alpha);
    return {h * z.narrow(-1, n, n), z};
  }
  c10::intrusive_ptr<LinearGluBackward> fn;
  const at::Tensor bg = or_undef(gate_bias), bu = or_undef(up_bias);
  if (compute_requires_grad(input, gate_weight, up_weight, bg, bu)) {
    fn = c10::make_intrusive<LinearGluBackward>();
    fn->set_next_edges(collect_next_edges(input, gate_weight, up_weight, bg, bu));
    fn->x_ = SavedVariable(input, false);
    fn->wg_ = SavedVariable(gate_weight, false);
    fn->wu_ = SavedVariable(up_weight, false);
    fn->has_bg = bg.defined();
    fn->has_bu = bu.defined();
    if (fn->has_bg) fn->bg_ = SavedVariable(bg, false);
    if (fn->has_bu) fn->bu_ = SavedVariable(bu, false);
    fn->act_name = std::string(activation);
    fn->alpha = alpha;
  }
  at::Tensor out, z;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    std::tie(out, z) = glu_fwd_handle().call(input, gate_weight, up_weight, gate_bias, up_bias,
                                             activation, alpha);
  }
  if (fn) {
    set_history(out, fn);
    fn->z_ = SavedVariable(z, false);
  }
  return {out, z};
}

at::Tensor linear_glu_autograd(const at::Tensor& input, const at::Tensor& gate_weight,
                               const at::Tensor& up_weight, const OptT& gate_bias,
                               const OptT& up_bias, c10::string_view activation,
                               std::optional<double> alpha) {
  const char* op = "linear_glu";
  require_defined(op, "input", input);
  require_defined(op, "gate_weight", gate_weight);
  require_defined(op, "up_weight", up_weight);
  if (!compute_requires_grad(input, gate_weight, up_weight, or_undef(gate_bias), or_undef(up_bias)) &&
      !any_fw(input, gate_weight, up_weight, gate_bias, up_bias)) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return glu_handle().call(input, gate_weight, up_weight, gate_bias, up_bias, activation, alpha);
  }
  return std::get<0>(
      linear_glu_fwd_autograd(input, gate_weight, up_weight, gate_bias, up_bias, activation, alpha));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> linear_glu_bwd_autograd(
    const at::Tensor& grad, const at::Tensor& input, const at::Tensor& gate_weight,
    const at::Tensor& up_weight, const at::Tensor& saved, c10::string_view activation,
    std::optional<double> alpha, std::array<bool, 5> mask) {
  const char* op = "_linear_glu_bwd";
  require_defined(op, "grad_out", grad);
  require_defined(op, "input", input);
  require_defined(op, "gate_weight", gate_weight);
  require_defined(op, "up_weight", up_weight);
  require_defined(op, "saved", saved);
  if (!compute_requires_grad(grad, input, gate_weight, up_weight, saved) && !has_fw(grad) &&
      !has_fw(input) && !has_fw(gate_weight) && !has_fw(up_weight) && !has_fw(saved)) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return glu_bwd_handle().call(grad, input, gate_weight, up_weight, saved, activation, alpha, mask);
  }
  // The gradient is to be differentiated: the same result from differentiable pieces.
  const auto [act, a] = check_glu_args(op, input, gate_weight, up_weight, std::nullopt,
                                       std::nullopt, activation, alpha);
  const int64_t n = gate_weight.size(0), k = gate_weight.size(1);
  check_like(op, "grad_out", grad, linear_out_shape(input, n), input);
  check_like(op, "saved", saved, linear_out_shape(input, 2 * n), input);
  const at::Tensor zg = saved.narrow(-1, 0, n), zu = saved.narrow(-1, n, n);
  const at::Tensor h = act->saves == Saves::Nothing ? zg : activation_handle().call(zg, activation, alpha);
  const at::Tensor s = act->backward_uses_output(a) ? h : zg;
  // rows counted, not inferred: reshape cannot infer -1 when n or k is 0
  const int64_t m = c10::multiply_integers(input.sizes().begin(), input.sizes().end() - 1);
  const at::Tensor d_gate = act_deriv(grad * zu, s, *act, activation, alpha, 1).reshape({m, n});
  const at::Tensor d_up = (grad * h).reshape({m, n});
  const at::Tensor x2 = input.reshape({m, k});
  const auto empty = input.new_empty({0});
  at::Tensor dx = mask[0] ? (at::mm(d_gate, gate_weight) + at::mm(d_up, up_weight)).view(input.sizes())
                          : empty;
  return {dx, mask[1] ? at::mm(d_gate.t(), x2) : empty, mask[2] ? at::mm(d_up.t(), x2) : empty,
          mask[3] ? d_gate.sum(0) : empty, mask[4] ? d_up.sum(0) : empty};
}

}  // namespace
}  // namespace autograd_detail
}  // namespace torch_act

TORCH_LIBRARY_IMPL(torch_act, Autograd, m) {
  using namespace torch_act::autograd_detail;
  m.impl("linear_glu", &linear_glu_autograd);
  m.impl("_linear_glu_fwd", &linear_glu_fwd_autograd);
  m.impl("_linear_glu_bwd", &linear_glu_bwd_autograd);
}
