// The document's network on torch_act's fused ops with a user's activation
// (Swish-beta, swish.h, linked in as a plugin): forward, backward, and a
// check of the value and every gradient against LibTorch eager.  Exits 1 on
// a mismatch.
#include <torch/torch.h>
#include <torch_act/torch_act.h>

#include <cstdio>

int main() {
  torch::manual_seed(0);
  const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  auto x = torch::randn({64, 2}, opts);
  auto w1 = torch::randn({10, 2}, opts).requires_grad_(), b1 = torch::randn({10}, opts).requires_grad_();
  auto w2 = torch::randn({5, 10}, opts).requires_grad_(), b2 = torch::randn({5}, opts).requires_grad_();
  auto w3 = torch::randn({1, 5}, opts).requires_grad_(), b3 = torch::randn({1}, opts).requires_grad_();
  const double beta = 1.5;

  // ours: Linear(2,10)+swish -> Linear(10,5)+sigmoid -> Linear(5,1), as one mlp op
  auto y = torch_act::mlp(x, {w1, w2, w3}, {b1, b2, b3}, {"swish", "sigmoid", "identity"},
                          {beta, std::nullopt, std::nullopt});
  auto g = torch::autograd::grad({y.sum()}, {w1, b1, w2, b2, w3, b3});
  // eager LibTorch
  auto z1 = torch::nn::functional::linear(x, w1, b1);
  auto h = z1 * torch::sigmoid(beta * z1);
  h = torch::sigmoid(torch::nn::functional::linear(h, w2, b2));
  auto ye = torch::nn::functional::linear(h, w3, b3);
  auto ge = torch::autograd::grad({ye.sum()}, {w1, b1, w2, b2, w3, b3});

  bool ok = torch::allclose(y, ye, 1e-10, 1e-12);
  for (size_t i = 0; i < g.size(); ++i) ok = ok && torch::allclose(g[i], ge[i], 1e-10, 1e-12);
  // the single-layer op too
  auto y1 = torch_act::linear_act(x, w1, b1, "swish", beta);
  ok = ok && torch::allclose(y1, z1 * torch::sigmoid(beta * z1), 1e-10, 1e-12);
  std::printf("swish plugin: y[0] = %.6f (eager %.6f), gradients %s\n", y[0].item<double>(),
              ye[0].item<double>(), ok ? "equal" : "DIFFER");
  return ok ? 0 : 1;
}
