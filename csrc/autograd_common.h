// torch_act — what the autograd kernels (csrc/autograd.cpp, csrc/mlp_autograd.cpp)
// share: typed handles to our ops through the dispatcher, and the checks
// that decide which path a call takes.
//
// The design (docs/autograd.md): every op has an Autograd-key kernel written
// the way PyTorch's generated VariableType kernels are, a hand-built Node
// per op (not torch::autograd::Function, which functorch refuses), so that
//  * nothing to differentiate       -> the op itself below autograd (no Node);
//  * reverse mode                   -> a Node whose backward calls our fused
//                                      backward op through the dispatcher;
//  * that backward op's own Autograd kernel gives double backward (and every
//    order after): when its inputs need a graph it computes the same result
//    from differentiable pieces (our _activation_deriv kernels for the
//    activation's derivatives, GEMMs for the linear parts), else it runs
//    the fused kernel below autograd;
//  * forward mode (dual tensors, jvp) -> the same differentiable pieces, whose
//    forward-derivative formulas are in _activation_deriv / activation.
// Because each kernel redispatches the op it serves (or differentiable ops),
// functorch's grad / vjp / jvp levels see the same ops at every level.
#pragma once

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/saved_variable.h>

#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "ops.h"

namespace torch_act {
namespace autograd_detail {

using BiasList = c10::List<std::optional<at::Tensor>>;

// An undefined tensor (None passed where a Tensor is required) would fail in
// the autograd machinery with "tensor does not have a device"; name it instead.
inline void require_defined(const char* op, const char* arg, const at::Tensor& t) {
  TORCH_CHECK(t.defined(), op, ": ", arg, " must be a tensor, got None (an undefined tensor)");
}

// Forward-mode AD: does t carry a tangent (dual tensor, jvp)?
inline bool has_fw(const at::Tensor& t) { return t.defined() && t._fw_grad(/*level=*/0).defined(); }
inline bool has_fw(const std::optional<at::Tensor>& t) { return t.has_value() && has_fw(*t); }
inline at::Tensor fw_primal(const at::Tensor& t) { return has_fw(t) ? t._fw_primal(0) : t; }
inline at::Tensor fw_tangent(const at::Tensor& t) {
  return t.defined() ? t._fw_grad(0) : at::Tensor();
}
inline bool requires_grad(const at::Tensor& t) { return t.defined() && t.requires_grad(); }

// Optional tensor arguments: present (given and defined), as a maybe-undefined
// tensor, and back.
inline bool present(const std::optional<at::Tensor>& t) { return t.has_value() && t->defined(); }
inline at::Tensor or_undef(const std::optional<at::Tensor>& t) { return present(t) ? *t : at::Tensor(); }
inline std::optional<at::Tensor> opt(const at::Tensor& t) {
  return t.defined() ? std::optional<at::Tensor>(t) : std::nullopt;
}

inline std::optional<double> alpha_of(const c10::IValue& v) {
  return v.isNone() ? std::nullopt : std::optional<double>(v.toDouble());
}

// ---------------------------------------------------------------- op handles
#define TORCH_ACT_OP_HANDLE_(fn, name, sig)                                             \
  inline auto& fn##_handle() {                                                          \
    static auto op = c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<sig>(); \
    return op;                                                                          \
  }

using LinearActSig = at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&,
                                c10::string_view, std::optional<double>, c10::string_view);
using ActMaskSig = at::Tensor(const at::Tensor&, c10::string_view, std::optional<double>);
using MaskGradSig = at::Tensor(const at::Tensor&, const at::Tensor&, c10::string_view,
                               std::optional<double>);
using LinearActFwdSig = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&,
                                                           const std::optional<at::Tensor>&,
                                                           c10::string_view, std::optional<double>);
using LinearActBwdSig = std::tuple<at::Tensor, at::Tensor, at::Tensor>(
    const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, c10::string_view,
    std::optional<double>, std::array<bool, 3>);
using ActivationSig = at::Tensor(const at::Tensor&, c10::string_view, std::optional<double>);
using ActivationBwdSig = at::Tensor(const at::Tensor&, const at::Tensor&, c10::string_view,
                                    std::optional<double>);
using ActivationDerivSig = at::Tensor(const at::Tensor&, const at::Tensor&, c10::string_view,
                                      std::optional<double>, int64_t);
using MlpSig = at::Tensor(const at::Tensor&, at::TensorList, const BiasList&,
                          const std::vector<std::string>&, const std::vector<std::optional<double>>&);
using MlpFwdSig = std::vector<at::Tensor>(const at::Tensor&, at::TensorList, const BiasList&,
                                          const std::vector<std::string>&,
                                          const std::vector<std::optional<double>>&);
using MlpBwdSig = std::vector<at::Tensor>(const at::Tensor&, const at::Tensor&, at::TensorList,
                                          const BiasList&, at::TensorList,
                                          const std::vector<std::string>&,
                                          const std::vector<std::optional<double>>&, bool);

TORCH_ACT_OP_HANDLE_(linear_act, "torch_act::linear_act", LinearActSig)
TORCH_ACT_OP_HANDLE_(linear_act_fwd, "torch_act::_linear_act_fwd", LinearActFwdSig)
TORCH_ACT_OP_HANDLE_(linear_act_bwd, "torch_act::_linear_act_bwd", LinearActBwdSig)
TORCH_ACT_OP_HANDLE_(activation, "torch_act::activation", ActivationSig)
TORCH_ACT_OP_HANDLE_(act_mask, "torch_act::_act_mask", ActMaskSig)
TORCH_ACT_OP_HANDLE_(mask_grad, "torch_act::_mask_grad", MaskGradSig)
TORCH_ACT_OP_HANDLE_(activation_bwd, "torch_act::_activation_bwd", ActivationBwdSig)
TORCH_ACT_OP_HANDLE_(activation_deriv, "torch_act::_activation_deriv", ActivationDerivSig)
TORCH_ACT_OP_HANDLE_(mlp, "torch_act::mlp", MlpSig)
TORCH_ACT_OP_HANDLE_(mlp_fwd, "torch_act::_mlp_fwd", MlpFwdSig)
TORCH_ACT_OP_HANDLE_(mlp_bwd, "torch_act::_mlp_bwd", MlpBwdSig)
// mlp_flat (csrc/mlp_flat.cpp)
using Bools = c10::List<bool>;
using Names = std::vector<std::string>;
using Alphas = std::vector<std::optional<double>>;
using MlpFlatSig = at::Tensor(const at::Tensor&, const at::Tensor&, c10::IntArrayRef, const Bools&,
                              const Names&, const Alphas&);
using MlpFlatBwdSig = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&,
                                                         const at::Tensor&, c10::IntArrayRef,
                                                         const Bools&, at::TensorList, const Names&,
                                                         const Alphas&, bool);
TORCH_ACT_OP_HANDLE_(mlp_flat, "torch_act::mlp_flat", MlpFlatSig)
TORCH_ACT_OP_HANDLE_(mlp_flat_bwd, "torch_act::_mlp_flat_bwd", MlpFlatBwdSig)
#undef TORCH_ACT_OP_HANDLE_

// ------------------------------------------------ differentiable building blocks
// D_order(g, s) through the dispatcher, so its own autograd applies
// (autograd.cpp: _activation_deriv).  Identity's first derivative is g.
at::Tensor act_deriv(const at::Tensor& g, const at::Tensor& s, const Activation& act,
                     c10::string_view name, std::optional<double> alpha, int64_t order);

// The forward of one linear + activation layer from differentiable pieces:
// (y, s) with s the tensor its backward reads (y or z; y for identity).
// y comes from our linear_act op (its Node) when the backward reads y, else
// from at::linear and our activation op (z is needed with a graph).
std::tuple<at::Tensor, at::Tensor> layer_forward_graph(const at::Tensor& x, const at::Tensor& w,
                                                       const std::optional<at::Tensor>& b,
                                                       const Activation& act, double a,
                                                       c10::string_view name,
                                                       std::optional<double> alpha);

// The autograd kernel of _linear_act_bwd (autograd.cpp); mlp's composite
// backward chains it layer by layer.
std::tuple<at::Tensor, at::Tensor, at::Tensor> linear_act_bwd_autograd(
    const at::Tensor& grad, const at::Tensor& input, const at::Tensor& weight,
    const at::Tensor& saved, c10::string_view activation, std::optional<double> alpha,
    std::array<bool, 3> mask);

// The autograd kernel of _linear_act_fwd (autograd.cpp).
std::tuple<at::Tensor, at::Tensor> linear_act_fwd_autograd(const at::Tensor& input,
                                                           const at::Tensor& weight,
                                                           const std::optional<at::Tensor>& bias,
                                                           c10::string_view activation,
                                                           std::optional<double> alpha);

}  // namespace autograd_detail
}  // namespace torch_act
