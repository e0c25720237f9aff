// The reference for the C++ tests: every torch_act activation written with
// LibTorch's own functions, and small comparison helpers.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <map>
#include <optional>
#include <string>

namespace ta_test {

struct RefAct {
  std::function<torch::Tensor(const torch::Tensor&, double)> fn;
  bool has_alpha;
  double default_alpha;  // used when alpha is std::nullopt
  double other_alpha;    // a non-default value to test with (when has_alpha)
};

inline const std::map<std::string, RefAct>& reference_activations() {
  using T = torch::Tensor;
  static const std::map<std::string, RefAct> m = {
      {"identity", {[](const T& z, double) { return z; }, false, 0, 0}},
      {"relu", {[](const T& z, double) { return torch::relu(z); }, false, 0, 0}},
      {"leaky_relu", {[](const T& z, double a) { return torch::leaky_relu(z, a); }, true, 0.01, 0.2}},
      {"sigmoid", {[](const T& z, double) { return torch::sigmoid(z); }, false, 0, 0}},
      {"tanh", {[](const T& z, double) { return torch::tanh(z); }, false, 0, 0}},
      {"softmax", {[](const T& z, double) { return torch::softmax(z, -1); }, false, 0, 0}},
      {"log_softmax", {[](const T& z, double) { return torch::log_softmax(z, -1); }, false, 0, 0}},
      {"gelu", {[](const T& z, double) { return torch::gelu(z); }, false, 0, 0}},
      {"gelu_tanh", {[](const T& z, double) { return torch::gelu(z, "tanh"); }, false, 0, 0}},
      {"silu", {[](const T& z, double) { return torch::silu(z); }, false, 0, 0}},
      {"elu", {[](const T& z, double a) { return torch::elu(z, a); }, true, 1.0, 0.5}},
      {"softplus", {[](const T& z, double a) { return torch::softplus(z, a, 20.0); }, true, 1.0, 2.0}},
      {"mish", {[](const T& z, double) { return torch::mish(z); }, false, 0, 0}},
      {"hardswish", {[](const T& z, double) { return torch::hardswish(z); }, false, 0, 0}},
      {"relu6", {[](const T& z, double) { return torch::hardtanh(z, 0.0, 6.0); }, false, 0, 0}},
      // hardsigmoid and celu as formulas: LibTorch's float64 backward kernels round
      // 1/6 and 1/alpha to float32, torch_act's derivatives use them exactly
      {"hardsigmoid", {[](const T& z, double) { return torch::clamp(z + 3, 0, 6) / 6; }, false, 0, 0}},
      {"selu", {[](const T& z, double) { return torch::selu(z); }, false, 0, 0}},
      {"celu", {[](const T& z, double a) { return torch::where(z > 0, z, a * torch::expm1(z / a)); }, true, 1.0, 0.5}},
      {"softsign", {[](const T& z, double) { return z / (z.abs() + 1); }, false, 0, 0}},
      {"logsigmoid", {[](const T& z, double) { return torch::log_sigmoid(z); }, false, 0, 0}},
      {"tanhshrink", {[](const T& z, double) { return z - torch::tanh(z); }, false, 0, 0}},
      {"squared_relu", {[](const T& z, double) { return torch::relu(z).square(); }, false, 0, 0}},
      {"sin", {[](const T& z, double a) { return torch::sin(a * z); }, true, 1.0, 2.5}},
      {"quick_gelu", {[](const T& z, double) { return z * torch::sigmoid(1.702 * z); }, false, 0, 0}},
  };
  return m;
}

// The reference for one activation; fails the test when torch_act has an
// activation this file does not know yet.
inline const RefAct& act_ref(const std::string& name) {
  const auto& m = reference_activations();
  auto it = m.find(name);
  if (it == m.end()) {
    ADD_FAILURE() << "tests/cpp/reference.h has no LibTorch reference for activation '" << name
                  << "': add one";
    static const RefAct none{[](const torch::Tensor& z, double) { return z; }, false, 0, 0};
    return none;
  }
  return it->second;
}

struct Tol {
  double rtol, atol;
};
inline Tol tol(torch::Dtype dtype) {
  return dtype == torch::kFloat64 ? Tol{1e-9, 1e-10} : Tol{1e-4, 1e-5};
}

// allclose with a readable failure: the largest difference and where.
inline ::testing::AssertionResult close(const torch::Tensor& got, const torch::Tensor& want,
                                        Tol t) {
  if (got.sizes() != want.sizes()) {
    return ::testing::AssertionFailure() << "shape " << got.sizes() << " != " << want.sizes();
  }
  if (got.scalar_type() != want.scalar_type()) {
    return ::testing::AssertionFailure() << "dtype " << got.scalar_type() << " != " << want.scalar_type();
  }
  if (torch::allclose(got, want, t.rtol, t.atol)) return ::testing::AssertionSuccess();
  const auto diff = (got - want).abs().to(torch::kFloat64).flatten();
  const int64_t i = diff.argmax().item<int64_t>();
  return ::testing::AssertionFailure()
         << "max |diff| " << diff[i].item<double>() << " at flat index " << i << ": got "
         << got.flatten()[i].item<double>() << ", want " << want.flatten()[i].item<double>()
         << " (rtol " << t.rtol << ", atol " << t.atol << ")";
}

// Runs f, expects a c10::Error whose message contains `needle`.
template <class F>
::testing::AssertionResult throws_with(F&& f, const std::string& needle) {
  try {
    f();
  } catch (const c10::Error& e) {
    const std::string msg = e.what_without_backtrace();
    if (msg.find(needle) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "c10::Error without '" << needle << "': " << msg;
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "not a c10::Error: " << e.what();
  }
  return ::testing::AssertionFailure() << "no exception (expected one with '" << needle << "')";
}

}  // namespace ta_test
