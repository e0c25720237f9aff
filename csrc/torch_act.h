// torch_act — the public C++ API for LibTorch programs (no Python needed).
//
// Every function calls the registered operator through the dispatcher, so the
// C++ autograd (csrc/autograd.cpp) applies: gradients work from C++ exactly as
// from Python.  Link against the op library (CMake: TorchAct::torch_act).
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <string>
#include <vector>

namespace torch_act {

// act(input @ weight.T + bias); input [..., K], weight [N, K], bias [N] -> [..., N].
at::Tensor linear_act(const at::Tensor& input, const at::Tensor& weight,
                      const std::optional<at::Tensor>& bias = std::nullopt,
                      const std::string& activation = "identity",
                      std::optional<double> alpha = std::nullopt);

// The activation alone (softmax / log_softmax over the last dim).
at::Tensor activation(const at::Tensor& input, const std::string& activation,
                      std::optional<double> alpha = std::nullopt);

// What this build of the library contains.
struct BuildInfo {
  std::string version;
  std::vector<std::string> cpu_isas;   // compiled in, best first
  bool with_cuda = false;
  std::string cuda_arch_list;          // e.g. "8.0;9.0", empty when CPU only
  std::string torch_version;           // the torch it was built against
};
BuildInfo build_info();

// Names of every activation, in table order.
std::vector<std::string> activation_names();

}  // namespace torch_act
