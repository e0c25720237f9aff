// torch_act — linear_cross_entropy: the schemas (a TORCH_LIBRARY_FRAGMENT
// beside ops.cpp's library), the argument checks, block sizes and per-row
// coefficient algebra shared by every backend, and the C++ autograd.
// The kernels-side glue is csrc/cross_entropy.h (CrossEntropyImpls<K>).
//
// Loss, with z = input @ linear_weight.T + linear_bias, lse_i = logsumexp(z_i),
// w_c the class weights (1 without), W = sum_c w_c, eps = label_smoothing,
// V classes and v_i = (target_i != ignore_index), as torch defines it:
//   loss_i = v_i * [(1 - eps) w_{t_i} (lse_i - z_{i,t_i}) + eps/V * sum_c w_c (lse_i - z_ic)]
//   none: loss_i;  sum: sum_i loss_i;  mean: sum_i loss_i / sum_i v_i w_{t_i}
// and its gradient with respect to z_i, for a per-row loss gradient g_i:
//   dz_ic = g_i v_i [((1 - eps) w_{t_i} + eps W / V) p_ic - eps/V w_c - (1 - eps) w_{t_i} [c == t_i]]
// where p_i = softmax(z_i).
#include "cross_entropy.h"

#include <ATen/core/Reduction.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <cstdlib>
#include <string>

#include "autograd_common.h"
#include "ops.h"

namespace torch_act {

namespace {
CeReduction parse_reduction(const char* op, c10::string_view r) {
  if (r == "mean") return CeReduction::Mean;
  if (r == "sum") return CeReduction::Sum;
  if (r == "none") return CeReduction::None;
  TORCH_CHECK_VALUE(false, op, ": reduction must be 'none', 'mean' or 'sum', got '",
                    std::string(r.data(), r.size()), "'");
}
}  // namespace

CeArgs check_ce_args(const char* op, const at::Tensor& input, const at::Tensor& linear_weight,
                     const at::Tensor& target, const std::optional<at::Tensor>& linear_bias,
                     const std::optional<at::Tensor>& weight, c10::string_view reduction,
                     int64_t ignore_index, double label_smoothing, bool check_range) {
  CeArgs a;
  a.reduction = parse_reduction(op, reduction);
  // torch checks the range only when smoothing is on; eps <= 0 (and NaN) mean none
  if (label_smoothing > 0.0) {
    TORCH_CHECK_VALUE(label_smoothing <= 1.0, op,
                      ": label_smoothing must be between 0.0 and 1.0, got ", label_smoothing);
    a.eps = label_smoothing;
  }
  a.ignore_index = ignore_index;

  check_float_dtype(op, "input", input);
  TORCH_CHECK(input.dim() == 1 || input.dim() == 2, op,
              ": input must be 1-D [K] or 2-D [N, K] (as torch.nn.functional.linear_cross_entropy), "
              "got ", input.dim(), "-D with shape ", input.sizes(),
              "; flatten the leading dims: input.flatten(0, -2), target.flatten()");
  TORCH_CHECK(linear_weight.defined(), op, ": linear_weight is an undefined tensor");
  TORCH_CHECK(linear_weight.dim() == 2, op,
              ": linear_weight must be 2-D [C, K] (classes x in_features, the nn.Linear layout), got ",
              linear_weight.dim(), "-D with shape ", linear_weight.sizes());
  const int64_t K = input.size(-1);
  TORCH_CHECK(linear_weight.size(1) == K, op, ": linear_weight.size(1) (linear_weight shape ",
              linear_weight.sizes(), ") must equal input's last dimension K=", K);
  TORCH_CHECK(linear_weight.size(0) >= 1, op,
              ": linear_weight must have at least one class (row), got shape ", linear_weight.sizes());
  TORCH_CHECK(linear_weight.scalar_type() == input.scalar_type(), op, ": linear_weight dtype (",
              linear_weight.scalar_type(), ") must match input dtype (", input.scalar_type(), ")");
  TORCH_CHECK(linear_weight.device() == input.device(), op, ": linear_weight is on ",
              linear_weight.device(), " but input is on ", input.device(), "; move both to one device");
  const int64_t V = linear_weight.size(0);
  if (linear_bias.has_value() && linear_bias->defined()) {
    const at::Tensor& b = *linear_bias;
    TORCH_CHECK(b.dim() == 1 && b.size(0) == V, op, ": linear_bias must be 1-D of size C=", V,
                " (linear_weight.size(0)), got shape ", b.sizes());
    TORCH_CHECK(b.scalar_type() == input.scalar_type(), op, ": linear_bias dtype (", b.scalar_type(),
                ") must match input dtype (", input.scalar_type(), ")");
    TORCH_CHECK(b.device() == input.device(), op, ": linear_bias is on ", b.device(),
                " but input is on ", input.device(), "; move both to one device");
    a.bias = b.contiguous();
  }
  a.cdt = input.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  if (weight.has_value() && weight->defined()) {
    const at::Tensor& cw = *weight;
    TORCH_CHECK(cw.dim() == 1 && cw.size(0) == V, op,
                ": weight (the class weights) must be 1-D of size C=", V,
                " (linear_weight.size(0)), got shape ", cw.sizes());
    TORCH_CHECK(at::isFloatingType(cw.scalar_type()), op,
                ": weight (the class weights) must be a floating-point tensor, got ", cw.scalar_type());
    TORCH_CHECK(cw.device() == input.device(), op, ": weight (the class weights) is on ", cw.device(),
                " but input is on ", input.device(), "; move both to one device");
    a.cw = cw.to(a.cdt).contiguous();
  }
  TORCH_CHECK(target.defined(), op, ": target is an undefined tensor");
  TORCH_CHECK(target.scalar_type() == at::kLong || target.scalar_type() == at::kByte, op,
              ": target must hold class indices as int64 (or uint8), got ", target.scalar_type(),
              " (this op fuses class indices; class probabilities, a float target of the logits' shape, go through"
              " the Python function torch_act.linear_cross_entropy)");
  const int64_t M = input.dim() == 2 ? input.size(0) : 1;
  if (input.dim() == 2) {
    TORCH_CHECK(target.dim() == 1 && target.size(0) == M, op,
                ": target must be 1-D of size N=", M, " (input.size(0)), got shape ", target.sizes());
  } else {
    TORCH_CHECK(target.dim() == 0, op, ": target must be 0-d for 1-D input, got shape ",
                target.sizes());
  }
  TORCH_CHECK(target.device() == input.device(), op, ": target is on ", target.device(),
              " but input is on ", input.device(), "; move both to one device");
  a.target = target.to(at::kLong).reshape({M});
  if (M > 0 && check_range) {
    const at::Tensor bad = a.target.ne(ignore_index).logical_and_(
        a.target.lt(0).logical_or_(a.target.ge(V)));
    if (input.is_cpu()) {
      if (bad.any().item<bool>()) {
        const int64_t v = a.target.masked_select(bad)[0].item<int64_t>();
        TORCH_CHECK_INDEX(false, op, ": target ", v, " is out of bounds: class indices must be in [0, ",
                          V, ") (linear_weight.size(0) classes) or equal ignore_index (", ignore_index,
                          ")");
      }
    } else {  // no host synchronisation: a device-side assert
      at::_assert_async(bad.any().logical_not(),
                        "linear_cross_entropy: a target is out of bounds (class indices must be in "
                        "[0, C) or equal ignore_index)");
    }
  }
  a.x = input.dim() == 2 ? input : input.unsqueeze(0);
  a.w = linear_weight;
  a.M = M;
  a.K = K;
  a.V = V;
  if (a.reduction == CeReduction::None) a.loss_shape.assign(target.sizes().begin(), target.sizes().end());
  return a;
}

namespace {
int64_t block_bytes() {
  const char* env = std::getenv("TORCH_ACT_LCE_BLOCK_BYTES");
  if (env == nullptr || *env == '\0') return int64_t(32) << 20;
  char* end = nullptr;
  const long long v = std::strtoll(env, &end, 10);
  TORCH_CHECK_VALUE(end != env && *end == '\0' && v > 0,
                    "TORCH_ACT_LCE_BLOCK_BYTES must be a positive number of bytes, got '", env, "'");
  return int64_t(v);
}
}  // namespace

CeBlocking ce_blocking(const CeArgs& a, bool on_cpu) {
  const int64_t budget = block_bytes();
  const int64_t c = at::elementSize(a.cdt);
  CeBlocking bl;
  // the logits block (its rows span the whole vocabulary), in compute-dtype bytes
  bl.rows = std::max<int64_t>(1, budget / (a.V * c));
  if (bl.rows >= 16) bl.rows = bl.rows / 8 * 8;
  bl.rows = std::min(bl.rows, std::max<int64_t>(a.M, 1));
  // element-wise work in sub-blocks that stay in cache (CPU; one launch each on GPUs)
  const int64_t cache = std::min<int64_t>(budget / 4, int64_t(1) << 20);
  bl.sub_rows = on_cpu ? std::clamp<int64_t>(cache / (a.V * c), 1, bl.rows) : bl.rows;
  return bl;
}

const KernelSet& identity_kernel_set() {
  static const Activation* ident = find_activation("identity");
  TORCH_CHECK(ident != nullptr, "torch_act: the identity activation is not registered");
  return ident->kernels;
}

CeRows ce_rows(const CeArgs& a) {
  CeRows r;
  r.valid = a.target.ne(a.ignore_index);
  r.tc = at::where(r.valid, a.target, 0);
  if (a.cw.defined()) {
    r.wt = at::where(r.valid, a.cw.index_select(0, r.tc), 0);
    r.wsum = a.cw.sum();
  } else {
    r.wt = r.valid.to(a.cdt);
    r.wsum = at::scalar_tensor(double(a.V), a.x.options().dtype(a.cdt));
  }
  r.den = r.wt.sum();
  return r;
}

CeCoef ce_coef(const CeArgs& a, const CeRows& r, const at::Tensor& g) {
  CeCoef c;
  const double e = a.eps, V = double(a.V);
  c.ct = at::where(r.valid, g * r.wt * (1.0 - e), 0);
  if (e > 0.0) {
    c.cu = at::where(r.valid, g * (e / V), 0).expand({a.M}).contiguous();
    c.cp = at::where(r.valid, g * (r.wt * (1.0 - e) + r.wsum * (e / V)), 0);
  } else {
    c.cp = c.ct;
  }
  c.ct = c.ct.expand({a.M}).contiguous();
  c.cp = c.cp.expand({a.M}).contiguous();
  return c;
}

at::Tensor ce_loss(const CeArgs& a, const CeRows& r, const at::Tensor& lse, const at::Tensor& zt,
                   const at::Tensor& zw) {
  at::Tensor row = r.wt * (lse - zt) * (1.0 - a.eps);
  if (a.eps > 0.0) row = row + (r.wsum * lse - zw) * (a.eps / double(a.V));
  row = at::where(r.valid, row, 0);
  switch (a.reduction) {
    case CeReduction::None: return row.view(a.loss_shape);
    case CeReduction::Sum: return row.sum();
    default: return row.sum() / r.den;
  }
}

// ---------------------------------------------------------------- autograd
// Autograd-key kernels with a hand-built Node (csrc/autograd_common.h, docs/autograd.md),
// so C++ programs get double backward and Python gets torch.func:
//   linear_cross_entropy       below autograd when nothing needs gradients; else
//                              _linear_cross_entropy_fwd below autograd and a Node.
//                              For reduction mean/sum the forward also computes the
//                              gradients for a loss gradient of 1; the Node keeps them
//                              (no saved tensors: they are not inputs) and its first
//                              backward scales them by grad_output in place and hands
//                              them over, so no second copy exists.  A second backward
//                              (retain_graph=True) finds them gone and recomputes from
//                              the saved inputs, as reduction none always does.
//   _linear_cross_entropy_bwd  the fused recompute below autograd, or -- when its inputs
//                              need a graph (create_graph, forward-over-reverse) -- the
//                              same gradients from differentiable ATen ops over the
//                              logits (which then are materialised: [tokens x classes]).
// Forward mode: cross_entropy(linear(...)) in ATen, whose tangent formulas are torch's.
namespace {

using torch::autograd::collect_next_edges;
using torch::autograd::compute_requires_grad;
using torch::autograd::Node;
using torch::autograd::SavedVariable;
using torch::autograd::set_history;
using torch::autograd::variable_list;
using OptT = std::optional<at::Tensor>;

using LceSig = at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, const OptT&,
                          const OptT&, c10::string_view, int64_t, double);
using LceFwdSig = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>(
    const at::Tensor&, const at::Tensor&, const at::Tensor&, const OptT&, const OptT&,
    c10::string_view, int64_t, double, std::array<bool, 3>);
using LceBwdSig = std::tuple<at::Tensor, at::Tensor, at::Tensor>(
    const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, const OptT&,
    const OptT&, c10::string_view, int64_t, double, std::array<bool, 3>);

auto& lce_handle() {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("torch_act::linear_cross_entropy", "")
                       .typed<LceSig>();
  return op;
}
auto& lce_fwd_handle() {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("torch_act::_linear_cross_entropy_fwd", "")
                       .typed<LceFwdSig>();
  return op;
}
auto& lce_bwd_handle() {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("torch_act::_linear_cross_entropy_bwd", "")
                       .typed<LceBwdSig>();
  return op;
}

using autograd_detail::opt;
using autograd_detail::or_undef;
using autograd_detail::present;
constexpr auto rg = [](const at::Tensor& t) { return autograd_detail::requires_grad(t); };
constexpr auto fw = [](const at::Tensor& t) { return autograd_detail::has_fw(t); };

int64_t reduction_enum(c10::string_view r) {
  if (r == "none") return at::Reduction::None;
  if (r == "sum") return at::Reduction::Sum;
  return at::Reduction::Mean;
}

const char* kWeightGrad =
    "linear_cross_entropy: the gradient with respect to weight (the class weights) is not "
    "implemented (as in torch.nn.functional.cross_entropy)";

struct LinearCrossEntropyBackward : public Node {
  SavedVariable x_, w_, t_, b_, cw_;
  bool has_bias = false, has_weight = false;
  std::string reduction;
  int64_t ignore_index = -100;
  double eps = 0.0;
  std::array<at::Tensor, 3> pre;  // the forward's gradients for a loss gradient of 1

  std::string name() const override { return "torch_act::LinearCrossEntropyBackward"; }
  void release_variables() override {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto* v : {&x_, &w_, &t_, &b_, &cw_}) v->reset_data();
    for (auto& t : pre) t.reset();
  }
  // Edges: input, linear_weight, linear_bias, weight (absent ones empty).
  variable_list apply(variable_list&& grads) override {
    std::lock_guard<std::mutex> lock(mutex_);
    variable_list out(4);
    const at::Tensor& g = grads[0];
    TORCH_CHECK(!should_compute_output(3), kWeightGrad);
    if (!g.defined()) return out;
    const std::array<bool, 3> mask = {should_compute_output(0), should_compute_output(1),
                                      has_bias && should_compute_output(2)};
    const at::Tensor x = x_.unpack(), w = w_.unpack();
    const at::Tensor b = has_bias ? b_.unpack() : at::Tensor();
    const bool graph =
        (at::GradMode::is_enabled() && (rg(g) || rg(x) || rg(w) || rg(b))) || fw(g) || fw(x) ||
        fw(w) || fw(b);
    std::array<bool, 3> todo = mask;
    if (!graph) {  // take the forward's gradients, scale them by g
      for (int i = 0; i < 3; ++i) {
        at::Tensor t = std::move(pre[i]);
        pre[i].reset();
        if (!mask[i] || !t.defined()) continue;
        t.mul_(g);
        out[i] = t;
        todo[i] = false;
      }
    } else {
      for (auto& t : pre) t.reset();
    }
    if (todo[0] || todo[1] || todo[2]) {
      auto [dx, dw, db] = lce_bwd_handle().call(g, x, w, t_.unpack(), opt(b),
                                                has_weight ? OptT(cw_.unpack()) : std::nullopt,
                                                reduction, ignore_index, eps, todo);
      if (todo[0]) out[0] = dx;
      if (todo[1]) out[1] = dw;
      if (todo[2]) out[2] = db;
    }
    return out;
  }
};

at::Tensor linear_cross_entropy_autograd(const at::Tensor& input, const at::Tensor& linear_weight,
                                         const at::Tensor& target, const OptT& linear_bias,
                                         const OptT& weight, c10::string_view reduction,
                                         int64_t ignore_index, double label_smoothing) {
  const char* op = "linear_cross_entropy";
  TORCH_CHECK(input.defined(), op, ": input must be a tensor, got None");
  TORCH_CHECK(linear_weight.defined(), op, ": linear_weight must be a tensor, got None");
  TORCH_CHECK(target.defined(), op, ": target must be a tensor, got None");
  const at::Tensor b = or_undef(linear_bias), cw = or_undef(weight);
  if (fw(input) || fw(linear_weight) || fw(b) || fw(cw)) {
    // forward mode: torch's own composition and tangent formulas
    // (torch's cross_entropy checks the targets' range itself)
    check_ce_args(op, input, linear_weight, target, linear_bias, weight, reduction, ignore_index,
                  label_smoothing, /*check_range=*/false);
    return at::cross_entropy_loss(at::linear(input, linear_weight, opt(b)), target, opt(cw),
                                  reduction_enum(reduction), ignore_index,
                                  std::max(label_smoothing, 0.0));
  }
  if (!compute_requires_grad(input, linear_weight, b, cw)) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return lce_handle().call(input, linear_weight, target, linear_bias, weight, reduction,
                             ignore_index, label_smoothing);
  }
  auto fn = c10::make_intrusive<LinearCrossEntropyBackward>();
  fn->set_next_edges(collect_next_edges(input, linear_weight, b, cw));
  const bool none = reduction == "none";
  const std::array<bool, 3> now = none ? std::array<bool, 3>{false, false, false}
                                       : std::array<bool, 3>{rg(input), rg(linear_weight), rg(b)};
  at::Tensor loss;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [l, dx, dw, db] = lce_fwd_handle().call(input, linear_weight, target, linear_bias, weight,
                                                 reduction, ignore_index, label_smoothing, now);
    loss = l;
    if (now[0]) fn->pre[0] = dx;
    if (now[1]) fn->pre[1] = dw;
    if (now[2]) fn->pre[2] = db;
  }
  fn->x_ = SavedVariable(input, false);
  fn->w_ = SavedVariable(linear_weight, false);
  fn->t_ = SavedVariable(target, false);
  fn->has_bias = b.defined();
  fn->has_weight = cw.defined();
  if (fn->has_bias) fn->b_ = SavedVariable(b, false);
  if (fn->has_weight) fn->cw_ = SavedVariable(cw, false);
  fn->reduction = std::string(reduction);
  fn->ignore_index = ignore_index;
  fn->eps = label_smoothing;
  set_history(loss, fn);
  return loss;
}

// The gradients from differentiable ATen ops (the logits materialised), for
// double backward: dz = cp * softmax(z) - cu * w_c - ct * onehot(t).
std::tuple<at::Tensor, at::Tensor, at::Tensor> lce_bwd_graph(
    const at::Tensor& grad_loss, const at::Tensor& input, const at::Tensor& linear_weight,
    const at::Tensor& target, const OptT& linear_bias, const OptT& weight,
    c10::string_view reduction, int64_t ignore_index, double label_smoothing,
    std::array<bool, 3> mask) {
  const char* op = "_linear_cross_entropy_bwd";
  // (the targets' range was checked by the forward; no host synchronisation,
  // which also keeps this path free of data-dependent control flow under vmap)
  const CeArgs a = check_ce_args(op, input, linear_weight, target, linear_bias, weight, reduction,
                                 ignore_index, label_smoothing, /*check_range=*/false);
  TORCH_CHECK(grad_loss.sizes() == c10::IntArrayRef(a.loss_shape), op,
              ": grad_loss must have the loss's shape ", c10::IntArrayRef(a.loss_shape), ", got ",
              grad_loss.sizes());
  const CeRows r = ce_rows(a);
  at::Tensor g = grad_loss.to(a.cdt).reshape(a.reduction == CeReduction::None ? c10::IntArrayRef{a.M}
                                                                              : c10::IntArrayRef{});
  if (a.reduction == CeReduction::Mean) g = g / r.den;
  const CeCoef c = ce_coef(a, r, g);
  const at::Tensor x = a.x.to(a.cdt), w = linear_weight.to(a.cdt);
  const OptT b = present(linear_bias) ? OptT(linear_bias->to(a.cdt)) : std::nullopt;
  const at::Tensor z = at::linear(x, w, b);
  at::Tensor dz = c.cp.unsqueeze(1) * at::softmax(z, 1) -
                  c.ct.unsqueeze(1) * r.tc.unsqueeze(1).eq(at::arange(a.V, r.tc.options())).to(a.cdt);
  if (a.eps > 0.0) dz = dz - (a.cw.defined() ? at::outer(c.cu, a.cw) : c.cu.unsqueeze(1));
  const auto dt = input.scalar_type();
  const auto empty = input.new_empty({0});
  return {mask[0] ? at::mm(dz, w).to(dt).view(input.sizes()) : empty,
          mask[1] ? at::mm(dz.t(), x).to(dt) : empty,
          mask[2] && b ? dz.sum(0).to(dt) : empty};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> linear_cross_entropy_bwd_autograd(
    const at::Tensor& grad_loss, const at::Tensor& input, const at::Tensor& linear_weight,
    const at::Tensor& target, const OptT& linear_bias, const OptT& weight,
    c10::string_view reduction, int64_t ignore_index, double label_smoothing,
    std::array<bool, 3> mask) {
  const at::Tensor b = or_undef(linear_bias), cw = or_undef(weight);
  if (compute_requires_grad(grad_loss, input, linear_weight, b) || fw(grad_loss) || fw(input) ||
      fw(linear_weight) || fw(b)) {
    TORCH_CHECK(!rg(cw) && !fw(cw), kWeightGrad);
    return lce_bwd_graph(grad_loss, input, linear_weight, target, linear_bias, weight, reduction,
                         ignore_index, label_smoothing, mask);
  }
  at::AutoDispatchBelowADInplaceOrView guard;
  return lce_bwd_handle().call(grad_loss, input, linear_weight, target, linear_bias, weight,
                               reduction, ignore_index, label_smoothing, mask);
}

// The forward-with-gradients op is internal to the Node above; under autograd
// (a caller differentiating it directly) it is its loss, differentiable, and
// the gradients for a loss gradient of 1.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> linear_cross_entropy_fwd_autograd(
    const at::Tensor& input, const at::Tensor& linear_weight, const at::Tensor& target,
    const OptT& linear_bias, const OptT& weight, c10::string_view reduction, int64_t ignore_index,
    double label_smoothing, std::array<bool, 3> mask) {
  const at::Tensor b = or_undef(linear_bias), cw = or_undef(weight);
  if (!compute_requires_grad(input, linear_weight, b, cw) && !fw(input) && !fw(linear_weight) &&
      !fw(b) && !fw(cw)) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return lce_fwd_handle().call(input, linear_weight, target, linear_bias, weight, reduction,
                                 ignore_index, label_smoothing, mask);
  }
  const at::Tensor loss = linear_cross_entropy_autograd(input, linear_weight, target, linear_bias,
                                                        weight, reduction, ignore_index,
                                                        label_smoothing);
  const auto empty = input.new_empty({0});
  if (reduction == "none" || !(mask[0] || mask[1] || mask[2])) return {loss, empty, empty, empty};
  auto [dx, dw, db] = linear_cross_entropy_bwd_autograd(
      at::ones({}, loss.options()), input, linear_weight, target, linear_bias, weight, reduction,
      ignore_index, label_smoothing, mask);
  return {loss, dx, dw, db};
}

}  // namespace
}  // namespace torch_act

TORCH_LIBRARY_FRAGMENT(torch_act, m) {
  m.def(
      "linear_cross_entropy(Tensor input, Tensor linear_weight, Tensor target, "
      "Tensor? linear_bias=None, Tensor? weight=None, str reduction=\"mean\", "
      "int ignore_index=-100, float label_smoothing=0.0) -> Tensor");
  // (loss, dinput, dweight, dbias): the gradients in output_mask are for a
  // loss gradient of 1 and only for reduction mean/sum (empty tensors otherwise).
  m.def(
      "_linear_cross_entropy_fwd(Tensor input, Tensor linear_weight, Tensor target, "
      "Tensor? linear_bias, Tensor? weight, str reduction, int ignore_index, "
      "float label_smoothing, bool[3] output_mask) -> (Tensor, Tensor, Tensor, Tensor)");
  // (dinput, dweight, dbias) for grad_loss, recomputing the logits; those not
  // in output_mask come back empty.
  m.def(
      "_linear_cross_entropy_bwd(Tensor grad_loss, Tensor input, Tensor linear_weight, "
      "Tensor target, Tensor? linear_bias, Tensor? weight, str reduction, "
      "int ignore_index, float label_smoothing, bool[3] output_mask) -> (Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(torch_act, Autograd, m) {
  m.impl("linear_cross_entropy", &torch_act::linear_cross_entropy_autograd);
  m.impl("_linear_cross_entropy_fwd", &torch_act::linear_cross_entropy_fwd_autograd);
  m.impl("_linear_cross_entropy_bwd", &torch_act::linear_cross_entropy_bwd_autograd);
}
