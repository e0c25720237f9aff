// torch_act — the public C++ API for LibTorch programs (no Python needed).
//
// Every function calls the registered operator through the dispatcher, so the
// C++ autograd (csrc/autograd.cpp) applies: gradients work from C++ exactly as
// from Python.  Link against the op library (CMake: TorchAct::torch_act; see
// docs/cpp.md).  Installed as <torch_act/torch_act.h>; it also brings in the
// LibTorch-style modules (torch_act::nn::Linear, torch_act_nn.h) unless
// TORCH_ACT_NO_MODULES is defined (the op library itself builds without them).
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <string>
#include <vector>

namespace torch_act {

// act(input @ weight.T + bias); input [..., K], weight [N, K], bias [N] -> [..., N].
// save: what backward keeps -- "auto", "mask", "output", "input" or
// "recompute" (docs/memory.md).
at::Tensor linear_act(const at::Tensor& input, const at::Tensor& weight,
                      const std::optional<at::Tensor>& bias = std::nullopt,
                      const std::string& activation = "identity",
                      std::optional<double> alpha = std::nullopt,
                      const std::string& save = "auto");

// A stack of L linear+activation layers as one op with one autograd node:
// h_0 = input, h_{i+1} = act_i(h_i @ weights[i].T + biases[i]); returns h_L.
// biases, activations need one entry per layer (std::nullopt: no bias);
// alphas too, or leave it empty for every activation's default.
at::Tensor mlp(const at::Tensor& input, at::TensorList weights,
               const std::vector<std::optional<at::Tensor>>& biases,
               const std::vector<std::string>& activations,
               const std::vector<std::optional<double>>& alphas = {});

// mlp with every layer's parameters in ONE 1-D tensor `params`: layer i's
// weight [sizes[i+1], sizes[i]] (row-major) then, when bias[i], its bias
// [sizes[i+1]], layer after layer.  sizes lists the L+1 features
// ({in, hidden..., out}); bias, activations (and alphas, or empty) one entry
// per layer.  A training step pays for one parameter's autograd bookkeeping
// instead of 2L (docs/autograd.md, "mlp_flat").
at::Tensor mlp_flat(const at::Tensor& input, const at::Tensor& params, at::IntArrayRef sizes,
                    const std::vector<bool>& bias, const std::vector<std::string>& activations,
                    const std::vector<std::optional<double>>& alphas = {});

// Gated linear unit: act(input @ gate_weight.T + gate_bias) * (input @ up_weight.T + up_bias);
// input [..., K], weights [N, K], biases [N] -> [..., N]; act any elementwise activation.
at::Tensor linear_glu(const at::Tensor& input, const at::Tensor& gate_weight,
                      const at::Tensor& up_weight,
                      const std::optional<at::Tensor>& gate_bias = std::nullopt,
                      const std::optional<at::Tensor>& up_bias = std::nullopt,
                      const std::string& activation = "silu",
                      std::optional<double> alpha = std::nullopt);

// The activation alone (softmax / log_softmax over the last dim).
at::Tensor activation(const at::Tensor& input, const std::string& activation,
                      std::optional<double> alpha = std::nullopt);

// cross_entropy(input @ linear_weight.T + linear_bias, target, weight, reduction,
// ignore_index, label_smoothing) without materialising the logits (the same
// results as torch.nn.functional.linear_cross_entropy; docs/cross_entropy.md).
// input [N, K] or [K], linear_weight [C, K], target [N] (or 0-d) int64 class
// indices, linear_bias [C], weight [C] class weights; reduction "mean", "sum"
// or "none".
at::Tensor linear_cross_entropy(const at::Tensor& input, const at::Tensor& linear_weight,
                                const at::Tensor& target,
                                const std::optional<at::Tensor>& linear_bias = std::nullopt,
                                const std::optional<at::Tensor>& weight = std::nullopt,
                                const std::string& reduction = "mean", int64_t ignore_index = -100,
                                double label_smoothing = 0.0);

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

#ifndef TORCH_ACT_NO_MODULES
#include "torch_act_nn.h"
#endif
