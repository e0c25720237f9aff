// torch_act — linear_glu's schemas, argument checks and autocast rule:
//   linear_glu(input, gate_weight, up_weight, gate_bias, up_bias, activation, alpha)
//     = act(input . gate_weight^T + gate_bias) * (input . up_weight^T + up_bias)
// The kernels are registered per backend beside the others (csrc/glu.h:
// register_glu_backend), the autograd in csrc/glu_autograd.cpp.
#include <ATen/autocast_mode.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include "glu.h"

namespace torch_act {

const Activation& identity_activation() {
  static const Activation* id = find_activation("identity");
  TORCH_CHECK(id != nullptr, "torch_act: the built-in identity is not registered");
  return *id;
}

namespace {
void check_glu_weight(const char* op, const char* arg, const at::Tensor& input,
                      const at::Tensor& w) {
  check_float_dtype(op, arg, w);
  TORCH_CHECK(w.dim() == 2, op, ": ", arg, " must be 2-D [N, K] (the nn.Linear layout), got ",
              w.dim(), "-D with shape ", w.sizes());
  TORCH_CHECK(w.size(1) == input.size(-1), op, ": ", arg, ".size(1) (", arg, " shape ", w.sizes(),
              ") must equal the input's last dimension K=", input.size(-1));
  TORCH_CHECK(w.scalar_type() == input.scalar_type(), op, ": ", arg, " dtype (", w.scalar_type(),
              ") must match input dtype (", input.scalar_type(), ")");
  TORCH_CHECK(w.device() == input.device(), op, ": ", arg, " is on ", w.device(),
              " but input is on ", input.device(), "; move both to one device");
}

void check_glu_bias(const char* op, const char* arg, const at::Tensor& input, int64_t n,
                    const std::optional<at::Tensor>& b) {
  if (!b.has_value() || !b->defined()) return;
  check_float_dtype(op, arg, *b);
  TORCH_CHECK(b->dim() == 1 && b->size(0) == n, op, ": ", arg, " must be 1-D of size N=", n,
              " (gate_weight.size(0)), got shape ", b->sizes());
  TORCH_CHECK(b->scalar_type() == input.scalar_type(), op, ": ", arg, " dtype (",
              b->scalar_type(), ") must match input dtype (", input.scalar_type(), ")");
  TORCH_CHECK(b->device() == input.device(), op, ": ", arg, " is on ", b->device(),
              " but input is on ", input.device(), "; move both to one device");
}
}  // namespace

std::pair<const Activation*, double> check_glu_args(
    const char* op, const at::Tensor& input, const at::Tensor& gate_weight,
    const at::Tensor& up_weight, const std::optional<at::Tensor>& gate_bias,
    const std::optional<at::Tensor>& up_bias, c10::string_view activation,
    std::optional<double> alpha) {
  const Activation& act = parse_act(op, activation);
  TORCH_CHECK_VALUE(act.rowwise == Rowwise::None, op, ": the gate activation must be elementwise; '",
                    act.name, "' normalises rows (softmax / log_softmax cannot gate)");
  const double a = resolve_alpha(op, act, alpha);
  check_float_dtype(op, "input", input);
  TORCH_CHECK(input.dim() >= 1, op,
              ": input must have at least 1 dimension [..., K], got a 0-d tensor");
  check_glu_weight(op, "gate_weight", input, gate_weight);
  check_glu_weight(op, "up_weight", input, up_weight);
  TORCH_CHECK(up_weight.sizes() == gate_weight.sizes(), op, ": up_weight shape ",
              up_weight.sizes(), " must equal gate_weight shape ", gate_weight.sizes());
  const int64_t n = gate_weight.size(0);
  check_glu_bias(op, "gate_bias", input, n, gate_bias);
  check_glu_bias(op, "up_bias", input, n, up_bias);
  return {&act, a};
}

namespace {
// Autocast: like linear_act, run in the autocast dtype (inputs cast with
// autocast's weight cache), redispatched below autocast.
template <c10::DeviceType D, c10::DispatchKey Key>
struct GluAutocast {
  static at::Tensor cast(const at::Tensor& t) {
    return at::autocast::cached_cast(at::autocast::get_autocast_dtype(D), t, D);
  }
  static std::optional<at::Tensor> cast(const std::optional<at::Tensor>& t) {
    return t.has_value() ? std::optional<at::Tensor>(cast(*t)) : std::nullopt;
  }
  static at::Tensor fn(const at::Tensor& input, const at::Tensor& gate_weight,
                       const at::Tensor& up_weight, const std::optional<at::Tensor>& gate_bias,
                       const std::optional<at::Tensor>& up_bias, c10::string_view activation,
                       std::optional<double> alpha) {
    c10::impl::ExcludeDispatchKeyGuard no_autocast(Key);
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("torch_act::linear_glu", "")
                         .typed<decltype(fn)>();
    return op.call(cast(input), cast(gate_weight), cast(up_weight), cast(gate_bias),
                   cast(up_bias), activation, alpha);
  }
};
}  // namespace

}  // namespace torch_act

TORCH_LIBRARY_FRAGMENT(torch_act, m) {
  m.def(
      "linear_glu(Tensor input, Tensor gate_weight, Tensor up_weight, Tensor? gate_bias=None, "
      "Tensor? up_bias=None, str activation=\"silu\", float? alpha=None) -> Tensor");
  // Internal ops of the C++ autograd (csrc/glu_autograd.cpp).  _linear_glu_fwd
  // returns (out, z) with z = [z_gate | z_up] ([..., 2N], the pre-activations);
  // _linear_glu_bwd the gradients for (input, gate_weight, up_weight,
  // gate_bias, up_bias), those not in output_mask empty.
  m.def(
      "_linear_glu_fwd(Tensor input, Tensor gate_weight, Tensor up_weight, Tensor? gate_bias, "
      "Tensor? up_bias, str activation, float? alpha) -> (Tensor, Tensor)");
  m.def(
      "_linear_glu_bwd(Tensor grad_out, Tensor input, Tensor gate_weight, Tensor up_weight, "
      "Tensor saved, str activation, float? alpha, bool[5] output_mask) "
      "-> (Tensor, Tensor, Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(torch_act, AutocastCPU, m) {
  m.impl("linear_glu",
         &torch_act::GluAutocast<c10::DeviceType::CPU, c10::DispatchKey::AutocastCPU>::fn);
}

TORCH_LIBRARY_IMPL(torch_act, AutocastCUDA, m) {
  m.impl("linear_glu",
         &torch_act::GluAutocast<c10::DeviceType::CUDA, c10::DispatchKey::AutocastCUDA>::fn);
}
