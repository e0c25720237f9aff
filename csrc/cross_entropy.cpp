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

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <cstdlib>
#include <string>

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
                     int64_t ignore_index, double label_smoothing) {
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
              " (class-probability targets are not supported)");
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
  if (M > 0) {
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
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using OptT = std::optional<at::Tensor>;

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> call_fwd(
    const at::Tensor& input, const at::Tensor& w, const at::Tensor& target, const OptT& bias,
    const OptT& weight, c10::string_view reduction, int64_t ignore_index, double eps,
    std::array<bool, 3> mask) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("torch_act::_linear_cross_entropy_fwd", "")
                       .typed<decltype(call_fwd)>();
  return op.call(input, w, target, bias, weight, reduction, ignore_index, eps, mask);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> call_bwd(
    const at::Tensor& grad, const at::Tensor& input, const at::Tensor& w, const at::Tensor& target,
    const OptT& bias, const OptT& weight, c10::string_view reduction, int64_t ignore_index,
    double eps, std::array<bool, 3> mask) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("torch_act::_linear_cross_entropy_bwd", "")
                       .typed<decltype(call_bwd)>();
  return op.call(grad, input, w, target, bias, weight, reduction, ignore_index, eps, mask);
}

OptT opt(const at::Tensor& t) { return t.defined() ? OptT(t) : std::nullopt; }

// For reduction mean/sum the forward computes the gradients for a loss
// gradient of 1; they are kept in saved_data (not saved tensors: they are not
// inputs, and the first backward takes them, scales them in place by
// grad_output and hands them over, so no second copy exists).  A second
// backward (retain_graph=True) finds them gone and recomputes from the saved
// inputs, as reduction none always does.
class LinearCrossEntropyFunction : public torch::autograd::Function<LinearCrossEntropyFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input,
                            const at::Tensor& linear_weight, const at::Tensor& target,
                            const OptT& linear_bias, const OptT& weight, c10::string_view reduction,
                            int64_t ignore_index, double label_smoothing, std::array<bool, 3> mask) {
    at::AutoDispatchBelowADInplaceOrView guard;
    const bool none = reduction == "none";
    const std::array<bool, 3> now = none ? std::array<bool, 3>{false, false, false} : mask;
    auto [loss, dx, dw, db] = call_fwd(input, linear_weight, target, linear_bias, weight,
                                            reduction, ignore_index, label_smoothing, now);
    const bool has_bias = linear_bias.has_value() && linear_bias->defined();
    ctx->save_for_backward({input, linear_weight, target, has_bias ? *linear_bias : at::Tensor(),
                            weight.has_value() ? *weight : at::Tensor()});
    ctx->saved_data["reduction"] = std::string(reduction.data(), reduction.size());
    ctx->saved_data["ignore_index"] = ignore_index;
    ctx->saved_data["label_smoothing"] = label_smoothing;
    ctx->saved_data["has_bias"] = has_bias;
    ctx->saved_data["has_weight"] = weight.has_value() && weight->defined();
    if (!none) {
      ctx->saved_data["dx"] = now[0] ? c10::IValue(dx) : c10::IValue();
      ctx->saved_data["dw"] = now[1] ? c10::IValue(dw) : c10::IValue();
      ctx->saved_data["db"] = now[2] && has_bias ? c10::IValue(db) : c10::IValue();
    }
    return loss;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const bool has_bias = ctx->saved_data["has_bias"].toBool();
    const bool has_weight = ctx->saved_data["has_weight"].toBool();
    // variable slots: input, linear_weight, target, [linear_bias], [weight]
    const std::array<bool, 3> mask = {ctx->needs_input_grad(0), ctx->needs_input_grad(1),
                                      has_bias && ctx->needs_input_grad(3)};
    TORCH_CHECK(!(has_weight && ctx->needs_input_grad(has_bias ? 4 : 3)),
                "linear_cross_entropy: the gradient with respect to weight (the class weights) is "
                "not implemented (as in torch.nn.functional.cross_entropy)");
    if (at::GradMode::is_enabled()) {
      for (const auto* list : {&grads, &saved})
        for (const auto& t : *list)
          TORCH_CHECK(!(t.defined() && t.requires_grad()),
                      "linear_cross_entropy: double backward (create_graph=True) is not supported");
    }
    const at::Tensor& g = grads[0];
    const std::string reduction = ctx->saved_data["reduction"].toStringRef();
    std::array<at::Tensor, 3> out;
    std::array<bool, 3> todo = mask;
    if (reduction != "none") {  // take the precomputed gradients, scale them by g
      const char* keys[3] = {"dx", "dw", "db"};
      for (int i = 0; i < 3; ++i) {
        c10::IValue& v = ctx->saved_data[keys[i]];
        if (!v.isTensor()) continue;
        at::Tensor t = v.toTensor();
        v = c10::IValue();
        if (!mask[i]) continue;
        t.mul_(g);
        out[i] = t;
        todo[i] = false;
      }
    }
    if (todo[0] || todo[1] || todo[2]) {
      auto [dx, dw, db] = call_bwd(g, saved[0], saved[1], saved[2], opt(saved[3]), opt(saved[4]),
                                   reduction, ctx->saved_data["ignore_index"].toInt(),
                                   ctx->saved_data["label_smoothing"].toDouble(), todo);
      if (todo[0]) out[0] = dx;
      if (todo[1]) out[1] = dw;
      if (todo[2]) out[2] = db;
    }
    // one entry per forward argument
    return {out[0], out[1], at::Tensor(), out[2], at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor()};
  }
};

at::Tensor linear_cross_entropy_autograd(const at::Tensor& input, const at::Tensor& linear_weight,
                                         const at::Tensor& target, const OptT& linear_bias,
                                         const OptT& weight, c10::string_view reduction,
                                         int64_t ignore_index, double label_smoothing) {
  const bool gm = at::GradMode::is_enabled();
  const std::array<bool, 3> mask = {
      gm && input.requires_grad(), gm && linear_weight.requires_grad(),
      gm && linear_bias.has_value() && linear_bias->defined() && linear_bias->requires_grad()};
  return LinearCrossEntropyFunction::apply(input, linear_weight, target, linear_bias, weight,
                                           reduction, ignore_index, label_smoothing, mask);
}

}  // namespace
}  // namespace torch_act

TORCH_LIBRARY_FRAGMENT(torch_act, m) {
  m.def(
      "linear_cross_entropy(Tensor input, Tensor linear_weight, Tensor target, *, "
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
}
