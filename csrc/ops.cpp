// torch_act — the one TORCH_LIBRARY: every schema, plus the checks shared by
// all backends.  Backend kernels are registered beside their code
// (csrc/cpu/register.cpp, csrc/cuda_register.cpp), the autograd in
// csrc/autograd.cpp, autocast in csrc/autocast.cpp.
#include "ops.h"

#include <torch/library.h>

#include <sstream>

namespace torch_act {

namespace {
std::string valid_names() {
  std::ostringstream os;
  for (int i = 0; i < kNumActs; ++i) os << (i ? ", " : "") << kActTable[i].name;
  return os.str();
}
}  // namespace

Act parse_act(const char* op, c10::string_view name) {
  Act act;
  const std::string s(name.data(), name.size());
  TORCH_CHECK_VALUE(act_from_name(s.c_str(), &act), op, ": unknown activation '", s,
                    "'; expected one of: ", valid_names());
  return act;
}

double resolve_alpha(const char* op, Act act, std::optional<double> alpha) {
  const ActInfo& info = act_info(act);
  if (!alpha.has_value()) return info.default_alpha;
  TORCH_CHECK_VALUE(info.has_alpha, op, ": activation '", info.name,
                    "' takes no alpha, got alpha=", *alpha,
                    " (alpha is the parameter of leaky_relu, elu and softplus)");
  TORCH_CHECK_VALUE(std::isfinite(*alpha), op, ": alpha must be finite, got ", *alpha);
  if (act == Act::Softplus) {
    TORCH_CHECK_VALUE(*alpha != 0.0, op, ": softplus beta (alpha) must be non-zero");
  }
  return *alpha;
}

void check_float_dtype(const char* op, const char* arg, const at::Tensor& t) {
  TORCH_CHECK(t.defined(), op, ": ", arg, " is an undefined tensor");
  const auto st = t.scalar_type();
  TORCH_CHECK(st == at::kFloat || st == at::kDouble || st == at::kBFloat16 || st == at::kHalf, op,
              ": ", arg, " must be float32, float64, bfloat16 or float16, got ", st);
}

void check_linear_args(const char* op, const at::Tensor& input, const at::Tensor& weight,
                       const std::optional<at::Tensor>& bias) {
  check_float_dtype(op, "input", input);
  check_float_dtype(op, "weight", weight);
  TORCH_CHECK(input.dim() >= 1, op, ": input must have at least 1 dimension [..., K], got a 0-d tensor");
  TORCH_CHECK(weight.dim() == 2, op, ": weight must be 2-D [N, K] (the nn.Linear layout), got ",
              weight.dim(), "-D with shape ", weight.sizes());
  TORCH_CHECK(input.size(-1) == weight.size(1), op, ": input's last dimension (K=",
              input.size(-1), ", input shape ", input.sizes(),
              ") must equal weight.size(1) (weight shape ", weight.sizes(), ")");
  TORCH_CHECK(weight.scalar_type() == input.scalar_type(), op, ": weight dtype (",
              weight.scalar_type(), ") must match input dtype (", input.scalar_type(), ")");
  TORCH_CHECK(weight.device() == input.device(), op, ": weight is on ", weight.device(),
              " but input is on ", input.device(), "; move both to one device");
  if (bias.has_value() && bias->defined()) {
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == weight.size(0), op,
                ": bias must be 1-D of size N=", weight.size(0), " (weight.size(0)), got shape ",
                bias->sizes());
    TORCH_CHECK(bias->scalar_type() == input.scalar_type(), op, ": bias dtype (",
                bias->scalar_type(), ") must match input dtype (", input.scalar_type(), ")");
    TORCH_CHECK(bias->device() == input.device(), op, ": bias is on ", bias->device(),
                " but input is on ", input.device(), "; move both to one device");
  }
}

at::Tensor flatten_rows(const at::Tensor& input) {
  if (input.dim() == 2) return input;
  return input.reshape({-1, input.size(-1)});
}

std::vector<int64_t> linear_out_shape(const at::Tensor& input, int64_t n) {
  std::vector<int64_t> shape(input.sizes().begin(), input.sizes().end());
  shape.back() = n;
  return shape;
}

}  // namespace torch_act

TORCH_LIBRARY(torch_act, m) {
  // Public ops (autograd-aware).
  m.def(
      "linear_act(Tensor input, Tensor weight, Tensor? bias=None, str activation=\"identity\", "
      "float? alpha=None) -> Tensor");
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
  m.def(
      "_activation_bwd(Tensor grad_out, Tensor saved, str activation, float? alpha) -> Tensor");
}
