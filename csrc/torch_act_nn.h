// torch_act — LibTorch-style modules on the fused ops (header only; included
// by <torch_act/torch_act.h>).
//
//   torch_act::nn::Linear fc(torch_act::nn::LinearOptions(2, 10).activation("relu"));
//   auto y = fc(x);   // relu(x @ fc->weight.T + fc->bias), one fused op
//
// torch_act::nn::LinearImpl mirrors torch::nn::LinearImpl: the same
// parameters ("weight" [out, in], "bias" [out]), the same initialisation, so
// state moves freely between the two; it adds a fused activation.
//
//   torch_act::nn::GatedMLP mlp(torch_act::nn::GatedMLPOptions(1024, 2816).activation("silu"));
//   auto y = mlp(x);  // down_proj(silu(gate_proj(x)) * up_proj(x)); the gated unit is one op
//
// torch_act::nn::GatedMLPImpl is the LLaMA-style MLP with the parameter names of
// transformers' LlamaMLP ("gate_proj.weight", "up_proj.weight", "down_proj.weight",
// and the biases when bias(true)), as the Python torch_act.nn.GatedMLP.
#pragma once

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/init.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <utility>

#include "torch_act.h"

namespace torch_act {
namespace nn {

// Options for torch_act::nn::Linear:
//   LinearOptions(in, out).bias(true).activation("leaky_relu").alpha(0.2)
struct LinearOptions {
  LinearOptions(int64_t in_features, int64_t out_features)
      : in_features_(in_features), out_features_(out_features) {}

  // size of each input sample (K)
  TORCH_ARG(int64_t, in_features);
  // size of each output sample (N)
  TORCH_ARG(int64_t, out_features);
  // learn an additive bias
  TORCH_ARG(bool, bias) = true;
  // the fused activation: one of torch_act::activation_names()
  TORCH_ARG(std::string, activation) = "identity";
  // the activation's parameter (leaky_relu slope, elu alpha, softplus beta);
  // std::nullopt: its default
  TORCH_ARG(std::optional<double>, alpha) = std::nullopt;
  // what backward keeps: "auto", "mask", "output", "input", "recompute"
  // (docs/memory.md)
  TORCH_ARG(std::string, save) = "auto";
};

// act(input @ weight.T + bias) as one fused op.  input [..., in] -> [..., out].
class LinearImpl : public torch::nn::Cloneable<LinearImpl> {
 public:
  LinearImpl(int64_t in_features, int64_t out_features)
      : LinearImpl(LinearOptions(in_features, out_features)) {}
  explicit LinearImpl(LinearOptions options_) : options(std::move(options_)) {
    reset();
  }

  // (Re)creates the parameters and initialises them; checks the options.
  void reset() override {
    TORCH_CHECK(options.in_features() > 0 && options.out_features() > 0,
                "torch_act::nn::Linear: in_features and out_features must be positive, got ",
                options.in_features(), " and ", options.out_features());
    {
      // Validates the activation name and alpha with the op's own checks and
      // messages (an empty tensor: nothing is computed).
      torch::NoGradGuard no_grad;
      torch_act::activation(torch::empty({0}), options.activation(), options.alpha());
      torch_act::linear_act(torch::empty({0, 1}), torch::empty({1, 1}), std::nullopt,
                            options.activation(), options.alpha(), options.save());
    }
    weight = register_parameter(
        "weight", torch::empty({options.out_features(), options.in_features()}));
    if (options.bias()) {
      bias = register_parameter("bias", torch::empty(options.out_features()));
    } else {
      bias = register_parameter("bias", {}, /*requires_grad=*/false);
    }
    reset_parameters();
  }

  // The initialisation of torch::nn::Linear: weight ~ kaiming_uniform(a=sqrt(5)),
  // bias ~ U(-1/sqrt(in), 1/sqrt(in)).
  void reset_parameters() {
    torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
    if (bias.defined()) {
      const auto fan_in = std::get<0>(torch::nn::init::_calculate_fan_in_and_fan_out(weight));
      const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
      torch::nn::init::uniform_(bias, -bound, bound);
    }
  }

  // torch_act::nn::Linear(in_features=2, out_features=10, bias=true, activation=relu)
  void pretty_print(std::ostream& stream) const override {
    stream << std::boolalpha << "torch_act::nn::Linear(in_features=" << options.in_features()
           << ", out_features=" << options.out_features() << ", bias=" << options.bias()
           << ", activation=" << options.activation();
    if (options.alpha().has_value()) stream << ", alpha=" << *options.alpha();
    if (options.save() != "auto") stream << ", save=" << options.save();
    stream << ")";
  }

  torch::Tensor forward(const torch::Tensor& input) {
    return torch_act::linear_act(
        input, weight, bias.defined() ? std::optional<at::Tensor>(bias) : std::nullopt,
        options.activation(), options.alpha(), options.save());
  }

  LinearOptions options;
  // [out_features, in_features]
  torch::Tensor weight;
  // [out_features]; undefined when options.bias() is false
  torch::Tensor bias;
};

// A ModuleHolder for LinearImpl (shared ownership, like torch::nn::Linear).
TORCH_MODULE(Linear);

// Options for torch_act::nn::GatedMLP:
//   GatedMLPOptions(in, hidden).out_features(in).activation("gelu").bias(false)
struct GatedMLPOptions {
  GatedMLPOptions(int64_t in_features, int64_t hidden_features)
      : in_features_(in_features), hidden_features_(hidden_features) {}

  // size of each input sample
  TORCH_ARG(int64_t, in_features);
  // width of the gated unit (gate_proj / up_proj outputs)
  TORCH_ARG(int64_t, hidden_features);
  // size of each output sample; std::nullopt: in_features
  TORCH_ARG(std::optional<int64_t>, out_features) = std::nullopt;
  // the gate's activation: any elementwise one of torch_act::activation_names()
  TORCH_ARG(std::string, activation) = "silu";
  // the activation's parameter; std::nullopt: its default
  TORCH_ARG(std::optional<double>, alpha) = std::nullopt;
  // biases on the three projections (LLaMA has none)
  TORCH_ARG(bool, bias) = false;
};

// down_proj(act(gate_proj(x)) * up_proj(x)): the gated unit as one
// torch_act::linear_glu op (both projections in one pass, one autograd node),
// down_proj a plain linear.  input [..., in] -> [..., out].
class GatedMLPImpl : public torch::nn::Cloneable<GatedMLPImpl> {
 public:
  GatedMLPImpl(int64_t in_features, int64_t hidden_features)
      : GatedMLPImpl(GatedMLPOptions(in_features, hidden_features)) {}
  explicit GatedMLPImpl(GatedMLPOptions options_) : options(std::move(options_)) { reset(); }

  void reset() override {
    TORCH_CHECK(options.in_features() > 0 && options.hidden_features() > 0 &&
                    options.out_features().value_or(1) > 0,
                "torch_act::nn::GatedMLP: in_features, hidden_features and out_features must be "
                "positive, got ", options.in_features(), ", ", options.hidden_features(), " and ",
                options.out_features().value_or(options.in_features()));
    {
      // the gate's name and alpha through linear_glu's own checks (elementwise only)
      torch::NoGradGuard no_grad;
      const auto w = torch::empty({0, 1});
      torch_act::linear_glu(torch::empty({0, 1}), w, w, std::nullopt, std::nullopt,
                            options.activation(), options.alpha());
    }
    const int64_t in = options.in_features(), hid = options.hidden_features();
    const int64_t out = options.out_features().value_or(in);
    gate_proj = register_module("gate_proj", Linear(LinearOptions(in, hid).bias(options.bias())));
    up_proj = register_module("up_proj", Linear(LinearOptions(in, hid).bias(options.bias())));
    down_proj = register_module("down_proj", Linear(LinearOptions(hid, out).bias(options.bias())));
  }

  // torch_act::nn::GatedMLP(in_features=8, hidden_features=16, out_features=8, activation=silu, bias=false)
  void pretty_print(std::ostream& stream) const override {
    stream << std::boolalpha << "torch_act::nn::GatedMLP(in_features=" << options.in_features()
           << ", hidden_features=" << options.hidden_features()
           << ", out_features=" << options.out_features().value_or(options.in_features())
           << ", activation=" << options.activation();
    if (options.alpha().has_value()) stream << ", alpha=" << *options.alpha();
    stream << ", bias=" << options.bias() << ")";
  }

  torch::Tensor forward(const torch::Tensor& input) {
    const auto opt = [](const torch::Tensor& b) {
      return b.defined() ? std::optional<at::Tensor>(b) : std::nullopt;
    };
    const auto h = torch_act::linear_glu(input, gate_proj->weight, up_proj->weight,
                                         opt(gate_proj->bias), opt(up_proj->bias),
                                         options.activation(), options.alpha());
    return down_proj(h);
  }

  GatedMLPOptions options;
  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};

// A ModuleHolder for GatedMLPImpl.
TORCH_MODULE(GatedMLP);

}  // namespace nn
}  // namespace torch_act
