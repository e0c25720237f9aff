// torch_act — mlp_flat: mlp with every layer's weight and bias in ONE 1-D
// parameter tensor (the layout: flat_layout in csrc/ops.h).
//
// Why: on a tiny network the autograd engine's per-parameter work (one
// AccumulateGrad node, one gradient tensor and one accumulation per
// parameter) costs more than the math.  With one parameter tensor a training
// step runs one AccumulateGrad instead of 2L, and the backward writes every
// gradient into one buffer (one allocation).  torch_act.nn.MLP(flat=True)
// keeps its state_dict keys (layers.i.weight / layers.i.bias) on top of it.
//
// The op reuses mlp's kernels: its forward is _mlp_fwd on windows (views)
// of params, its backward _mlp_flat_bwd, whose backend kernel (csrc/ops.h,
// OpImpls::mlp_flat_bwd) is _mlp_bwd's writing into windows of one dparams.
//
//   mlp_flat        CompositeExplicitAutograd: mlp on windows of params, for
//                   every backend; Autograd: nothing to differentiate -> that;
//                   reverse mode -> one MlpFlatBackward Node with two edges
//                   (input, params); forward mode -> mlp on differentiable
//                   windows (narrow + view), whose forward mode applies
//   _mlp_flat_bwd   fused below autograd, or -- when its inputs need a graph
//                   (double backward) -- _mlp_bwd's autograd kernel on
//                   differentiable windows and a cat, so every order works
//   autocast        input and params cast once, like mlp's
#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <torch/library.h>

#include "autograd_common.h"

namespace torch_act {
namespace autograd_detail {
namespace {

using torch::autograd::collect_next_edges;
using torch::autograd::Node;
using torch::autograd::SavedVariable;
using torch::autograd::set_history;
using torch::autograd::variable_list;

// Differentiable windows of params (narrow + view above autograd): the
// weights and biases as mlp takes them, each tracked back to params.
void graph_windows(const at::Tensor& params, const std::vector<FlatLayer>& layers,
                   std::vector<at::Tensor>& ws, BiasList& bs) {
  for (const FlatLayer& l : layers) {
    ws.push_back(params.narrow(0, l.w_off, l.n * l.k).view({l.n, l.k}));
    bs.push_back(l.b_off >= 0 ? std::optional<at::Tensor>(params.narrow(0, l.b_off, l.n))
                              : std::nullopt);
  }
}

// ------------------------------------------------------- backend (composite)
at::Tensor mlp_flat_composite(const at::Tensor& input, const at::Tensor& params,
                              c10::IntArrayRef sizes, const Bools& bias, const Names& activations,
                              const Alphas& alphas) {
  const auto layout =
      flat_layout("mlp_flat", input, params, sizes, bias, activations.size(), alphas.size());
  std::vector<at::Tensor> ws;
  BiasList bs;
  flat_windows(params.contiguous(), layout, ws, bs);
  return mlp_handle().call(input, ws, bs, activations, alphas);
}

// ------------------------------------------------------------------ autograd
struct MlpFlatBackward : public Node {
  SavedVariable x_, p_;
  std::vector<SavedVariable> ys_;
  std::vector<int64_t> sizes;
  Bools bias;
  Names acts;
  Alphas alphas;

  std::string name() const override { return "torch_act::MlpFlatBackward"; }
  void release_variables() override {
    std::lock_guard<std::mutex> lock(mutex_);
    x_.reset_data();
    p_.reset_data();
    for (auto& t : ys_) t.reset_data();
  }
  // Edges: input, params.
  variable_list apply(variable_list&& grads) override {
    std::lock_guard<std::mutex> lock(mutex_);
    variable_list out(2);
    if (!grads[0].defined()) return out;
    std::vector<at::Tensor> ys;
    ys.reserve(ys_.size());
    for (size_t i = 0; i < ys_.size(); ++i)
      ys.push_back(i + 2 == ys_.size() ? ys_[i].unpack(getptr()) : ys_[i].unpack());
    auto [dx, dp] = mlp_flat_bwd_handle().call(grads[0], x_.unpack(), p_.unpack(), sizes, bias, ys,
                                               acts, alphas, should_compute_output(0));
    if (should_compute_output(0)) out[0] = dx;
    if (should_compute_output(1)) out[1] = dp;
    return out;
  }
};

at::Tensor mlp_flat_autograd(const at::Tensor& input, const at::Tensor& params,
                             c10::IntArrayRef sizes, const Bools& bias, const Names& activations,
                             const Alphas& alphas) {
  const char* op = "mlp_flat";
  require_defined(op, "input", input);
  require_defined(op, "params", params);
  const bool fw = has_fw(input) || has_fw(params);
  const bool rg = at::GradMode::is_enabled() && (requires_grad(input) || requires_grad(params));
  if (!fw && !rg) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return mlp_flat_handle().call(input, params, sizes, bias, activations, alphas);
  }
  const auto layout = flat_layout(op, input, params, sizes, bias, activations.size(), alphas.size());
  if (fw) {
    // forward mode: mlp on windows that carry params' tangent
    std::vector<at::Tensor> ws;
    BiasList bs;
    graph_windows(params, layout, ws, bs);
    return mlp_handle().call(input, ws, bs, activations, alphas);
  }
  auto fn = c10::make_intrusive<MlpFlatBackward>();
  fn->set_next_edges(collect_next_edges(input, params));
  fn->x_ = SavedVariable(input, false);
  fn->p_ = SavedVariable(params, false);
  fn->sizes.assign(sizes.begin(), sizes.end());
  fn->bias = bias;
  fn->acts = activations;
  fn->alphas = alphas;
  std::vector<at::Tensor> ys;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    std::vector<at::Tensor> ws;
    BiasList bs;
    flat_windows(params.contiguous(), layout, ws, bs);
    ys = mlp_fwd_handle().call(input, ws, bs, activations, alphas);
  }
  const size_t last = ys.size() - 2;
  set_history(ys[last], fn);
  fn->ys_.reserve(ys.size());
  for (size_t i = 0; i < ys.size(); ++i) fn->ys_.emplace_back(ys[i], /*is_output=*/i == last);
  return ys[last];
}

std::tuple<at::Tensor, at::Tensor> mlp_flat_bwd_autograd(
    const at::Tensor& grad, const at::Tensor& input, const at::Tensor& params,
    c10::IntArrayRef sizes, const Bools& bias, at::TensorList saved, const Names& activations,
    const Alphas& alphas, bool input_grad) {
  const char* op = "_mlp_flat_bwd";
  require_defined(op, "grad_out", grad);
  require_defined(op, "input", input);
  require_defined(op, "params", params);
  const bool graph =
      (at::GradMode::is_enabled() &&
       (requires_grad(grad) || requires_grad(input) || requires_grad(params))) ||
      has_fw(grad) || has_fw(input) || has_fw(params);
  if (!graph) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return mlp_flat_bwd_handle().call(grad, input, params, sizes, bias, saved, activations, alphas,
                                      input_grad);
  }
  // The gradient is to be differentiated: _mlp_bwd's autograd kernel on
  // differentiable windows of params (it recomputes the stack from them),
  // and the weight / bias gradients concatenated in params' layout.
  const auto layout = flat_layout(op, input, params, sizes, bias, activations.size(), alphas.size());
  std::vector<at::Tensor> ws;
  BiasList bs;
  graph_windows(params, layout, ws, bs);
  const auto g = mlp_bwd_handle().call(grad, input, ws, bs, saved, activations, alphas, input_grad);
  const size_t L = layout.size();
  std::vector<at::Tensor> pieces;
  for (size_t j = 0; j < L; ++j) {
    pieces.push_back(g[1 + j].reshape({-1}));
    if (layout[j].b_off >= 0) pieces.push_back(g[1 + L + j]);
  }
  return {g[0], at::cat(pieces)};
}

// ------------------------------------------------------------------ autocast
template <c10::DeviceType D, c10::DispatchKey Key>
at::Tensor mlp_flat_autocast(const at::Tensor& input, const at::Tensor& params,
                             c10::IntArrayRef sizes, const Bools& bias, const Names& activations,
                             const Alphas& alphas) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(Key);
  const auto dt = at::autocast::get_autocast_dtype(D);
  return mlp_flat_handle().call(at::autocast::cached_cast(dt, input, D),
                                at::autocast::cached_cast(dt, params, D), sizes, bias, activations,
                                alphas);
}

}  // namespace
}  // namespace autograd_detail

}  // namespace torch_act

TORCH_LIBRARY_IMPL(torch_act, CompositeExplicitAutograd, m) {
  m.impl("mlp_flat", &torch_act::autograd_detail::mlp_flat_composite);
}

TORCH_LIBRARY_IMPL(torch_act, Autograd, m) {
  using namespace torch_act::autograd_detail;
  m.impl("mlp_flat", &mlp_flat_autograd);
  m.impl("_mlp_flat_bwd", &mlp_flat_bwd_autograd);
}

TORCH_LIBRARY_IMPL(torch_act, AutocastCPU, m) {
  m.impl("mlp_flat", &torch_act::autograd_detail::mlp_flat_autocast<
                         c10::DeviceType::CPU, c10::DispatchKey::AutocastCPU>);
}

TORCH_LIBRARY_IMPL(torch_act, AutocastCUDA, m) {
  m.impl("mlp_flat", &torch_act::autograd_detail::mlp_flat_autocast<
                         c10::DeviceType::CUDA, c10::DispatchKey::AutocastCUDA>);
}
