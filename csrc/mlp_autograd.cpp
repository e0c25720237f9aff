// torch_act — autograd for mlp and its internal ops (csrc/autograd_common.h:
// the design).
//
//   mlp              the op below autograd when nothing needs gradients, else
//                    _mlp_fwd's kernel
//   _mlp_fwd         one Node for the whole stack (first-order training of a
//                    small net pays for one Node, not one per layer); its
//                    backward is _mlp_bwd through the dispatcher
//   _mlp_bwd         fused below autograd, or -- when its inputs need a graph
//                    (create_graph, forward-over-reverse) -- the stack
//                    recomputed layer by layer from differentiable pieces and
//                    differentiated with linear_act's backward, so every
//                    order works (the layers' outputs inside the stack are no
//                    outputs of _mlp_fwd's Node: one forward is recomputed).
// Forward mode: the layers one by one through _linear_act_fwd's forward-mode
// path.
#include <ATen/ATen.h>

#include "autograd_common.h"

namespace torch_act {
namespace autograd_detail {
namespace {

using torch::autograd::collect_next_edges;
using torch::autograd::Node;
using torch::autograd::SavedVariable;
using torch::autograd::set_history;
using torch::autograd::variable_list;

bool any_requires_grad(const at::Tensor& input, at::TensorList weights, const BiasList& biases) {
  if (!at::GradMode::is_enabled()) return false;
  if (requires_grad(input)) return true;
  for (const auto& w : weights)
    if (requires_grad(w)) return true;
  for (size_t i = 0; i < biases.size(); ++i) {
    const std::optional<at::Tensor> b = biases.get(i);
    if (b && requires_grad(*b)) return true;
  }
  return false;
}

bool any_fw(const at::Tensor& input, at::TensorList weights, const BiasList& biases) {
  if (has_fw(input)) return true;
  for (const auto& w : weights)
    if (has_fw(w)) return true;
  for (size_t i = 0; i < biases.size(); ++i)
    if (has_fw(biases.get(i))) return true;
  return false;
}

void require_all(const char* op, const at::Tensor& input, at::TensorList weights) {
  require_defined(op, "input", input);
  for (const auto& w : weights) require_defined(op, "weights[i]", w);
}

struct MlpBackward : public Node {
  SavedVariable x_;
  std::vector<SavedVariable> w_, b_, ys_;  // b_: the present biases
  std::vector<bool> has_bias;
  std::vector<std::string> acts;
  std::vector<std::optional<double>> alphas;

  std::string name() const override { return "torch_act::MlpBackward"; }
  void release_variables() override {
    std::lock_guard<std::mutex> lock(mutex_);
    x_.reset_data();
    for (auto* v : {&w_, &b_, &ys_})
      for (auto& t : *v) t.reset_data();
  }
  // Edges: input, weights[L], present biases.
  variable_list apply(variable_list&& grads) override {
    std::lock_guard<std::mutex> lock(mutex_);
    const size_t L = w_.size();
    variable_list out(1 + L + b_.size());
    if (!grads[0].defined()) return out;
    const at::Tensor x = x_.unpack();
    std::vector<at::Tensor> ws, ys;
    for (auto& w : w_) ws.push_back(w.unpack());
    for (size_t i = 0; i < ys_.size(); ++i)
      ys.push_back(i + 2 == ys_.size() ? ys_[i].unpack(getptr()) : ys_[i].unpack());
    BiasList bl;
    size_t j = 0;
    for (const bool h : has_bias)
      bl.push_back(h ? std::optional<at::Tensor>(b_[j++].unpack()) : std::nullopt);
    auto g = mlp_bwd_handle().call(grads[0], x, ws, bl, ys, acts, alphas, should_compute_output(0));
    if (should_compute_output(0)) out[0] = g[0];
    for (size_t i = 0; i < L; ++i) out[1 + i] = g[1 + i];
    j = 0;
    for (size_t i = 0; i < L; ++i)
      if (has_bias[i]) out[1 + L + j++] = g[1 + L + i];
    return out;
  }
};

std::vector<at::Tensor> mlp_fwd_autograd(const at::Tensor& input, at::TensorList weights,
                                         const BiasList& biases,
                                         const std::vector<std::string>& activations,
                                         const std::vector<std::optional<double>>& alphas) {
  const char* op = "mlp";
  require_all(op, input, weights);
  if (any_fw(input, weights, biases)) {
    // forward mode: layer by layer through _linear_act_fwd's forward-mode path
    check_mlp_args(op, input, weights, biases, activations, alphas);
    std::vector<at::Tensor> ys;
    at::Tensor h = input;
    for (size_t i = 0; i < weights.size(); ++i) {
      auto [y, pre] = linear_act_fwd_autograd(h, weights[i], biases.get(i), activations[i], alphas[i]);
      ys.push_back(y);
      ys.push_back(pre);
      h = y;
    }
    return ys;
  }
  c10::intrusive_ptr<MlpBackward> fn;
  if (any_requires_grad(input, weights, biases)) {
    fn = c10::make_intrusive<MlpBackward>();
    std::vector<at::Tensor> inputs;
    inputs.push_back(input);
    fn->x_ = SavedVariable(input, false);
    for (const auto& w : weights) {
      inputs.push_back(w);
      fn->w_.emplace_back(w, false);
    }
    for (size_t i = 0; i < biases.size(); ++i) {
      const std::optional<at::Tensor> b = biases.get(i);
      const bool h = b.has_value() && b->defined();
      fn->has_bias.push_back(h);
      if (h) {
        inputs.push_back(*b);
        fn->b_.emplace_back(*b, false);
      }
    }
    fn->set_next_edges(collect_next_edges(inputs));
    fn->acts = activations;
    fn->alphas = alphas;
  }
  std::vector<at::Tensor> ys;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    ys = mlp_fwd_handle().call(input, weights, biases, activations, alphas);
  }
  if (fn) {
    const size_t last = ys.size() - 2;
    set_history(ys[last], fn);
    fn->ys_.reserve(ys.size());
    for (size_t i = 0; i < ys.size(); ++i) fn->ys_.emplace_back(ys[i], /*is_output=*/i == last);
  }
  return ys;
}

at::Tensor mlp_autograd(const at::Tensor& input, at::TensorList weights, const BiasList& biases,
                        const std::vector<std::string>& activations,
                        const std::vector<std::optional<double>>& alphas) {
  require_all("mlp", input, weights);
  if (!any_requires_grad(input, weights, biases) && !any_fw(input, weights, biases)) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return mlp_handle().call(input, weights, biases, activations, alphas);
  }
  auto ys = mlp_fwd_autograd(input, weights, biases, activations, alphas);
  return ys[ys.size() - 2];
}

std::vector<at::Tensor> mlp_bwd_autograd(const at::Tensor& grad, const at::Tensor& input,
                                         at::TensorList weights, const BiasList& biases,
                                         at::TensorList saved,
                                         const std::vector<std::string>& activations,
                                         const std::vector<std::optional<double>>& alphas,
                                         bool input_grad) {
  const char* op = "_mlp_bwd";
  require_defined(op, "grad_out", grad);
  require_all(op, input, weights);
  const bool graph = (at::GradMode::is_enabled() && requires_grad(grad)) ||
                     any_requires_grad(input, weights, biases) || has_fw(grad) ||
                     any_fw(input, weights, biases);
  if (!graph) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return mlp_bwd_handle().call(grad, input, weights, biases, saved, activations, alphas,
                                 input_grad);
  }
  // The gradient is to be differentiated: recompute the stack from
  // differentiable pieces (the saved activations carry no graph) and chain
  // _linear_act_bwd's autograd kernel layer by layer.
  const auto layers = check_mlp_args(op, input, weights, biases, activations, alphas);
  const size_t L = weights.size();
  TORCH_CHECK_VALUE(saved.size() == 2 * L, op, ": saved must hold 2 tensors per layer (", 2 * L,
                    "), got ", saved.size());
  std::vector<at::Tensor> hs{input}, ss;
  for (size_t i = 0; i < L; ++i) {
    auto [y, s] = layer_forward_graph(hs.back(), weights[i], biases.get(i), *layers[i].first,
                                      layers[i].second, activations[i], alphas[i]);
    hs.push_back(y);
    ss.push_back(s);
  }
  check_like(op, "grad_out", grad, hs.back().sizes(), input);
  const auto empty = input.new_empty({0});
  std::vector<at::Tensor> dws(L), dbs(L);
  at::Tensor g = grad, dinput = empty;
  for (size_t j = L; j-- > 0;) {
    const bool has_bias = biases.get(j).has_value();
    const std::array<bool, 3> mask = {j > 0 || input_grad, true, has_bias};
    auto [dx, dw, db] = linear_act_bwd_autograd(g, hs[j], weights[j], ss[j], activations[j],
                                                alphas[j], mask);
    dws[j] = dw;
    dbs[j] = has_bias ? db : empty;
    if (j == 0 && input_grad) dinput = dx;
    g = dx;
  }
  std::vector<at::Tensor> out;
  out.reserve(1 + 2 * L);
  out.push_back(dinput);
  for (auto& t : dws) out.push_back(t);
  for (auto& t : dbs) out.push_back(t);
  return out;
}

}  // namespace
}  // namespace autograd_detail
}  // namespace torch_act

TORCH_LIBRARY_IMPL(torch_act, Autograd, m) {
  using namespace torch_act::autograd_detail;
  m.impl("mlp", &mlp_autograd);
  m.impl("_mlp_fwd", &mlp_fwd_autograd);
  m.impl("_mlp_bwd", &mlp_bwd_autograd);
}
