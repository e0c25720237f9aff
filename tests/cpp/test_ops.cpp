// torch_act's C++ API (torch_act.h) against LibTorch: forward values and
// gradients for every activation, float64 and float32; errors.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <torch_act/torch_act.h>

#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "reference.h"

using ta_test::close;
using ta_test::act_ref;
using ta_test::throws_with;
using ta_test::tol;

namespace {

std::string dtype_name(torch::Dtype d) { return d == torch::kFloat64 ? "float64" : "float32"; }

// (activation, dtype, alpha given?) for every activation name the library reports.
using Case = std::tuple<std::string, torch::Dtype, bool>;

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (const auto& name : torch_act::activation_names()) {
    for (auto dt : {torch::kFloat64, torch::kFloat32}) {
      cases.emplace_back(name, dt, false);
      if (ta_test::reference_activations().count(name) && act_ref(name).has_alpha)
        cases.emplace_back(name, dt, true);
    }
  }
  return cases;
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return std::get<0>(info.param) + "_" + dtype_name(std::get<1>(info.param)) +
         (std::get<2>(info.param) ? "_alpha" : "");
}

class PerActivation : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    std::tie(name, dtype, with_alpha) = GetParam();
    if (with_alpha) alpha = act_ref(name).other_alpha;
    a = alpha.value_or(act_ref(name).default_alpha);
    torch::manual_seed(1234);
    opts = torch::TensorOptions().dtype(dtype);
  }
  std::string name;
  torch::Dtype dtype;
  bool with_alpha = false;
  std::optional<double> alpha;
  double a = 0;
  torch::TensorOptions opts;
};

TEST_P(PerActivation, LinearActForwardMatchesLibTorch) {
  // [2, 3, K] input: leading dims are flattened and restored.
  const int64_t K = 7, N = 5;
  torch::nn::Linear lin(torch::nn::LinearOptions(K, N));
  lin->to(dtype);
  const auto x = torch::randn({2, 3, K}, opts) * 2;
  torch::NoGradGuard no_grad;
  const auto got = torch_act::linear_act(x, lin->weight, lin->bias, name, alpha);
  const auto want = act_ref(name).fn(lin(x), a);
  EXPECT_TRUE(close(got, want, tol(dtype)));

  // no bias
  const auto got_nb = torch_act::linear_act(x, lin->weight, std::nullopt, name, alpha);
  const auto want_nb = act_ref(name).fn(torch::linear(x, lin->weight), a);
  EXPECT_TRUE(close(got_nb, want_nb, tol(dtype)));
}

TEST_P(PerActivation, LinearActGradientsMatchLibTorchAutograd) {
  const int64_t M = 6, K = 4, N = 3;
  const auto x0 = torch::randn({M, K}, opts) * 2;
  const auto w0 = torch::randn({N, K}, opts);
  const auto b0 = torch::randn({N}, opts);
  const auto g = torch::randn({M, N}, opts);

  auto x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_(),
       b = b0.clone().requires_grad_();
  torch_act::linear_act(x, w, b, name, alpha).backward(g);

  auto xr = x0.clone().requires_grad_(), wr = w0.clone().requires_grad_(),
       br = b0.clone().requires_grad_();
  act_ref(name).fn(torch::linear(xr, wr, br), a).backward(g);

  ASSERT_TRUE(x.grad().defined() && w.grad().defined() && b.grad().defined());
  EXPECT_TRUE(close(x.grad(), xr.grad(), tol(dtype))) << "d input";
  EXPECT_TRUE(close(w.grad(), wr.grad(), tol(dtype))) << "d weight";
  EXPECT_TRUE(close(b.grad(), br.grad(), tol(dtype))) << "d bias";
}

TEST_P(PerActivation, ActivationMatchesLibTorch) {
  const auto z0 = torch::randn({4, 9}, opts) * 3;
  const auto g = torch::randn({4, 9}, opts);
  auto z = z0.clone().requires_grad_();
  auto zr = z0.clone().requires_grad_();
  const auto y = torch_act::activation(z, name, alpha);
  const auto yr = act_ref(name).fn(zr, a);
  EXPECT_TRUE(close(y, yr, tol(dtype)));
  y.backward(g);
  yr.backward(g);
  EXPECT_TRUE(close(z.grad(), zr.grad(), tol(dtype))) << "d input";
}

INSTANTIATE_TEST_SUITE_P(AllActivations, PerActivation, ::testing::ValuesIn(all_cases()),
                         case_name);

TEST(Api, EveryActivationHasAReference) {
  const auto names = torch_act::activation_names();
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(names.front(), "identity");
  for (const auto& n : names) {
    EXPECT_TRUE(ta_test::reference_activations().count(n)) << "no reference for " << n;
  }
}

TEST(Api, BuildInfo) {
  const auto info = torch_act::build_info();
  EXPECT_FALSE(info.version.empty());
  EXPECT_FALSE(info.cpu_isas.empty());
  EXPECT_FALSE(info.torch_version.empty());
  EXPECT_EQ(info.with_cuda, !info.cuda_arch_list.empty());
}

TEST(Api, MlpFlatMatchesMlpWithOneGradientBuffer) {
  torch::manual_seed(11);
  const auto o = torch::TensorOptions().dtype(torch::kFloat64);
  const auto x = torch::randn({6, 2}, o);
  // layers 2 -> 10 (bias) -> 5 (no bias) -> 1 (bias), packed weight-then-bias
  std::vector<torch::Tensor> w = {torch::randn({10, 2}, o), torch::randn({5, 10}, o), torch::randn({1, 5}, o)};
  std::vector<torch::Tensor> b = {torch::randn({10}, o), torch::randn({1}, o)};
  const auto params = torch::cat({w[0].flatten(), b[0], w[1].flatten(), w[2].flatten(), b[1]}).requires_grad_();
  const std::vector<std::string> acts = {"gelu", "leaky_relu", "sigmoid"};
  const auto y = torch_act::mlp_flat(x, params, {2, 10, 5, 1}, {true, false, true}, acts,
                                     {std::nullopt, 0.1, std::nullopt});
  for (auto& t : w) t.requires_grad_();
  for (auto& t : b) t.requires_grad_();
  const auto yr = torch_act::mlp(x, w, {b[0], std::nullopt, b[1]}, acts, {std::nullopt, 0.1, std::nullopt});
  EXPECT_TRUE(torch::equal(y, yr));
  y.sum().backward();
  yr.sum().backward();
  const auto want = torch::cat({w[0].grad().flatten(), b[0].grad(), w[1].grad().flatten(),
                                w[2].grad().flatten(), b[1].grad()});
  EXPECT_TRUE(torch::equal(params.grad(), want));
  // a params tensor of the wrong size names what it must hold
  try {
    torch_act::mlp_flat(x, params.detach().narrow(0, 0, 10), {2, 10, 5, 1}, {true, false, true}, acts);
    ADD_FAILURE() << "no error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("params must hold 86 elements"), std::string::npos) << e.what();
  }
}

TEST(Api, GradientOnlyWhereRequired) {
  // weight requires grad, input does not: input.grad stays undefined.
  const auto x = torch::randn({3, 4}, torch::kFloat64);
  const auto w = torch::randn({2, 4}, torch::kFloat64).requires_grad_();
  torch_act::linear_act(x, w, std::nullopt, "tanh").sum().backward();
  EXPECT_TRUE(w.grad().defined());
  EXPECT_FALSE(x.grad().defined());
}

TEST(Api, MlpMatchesLayerByLayer) {
  torch::manual_seed(7);
  const auto o = torch::TensorOptions().dtype(torch::kFloat64);
  const auto x0 = torch::randn({5, 2}, o);
  std::vector<torch::Tensor> w0 = {torch::randn({10, 2}, o), torch::randn({5, 10}, o),
                                   torch::randn({1, 5}, o)};
  std::vector<torch::Tensor> b0 = {torch::randn({10}, o), torch::randn({5}, o)};
  const std::vector<std::string> acts = {"relu", "leaky_relu", "identity"};

  auto leaf = [](const torch::Tensor& t) { return t.clone().requires_grad_(); };
  // torch_act::mlp: the last layer has no bias; alpha 0.1 for leaky_relu.
  auto x = leaf(x0);
  std::vector<torch::Tensor> w = {leaf(w0[0]), leaf(w0[1]), leaf(w0[2])};
  std::vector<torch::Tensor> b = {leaf(b0[0]), leaf(b0[1])};
  const auto y = torch_act::mlp(x, w, {b[0], b[1], std::nullopt}, acts, {std::nullopt, 0.1, std::nullopt});
  // the same stack from torch_act::linear_act
  auto xr = leaf(x0);
  std::vector<torch::Tensor> wr = {leaf(w0[0]), leaf(w0[1]), leaf(w0[2])};
  std::vector<torch::Tensor> br = {leaf(b0[0]), leaf(b0[1])};
  auto h = torch_act::linear_act(xr, wr[0], br[0], "relu");
  h = torch_act::linear_act(h, wr[1], br[1], "leaky_relu", 0.1);
  const auto yr = torch_act::linear_act(h, wr[2], std::nullopt, "identity");
  EXPECT_TRUE(close(y, yr, tol(torch::kFloat64)));

  y.sum().backward();
  yr.sum().backward();
  EXPECT_TRUE(close(x.grad(), xr.grad(), tol(torch::kFloat64)));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(close(w[i].grad(), wr[i].grad(), tol(torch::kFloat64))) << i;
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(close(b[i].grad(), br[i].grad(), tol(torch::kFloat64))) << i;

  // alphas left out: every activation's default
  torch::NoGradGuard ng;
  const auto y2 = torch_act::mlp(x0, w0, {b0[0], b0[1], std::nullopt}, acts);
  auto h2 = torch_act::linear_act(x0, w0[0], b0[0], "relu");
  h2 = torch_act::linear_act(h2, w0[1], b0[1], "leaky_relu");
  EXPECT_TRUE(close(y2, torch::linear(h2, w0[2]), tol(torch::kFloat64)));
}

TEST(Api, LinearCrossEntropyMatchesLibTorch) {
  // torch_act::linear_cross_entropy == cross_entropy(linear(x, w, b), t, ...) in
  // float64, values and gradients, for each reduction, with class weights,
  // an ignored row and label smoothing.
  namespace F = torch::nn::functional;
  torch::manual_seed(3);
  const auto o = torch::TensorOptions().dtype(torch::kFloat64);
  const auto x0 = torch::randn({9, 5}, o), w0 = torch::randn({7, 5}, o), b0 = torch::randn({7}, o);
  const auto cw = torch::rand({7}, o) + 0.5;
  auto t = torch::randint(0, 7, {9}, torch::kLong);
  t[2] = -100;
  auto leaf = [](const torch::Tensor& v) { return v.clone().requires_grad_(); };
  for (const std::string red : {"mean", "sum", "none"}) {
    auto x = leaf(x0), w = leaf(w0), b = leaf(b0);
    auto xr = leaf(x0), wr = leaf(w0), br = leaf(b0);
    const auto y = torch_act::linear_cross_entropy(x, w, t, b, cw, red, -100, 0.1);
    auto opts = F::CrossEntropyFuncOptions().weight(cw).ignore_index(-100).label_smoothing(0.1);
    if (red == "mean") opts.reduction(torch::kMean);
    if (red == "sum") opts.reduction(torch::kSum);
    if (red == "none") opts.reduction(torch::kNone);
    const auto yr = F::cross_entropy(torch::linear(xr, wr, br), t, opts);
    EXPECT_TRUE(close(y, yr, tol(torch::kFloat64))) << red;
    const auto g = torch::randn(yr.sizes(), o);
    y.backward(g);
    yr.backward(g);
    EXPECT_TRUE(close(x.grad(), xr.grad(), tol(torch::kFloat64))) << red;
    EXPECT_TRUE(close(w.grad(), wr.grad(), tol(torch::kFloat64))) << red;
    EXPECT_TRUE(close(b.grad(), br.grad(), tol(torch::kFloat64))) << red;
  }
}

// ---------------------------------------------------------------- CUDA
// On a GPU machine with a CUDA build of the library: the CUDA kernels against
// LibTorch on the same device (skipped elsewhere).
TEST(Cuda, EveryActivationMatchesLibTorch) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  if (!torch_act::build_info().with_cuda) GTEST_SKIP() << "torch_act built without CUDA";
  const auto o = torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCUDA);
  for (const auto& name : torch_act::activation_names()) {
    SCOPED_TRACE(name);
    torch::manual_seed(5);
    const auto x0 = torch::randn({33, 17}, o), w0 = torch::randn({9, 17}, o), b0 = torch::randn({9}, o);
    const auto g = torch::randn({33, 9}, o);
    auto x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_(), b = b0.clone().requires_grad_();
    auto xr = x0.clone().requires_grad_(), wr = w0.clone().requires_grad_(), br = b0.clone().requires_grad_();
    const auto y = torch_act::linear_act(x, w, b, name);
    const auto yr = act_ref(name).fn(torch::linear(xr, wr, br), act_ref(name).default_alpha);
    ASSERT_TRUE(y.is_cuda());
    // TF32 / different summation orders: looser than the CPU float32 check
    const ta_test::Tol t{1e-3, 1e-3};
    EXPECT_TRUE(close(y, yr, t));
    y.backward(g);
    yr.backward(g);
    EXPECT_TRUE(close(x.grad(), xr.grad(), t));
    EXPECT_TRUE(close(w.grad(), wr.grad(), t));
    EXPECT_TRUE(close(b.grad(), br.grad(), t));
  }
}

// ---------------------------------------------------------------- errors
TEST(Errors, KMismatch) {
  const auto x = torch::randn({3, 4});
  const auto w = torch::randn({5, 3});
  EXPECT_TRUE(throws_with([&] { torch_act::linear_act(x, w); }, "must equal"));
  EXPECT_TRUE(throws_with([&] { torch_act::linear_act(x, w); }, "K=4"));
  EXPECT_TRUE(throws_with([&] { torch_act::linear_act(x, w); }, "[5, 3]"));
}

TEST(Errors, UnknownActivation) {
  const auto x = torch::randn({3, 4});
  const auto w = torch::randn({5, 4});
  EXPECT_TRUE(throws_with([&] { torch_act::linear_act(x, w, std::nullopt, "nope"); },
                          "unknown activation 'nope'"));
  EXPECT_TRUE(throws_with([&] { torch_act::activation(x, "nope"); }, "expected one of: identity"));
}

TEST(Errors, WrongWeightRank) {
  const auto x = torch::randn({3, 4});
  EXPECT_TRUE(throws_with([&] { torch_act::linear_act(x, torch::randn({4})); }, "weight must be 2-D"));
  EXPECT_TRUE(throws_with([&] { torch_act::linear_act(x, torch::randn({1, 5, 4})); }, "weight must be 2-D"));
}

TEST(Errors, BadBiasAlphaDtype) {
  const auto x = torch::randn({3, 4});
  const auto w = torch::randn({5, 4});
  EXPECT_TRUE(throws_with([&] { torch_act::linear_act(x, w, torch::randn({4})); }, "bias must be 1-D of size N=5"));
  EXPECT_TRUE(throws_with([&] { torch_act::linear_act(x, w, std::nullopt, "relu", 0.5); }, "takes no alpha"));
  EXPECT_TRUE(throws_with([&] { torch_act::linear_act(x, w.to(torch::kFloat64)); }, "must match input dtype"));
  EXPECT_TRUE(throws_with([&] { torch_act::linear_act(x.to(torch::kInt64), w.to(torch::kInt64)); },
                          "must be float32, float64, bfloat16 or float16"));
}

TEST(Errors, LinearCrossEntropyTargets) {
  const auto x = torch::randn({3, 4}), w = torch::randn({5, 4});
  EXPECT_TRUE(throws_with([&] { torch_act::linear_cross_entropy(x, w, torch::tensor({0, 5, 1}, torch::kLong)); },
                          "target 5 is out of bounds"));
  EXPECT_TRUE(throws_with([&] { torch_act::linear_cross_entropy(x, w, torch::tensor({0, 1}, torch::kLong)); },
                          "target must be 1-D of size N=3"));
  EXPECT_TRUE(throws_with(
      [&] { torch_act::linear_cross_entropy(x, w, torch::tensor({0, 1, 2}, torch::kLong), std::nullopt, std::nullopt, "avg"); },
      "reduction must be 'none', 'mean' or 'sum'"));
}

TEST(Errors, MlpLists) {
  const auto x = torch::randn({3, 2});
  std::vector<torch::Tensor> w = {torch::randn({4, 2}), torch::randn({1, 4})};
  EXPECT_TRUE(throws_with([&] { torch_act::mlp(x, w, {std::nullopt}, {"relu", "identity"}); },
                          "one entry per layer"));
  EXPECT_TRUE(throws_with(
      [&] { torch_act::mlp(x, {torch::randn({4, 2}), torch::randn({1, 3})}, {std::nullopt, std::nullopt}, {"relu", "identity"}); },
      "layer 1"));
}

}  // namespace
