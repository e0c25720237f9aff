// torch_act — the one TORCH_LIBRARY: every schema (but linear_cross_entropy's,
// a TORCH_LIBRARY_FRAGMENT in csrc/cross_entropy.cpp), plus the checks shared by
// all backends.  Backend kernels are registered beside their code
// (csrc/cpu_register.cpp, csrc/cuda_register.cpp), the autograd in
// csrc/autograd.cpp, autocast in csrc/autocast.cpp.
#include "ops.h"
#include "save_policy.h"

#include <torch/library.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

namespace torch_act {

const Activation& parse_act(const char* op, c10::string_view name) {
  const Activation* act = find_activation(name);
  TORCH_CHECK_VALUE(act != nullptr, op, ": unknown activation '", std::string(name.data(), name.size()),
                    "'; expected one of: ", registered_names(),
                    " (or one defined with torch_act.define_activation / a loaded plugin)");
  return *act;
}

double resolve_alpha(const char* op, const Activation& act, std::optional<double> alpha) {
  if (!alpha.has_value()) return act.default_alpha;
  TORCH_CHECK_VALUE(act.has_alpha, op, ": activation '", act.name,
                    "' takes no alpha, got alpha=", *alpha,
                    " (see torch_act.ACTIVATIONS for the activations that take one)");
  TORCH_CHECK_VALUE(std::isfinite(*alpha), op, ": alpha must be finite, got ", *alpha);
  TORCH_CHECK_VALUE(std::fabs(*alpha) <= 3.4028234663852886e38, op, ": alpha=", *alpha,
                    " overflows float32 (the kernels compute in float32 for float32/bfloat16/float16)");
  TORCH_CHECK_VALUE(!(act.alpha_nonzero && *alpha == 0.0), op, ": ", act.name,
                    "'s alpha must be non-zero");
  return *alpha;
}

void check_float_dtype(const char* op, const char* arg, const at::Tensor& t) {
  TORCH_CHECK(t.defined(), op, ": ", arg, " is an undefined tensor");
  const auto st = t.scalar_type();
  TORCH_CHECK(st == at::kFloat || st == at::kDouble || st == at::kBFloat16 || st == at::kHalf, op,
              ": ", arg, " must be float32, float64, bfloat16 or float16, got ", st);
}

namespace {
// weight [N, k] and bias [N] against the layer input's dtype/device (`ref`).
void check_layer(const char* op, const at::Tensor& ref, int64_t k, const at::Tensor& weight,
                 const std::optional<at::Tensor>& bias) {
  check_float_dtype(op, "weight", weight);
  TORCH_CHECK(weight.dim() == 2, op, ": weight must be 2-D [N, K] (the nn.Linear layout), got ",
              weight.dim(), "-D with shape ", weight.sizes());
  TORCH_CHECK(weight.size(1) == k, op, ": weight.size(1) (weight shape ", weight.sizes(),
              ") must equal the input's last dimension K=", k);
  TORCH_CHECK(weight.scalar_type() == ref.scalar_type(), op, ": weight dtype (",
              weight.scalar_type(), ") must match input dtype (", ref.scalar_type(), ")");
  TORCH_CHECK(weight.device() == ref.device(), op, ": weight is on ", weight.device(),
              " but input is on ", ref.device(), "; move both to one device");
  if (bias.has_value() && bias->defined()) {
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == weight.size(0), op,
                ": bias must be 1-D of size N=", weight.size(0), " (weight.size(0)), got shape ",
                bias->sizes());
    TORCH_CHECK(bias->scalar_type() == ref.scalar_type(), op, ": bias dtype (",
                bias->scalar_type(), ") must match input dtype (", ref.scalar_type(), ")");
    TORCH_CHECK(bias->device() == ref.device(), op, ": bias is on ", bias->device(),
                " but input is on ", ref.device(), "; move both to one device");
  }
}
}  // namespace

void check_linear_args(const char* op, const at::Tensor& input, const at::Tensor& weight,
                       const std::optional<at::Tensor>& bias) {
  check_float_dtype(op, "input", input);
  TORCH_CHECK(input.dim() >= 1, op,
              ": input must have at least 1 dimension [..., K], got a 0-d tensor");
  check_layer(op, input, input.size(-1), weight, bias);
}

namespace {
void layer_label(char* buf, size_t cap, const char* op, size_t i) {
  // "<op> layer <i>", truncating op if it would not fit
  static constexpr char kMid[] = " layer ";
  const size_t room = cap - sizeof kMid - 20;  // 20: digits of any size_t
  const size_t n = std::min(std::strlen(op), room);
  std::memcpy(buf, op, n);
  std::memcpy(buf + n, kMid, sizeof kMid - 1);
  char* end = std::to_chars(buf + n + sizeof kMid - 1, buf + cap - 1, i).ptr;
  *end = '\0';
}
}  // namespace

std::vector<std::pair<const Activation*, double>> check_mlp_args(
    const char* op, const at::Tensor& input, at::TensorList weights,
    const c10::List<std::optional<at::Tensor>>& biases, const std::vector<std::string>& activations,
    const std::vector<std::optional<double>>& alphas) {
  const size_t L = weights.size();
  TORCH_CHECK_VALUE(L >= 1, op, ": needs at least one layer (weights is empty)");
  TORCH_CHECK_VALUE(biases.size() == L && activations.size() == L && alphas.size() == L, op,
                    ": weights, biases, activations and alphas must have one entry per layer; got ",
                    L, ", ", biases.size(), ", ", activations.size(), ", ", alphas.size());
  std::vector<std::pair<const Activation*, double>> layers;
  layers.reserve(L);
  int64_t k = 0;
  for (size_t i = 0; i < L; ++i) {
    char where[96];  // "<op> layer <i>", built without a heap allocation or printf per call
    layer_label(where, sizeof where, op, i);
    const Activation& act = parse_act(where, activations[i]);
    layers.emplace_back(&act, resolve_alpha(where, act, alphas[i]));
    if (i == 0) {
      check_linear_args(where, input, weights[i], biases.get(i));
    } else {
      check_layer(where, input, k, weights[i], biases.get(i));
    }
    k = weights[i].size(0);
  }
  return layers;
}

void check_like(const char* op, const std::string& arg, const at::Tensor& t, c10::IntArrayRef shape,
                const at::Tensor& ref) {
  TORCH_CHECK(t.defined(), op, ": ", arg, " is an undefined tensor");
  TORCH_CHECK(t.sizes() == shape, op, ": ", arg, " must have shape ", shape, ", got ", t.sizes());
  TORCH_CHECK(t.scalar_type() == ref.scalar_type(), op, ": ", arg, " must have the input's dtype (",
              ref.scalar_type(), "), got ", t.scalar_type());
  TORCH_CHECK(t.device() == ref.device(), op, ": ", arg, " must be on the input's device (",
              ref.device(), "), got ", t.device());
}

void check_saved(const char* op, const at::Tensor& t, size_t index, size_t layer, const char* what,
                 c10::IntArrayRef shape, const at::Tensor& ref) {
  if (t.defined() && t.sizes() == shape && t.scalar_type() == ref.scalar_type() &&
      t.device() == ref.device())
    return;
  check_like(op, "saved[" + std::to_string(index) + "] (layer " + std::to_string(layer) + "'s " + what + ")",
             t, shape, ref);
}

namespace {
std::string bools_str(const c10::List<bool>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::string(v[i] ? "True" : "False");
  return s + "]";
}
}  // namespace

std::vector<FlatLayer> flat_layout(const char* op, const at::Tensor& input, const at::Tensor& params,
                                   c10::IntArrayRef sizes, const c10::List<bool>& bias,
                                   size_t n_activations, size_t n_alphas) {
  TORCH_CHECK_VALUE(sizes.size() >= 2, op,
                    ": sizes must list the features of every layer boundary [in, hidden..., out] "
                    "(at least 2 entries), got ", sizes);
  const size_t L = sizes.size() - 1;
  TORCH_CHECK_VALUE(bias.size() == L && n_activations == L && n_alphas == L, op, ": sizes ", sizes,
                    " describes ", L, " layer(s), so bias, activations and alphas need ", L,
                    " entries each; got ", bias.size(), ", ", n_activations, ", ", n_alphas);
  check_float_dtype(op, "input", input);
  TORCH_CHECK(input.dim() >= 1, op, ": input must have at least 1 dimension [..., K], got a 0-d tensor");
  // sym_*: the autograd kernel runs this on symbolic shapes under torch.compile
  TORCH_SYM_CHECK(input.sym_size(-1).sym_eq(sizes[0]), op, ": input's last dimension (",
                  input.sym_size(-1), ") must equal sizes[0]=", sizes[0]);
  TORCH_CHECK(params.defined(), op, ": params is an undefined tensor");
  TORCH_CHECK(params.dim() == 1, op, ": params must be 1-D (every layer's weight and bias, flat), got ",
              params.dim(), "-D with shape ", params.sizes());
  TORCH_CHECK(params.scalar_type() == input.scalar_type(), op, ": params dtype (",
              params.scalar_type(), ") must match input dtype (", input.scalar_type(), ")");
  TORCH_CHECK(params.device() == input.device(), op, ": params is on ", params.device(),
              " but input is on ", input.device(), "; move both to one device");
  std::vector<FlatLayer> layers(L);
  int64_t off = 0;
  for (size_t i = 0; i < L; ++i) {
    TORCH_CHECK_VALUE(sizes[i] >= 0 && sizes[i + 1] >= 0, op, ": sizes must be >= 0, got ", sizes);
    FlatLayer& l = layers[i];
    l.n = sizes[i + 1];
    l.k = sizes[i];
    l.w_off = off;
    off += l.n * l.k;
    l.b_off = bias.get(i) ? off : -1;
    if (bias.get(i)) off += l.n;
  }
  TORCH_SYM_CHECK(params.sym_numel().sym_eq(off), op, ": params must hold ", off, " elements for sizes ",
                  sizes, " and bias ", bools_str(bias),
                  " (each layer's weight [out, in] then its bias), got ", params.sym_numel());
  return layers;
}

void flat_windows(const at::Tensor& params, const std::vector<FlatLayer>& layers,
                  std::vector<at::Tensor>& weights, c10::List<std::optional<at::Tensor>>& biases) {
  // params is contiguous (1-D); sym_*: symbolic under torch.compile
  const c10::SymInt base = params.sym_storage_offset();
  weights.reserve(layers.size());
  biases.reserve(layers.size());
  for (const FlatLayer& l : layers) {
    weights.push_back(params.as_strided_symint({l.n, l.k}, {l.k, 1}, base + l.w_off));
    biases.push_back(l.b_off >= 0 ? std::optional<at::Tensor>(
                                        params.as_strided_symint({l.n}, {1}, base + l.b_off))
                                  : std::nullopt);
  }
}

at::Tensor flatten_rows(const at::Tensor& input) {
  if (input.dim() == 2) return input;
  const int64_t k = input.size(-1);
  if (k != 0) return input.reshape({-1, k});
  // reshape cannot infer -1 from 0 elements: count the rows
  int64_t m = 1;
  for (int64_t d = 0; d + 1 < input.dim(); ++d) m *= input.size(d);
  return input.reshape({m, 0});
}

void check_deriv_order(const char* op, const Activation& act, int64_t order) {
  TORCH_CHECK_VALUE(order >= 1, op, ": order must be >= 1 (1: the first derivative), got ", order);
  if (act.rowwise != Rowwise::None) {
    TORCH_CHECK_VALUE(order == 1, op, ": ", act.name,
                      " is a row activation: its kernels give the first derivative only (order 1), got "
                      "order ",
                      order, "; autograd writes the higher ones with tensor ops");
    return;
  }
  TORCH_CHECK_NOT_IMPLEMENTED(
      order <= act.max_order, "torch_act: activation '", act.name,
      "' has derivatives up to order ", act.max_order,
      " (its functor's backward", act.max_order >= 2 ? ", backward2" : "",
      act.max_order >= 3 ? ", backward3" : "", "), but order ", order,
      " was asked for (differentiating through it ", order, " times)",
      act.max_order == 1 ? "; give it a second derivative (backward2, or define_activation's "
                           "second_derivative=) for double backward"
                         : "");
}

std::vector<int64_t> linear_out_shape(const at::Tensor& input, int64_t n) {
  std::vector<int64_t> shape(input.sizes().begin(), input.sizes().end());
  shape.back() = n;
  return shape;
}

bool auto_mask_applies(const at::Tensor& input, const at::Tensor& weight) {
  const c10::DispatchKeySet wrapped({c10::DispatchKey::Python, c10::DispatchKey::FuncTorchBatched,
                                     c10::DispatchKey::FuncTorchGradWrapper,
                                     c10::DispatchKey::Functionalize});
  const auto plain_cpu = [&](const at::Tensor& t) {
    return t.defined() && t.device().is_cpu() && t.layout() == at::kStrided &&
           (t.key_set() & wrapped).empty();
  };
  if (!plain_cpu(input) || !plain_cpu(weight) || input.dim() < 1 || weight.dim() != 2) return false;
  const int64_t k = input.size(-1), n = weight.size(0);
  if (k == 0 || weight.size(1) != k) return false;
  const int64_t outputs = input.numel() / k * n;
  return outputs >= kAutoMaskMinOutputs && outputs * k >= kAutoMaskMinMacs;
}

SaveKind resolve_save(const char* op, const Activation& act, double a, c10::string_view save,
                      bool mask_for_auto) {
  const std::string p(save.data(), save.size());
  TORCH_CHECK_VALUE(p == "auto" || p == "mask" || p == "output" || p == "input" || p == "recompute",
                    op, ": unknown save policy '", p,
                    "'; expected one of: auto, mask, output, input, recompute");
  if (act.saves == Saves::Nothing) return SaveKind::Nothing;  // the identity keeps nothing
  const bool uses_y = act.backward_uses_output(a);
  // auto: the bits where they cost nothing measurable (auto_mask_applies)
  if (p == "auto") return act.mask && mask_for_auto ? SaveKind::Mask
                          : uses_y                  ? SaveKind::Output
                                                    : SaveKind::Input;
  if (p == "mask") {
    check_mask_act(op, act);
    return SaveKind::Mask;
  }
  if (p == "output") {
    TORCH_CHECK_VALUE(uses_y, op, ": save='output' needs an activation whose backward reads its output, but ",
                      act.name, "'s reads the pre-activation",
                      act.saves == Saves::OutputIfAlphaNonNeg ? " when alpha < 0" : "",
                      "; use save='input' or save='recompute'");
    return SaveKind::Output;
  }
  return p == "input" ? SaveKind::Input : SaveKind::Recompute;
}

void check_save_policy(const char* op, c10::string_view activation, std::optional<double> alpha,
                       c10::string_view save) {
  const Activation& act = parse_act(op, activation);
  resolve_save(op, act, resolve_alpha(op, act, alpha), save);
}

void check_mask_act(const char* op, const Activation& act) {
  if (act.mask) return;
  std::string with;
  for (const Activation* e : registered_activations())
    if (e->mask) with += (with.empty() ? "" : ", ") + e->name;
  TORCH_CHECK_VALUE(false, op, ": save='mask' needs an activation whose derivative takes two values (",
                    with, "), but ", act.name,
                    "'s does not; use save='recompute' (or 'input'/'output') for it");
}

}  // namespace torch_act

TORCH_LIBRARY(torch_act, m) {
  // Public ops (autograd-aware).
  m.def(
      "linear_act(Tensor input, Tensor weight, Tensor? bias=None, str activation=\"identity\", "
      "float? alpha=None, str save=\"auto\") -> Tensor");
  m.def("activation(Tensor input, str activation, float? alpha=None) -> Tensor");
  m.def(
      "mlp(Tensor input, Tensor[] weights, Tensor?[] biases, str[] activations, float?[] alphas) "
      "-> Tensor");

  // Internal forward/backward ops used by the C++ autograd (csrc/autograd.cpp).
  // _linear_act_fwd returns (out, saved): saved is the pre-activation z when the
  // activation's backward needs it, else an empty tensor.
  m.def(
      "_linear_act_fwd(Tensor input, Tensor weight, Tensor? bias, str activation, float? alpha) "
      "-> (Tensor, Tensor)");
  // Gradients for (input, weight, bias); those not in output_mask come back empty.
  m.def(
      "_linear_act_bwd(Tensor grad_out, Tensor input, Tensor weight, Tensor saved, "
      "str activation, float? alpha, bool[3] output_mask) -> (Tensor, Tensor, Tensor)");
  // mlp: _mlp_fwd returns [y_0, saved_0, y_1, saved_1, ...] (saved_i is z_i or empty);
  // _mlp_bwd returns [dinput, dW_0.., db_0..] (dinput empty unless input_grad).
  m.def(
      "_mlp_fwd(Tensor input, Tensor[] weights, Tensor?[] biases, str[] activations, "
      "float?[] alphas) -> Tensor[]");
  m.def(
      "_mlp_bwd(Tensor grad_out, Tensor input, Tensor[] weights, Tensor?[] biases, "
      "Tensor[] saved, str[] activations, float?[] alphas, bool input_grad) -> Tensor[]");
  // mlp_flat: mlp with every layer's parameters in one 1-D tensor (flat_layout
  // in csrc/ops.h; csrc/mlp_flat.cpp).  Its forward for autograd is _mlp_fwd
  // on windows of params; _mlp_flat_bwd returns (dinput or empty, dparams).
  m.def(
      "mlp_flat(Tensor input, Tensor params, int[] sizes, bool[] bias, str[] activations, "
      "float?[] alphas) -> Tensor");
  m.def(
      "_mlp_flat_bwd(Tensor grad_out, Tensor input, Tensor params, int[] sizes, bool[] bias, "
      "Tensor[] saved, str[] activations, float?[] alphas, bool input_grad) -> (Tensor, Tensor)");
  m.def(
      "_activation_bwd(Tensor grad_out, Tensor saved, str activation, float? alpha) -> Tensor");
  // D_order(grad_out, saved) = grad_out * d^(order-1)/ds^(order-1) [act' in saved]
  // (kernels/activations.h); order 1 is _activation_bwd.  Double backward and beyond.
  m.def(
      "_activation_deriv(Tensor grad_out, Tensor saved, str activation, float? alpha, int order) "
      "-> Tensor");
  // save="mask" (csrc/save_policy.h): bits [..., ceil(N/8)] uint8 of the
  // saved tensor's derivative, and dz = grad_out * slope(bit).
  m.def("_act_mask(Tensor saved, str activation, float? alpha=None) -> Tensor");
  m.def("_mask_grad(Tensor grad_out, Tensor mask, str activation, float? alpha=None) -> Tensor");
}
