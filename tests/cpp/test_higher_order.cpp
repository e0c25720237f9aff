// Higher-order autograd from C++ (docs/autograd.md): a gradient penalty with
// torch::autograd::grad(..., create_graph=true) through torch_act::linear_act,
// torch_act::mlp, torch_act::linear_glu and torch_act::linear_cross_entropy equals
// LibTorch eager's, in float64.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <torch_act/torch_act.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "reference.h"

using ta_test::close;

namespace {

torch::Tensor leaf(const torch::Tensor& t) { return t.detach().clone().requires_grad_(); }

// loss = |f(x)|^2 + (|d f / d x| - 1)^2 (WGAN-GP style), differentiated by params.
std::vector<torch::Tensor> penalty_grads(
    const std::function<torch::Tensor(const torch::Tensor&)>& f, const torch::Tensor& x0,
    const std::vector<torch::Tensor>& params) {
  auto x = leaf(x0);
  auto out = f(x);
  auto gx = torch::autograd::grad({out.sum()}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
  EXPECT_TRUE(gx.requires_grad());
  auto loss = out.pow(2).mean() + (gx.norm(2, {1}) - 1).pow(2).mean();
  return torch::autograd::grad({loss}, params);
}

}  // namespace

TEST(HigherOrder, GradientPenaltyThroughLinearAct) {
  torch::manual_seed(3);
  const auto o = torch::TensorOptions().dtype(torch::kFloat64);
  const auto x0 = torch::randn({6, 3}, o);
  for (const std::string act : {"tanh", "gelu", "softplus", "sigmoid", "silu"}) {
    auto w = leaf(torch::randn({4, 3}, o)), b = leaf(torch::randn({4}, o));
    auto v = torch::randn({4, 1}, o);
    auto ours = penalty_grads(
        [&](const torch::Tensor& x) { return torch_act::linear_act(x, w, b, act).mm(v); }, x0, {w, b});
    auto wr = leaf(w), br = leaf(b);
    auto ref = penalty_grads(
        [&](const torch::Tensor& x) { return ta_test::act_ref(act).fn(torch::linear(x, wr, br), ta_test::act_ref(act).default_alpha).mm(v); }, x0,
        {wr, br});
    for (size_t i = 0; i < ours.size(); ++i) EXPECT_TRUE(close(ours[i], ref[i], ta_test::tol(torch::kFloat64))) << act << " " << i;
  }
}

TEST(HigherOrder, GradientPenaltyThroughMlp) {
  torch::manual_seed(4);
  const auto o = torch::TensorOptions().dtype(torch::kFloat64);
  const auto x0 = torch::randn({8, 2}, o);
  std::vector<torch::Tensor> w = {leaf(torch::randn({10, 2}, o)), leaf(torch::randn({5, 10}, o)),
                                  leaf(torch::randn({1, 5}, o))};
  std::vector<torch::Tensor> b = {leaf(torch::randn({10}, o)), leaf(torch::randn({5}, o)),
                                  leaf(torch::randn({1}, o))};
  const std::vector<std::string> acts = {"tanh", "sigmoid", "identity"};
  std::vector<torch::Tensor> params = {w[0], w[1], w[2], b[0], b[1], b[2]};
  auto ours = penalty_grads(
      [&](const torch::Tensor& x) { return torch_act::mlp(x, w, {b[0], b[1], b[2]}, acts); }, x0, params);
  std::vector<torch::Tensor> pr;
  for (const auto& p : params) pr.push_back(leaf(p));
  auto ref = penalty_grads(
      [&](const torch::Tensor& x) {
        auto h = torch::tanh(torch::linear(x, pr[0], pr[3]));
        h = torch::sigmoid(torch::linear(h, pr[1], pr[4]));
        return torch::linear(h, pr[2], pr[5]);
      },
      x0, pr);
  for (size_t i = 0; i < ours.size(); ++i) EXPECT_TRUE(close(ours[i], ref[i], ta_test::tol(torch::kFloat64))) << i;
}

TEST(HigherOrder, BeyondTheFunctorIsAClearError) {
  auto x = torch::randn({3}, torch::kFloat64).requires_grad_();
  auto g = torch_act::activation(x, "gelu");
  for (int k = 0; k < 3; ++k)
    g = torch::autograd::grad({g.sum()}, {x}, {}, true, /*create_graph=*/true)[0];
  EXPECT_TRUE(ta_test::throws_with([&] { torch::autograd::grad({g.sum()}, {x}); }, "up to order 3"));
}

TEST(HigherOrder, GradientPenaltyThroughLinearGluAndCrossEntropy) {
  torch::manual_seed(5);
  const auto o = torch::TensorOptions().dtype(torch::kFloat64);
  const auto x0 = torch::randn({6, 3}, o);
  auto wg = leaf(torch::randn({4, 3}, o)), wu = leaf(torch::randn({4, 3}, o)), bg = leaf(torch::randn({4}, o));
  auto wc = leaf(torch::randn({5, 4}, o));
  const auto t = torch::tensor({0, 4, 2, -100, 1, 3}, torch::kLong);
  // a GLU layer, then the fused loss head: the penalty differentiates both twice
  auto ours = penalty_grads(
      [&](const torch::Tensor& x) {
        auto h = torch_act::linear_glu(x, wg, wu, bg, std::nullopt, "silu");
        return torch_act::linear_cross_entropy(h, wc, t, std::nullopt, std::nullopt, "none", -100, 0.1)
            .unsqueeze(1);
      },
      x0, {wg, wu, bg, wc});
  auto wgr = leaf(wg), wur = leaf(wu), bgr = leaf(bg), wcr = leaf(wc);
  auto ref = penalty_grads(
      [&](const torch::Tensor& x) {
        auto h = torch::silu(torch::linear(x, wgr, bgr)) * torch::linear(x, wur);
        return torch::nn::functional::cross_entropy(
                   torch::linear(h, wcr), t,
                   torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone).label_smoothing(0.1))
            .unsqueeze(1);
      },
      x0, {wgr, wur, bgr, wcr});
  for (size_t i = 0; i < ours.size(); ++i) EXPECT_TRUE(close(ours[i], ref[i], ta_test::tol(torch::kFloat64))) << i;
}
