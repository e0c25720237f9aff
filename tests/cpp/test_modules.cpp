// torch_act::nn::Linear against torch::nn::Linear: state, init, clone(),
// serialization, forward/backward, errors.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <torch_act/torch_act.h>

#include <cstdio>
#include <set>
#include <sstream>
#include <string>

#include "reference.h"

using ta_test::close;
using ta_test::act_ref;
using ta_test::throws_with;
using ta_test::tol;
namespace tnn = torch_act::nn;

namespace {

std::set<std::string> param_names(const torch::nn::Module& m) {
  std::set<std::string> s;
  for (const auto& p : m.named_parameters()) s.insert(p.key());
  return s;
}

TEST(Linear, OptionsAndPrettyPrint) {
  tnn::Linear fc(tnn::LinearOptions(2, 10).activation("leaky_relu").alpha(0.2));
  EXPECT_EQ(fc->options.in_features(), 2);
  EXPECT_EQ(fc->options.out_features(), 10);
  EXPECT_TRUE(fc->options.bias());
  EXPECT_EQ(fc->options.activation(), "leaky_relu");
  ASSERT_TRUE(fc->options.alpha().has_value());
  EXPECT_DOUBLE_EQ(*fc->options.alpha(), 0.2);
  std::ostringstream os;
  os << *fc;
  EXPECT_EQ(os.str(),
            "torch_act::nn::Linear(in_features=2, out_features=10, bias=true, activation=leaky_relu, alpha=0.2)");

  tnn::Linear plain(3, 4);
  std::ostringstream os2;
  os2 << *plain;
  EXPECT_EQ(os2.str(), "torch_act::nn::Linear(in_features=3, out_features=4, bias=true, activation=identity)");
}

TEST(Linear, ParametersNamedLikeTorchLinear) {
  tnn::Linear fc(tnn::LinearOptions(3, 4).activation("relu"));
  torch::nn::Linear ref_fc(3, 4);
  EXPECT_EQ(param_names(*fc), param_names(*ref_fc));
  EXPECT_EQ(param_names(*fc), (std::set<std::string>{"weight", "bias"}));
  EXPECT_EQ(fc->weight.sizes(), ref_fc->weight.sizes());
  EXPECT_EQ(fc->bias.sizes(), ref_fc->bias.sizes());
  EXPECT_TRUE(fc->weight.requires_grad());

  tnn::Linear nb(tnn::LinearOptions(3, 4).bias(false));
  torch::nn::Linear ref_nb(torch::nn::LinearOptions(3, 4).bias(false));
  EXPECT_EQ(param_names(*nb), param_names(*ref_nb));
  EXPECT_EQ(param_names(*nb), (std::set<std::string>{"weight"}));
  EXPECT_FALSE(nb->bias.defined());
}

TEST(Linear, SameInitAsTorchLinear) {
  torch::manual_seed(42);
  tnn::Linear fc(5, 7);
  torch::manual_seed(42);
  torch::nn::Linear ref_fc(5, 7);
  EXPECT_TRUE(torch::equal(fc->weight, ref_fc->weight));
  EXPECT_TRUE(torch::equal(fc->bias, ref_fc->bias));
  const double bound = 1.0 / std::sqrt(5.0);
  EXPECT_LE(fc->bias.abs().max().item<double>(), bound);
  EXPECT_LE(fc->weight.abs().max().item<double>(), bound);  // kaiming_uniform(a=sqrt(5)): 1/sqrt(in)

  // reset_parameters() draws new values in place
  const auto before = fc->weight.clone();
  fc->reset_parameters();
  EXPECT_FALSE(torch::equal(before, fc->weight));
}

TEST(Linear, ForwardBackwardMatchLinearPlusActivation) {
  for (const auto& name : torch_act::activation_names()) {
    SCOPED_TRACE(name);
    torch::manual_seed(3);
    tnn::Linear fc(tnn::LinearOptions(6, 4).activation(name));
    fc->to(torch::kFloat64);
    torch::nn::Linear lin(6, 4);
    lin->to(torch::kFloat64);
    {
      torch::NoGradGuard ng;
      lin->weight.copy_(fc->weight);
      lin->bias.copy_(fc->bias);
    }
    const auto x = torch::randn({3, 2, 6}, torch::kFloat64);
    const auto y = fc(x);
    const auto yr = act_ref(name).fn(lin(x), act_ref(name).default_alpha);
    EXPECT_TRUE(close(y, yr, tol(torch::kFloat64)));
    const auto g = torch::randn_like(y);
    y.backward(g);
    yr.backward(g);
    EXPECT_TRUE(close(fc->weight.grad(), lin->weight.grad(), tol(torch::kFloat64)));
    EXPECT_TRUE(close(fc->bias.grad(), lin->bias.grad(), tol(torch::kFloat64)));
  }
}

TEST(Linear, SavePoliciesGiveTheSameGradients) {
  // save= chooses what backward keeps (docs/memory.md); the gradients do not change
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"relu", {"auto", "mask", "output", "input", "recompute"}},
      {"gelu", {"auto", "input", "recompute"}},
      {"sigmoid", {"auto", "output", "input", "recompute"}}};
  for (const auto& [name, policies] : cases) {
    std::vector<torch::Tensor> ref;
    for (const auto& save : policies) {
      SCOPED_TRACE(name + " save=" + save);
      torch::manual_seed(5);
      tnn::Linear fc(tnn::LinearOptions(7, 9).activation(name).save(save));
      const auto x = torch::randn({4, 7}, torch::requires_grad());
      fc(x).pow(2).sum().backward();
      std::vector<torch::Tensor> got = {x.grad(), fc->weight.grad(), fc->bias.grad()};
      if (ref.empty()) ref = got;
      for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(torch::equal(got[i], ref[i]));
    }
  }
  EXPECT_THROW(tnn::Linear(tnn::LinearOptions(3, 4).activation("gelu").save("mask")), c10::ValueError);
  EXPECT_THROW(tnn::Linear(tnn::LinearOptions(3, 4).activation("relu").save("bits")), c10::ValueError);
}

TEST(Linear, CloneIsDeep) {
  tnn::Linear fc(tnn::LinearOptions(3, 2).activation("elu").alpha(0.5));
  auto copy = std::dynamic_pointer_cast<tnn::LinearImpl>(fc->clone());
  ASSERT_TRUE(copy);
  EXPECT_EQ(copy->options.activation(), "elu");
  EXPECT_EQ(copy->options.alpha(), std::optional<double>(0.5));
  EXPECT_EQ(param_names(*copy), param_names(*fc));
  EXPECT_TRUE(torch::equal(copy->weight, fc->weight));
  EXPECT_NE(copy->weight.data_ptr(), fc->weight.data_ptr());
  // the clone's members point at its own registered parameters
  EXPECT_EQ(copy->weight.data_ptr(), copy->named_parameters()["weight"].data_ptr());
  {
    torch::NoGradGuard ng;
    copy->weight.fill_(1.0);
  }
  EXPECT_FALSE(torch::equal(copy->weight, fc->weight));
  const auto x = torch::randn({4, 3});
  EXPECT_EQ(copy->forward(x).sizes(), fc(x).sizes());

  tnn::Linear nb(tnn::LinearOptions(3, 2).bias(false));
  auto nb_copy = std::dynamic_pointer_cast<tnn::LinearImpl>(nb->clone());
  EXPECT_FALSE(nb_copy->bias.defined());
}

TEST(Linear, StateLoadsIntoTorchLinear) {
  // A torch_act Linear's checkpoint loads into torch::nn::Linear (same names).
  tnn::Linear fc(tnn::LinearOptions(4, 3).activation("relu"));
  const std::string path = ::testing::TempDir() + "torch_act_linear.pt";
  torch::save(fc, path);
  torch::nn::Linear lin(4, 3);
  torch::load(lin, path);
  std::remove(path.c_str());
  EXPECT_TRUE(torch::equal(lin->weight, fc->weight));
  EXPECT_TRUE(torch::equal(lin->bias, fc->bias));
  const auto x = torch::randn({5, 4});
  EXPECT_TRUE(close(fc(x), torch::relu(lin(x)), tol(torch::kFloat32)));
}

TEST(Linear, WorksInSequentialAndTrains) {
  torch::manual_seed(0);
  torch::nn::Sequential net(tnn::Linear(tnn::LinearOptions(2, 8).activation("tanh")),
                            tnn::Linear(8, 1));
  torch::optim::SGD opt(net->parameters(), 0.1);
  const auto x = torch::randn({64, 2});
  const auto y = x.select(1, 0).unsqueeze(1) - 2 * x.select(1, 1).unsqueeze(1);
  double first = 0, last = 0;
  for (int i = 0; i < 50; ++i) {
    opt.zero_grad();
    auto loss = torch::mse_loss(net->forward(x), y);
    loss.backward();
    opt.step();
    last = loss.item<double>();
    if (i == 0) first = last;
  }
  EXPECT_LT(last, 0.5 * first);
}

TEST(Linear, BadOptionsThrow) {
  EXPECT_TRUE(throws_with([] { tnn::Linear(tnn::LinearOptions(2, 3).activation("nope")); },
                          "unknown activation 'nope'"));
  EXPECT_TRUE(throws_with([] { tnn::Linear(tnn::LinearOptions(2, 3).activation("relu").alpha(0.1)); },
                          "takes no alpha"));
  EXPECT_TRUE(throws_with([] { tnn::Linear(0, 3); }, "must be positive"));
  tnn::Linear fc(4, 3);
  EXPECT_TRUE(throws_with([&] { fc(torch::randn({2, 5})); }, "K=5"));
}

}  // namespace

namespace {

TEST(GatedMLP, ParametersNamedLikeLlamaMLPAndPrettyPrint) {
  tnn::GatedMLP m(tnn::GatedMLPOptions(8, 16));
  EXPECT_EQ(param_names(*m), (std::set<std::string>{"gate_proj.weight", "up_proj.weight", "down_proj.weight"}));
  EXPECT_EQ(m->down_proj->weight.sizes(), (std::vector<int64_t>{8, 16}));
  tnn::GatedMLP mb(tnn::GatedMLPOptions(8, 16).out_features(3).bias(true).activation("gelu"));
  EXPECT_EQ(param_names(*mb).size(), 6u);
  EXPECT_EQ(mb->down_proj->weight.sizes(), (std::vector<int64_t>{3, 16}));
  std::ostringstream os;
  os << *mb;
  const std::string head =
      "torch_act::nn::GatedMLP(in_features=8, hidden_features=16, out_features=3, activation=gelu, bias=true)";
  EXPECT_EQ(os.str().substr(0, head.size()), head);  // then its three Linear children
  EXPECT_NE(os.str().find("(down_proj): torch_act::nn::Linear(in_features=16, out_features=3"), std::string::npos);
}

TEST(GatedMLP, ForwardBackwardAndDoubleBackwardMatchEager) {
  for (const std::string act : {"silu", "gelu", "relu", "tanh"}) {
    SCOPED_TRACE(act);
    torch::manual_seed(7);
    tnn::GatedMLP m(tnn::GatedMLPOptions(6, 10).out_features(4).activation(act).bias(true));
    m->to(torch::kFloat64);
    const auto x0 = torch::randn({3, 2, 6}, torch::kFloat64);
    auto x = x0.clone().requires_grad_();
    const auto y = m(x);
    std::vector<torch::Tensor> ps;
    for (const auto& p : m->parameters()) ps.push_back(p.detach().clone().requires_grad_());
    // parameters() order: gate_proj (w, b), up_proj (w, b), down_proj (w, b)
    auto xr = x0.clone().requires_grad_();
    const auto& f = act_ref(act);
    const auto yr = torch::linear(f.fn(torch::linear(xr, ps[0], ps[1]), f.default_alpha) * torch::linear(xr, ps[2], ps[3]),
                                  ps[4], ps[5]);
    EXPECT_TRUE(close(y, yr, tol(torch::kFloat64)));
    // a gradient penalty: d/dparams |dy/dx|^2
    auto gx = torch::autograd::grad({y.sum()}, {x}, {}, true, /*create_graph=*/true)[0];
    auto gxr = torch::autograd::grad({yr.sum()}, {xr}, {}, true, /*create_graph=*/true)[0];
    // (down_proj.bias does not enter dy/dx: unused on both sides)
    const auto ours = torch::autograd::grad({gx.pow(2).sum()}, m->parameters(), {}, std::nullopt, false,
                                            /*allow_unused=*/true);
    const auto ref = torch::autograd::grad({gxr.pow(2).sum()}, ps, {}, std::nullopt, false, true);
    ASSERT_EQ(ours.size(), ref.size());
    for (size_t i = 0; i < ours.size(); ++i) {
      const auto as = [&](const torch::Tensor& t) { return t.defined() ? t : torch::zeros_like(ps[i]); };
      EXPECT_TRUE(close(as(ours[i]), as(ref[i]), tol(torch::kFloat64))) << i;
    }
  }
}

TEST(GatedMLP, BadOptionsThrow) {
  EXPECT_TRUE(throws_with([] { tnn::GatedMLP(tnn::GatedMLPOptions(4, 6).activation("softmax")); },
                          "must be elementwise"));
  EXPECT_TRUE(throws_with([] { tnn::GatedMLP(tnn::GatedMLPOptions(4, 6).activation("nope")); },
                          "unknown activation 'nope'"));
  EXPECT_TRUE(throws_with([] { tnn::GatedMLP(0, 6); }, "must be positive"));
  tnn::GatedMLP m(4, 6);
  EXPECT_TRUE(throws_with([&] { m(torch::randn({2, 5})); }, "K=5"));
}

}  // namespace
