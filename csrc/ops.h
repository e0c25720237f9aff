// torch_act — argument checking shared by every backend, and the
// device-independent glue that turns op calls into kernel calls.
//
// Each backend provides a "kernel set" K with static functions of the same
// signatures as kernels/cpu/cpu_ops.h (linear_act_forward, linear_act_backward,
// activation_forward, activation_backward) and registers
// OpImpls<K>::linear_act etc. under its dispatch key (csrc/cpu_register.cpp,
// csrc/cuda_register.cpp).  Checks happen here, once, before any kernel runs.
#pragma once

#include <ATen/core/List.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <c10/core/ScalarType.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <array>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "registry.h"

namespace torch_act {

// Looks an activation name up in the registry; unknown names raise ValueError
// listing the registered ones.
const Activation& parse_act(const char* op, c10::string_view name);

// The activation's parameter: alpha if given, else the table default.  Raises
// ValueError when alpha is given to an activation that takes none.
double resolve_alpha(const char* op, const Activation& act, std::optional<double> alpha);

// dtype must be float32/float64/bfloat16/float16.
void check_float_dtype(const char* op, const char* arg, const at::Tensor& t);

// Shared checks for the linear ops: ranks, sizes, dtypes, devices.
void check_linear_args(const char* op, const at::Tensor& input, const at::Tensor& weight,
                       const std::optional<at::Tensor>& bias);

// What a backward op receives besides its forward's arguments (grad_out, a
// saved tensor): it must have `shape` and the dtype and device of `ref` (the
// forward's input).  `arg` names it in the message.
void check_like(const char* op, const std::string& arg, const at::Tensor& t, c10::IntArrayRef shape,
                const at::Tensor& ref);

// check_like for entry `index` of _mlp_bwd's saved list (layer `layer`'s
// `what`: output / pre-activation); the message is built only on failure.
void check_saved(const char* op, const at::Tensor& t, size_t index, size_t layer, const char* what,
                 c10::IntArrayRef shape, const at::Tensor& ref);

// An order for _activation_deriv: >= 1, and one the activation's kernels
// evaluate (row activations: 1 only; their higher orders are tensor ops in
// the autograd).  Raises ValueError / NotImplementedError naming both.
void check_deriv_order(const char* op, const Activation& act, int64_t order);

// Flattens [..., K] to [M, K] (a view when the strides allow it), K = 0 included.
at::Tensor flatten_rows(const at::Tensor& input);

// Checks an mlp's arguments layer by layer; returns each layer's (act, alpha).
std::vector<std::pair<const Activation*, double>> check_mlp_args(
    const char* op, const at::Tensor& input, at::TensorList weights,
    const c10::List<std::optional<at::Tensor>>& biases, const std::vector<std::string>& activations,
    const std::vector<std::optional<double>>& alphas);

// mlp_flat's parameter layout: one 1-D tensor holding, layer after layer,
// weight i [sizes[i+1], sizes[i]] (row-major, nn.Linear's layout) and then,
// when bias[i], bias i [sizes[i+1]].  FlatLayer: one layer's place in it.
struct FlatLayer {
  int64_t n, k;        // out and in features
  int64_t w_off;       // weight's first element
  int64_t b_off;       // bias's first element; -1: no bias
};

// Checks mlp_flat's layout arguments (sizes: L+1 features, bias / activations
// / alphas: L entries) against input [..., sizes[0]] and params (1-D, the
// input's dtype and device, exactly the layout's element count); returns the
// layers.
std::vector<FlatLayer> flat_layout(const char* op, const at::Tensor& input, const at::Tensor& params,
                                   c10::IntArrayRef sizes, const c10::List<bool>& bias,
                                   size_t n_activations, size_t n_alphas);

// The layers' weights and biases as windows (views) of params (contiguous),
// in the form mlp takes them.
void flat_windows(const at::Tensor& params, const std::vector<FlatLayer>& layers,
                  std::vector<at::Tensor>& weights, c10::List<std::optional<at::Tensor>>& biases);

// t as [m, n]: itself when already 2-D (a view costs a dispatcher call and a
// new TensorImpl, which shows on tiny layers), else a view / reshape.
inline at::Tensor rows_view(const at::Tensor& t, int64_t m, int64_t n) {
  return t.dim() == 2 ? t : t.view({m, n});
}
inline at::Tensor rows_reshape(const at::Tensor& t, int64_t m, int64_t n) {
  return t.dim() == 2 ? t : t.reshape({m, n});
}

// Checks `save` (csrc/save_policy.h) for the activation: unknown policies,
// "mask" / "output" where the activation cannot serve them.
void check_save_policy(const char* op, c10::string_view activation, std::optional<double> alpha,
                       c10::string_view save);

// Output shape [..., N] for input [..., K].
std::vector<int64_t> linear_out_shape(const at::Tensor& input, int64_t n);

template <class K>
struct OpImpls {
  // (out, saved): saved is z when the backward needs the pre-activation, else
  // an empty tensor (the autograd saves `out` itself then).
  static std::tuple<at::Tensor, at::Tensor> linear_act_fwd(const at::Tensor& input,
                                                           const at::Tensor& weight,
                                                           const std::optional<at::Tensor>& bias,
                                                           c10::string_view activation,
                                                           std::optional<double> alpha) {
    return forward_impl("linear_act", input, weight, bias, activation, alpha, /*save=*/true);
  }

  static at::Tensor linear_act(const at::Tensor& input, const at::Tensor& weight,
                               const std::optional<at::Tensor>& bias, c10::string_view activation,
                               std::optional<double> alpha, c10::string_view save) {
    check_save_policy("linear_act", activation, alpha, save);
    return std::get<0>(
        forward_impl("linear_act", input, weight, bias, activation, alpha, /*save=*/false));
  }

  static std::tuple<at::Tensor, at::Tensor> forward_impl(const char* op, const at::Tensor& input,
                                                         const at::Tensor& weight,
                                                         const std::optional<at::Tensor>& bias,
                                                         c10::string_view activation,
                                                         std::optional<double> alpha, bool save) {
    const Activation& act = parse_act(op, activation);
    const double a = resolve_alpha(op, act, alpha);
    check_linear_args(op, input, weight, bias);
    const at::Tensor x = flatten_rows(input);
    const int64_t n = weight.size(0);
    const auto shape = linear_out_shape(input, n);
    at::Tensor out = at::empty(shape, input.options());
    at::Tensor pre;
    if (save && !act.backward_uses_output(a)) pre = at::empty(shape, input.options());
    at::Tensor b = bias.has_value() ? bias->contiguous() : at::Tensor();
    const int64_t m = x.size(0);
    K::linear_act_forward(x, weight, b, act.kernels, a, rows_view(out, m, n),
                          pre.defined() ? rows_view(pre, m, n) : pre);
    if (!pre.defined() && save) pre = at::empty({0}, input.options());
    return {out, pre};
  }

  // grads for (input, weight, bias); entries not in output_mask are empty tensors.
  static std::tuple<at::Tensor, at::Tensor, at::Tensor> linear_act_bwd(
      const at::Tensor& grad_out, const at::Tensor& input, const at::Tensor& weight,
      const at::Tensor& saved, c10::string_view activation, std::optional<double> alpha,
      std::array<bool, 3> mask) {
    const char* op = "_linear_act_bwd";
    const Activation& act = parse_act(op, activation);
    const double a = resolve_alpha(op, act, alpha);
    check_linear_args(op, input, weight, std::nullopt);
    const int64_t n = weight.size(0), k = weight.size(1);
    const auto shape = linear_out_shape(input, n);
    const at::Tensor x = flatten_rows(input);
    check_like(op, "grad_out", grad_out, shape, input);
    at::Tensor s;
    if (act.saves != Saves::Nothing) {
      check_like(op, "saved", saved, shape, input);
      s = rows_view(saved.contiguous(), x.size(0), n);
    }
    const auto opts = input.options();
    at::Tensor dx = mask[0] ? at::empty(input.sizes(), opts) : at::empty({0}, opts);
    at::Tensor dw = mask[1] ? at::empty({n, k}, opts) : at::empty({0}, opts);
    at::Tensor db = mask[2] ? at::empty({n}, opts) : at::empty({0}, opts);
    K::linear_act_backward(rows_reshape(grad_out, x.size(0), n), x, weight, s, act.kernels, a,
                           mask[0] ? rows_view(dx, x.size(0), k) : at::Tensor(),
                           mask[1] ? dw : at::Tensor(), mask[2] ? db : at::Tensor());
    return {dx, dw, db};
  }

  // ---------------------------------------------------------------- mlp
  // A stack of linear+activation layers as one op.  _mlp_fwd returns 2L
  // tensors: for each layer i, its output y_i (y_{L-1} is the result) and what
  // its backward needs beyond y_i (z_i, or an empty tensor).
  static std::vector<at::Tensor> mlp_fwd(const at::Tensor& input, at::TensorList weights,
                                         const c10::List<std::optional<at::Tensor>>& biases,
                                         const std::vector<std::string>& activations,
                                         const std::vector<std::optional<double>>& alphas) {
    return mlp_forward_impl(input, weights, biases, activations, alphas, /*save=*/true);
  }

  static at::Tensor mlp(const at::Tensor& input, at::TensorList weights,
                        const c10::List<std::optional<at::Tensor>>& biases,
                        const std::vector<std::string>& activations,
                        const std::vector<std::optional<double>>& alphas) {
    auto ys = mlp_forward_impl(input, weights, biases, activations, alphas, /*save=*/false);
    return ys[ys.size() - 2];
  }

  static std::vector<at::Tensor> mlp_forward_impl(
      const at::Tensor& input, at::TensorList weights,
      const c10::List<std::optional<at::Tensor>>& biases,
      const std::vector<std::string>& activations,
      const std::vector<std::optional<double>>& alphas, bool save) {
    const auto layers = check_mlp_args("mlp", input, weights, biases, activations, alphas);
    std::vector<at::Tensor> result;
    result.reserve(2 * weights.size());
    at::Tensor h = input;
    for (size_t i = 0; i < weights.size(); ++i) {
      const int64_t n = weights[i].size(0);
      const auto shape = linear_out_shape(input, n);
      at::Tensor out = at::empty(shape, input.options());
      at::Tensor pre;
      if (save && !layers[i].first->backward_uses_output(layers[i].second))
        pre = at::empty(shape, input.options());
      const std::optional<at::Tensor> b = biases.get(i);
      const at::Tensor x = flatten_rows(h);
      const int64_t m = x.size(0);
      K::linear_act_forward(x, weights[i], b.has_value() ? b->contiguous() : at::Tensor(),
                            layers[i].first->kernels, layers[i].second, rows_view(out, m, n),
                            pre.defined() ? rows_view(pre, m, n) : pre);
      result.push_back(out);
      result.push_back(pre.defined() ? pre : at::empty({0}, input.options()));
      h = out;
    }
    return result;
  }

  // Gradients [dinput, dW_0..dW_{L-1}, db_0..db_{L-1}]; dinput (when
  // !input_grad) and db_i of layers without bias come back empty.
  static std::vector<at::Tensor> mlp_bwd(const at::Tensor& grad_out, const at::Tensor& input,
                                         at::TensorList weights,
                                         const c10::List<std::optional<at::Tensor>>& biases,
                                         at::TensorList saved,
                                         const std::vector<std::string>& activations,
                                         const std::vector<std::optional<double>>& alphas,
                                         bool input_grad) {
    const auto opts = input.options();
    const size_t L = weights.size();
    std::vector<at::Tensor> dws(L), dbs(L);  // allocated by mlp_bwd_into, after its checks
    at::Tensor dinput = mlp_bwd_into("_mlp_bwd", grad_out, input, weights, biases, saved,
                                     activations, alphas, input_grad, dws, dbs);
    std::vector<at::Tensor> out;
    out.reserve(1 + 2 * L);
    out.push_back(dinput.defined() ? dinput : at::empty({0}, opts));
    for (auto& t : dws) out.push_back(t);
    for (auto& t : dbs) out.push_back(t.defined() ? t : at::empty({0}, opts));
    return out;
  }

  // mlp_flat's backward: (dinput or an empty tensor, dparams in params' layout).
  static std::tuple<at::Tensor, at::Tensor> mlp_flat_bwd(
      const at::Tensor& grad_out, const at::Tensor& input, const at::Tensor& params,
      c10::IntArrayRef sizes, const c10::List<bool>& bias, at::TensorList saved,
      const std::vector<std::string>& activations, const std::vector<std::optional<double>>& alphas,
      bool input_grad) {
    const char* op = "_mlp_flat_bwd";
    const auto layout = flat_layout(op, input, params, sizes, bias, activations.size(), alphas.size());
    std::vector<at::Tensor> ws, dws;
    c10::List<std::optional<at::Tensor>> bs, dbs_list;
    flat_windows(params.contiguous(), layout, ws, bs);
    at::Tensor dparams = at::empty(params.sizes(), params.options());
    flat_windows(dparams, layout, dws, dbs_list);
    std::vector<at::Tensor> dbs(layout.size());
    for (size_t j = 0; j < layout.size(); ++j)
      if (layout[j].b_off >= 0) dbs[j] = *dbs_list.get(j);
    at::Tensor dinput = mlp_bwd_into(op, grad_out, input, ws, bs, saved, activations, alphas,
                                     input_grad, dws, dbs);
    return {dinput.defined() ? dinput : at::empty({0}, input.options()), dparams};
  }

  // The mlp backward into gradient tensors dws[j] [N_j, K_j] and, for layers
  // with a bias, dbs[j] [N_j]: those given (defined) are written, the others
  // allocated here once the arguments are checked.  Returns dinput
  // (undefined unless input_grad).
  static at::Tensor mlp_bwd_into(const char* op, const at::Tensor& grad_out, const at::Tensor& input,
                                 at::TensorList weights,
                                 const c10::List<std::optional<at::Tensor>>& biases,
                                 at::TensorList saved, const std::vector<std::string>& activations,
                                 const std::vector<std::optional<double>>& alphas, bool input_grad,
                                 std::vector<at::Tensor>& dws, std::vector<at::Tensor>& dbs) {
    const auto layers = check_mlp_args(op, input, weights, biases, activations, alphas);
    const size_t L = weights.size();
    TORCH_CHECK_VALUE(saved.size() == 2 * L, op, ": saved must hold 2 tensors per layer (", 2 * L,
                      "), got ", saved.size());
    // what _mlp_fwd returned: y_j [..., N_j] for every layer, z_j too where the
    // layer's backward needs the pre-activation; grad_out like y_{L-1}
    for (size_t j = 0; j < L; ++j) {
      const auto shape = linear_out_shape(input, weights[j].size(0));
      check_saved(op, saved[2 * j], 2 * j, j, "output", shape, input);
      const Activation& act = *layers[j].first;
      if (act.saves != Saves::Nothing && !act.backward_uses_output(layers[j].second))
        check_saved(op, saved[2 * j + 1], 2 * j + 1, j, "pre-activation", shape, input);
      if (j + 1 == L) check_like(op, "grad_out", grad_out, shape, input);
    }
    const auto opts = input.options();
    at::Tensor g = grad_out;
    at::Tensor dinput;
    for (size_t j = L; j-- > 0;) {
      const at::Tensor& w = weights[j];
      const int64_t n = w.size(0), k = w.size(1);
      const at::Tensor& x = j == 0 ? input : saved[2 * (j - 1)];
      const at::Tensor& y = saved[2 * j];
      at::Tensor s;
      if (layers[j].first->saves != Saves::Nothing)
        s = layers[j].first->backward_uses_output(layers[j].second) ? y : saved[2 * j + 1];
      const bool want_dx = j > 0 || input_grad;
      at::Tensor dx = want_dx ? at::empty(x.sizes(), opts) : at::Tensor();
      if (!dws[j].defined()) dws[j] = at::empty({n, k}, opts);
      const bool has_bias = biases.get(j).has_value();
      if (has_bias && !dbs[j].defined()) dbs[j] = at::empty({n}, opts);
      const at::Tensor x2 = flatten_rows(x);
      const int64_t m = x2.size(0);
      K::linear_act_backward(rows_reshape(g, m, n), x2, w,
                             s.defined() ? rows_view(s.contiguous(), m, n) : s,
                             layers[j].first->kernels, layers[j].second,
                             want_dx ? rows_view(dx, m, k) : dx, dws[j],
                             has_bias ? dbs[j] : at::Tensor());
      if (j == 0 && want_dx) dinput = dx;
      g = dx;
    }
    return dinput;
  }

  static at::Tensor activation(const at::Tensor& input, c10::string_view activation,
                               std::optional<double> alpha) {
    const char* op = "activation";
    const Activation& act = parse_act(op, activation);
    const double a = resolve_alpha(op, act, alpha);
    check_float_dtype(op, "input", input);
    if (act.rowwise != Rowwise::None) {
      TORCH_CHECK(input.dim() >= 1, op, ": ", activation,
                  " needs input with at least 1 dimension, got a 0-d tensor");
    }
    const at::Tensor x = input.contiguous();
    at::Tensor out = at::empty(input.sizes(), input.options());
    K::activation_forward(x, act.kernels, a, out);
    return out;
  }

  // D_order(grad_out, saved) (activations.h); order 1 is _activation_bwd.
  static at::Tensor activation_deriv(const at::Tensor& grad_out, const at::Tensor& saved,
                                     c10::string_view activation, std::optional<double> alpha,
                                     int64_t order) {
    const char* op = "_activation_deriv";
    const Activation& act = parse_act(op, activation);
    check_deriv_order(op, act, order);
    if (order == 1) return activation_bwd(grad_out, saved, activation, alpha);
    const double a = resolve_alpha(op, act, alpha);
    check_float_dtype(op, "grad_out", grad_out);
    check_like(op, "saved", saved, grad_out.sizes(), grad_out);
    if (act.zero_from_order > 0 && order >= act.zero_from_order)
      return at::zeros(grad_out.sizes(), grad_out.options());
    at::Tensor out = at::empty(grad_out.sizes(), grad_out.options());
    K::activation_deriv(grad_out.contiguous(), saved.contiguous(), act.kernels, a, order, out);
    return out;
  }

  static at::Tensor activation_bwd(const at::Tensor& grad_out, const at::Tensor& saved,
                                   c10::string_view activation, std::optional<double> alpha) {
    const char* op = "_activation_bwd";
    const Activation& act = parse_act(op, activation);
    const double a = resolve_alpha(op, act, alpha);
    check_float_dtype(op, "grad_out", grad_out);
    at::Tensor s;
    if (act.saves != Saves::Nothing) {
      check_like(op, "saved", saved, grad_out.sizes(), grad_out);
      s = saved.contiguous();
    }
    at::Tensor dx = at::empty(grad_out.sizes(), grad_out.options());
    K::activation_backward(grad_out.contiguous(), s, act.kernels, a, dx);
    return dx;
  }
};

// Registers every op's kernel for one backend: inside
// TORCH_LIBRARY_IMPL(torch_act, <Key>, m) call register_backend<Kernels>(m).
template <class K>
void register_backend(torch::Library& m) {
  using Impl = OpImpls<K>;
  m.impl("linear_act", &Impl::linear_act);
  m.impl("_linear_act_fwd", &Impl::linear_act_fwd);
  m.impl("_linear_act_bwd", &Impl::linear_act_bwd);
  m.impl("mlp", &Impl::mlp);
  m.impl("_mlp_fwd", &Impl::mlp_fwd);
  m.impl("_mlp_bwd", &Impl::mlp_bwd);
  m.impl("_mlp_flat_bwd", &Impl::mlp_flat_bwd);
  m.impl("activation", &Impl::activation);
  m.impl("_activation_bwd", &Impl::activation_bwd);
  m.impl("_activation_deriv", &Impl::activation_deriv);
}

}  // namespace torch_act
