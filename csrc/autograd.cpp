// torch_act — autograd for activation, linear_act and their internal ops, in
// C++ (Autograd-key kernels with hand-built Nodes, as PyTorch's generated
// VariableType kernels), so LibTorch programs get every order of derivative
// and Python gets torch.func's transforms.  The design and its reasons:
// csrc/autograd_common.h and docs/autograd.md.
//
//   activation(x)          Node: dx = D_1(g, s)                       s = y or x
//   _activation_deriv(g,s) Node: dg = D_k(gg, s), ds = D_{k+1}(gg*g, s); forward-mode formula
//   _linear_act_fwd(x,W,b) Node: (dx, dW, db) = _linear_act_bwd(...)  s = y, or z recomputed
//                          when a graph is needed (z is not an output of the Node)
//   _linear_act_bwd        fused below autograd, or from differentiable pieces
//                          (D_1 kernel + GEMMs) when its inputs need a graph
//   linear_act             the op below autograd when nothing needs gradients, else
//                          _linear_act_fwd's kernel
// Forward-mode AD of the linear ops: at::linear + activation, whose tangent
// formula is D_1 (row activations: their Jacobian-vector product).
#include <ATen/ATen.h>

#include "autograd_common.h"
#include "save_policy.h"

namespace torch_act {
namespace autograd_detail {

using torch::autograd::collect_next_edges;
using torch::autograd::compute_requires_grad;
using torch::autograd::Node;
using torch::autograd::SavedVariable;
using torch::autograd::set_history;
using torch::autograd::variable_list;

namespace {

bool is_log(const Activation& act) { return act.rowwise == Rowwise::LogSoftmax; }

// The row activations' first derivative (the vector-Jacobian product) as
// tensor ops: differentiable to any order, with forward-mode formulas.
at::Tensor rowwise_vjp(const at::Tensor& g, const at::Tensor& y, bool log) {
  if (log) return g - y.exp() * g.sum(-1, /*keepdim=*/true);
  return y * (g - (g * y).sum(-1, /*keepdim=*/true));
}

// Their Jacobian-vector product (forward mode): softmax's Jacobian is
// symmetric, log_softmax's is not.
at::Tensor rowwise_jvp(const at::Tensor& t, const at::Tensor& y, bool log) {
  if (log) return t - (t * y.exp()).sum(-1, /*keepdim=*/true);
  return y * (t - (t * y).sum(-1, /*keepdim=*/true));
}

at::Tensor add_defined(const at::Tensor& a, const at::Tensor& b) {
  if (!a.defined()) return b;
  if (!b.defined()) return a;
  return a + b;
}

}  // namespace

at::Tensor act_deriv(const at::Tensor& g, const at::Tensor& s, const Activation& act,
                     c10::string_view name, std::optional<double> alpha, int64_t order) {
  if (order == 1 && act.saves == Saves::Nothing) return g;
  return activation_deriv_handle().call(g, s, name, alpha, order);
}

// ================================================================ _activation_deriv
struct ActivationDerivBackward : public Node {
  SavedVariable g_, s_;
  const Activation* act = nullptr;
  std::string act_name;
  std::optional<double> alpha;
  int64_t order = 1;

  std::string name() const override { return "torch_act::ActivationDerivBackward"; }
  void release_variables() override {
    std::lock_guard<std::mutex> lock(mutex_);
    g_.reset_data();
    s_.reset_data();
  }
  variable_list apply(variable_list&& grads) override {
    std::lock_guard<std::mutex> lock(mutex_);
    variable_list out(2);
    const at::Tensor& gg = grads[0];
    if (!gg.defined()) return out;
    const at::Tensor s = s_.unpack();
    if (should_compute_output(0)) out[0] = act_deriv(gg, s, *act, act_name, alpha, order);
    const bool zero_next = act->zero_from_order > 0 && order + 1 >= act->zero_from_order;
    if (should_compute_output(1) && !zero_next)
      out[1] = act_deriv(gg * g_.unpack(), s, *act, act_name, alpha, order + 1);
    return out;
  }
};

at::Tensor activation_deriv_autograd(const at::Tensor& grad, const at::Tensor& saved,
                                     c10::string_view activation, std::optional<double> alpha,
                                     int64_t order) {
  const char* op = "_activation_deriv";
  require_defined(op, "grad_out", grad);
  require_defined(op, "saved", saved);
  const Activation& act = parse_act(op, activation);
  check_deriv_order(op, act, order);
  const bool uses_s = act.saves != Saves::Nothing;
  if (act.rowwise != Rowwise::None) {
    if (compute_requires_grad(grad, saved) || has_fw(grad) || has_fw(saved)) {
      check_float_dtype(op, "grad_out", grad);
      check_like(op, "saved", saved, grad.sizes(), grad);
      return rowwise_vjp(grad, saved, is_log(act));
    }
    at::AutoDispatchBelowADInplaceOrView guard;
    return activation_deriv_handle().call(grad, saved, activation, alpha, order);
  }
  c10::intrusive_ptr<ActivationDerivBackward> fn;
  if (compute_requires_grad(grad, uses_s ? saved : at::Tensor())) {
    fn = c10::make_intrusive<ActivationDerivBackward>();
    fn->set_next_edges(collect_next_edges(grad, uses_s ? saved : at::Tensor()));
    fn->g_ = SavedVariable(grad, false);
    if (uses_s) fn->s_ = SavedVariable(saved, false);
    fn->act = &act;
    fn->act_name = std::string(activation);
    fn->alpha = alpha;
    fn->order = order;
  }
  at::Tensor out;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    out = activation_deriv_handle().call(grad, saved, activation, alpha, order);
  }
  if (fn) set_history(out, fn);
  if (has_fw(grad) || (uses_s && has_fw(saved))) {
    const at::Tensor gp = fw_primal(grad), sp = fw_primal(saved);
    at::Tensor t;
    if (has_fw(grad)) t = act_deriv(fw_tangent(grad), sp, act, activation, alpha, order);
    const bool zero_next = act.zero_from_order > 0 && order + 1 >= act.zero_from_order;
    if (uses_s && has_fw(saved) && !zero_next)
      t = add_defined(t, act_deriv(gp * fw_tangent(saved), sp, act, activation, alpha, order + 1));
    if (t.defined()) out._set_fw_grad(t, /*level=*/0, /*is_inplace_op=*/false);
  }
  return out;
}

at::Tensor activation_bwd_autograd(const at::Tensor& grad, const at::Tensor& saved,
                                   c10::string_view activation, std::optional<double> alpha) {
  return activation_deriv_autograd(grad, saved, activation, alpha, 1);
}

// ================================================================ activation
struct ActivationBackward : public Node {
  SavedVariable s_;  // y (an output) or x, per the activation's Saves
  bool s_is_output = false;
  const Activation* act = nullptr;
  std::string act_name;
  std::optional<double> alpha;

  std::string name() const override { return "torch_act::ActivationBackward"; }
  void release_variables() override {
    std::lock_guard<std::mutex> lock(mutex_);
    s_.reset_data();
  }
  variable_list apply(variable_list&& grads) override {
    std::lock_guard<std::mutex> lock(mutex_);
    variable_list out(1);
    if (!grads[0].defined() || !should_compute_output(0)) return out;
    if (act->saves == Saves::Nothing) {
      out[0] = grads[0];
      return out;
    }
    const at::Tensor s = s_is_output ? s_.unpack(getptr()) : s_.unpack();
    out[0] = act_deriv(grads[0], s, *act, act_name, alpha, 1);
    return out;
  }
};

at::Tensor activation_autograd(const at::Tensor& input, c10::string_view activation,
                               std::optional<double> alpha) {
  const char* op = "activation";
  require_defined(op, "input", input);
  const Activation& act = parse_act(op, activation);
  const double a = resolve_alpha(op, act, alpha);
  const bool uses_y = act.backward_uses_output(a);
  c10::intrusive_ptr<ActivationBackward> fn;
  if (compute_requires_grad(input)) {
    fn = c10::make_intrusive<ActivationBackward>();
    fn->set_next_edges(collect_next_edges(input));
    fn->act = &act;
    fn->act_name = std::string(activation);
    fn->alpha = alpha;
    if (act.saves != Saves::Nothing && !uses_y) fn->s_ = SavedVariable(input, false);
  }
  at::Tensor out;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    out = activation_handle().call(input, activation, alpha);
  }
  if (fn) set_history(out, fn);
  // the tangent first: a saved output keeps the tangent it has when saved
  // (forward-over-reverse differentiates the saved y too)
  if (has_fw(input)) {
    const at::Tensor t = fw_tangent(input);
    const at::Tensor s = uses_y ? out : fw_primal(input);
    at::Tensor ty = act.rowwise != Rowwise::None ? rowwise_jvp(t, out, is_log(act))
                                                 : act_deriv(t, s, act, activation, alpha, 1);
    out._set_fw_grad(ty, /*level=*/0, /*is_inplace_op=*/false);
  }
  if (fn && act.saves != Saves::Nothing && uses_y) {
    fn->s_ = SavedVariable(out, true);
    fn->s_is_output = true;
  }
  return out;
}

// ================================================================ linear_act
std::tuple<at::Tensor, at::Tensor> layer_forward_graph(const at::Tensor& x, const at::Tensor& w,
                                                       const std::optional<at::Tensor>& b,
                                                       const Activation& act, double a,
                                                       c10::string_view name,
                                                       std::optional<double> alpha) {
  if (act.saves != Saves::Nothing && act.backward_uses_output(a)) {
    at::Tensor y = std::get<0>(linear_act_fwd_autograd(x, w, b, name, alpha));
    return {y, y};
  }
  at::Tensor z = at::linear(x, w, b);
  if (act.saves == Saves::Nothing) return {z, z};
  return {activation_handle().call(z, name, alpha), z};
}

struct LinearActBackward : public Node {
  SavedVariable x_, w_, b_, s_;
  bool has_bias = false;
  // what s_ holds (csrc/save_policy.h): y (Output, an output of this Node), z
  // (Input), the bits (Mask), or nothing (Recompute, identity)
  SaveKind kind = SaveKind::Nothing;
  bool uses_y = false;  // the activation's backward reads y (else z)
  const Activation* act = nullptr;
  std::string act_name;
  std::optional<double> alpha;

  std::string name() const override { return "torch_act::LinearActBackward"; }
  void release_variables() override {
    std::lock_guard<std::mutex> lock(mutex_);
    x_.reset_data();
    w_.reset_data();
    b_.reset_data();
    s_.reset_data();
  }
  variable_list apply(variable_list&& grads) override {
    std::lock_guard<std::mutex> lock(mutex_);
    variable_list out(3);
    const at::Tensor& g = grads[0];
    if (!g.defined()) return out;
    const std::array<bool, 3> mask = {should_compute_output(0), should_compute_output(1),
                                      has_bias && should_compute_output(2)};
    if (!mask[0] && !mask[1] && !mask[2]) return out;
    const at::Tensor x = x_.unpack(), w = w_.unpack();
    at::Tensor dx, dw, db;
    if (kind == SaveKind::Mask) {
      // dz = g * slope(bit), then the identity's backward (the GEMMs); the
      // derivative is piecewise constant, so nothing of it depends on z
      const at::Tensor dz = mask_grad_handle().call(g, s_.unpack(), act_name, alpha);
      std::tie(dx, dw, db) =
          linear_act_bwd_handle().call(dz, x, w, g.new_empty({0}), "identity", std::nullopt, mask);
    } else {
      at::Tensor s;
      if (kind == SaveKind::Nothing) {
        s = g.new_empty({0});
      } else if (kind == SaveKind::Output) {
        s = s_.unpack(getptr());
      } else {
        const std::optional<at::Tensor> b =
            has_bias ? std::optional<at::Tensor>(b_.unpack()) : std::nullopt;
        // z is no output of this Node: where the gradient itself is to be
        // differentiated (create_graph, forward-over-reverse), z comes from a
        // differentiable GEMM instead of the saved copy; save="recompute"
        // runs our GEMM again
        const bool graph = at::GradMode::is_enabled() &&
                           (requires_grad(x) || requires_grad(w) || (b && requires_grad(*b)));
        at::Tensor z;
        if (graph || has_fw(x) || has_fw(w) || (b && has_fw(*b)))
          z = at::linear(x, w, b);
        else if (kind == SaveKind::Input)
          z = s_.unpack();
        else
          z = linear_act_handle().call(x, w, b, "identity", std::nullopt, "auto");
        s = uses_y ? activation_handle().call(z, act_name, alpha) : z;
      }
      std::tie(dx, dw, db) = linear_act_bwd_handle().call(g, x, w, s, act_name, alpha, mask);
    }
    if (mask[0]) out[0] = dx;
    if (mask[1]) out[1] = dw;
    if (mask[2]) out[2] = db;
    return out;
  }
};

namespace {

// One layer's forward with autograd under the saved-tensor policy `kind`:
// (out, pre) with pre what _linear_act_fwd returns (z where the activation's
// backward reads z, else empty).
std::tuple<at::Tensor, at::Tensor> linear_act_forward_saving(
    const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
    c10::string_view activation, std::optional<double> alpha, std::optional<SaveKind> policy) {
  const char* op = "linear_act";
  require_defined(op, "input", input);
  require_defined(op, "weight", weight);
  const Activation& act = parse_act(op, activation);
  const double a = resolve_alpha(op, act, alpha);
  const bool has_bias = bias.has_value() && bias->defined();
  const bool uses_y = act.backward_uses_output(a);
  if (has_fw(input) || has_fw(weight) || has_fw(bias)) {
    // forward mode: differentiable pieces (at::linear's tangent, then D_1)
    check_linear_args(op, input, weight, bias);
    at::Tensor z = at::linear(input, weight, has_bias ? bias : std::nullopt);
    at::Tensor y = act.saves == Saves::Nothing ? z : activation_handle().call(z, activation, alpha);
    at::Tensor pre = act.saves != Saves::Nothing && !uses_y ? z : input.new_empty({0});
    return {y, pre};
  }
  // _linear_act_fwd (no policy): what its second output promises, y or z
  const SaveKind kind = policy ? *policy
                        : act.saves == Saves::Nothing ? SaveKind::Nothing
                        : uses_y                      ? SaveKind::Output
                                                      : SaveKind::Input;
  c10::intrusive_ptr<LinearActBackward> fn;
  if (compute_requires_grad(input, weight, bias)) {
    fn = c10::make_intrusive<LinearActBackward>();
    fn->set_next_edges(collect_next_edges(input, weight, has_bias ? *bias : at::Tensor()));
    fn->x_ = SavedVariable(input, false);
    fn->w_ = SavedVariable(weight, false);
    fn->has_bias = has_bias;
    if (has_bias) fn->b_ = SavedVariable(*bias, false);
    fn->act = &act;
    fn->act_name = std::string(activation);
    fn->alpha = alpha;
    fn->kind = kind;
    fn->uses_y = uses_y;
  }
  at::Tensor out, pre, keep;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    if (!fn) {
      std::tie(out, pre) = linear_act_fwd_handle().call(input, weight, bias, activation, alpha);
    } else if (kind == SaveKind::Input && uses_y) {
      // z is kept for an activation written in y: the GEMM, then the activation
      const at::Tensor z = linear_act_handle().call(input, weight, bias, "identity", std::nullopt, "auto");
      out = activation_handle().call(z, activation, alpha);
      pre = input.new_empty({0});
      keep = z;
    } else if (kind == SaveKind::Recompute || kind == SaveKind::Nothing) {
      out = linear_act_handle().call(input, weight, bias, activation, alpha, "auto");
      pre = input.new_empty({0});
    } else {
      std::tie(out, pre) = linear_act_fwd_handle().call(input, weight, bias, activation, alpha);
      if (kind == SaveKind::Mask) {
        keep = act_mask_handle().call(uses_y ? out : pre, activation, alpha);
        if (policy) pre = input.new_empty({0});  // z is not kept
      } else if (kind == SaveKind::Input) {
        keep = pre;
      }
    }
  }
  if (fn) {
    set_history(out, fn);
    if (kind == SaveKind::Output)
      fn->s_ = SavedVariable(out, true);
    else if (keep.defined())
      fn->s_ = SavedVariable(keep, false);
  }
  return {out, pre};
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> linear_act_fwd_autograd(const at::Tensor& input,
                                                           const at::Tensor& weight,
                                                           const std::optional<at::Tensor>& bias,
                                                           c10::string_view activation,
                                                           std::optional<double> alpha) {
  return linear_act_forward_saving(input, weight, bias, activation, alpha, std::nullopt);
}

at::Tensor linear_act_autograd(const at::Tensor& input, const at::Tensor& weight,
                               const std::optional<at::Tensor>& bias, c10::string_view activation,
                               std::optional<double> alpha, c10::string_view save) {
  require_defined("linear_act", "input", input);
  require_defined("linear_act", "weight", weight);
  if (!compute_requires_grad(input, weight, bias) && !has_fw(input) && !has_fw(weight) &&
      !has_fw(bias)) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return linear_act_handle().call(input, weight, bias, activation, alpha, save);
  }
  const Activation& act = parse_act("linear_act", activation);
  const bool mask_for_auto = act.mask && save == "auto" && auto_mask_applies(input, weight);
  const SaveKind kind =
      resolve_save("linear_act", act, resolve_alpha("linear_act", act, alpha), save, mask_for_auto);
  return std::get<0>(linear_act_forward_saving(input, weight, bias, activation, alpha, kind));
}

// ================================================================ save="mask"
// _act_mask: bits of a derivative, not differentiable (an integer output).
at::Tensor act_mask_autograd(const at::Tensor& saved, c10::string_view activation,
                             std::optional<double> alpha) {
  require_defined("_act_mask", "saved", saved);
  at::AutoDispatchBelowADInplaceOrView guard;
  return act_mask_handle().call(saved, activation, alpha);
}

// _mask_grad(g, bits) = g * slope(bit): linear in g, so its gradient (and its
// tangent) is _mask_grad of the incoming one.
struct MaskGradBackward : public Node {
  SavedVariable bits_;
  std::string act_name;
  std::optional<double> alpha;
  std::string name() const override { return "torch_act::MaskGradBackward"; }
  void release_variables() override {
    std::lock_guard<std::mutex> lock(mutex_);
    bits_.reset_data();
  }
  variable_list apply(variable_list&& grads) override {
    std::lock_guard<std::mutex> lock(mutex_);
    variable_list out(1);
    if (grads[0].defined() && should_compute_output(0))
      out[0] = mask_grad_handle().call(grads[0], bits_.unpack(), act_name, alpha);
    return out;
  }
};

at::Tensor mask_grad_autograd(const at::Tensor& grad, const at::Tensor& mask,
                              c10::string_view activation, std::optional<double> alpha) {
  require_defined("_mask_grad", "grad_out", grad);
  require_defined("_mask_grad", "mask", mask);
  c10::intrusive_ptr<MaskGradBackward> fn;
  if (compute_requires_grad(grad)) {
    fn = c10::make_intrusive<MaskGradBackward>();
    fn->set_next_edges(collect_next_edges(grad));
    fn->bits_ = SavedVariable(mask, false);
    fn->act_name = std::string(activation);
    fn->alpha = alpha;
  }
  at::Tensor out;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    out = mask_grad_handle().call(grad, mask, activation, alpha);
  }
  if (fn) set_history(out, fn);
  if (has_fw(grad)) {
    out._set_fw_grad(mask_grad_handle().call(fw_tangent(grad), mask, activation, alpha), 0, false);
  }
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> linear_act_bwd_autograd(
    const at::Tensor& grad, const at::Tensor& input, const at::Tensor& weight,
    const at::Tensor& saved, c10::string_view activation, std::optional<double> alpha,
    std::array<bool, 3> mask) {
  const char* op = "_linear_act_bwd";
  require_defined(op, "grad_out", grad);
  require_defined(op, "input", input);
  require_defined(op, "weight", weight);
  require_defined(op, "saved", saved);
  const Activation& act = parse_act(op, activation);
  const bool uses_s = act.saves != Saves::Nothing;
  const at::Tensor s_used = uses_s ? saved : at::Tensor();
  if (!compute_requires_grad(grad, input, weight, s_used) && !has_fw(grad) && !has_fw(input) &&
      !has_fw(weight) && !has_fw(s_used)) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return linear_act_bwd_handle().call(grad, input, weight, saved, activation, alpha, mask);
  }
  // The gradient is to be differentiated: the same result from differentiable
  // pieces -- dz = D_1(g, s) in our kernel (its Node gives the next order),
  // then the GEMMs dx = dz W, dW = dz^T x, db = sum dz.
  resolve_alpha(op, act, alpha);
  check_linear_args(op, input, weight, std::nullopt);
  const int64_t n = weight.size(0), k = weight.size(1);
  const auto shape = linear_out_shape(input, n);
  check_like(op, "grad_out", grad, shape, input);
  if (uses_s) check_like(op, "saved", saved, shape, input);
  const at::Tensor dz = act_deriv(grad, saved, act, activation, alpha, 1);
  // rows counted, not inferred: reshape cannot infer -1 when n or k is 0
  const int64_t m = c10::multiply_integers(input.sizes().begin(), input.sizes().end() - 1);
  const at::Tensor dz2 = dz.reshape({m, n});
  const auto empty = input.new_empty({0});
  at::Tensor dx = mask[0] ? at::matmul(dz, weight) : empty;
  at::Tensor dw = mask[1] ? at::mm(dz2.t(), input.reshape({m, k})) : empty;
  at::Tensor db = mask[2] ? dz2.sum(0) : empty;
  return {dx, dw, db};
}

}  // namespace autograd_detail
}  // namespace torch_act

TORCH_LIBRARY_IMPL(torch_act, Autograd, m) {
  using namespace torch_act::autograd_detail;
  m.impl("linear_act", &linear_act_autograd);
  m.impl("_linear_act_fwd", &linear_act_fwd_autograd);
  m.impl("_linear_act_bwd", &linear_act_bwd_autograd);
  m.impl("activation", &activation_autograd);
  m.impl("_act_mask", &act_mask_autograd);
  m.impl("_mask_grad", &mask_grad_autograd);
  m.impl("_activation_bwd", &activation_bwd_autograd);
  m.impl("_activation_deriv", &activation_deriv_autograd);
}
