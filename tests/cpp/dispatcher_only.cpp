// A program that uses torch_act's ops only through the dispatcher (as a
// TorchScript model or a generic op runner would): it references no symbol of
// libtorch_act.so, so only TorchAct::torch_act's --no-as-needed link keeps
// the library, and with it the op registrations, in the program.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <cstdio>

int main() {
  const auto schema = c10::Dispatcher::singleton().findSchema({"torch_act::linear_act", ""});
  if (!schema.has_value()) {
    std::printf("FAIL: torch_act::linear_act is not registered (libtorch_act.so not loaded)\n");
    return 1;
  }
  const auto op = schema->typed<at::Tensor(const at::Tensor&, const at::Tensor&,
                                           const std::optional<at::Tensor>&, c10::string_view,
                                           std::optional<double>, c10::string_view)>();
  const at::Tensor x = at::randn({4, 3});
  const at::Tensor w = at::randn({2, 3});
  const at::Tensor y = op.call(x, w, std::nullopt, "relu", std::nullopt, "auto");
  if (!at::allclose(y, at::relu(at::matmul(x, w.t())), 1e-5, 1e-6)) {
    std::printf("FAIL: wrong values\n");
    return 1;
  }
  std::printf("OK: torch_act::linear_act through the dispatcher\n");
  return 0;
}
