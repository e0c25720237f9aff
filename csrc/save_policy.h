// torch_act — saved-tensor policies: what a layer's backward keeps from its
// forward (`save=` of linear_act, torch_act.nn.Linear).
//
//   "output"     y = act(z), for activations whose derivative is written in y
//   "input"      the pre-activation z (activations written in y: y is
//                recomputed from z in backward, one elementwise pass)
//   "mask"       one bit per element, packed 8 to a byte along the last dim
//                ([..., ceil(N/8)] uint8), for activations whose derivative
//                takes two values (kernels/activations.h: kMask -- relu,
//                leaky_relu, relu6, hardsigmoid); backward is g * slope(bit)
//   "recompute"  nothing beyond what the GEMMs need (x, W, b): z is recomputed
//                in backward by one more GEMM
//   "auto"       the least memory at no measurable extra work: the mask for an
//                activation with one when auto_mask_applies (plain CPU tensors, a
//                layer big enough that the two mask passes -- SIMD, about the cost
//                of the activation's own backward pass -- and the extra op call
//                are lost in the GEMMs), else output or input as the derivative
//                reads
// The identity keeps nothing under any policy.  The ops here: _act_mask
// packs the bits, _mask_grad expands them into dz; both run the backend's
// kernels (CPU: kernels/cpu/linear_act.cpp; CUDA: the ATen composite below,
// built on our activation backward kernel).
#pragma once

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <optional>
#include <string>
#include <utility>

#include "ops.h"

namespace torch_act {

enum class SaveKind : int { Nothing = 0, Output = 1, Input = 2, Mask = 3, Recompute = 4 };

inline const char* save_kind_name(SaveKind k) {
  switch (k) {
    case SaveKind::Nothing: return "nothing";
    case SaveKind::Output: return "output";
    case SaveKind::Input: return "input";
    case SaveKind::Mask: return "mask";
    default: return "recompute";
  }
}

// The policy `save` for activation `act` (parameter a): raises ValueError for
// an unknown policy, "mask" for an activation without one, "output" for one
// whose backward needs z.
// mask_for_auto: what "auto" means for an activation with a mask (the
// caller's auto_mask_applies).
SaveKind resolve_save(const char* op, const Activation& act, double a, c10::string_view save,
                      bool mask_for_auto = false);

// "auto" keeps the bits instead of the output / pre-activation of a layer
// x [..., K] . w[N, K]^T when: both are plain strided CPU tensors (no tensor
// subclass such as DTensor or a FakeTensor, no functorch wrapper: those keep
// what the derivative reads, as on CUDA, where the mask ops are ATen
// composites), the output has at least kAutoMaskMinOutputs elements and the
// layer at least kAutoMaskMinMacs multiply-adds.  Measured (benchmarks/
// RESULTS.md, "save=auto"): from 256x512->512 on, mask and output layers take
// the same time within +-2%; a 64x10->5 layer pays the two extra op calls
// (~4 us, +10%) for 2.5 KiB.
constexpr int64_t kAutoMaskMinOutputs = int64_t(1) << 16;
constexpr int64_t kAutoMaskMinMacs = int64_t(1) << 23;
bool auto_mask_applies(const at::Tensor& input, const at::Tensor& weight);

// bits [..., ceil(N/8)] uint8 for s [..., N] (dim >= 1).
inline std::vector<int64_t> mask_shape(c10::IntArrayRef s) {
  std::vector<int64_t> shape(s.begin(), s.end());
  shape.back() = (shape.back() + 7) / 8;
  return shape;
}

void check_mask_act(const char* op, const Activation& act);

// The device-independent version of the two kernels, from ATen ops and the
// backend's activation backward (the one source of the bit: backward(1, s)).
template <class K>
void composite_mask_pack(const at::Tensor& s2, const KernelSet& ks, double a, double off,
                         const at::Tensor& bits) {
  const int64_t m = s2.size(0), n = s2.size(1), nb = bits.size(1);
  at::Tensor d = at::empty_like(s2);
  K::activation_backward(at::ones_like(s2), s2, ks, a, d);
  at::Tensor on = d.ne(at::scalar_tensor(off, d.options())).to(at::kByte);
  on = at::constant_pad_nd(on, {0, nb * 8 - n}).view({m, nb, 8});
  const at::Tensor w = at::pow(2, at::arange(8, on.options().dtype(at::kLong))).to(at::kByte);
  bits.copy_(on.mul(w).sum(-1, false, at::kByte));
}

inline void composite_mask_grad(const at::Tensor& g2, const at::Tensor& bits, double on,
                                double off, const at::Tensor& out) {
  const int64_t m = g2.size(0), n = g2.size(1), nb = bits.size(1);
  const at::Tensor sh = at::arange(8, bits.options().dtype(at::kByte));
  const at::Tensor bit =
      bits.unsqueeze(-1).bitwise_right_shift(sh).bitwise_and(1).view({m, nb * 8}).narrow(1, 0, n).to(at::kBool);
  const at::Tensor a = on == 1.0 ? g2 : g2 * on;
  const at::Tensor b = off == 0.0 ? at::zeros_like(g2) : g2 * off;
  out.copy_(at::where(bit, a, b));
}

// The checks both mask ops share: an activation with a mask, and `arg` a
// float tensor [..., N]; returns the activation and its alpha.
inline std::pair<const Activation*, double> check_mask_op(const char* op, c10::string_view activation,
                                                          std::optional<double> alpha, const char* arg,
                                                          const at::Tensor& t) {
  const Activation& act = parse_act(op, activation);
  const double a = resolve_alpha(op, act, alpha);
  check_mask_act(op, act);
  check_float_dtype(op, arg, t);
  TORCH_CHECK(t.dim() >= 1, op, ": ", arg, " must have at least 1 dimension [..., N], got a 0-d tensor");
  return {&act, a};
}

template <class K>
struct SaveImpls {
  static at::Tensor act_mask(const at::Tensor& saved, c10::string_view activation,
                             std::optional<double> alpha) {
    const auto [act, a] = check_mask_op("_act_mask", activation, alpha, "saved", saved);
    at::Tensor bits = at::empty(mask_shape(saved.sizes()), saved.options().dtype(at::kByte));
    const int64_t n = saved.size(-1);
    const int64_t m = n ? saved.numel() / n : 0;
    if (saved.numel() == 0) return bits;
    K::mask_pack(saved.contiguous().view({m, n}), act->kernels, a, act->mask_slope(false, a),
                 bits.view({m, bits.size(-1)}));
    return bits;
  }

  static at::Tensor mask_grad(const at::Tensor& grad, const at::Tensor& mask,
                              c10::string_view activation, std::optional<double> alpha) {
    const char* op = "_mask_grad";
    const auto [act, a] = check_mask_op(op, activation, alpha, "grad_out", grad);
    TORCH_CHECK(mask.scalar_type() == at::kByte, op, ": mask must be uint8 (the bits _act_mask packs), got ",
                mask.scalar_type());
    TORCH_CHECK(mask.device() == grad.device(), op, ": mask must be on grad_out's device (", grad.device(),
                "), got ", mask.device());
    TORCH_CHECK(mask.sizes() == c10::IntArrayRef(mask_shape(grad.sizes())), op, ": mask must have shape ",
                c10::IntArrayRef(mask_shape(grad.sizes())), " (grad_out's with its last dim N=",
                grad.size(-1), " packed 8 to a byte), got ", mask.sizes());
    at::Tensor out = at::empty(grad.sizes(), grad.options());
    if (grad.numel() == 0) return out;
    const int64_t n = grad.size(-1), m = grad.numel() / n;
    // grad as [m, n] without a copy where its strides allow (a broadcast
    // grad_out, e.g. from y.sum().backward(), keeps its zero strides)
    K::mask_grad(grad.reshape({m, n}), mask.contiguous().view({m, mask.size(-1)}),
                 act->mask_slope(true, a), act->mask_slope(false, a), out.view({m, n}));
    return out;
  }
};

template <class K>
void register_save_backend(torch::Library& m) {
  m.impl("_act_mask", &SaveImpls<K>::act_mask);
  m.impl("_mask_grad", &SaveImpls<K>::mask_grad);
}

}  // namespace torch_act
