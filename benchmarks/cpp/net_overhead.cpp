// One training step (forward + backward, gradients accumulating into the
// parameters) of the document's Net, batch 64, float32, timed in C++ without
// Python: eager LibTorch, torch_act per-layer linear_act, torch_act mlp, and a
// "floor": a C++ autograd function over the same six parameters that does no
// math at all (its forward allocates the output, its backward hands back
// precomputed gradients).  The floor is what the autograd engine, the graph
// node and the six gradient accumulations cost by themselves; no op that goes
// through autograd can take a step in less.  Best of 7 runs of N steps.
#include <torch/torch.h>
#include <torch_act/torch_act.h>

#include <chrono>
#include <cstdio>

namespace {

template <class F>
double best_us(F f, int n = 20000) {
  for (int i = 0; i < 500; ++i) f();
  double best = 1e30;
  for (int r = 0; r < 7; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) f();
    const std::chrono::duration<double, std::micro> d = std::chrono::steady_clock::now() - t0;
    best = std::min(best, d.count() / n);
  }
  return best;
}

std::vector<at::Tensor> g_grads;  // the floor's precomputed gradients

struct NoMath : torch::autograd::Function<NoMath> {
  static at::Tensor forward(torch::autograd::AutogradContext*, const at::Tensor& x,
                            const at::Tensor& w0, const at::Tensor& b0, const at::Tensor& w1,
                            const at::Tensor& b1, const at::Tensor& w2, const at::Tensor& b2) {
    return torch::empty({x.size(0), w2.size(0)}, x.options());
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext*,
                                                 torch::autograd::variable_list) {
    torch::autograd::variable_list out{at::Tensor()};
    for (const auto& g : g_grads) out.push_back(g.clone());
    return out;
  }
};

}  // namespace

int main() {
  torch::manual_seed(0);
  const auto x = torch::randn({64, 2}), gy = torch::randn({64, 1});
  std::vector<at::Tensor> W = {torch::randn({10, 2}), torch::randn({5, 10}), torch::randn({1, 5})};
  std::vector<at::Tensor> B = {torch::randn({10}), torch::randn({5}), torch::randn({1})};
  for (auto* v : {&W, &B})
    for (auto& t : *v) t.requires_grad_();
  for (int i = 0; i < 3; ++i) g_grads.push_back(torch::randn_like(W[i])), g_grads.push_back(torch::randn_like(B[i]));
  std::vector<std::optional<at::Tensor>> bl(B.begin(), B.end());
  const std::vector<std::string> acts = {"relu", "sigmoid", "identity"};
  const std::vector<std::optional<double>> alphas(3);

  const double eager = best_us([&] {
    auto h = torch::relu(torch::linear(x, W[0], B[0]));
    h = torch::sigmoid(torch::linear(h, W[1], B[1]));
    torch::linear(h, W[2], B[2]).backward(gy);
  });
  const double linear = best_us([&] {
    auto h = torch_act::linear_act(x, W[0], B[0], "relu");
    h = torch_act::linear_act(h, W[1], B[1], "sigmoid");
    torch_act::linear_act(h, W[2], B[2], "identity").backward(gy);
  });
  const double mlp = best_us([&] { torch_act::mlp(x, W, bl, acts, alphas).backward(gy); });
  const double floor = best_us([&] { NoMath::apply(x, W[0], B[0], W[1], B[1], W[2], B[2]).backward(gy); });
  const double clones = best_us([&] { for (const auto& g : g_grads) (void)g.clone(); });

  std::printf("Net 2-10-5-1, batch 64, float32, one training step, %d thread(s) (best of 7, us)\n",
              at::get_num_threads());
  std::printf("| contender | us/step | vs eager | above the floor |\n|---|---:|---:|---:|\n");
  std::printf("| eager LibTorch | %.1f | 1.00x | %.1f |\n", eager, eager - floor);
  std::printf("| torch_act linear_act x3 | %.1f | %.2fx | %.1f |\n", linear, eager / linear, linear - floor);
  std::printf("| torch_act mlp | %.1f | %.2fx | %.1f |\n", mlp, eager / mlp, mlp - floor);
  std::printf("| floor: autograd with no math | %.1f | %.2fx | 0 |\n", floor, eager / floor);
  std::printf("(the floor includes %.1f us of gradient clones)\n", clones);
  std::printf("best possible ratio for any autograd op: eager / floor = %.2fx\n", eager / floor);
  return 0;
}
