// torch_act — gated linear units, device-independent glue:
//   linear_glu(x, Wg, Wu, bg, bu, act) = act(x . Wg^T + bg) * (x . Wu^T + bu)
// Weights [N, K] (nn.Linear layout), input [..., K], output [..., N].
//
// Any backend kernel set K (the one ops.h's OpImpls takes: linear_act_forward,
// linear_act_backward, activation_forward, activation_backward) runs it:
//   forward:  z = [z_gate | z_up] = x . cat(Wg, Wu)^T + cat(bg, bu)   ONE GEMM
//             (the identity's linear_act over both weights, [M, 2N]),
//             then out = act(z_gate) * z_up (the activation's elementwise kernel, one mul).
//   saved:    z ([..., 2N], the pre-activations of both halves); act(z_gate) is
//             recomputed in backward (one elementwise pass instead of M*N more saved memory).
//   backward: d_gate = (g * z_up) * act'(z_gate)  (the activation's backward,
//             from act(z_gate) when it saves its output, else z_gate),
//             d_up = g * act(z_gate): one pass where K has
//             linear_glu_backward_gate (CPU), else the activation's forward and
//             backward kernels and two products; then the identity's linear_act_backward once
//             per half: d_input_half = d_half . W_half and dW_half = d_half^T . X
//             (straight into its output) in one call, bias gradients as
//             deterministic column sums, and d_input = the two halves' sum (no
//             copy of the weights into cat(Wg, Wu); A/B timings in
//             benchmarks/RESULTS.md).
// A backend whose K also has linear_glu_forward runs the forward with it
// instead (K > 0): the CPU (one GEMM pass with both products in the same
// register tile and the gate in the epilogue, kernels/cpu/glu.cpp) and CUDA
// (one GEMM over weights interleaved per block tile, the gate in the
// epilogue, kernels/cuda/glu.cu; a plugin's gate runs the composition above
// inside it).  K = 0 takes the composition on both.
// Checks happen here, before any kernel runs; errors name the argument.
#pragma once

#include <ATen/ops/cat.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/mul.h>
#include <ATen/ops/zeros.h>

#include <array>
#include <optional>
#include <tuple>

#include "ops.h"

namespace torch_act {

// Checks linear_glu's arguments; returns the gate activation and its alpha.
std::pair<const Activation*, double> check_glu_args(
    const char* op, const at::Tensor& input, const at::Tensor& gate_weight,
    const at::Tensor& up_weight, const std::optional<at::Tensor>& gate_bias,
    const std::optional<at::Tensor>& up_bias, c10::string_view activation,
    std::optional<double> alpha);

// The built-in identity (the GEMMs of both directions).
const Activation& identity_activation();

template <class K>
struct GluImpls {
  // cat(bg, bu) (a missing one as zeros), or undefined when both are missing.
  static at::Tensor stacked_bias(const at::Tensor& ref, int64_t n,
                                 const std::optional<at::Tensor>& bg,
                                 const std::optional<at::Tensor>& bu) {
    const auto has = [](const std::optional<at::Tensor>& b) { return b.has_value() && b->defined(); };
    if (!has(bg) && !has(bu)) return at::Tensor();
    return at::cat({has(bg) ? *bg : at::zeros({n}, ref.options()),
                    has(bu) ? *bu : at::zeros({n}, ref.options())});
  }

  // (out [..., N], z [..., 2N]); z is empty when !save.
  static std::tuple<at::Tensor, at::Tensor> forward_impl(
      const char* op, const at::Tensor& input, const at::Tensor& gate_weight,
      const at::Tensor& up_weight, const std::optional<at::Tensor>& gate_bias,
      const std::optional<at::Tensor>& up_bias, c10::string_view activation,
      std::optional<double> alpha, bool save) {
    const auto [act, a] =
        check_glu_args(op, input, gate_weight, up_weight, gate_bias, up_bias, activation, alpha);
    const int64_t n = gate_weight.size(0);
    const at::Tensor x = flatten_rows(input);
    const int64_t m = x.size(0);
    if constexpr (requires { K::linear_glu_forward; }) {
      if (x.size(1) > 0) {  // the backend's one-pass kernel (kernels/cpu/glu.cpp, kernels/cuda/glu.cu)
        const auto has = [](const std::optional<at::Tensor>& t) { return t.has_value() && t->defined(); };
        at::Tensor out = at::empty(linear_out_shape(input, n), input.options());
        at::Tensor z = save ? at::empty(linear_out_shape(input, 2 * n), input.options()) : at::Tensor();
        K::linear_glu_forward(x, gate_weight, up_weight, has(gate_bias) ? gate_bias->contiguous() : at::Tensor(),
                              has(up_bias) ? up_bias->contiguous() : at::Tensor(), act->kernels, a,
                              rows_view(out, m, n), save ? rows_view(z, m, 2 * n) : z);
        return {out, save ? z : at::empty({0}, input.options())};
      }
    }
    const at::Tensor w = at::cat({gate_weight, up_weight}, 0);
    const at::Tensor b = stacked_bias(input, n, gate_bias, up_bias);
    at::Tensor z = at::empty(linear_out_shape(input, 2 * n), input.options());
    const Activation& id = identity_activation();
    K::linear_act_forward(x, w, b, id.kernels, 0.0, rows_view(z, m, 2 * n), at::Tensor());
    const at::Tensor z2 = rows_view(z, m, 2 * n);
    const at::Tensor zg = z2.narrow(1, 0, n).contiguous();
    at::Tensor h = at::empty({m, n}, input.options());
    K::activation_forward(zg, act->kernels, a, h);
    h.mul_(z2.narrow(1, n, n));
    at::Tensor out = h.view(linear_out_shape(input, n));
    return {out, save ? z : at::empty({0}, input.options())};
  }

  static at::Tensor linear_glu(const at::Tensor& input, const at::Tensor& gate_weight,
                               const at::Tensor& up_weight,
                               const std::optional<at::Tensor>& gate_bias,
                               const std::optional<at::Tensor>& up_bias,
                               c10::string_view activation, std::optional<double> alpha) {
    return std::get<0>(forward_impl("linear_glu", input, gate_weight, up_weight, gate_bias,
                                    up_bias, activation, alpha, /*save=*/false));
  }

  static std::tuple<at::Tensor, at::Tensor> linear_glu_fwd(
      const at::Tensor& input, const at::Tensor& gate_weight, const at::Tensor& up_weight,
      const std::optional<at::Tensor>& gate_bias, const std::optional<at::Tensor>& up_bias,
      c10::string_view activation, std::optional<double> alpha) {
    return forward_impl("linear_glu", input, gate_weight, up_weight, gate_bias, up_bias,
                        activation, alpha, /*save=*/true);
  }

  // Gradients for (input, gate_weight, up_weight, gate_bias, up_bias); those
  // not in output_mask come back empty.
  static std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> linear_glu_bwd(
      const at::Tensor& grad_out, const at::Tensor& input, const at::Tensor& gate_weight,
      const at::Tensor& up_weight, const at::Tensor& saved, c10::string_view activation,
      std::optional<double> alpha, std::array<bool, 5> mask) {
    const char* op = "_linear_glu_bwd";
    const auto [act, a] = check_glu_args(op, input, gate_weight, up_weight, std::nullopt,
                                         std::nullopt, activation, alpha);
    const int64_t n = gate_weight.size(0), k = gate_weight.size(1);
    const auto shape = linear_out_shape(input, n);
    const auto zshape = linear_out_shape(input, 2 * n);
    TORCH_CHECK(grad_out.sizes() == c10::IntArrayRef(shape), op, ": grad_out must have shape ",
                c10::IntArrayRef(shape), ", got ", grad_out.sizes());
    TORCH_CHECK(grad_out.scalar_type() == input.scalar_type(), op,
                ": grad_out dtype must match input (", input.scalar_type(), "), got ",
                grad_out.scalar_type());
    TORCH_CHECK(grad_out.device() == input.device(), op, ": grad_out must be on ", input.device(),
                ", got ", grad_out.device());
    TORCH_CHECK(saved.sizes() == c10::IntArrayRef(zshape), op,
                ": saved (the pre-activations [z_gate | z_up]) must have shape ",
                c10::IntArrayRef(zshape), ", got ", saved.sizes());
    TORCH_CHECK(saved.scalar_type() == input.scalar_type() && saved.device() == input.device(),
                op, ": saved must match input's dtype and device");
    const auto opts = input.options();
    const at::Tensor x = flatten_rows(input);
    const int64_t m = x.size(0);
    const at::Tensor z = rows_view(saved.contiguous(), m, 2 * n);
    const at::Tensor g = rows_reshape(grad_out, m, n);
    // d_up = g * act(z_gate), d_gate = act'(z_gate) * (g * z_up)
    at::Tensor d_up, d_gate = at::empty({m, n}, opts);
    if constexpr (requires { K::linear_glu_backward_gate; }) {
      d_up = at::empty({m, n}, opts);  // one pass (kernels/cpu/impl_rows.h: glu_dz_rows)
      K::linear_glu_backward_gate(g, z, act->kernels, a, d_gate, d_up);
    } else {
      const at::Tensor zg = z.narrow(1, 0, n).contiguous();
      at::Tensor h = at::empty({m, n}, opts);
      K::activation_forward(zg, act->kernels, a, h);  // act(z_gate)
      d_up = at::mul(g, h);
      const at::Tensor gu = at::mul(g, z.narrow(1, n, n)).contiguous();  // g may be transposed
      at::Tensor s;
      if (act->saves != Saves::Nothing) s = act->backward_uses_output(a) ? h : zg;
      K::activation_backward(gu, s, act->kernels, a, d_gate);
    }

    // One backward GEMM pair per half: d_input_half = d_half . W_half,
    // d_W_half = d_half^T . x (straight into its output), bias gradients as
    // deterministic column sums; d_input = the two halves' sum (what eager's
    // autograd adds too).  No concatenated [Wg; Wu] copy of the weights.
    at::Tensor dx = mask[0] ? at::empty(input.sizes(), opts) : at::empty({0}, opts);
    at::Tensor dx_up = mask[0] ? at::empty({m, k}, opts) : at::Tensor();
    const Activation& id = identity_activation();
    std::array<at::Tensor, 4> wb;
    for (int part = 0; part < 2; ++part) {  // 0: gate, 1: up
      const bool ww = mask[1 + part], wbias = mask[3 + part];
      wb[part] = ww ? at::empty({n, k}, opts) : at::empty({0}, opts);
      wb[2 + part] = wbias ? at::empty({n}, opts) : at::empty({0}, opts);
      if (!mask[0] && !ww && !wbias) continue;
      const at::Tensor dxp = !mask[0] ? at::Tensor() : part == 0 ? rows_view(dx, m, k) : dx_up;
      K::linear_act_backward(part == 0 ? d_gate : d_up, x, part == 0 ? gate_weight : up_weight,
                             at::Tensor(), id.kernels, 0.0, dxp, ww ? wb[part] : at::Tensor(),
                             wbias ? wb[2 + part] : at::Tensor());
    }
    if (mask[0]) rows_view(dx, m, k).add_(dx_up);
    return {dx, wb[0], wb[1], wb[2], wb[3]};
  }
};

// Registers linear_glu's kernels for one backend (beside register_backend<K>).
template <class K>
void register_glu_backend(torch::Library& m) {
  using Impl = GluImpls<K>;
  m.impl("linear_glu", &Impl::linear_glu);
  m.impl("_linear_glu_fwd", &Impl::linear_glu_fwd);
  m.impl("_linear_glu_bwd", &Impl::linear_glu_bwd);
}

}  // namespace torch_act
