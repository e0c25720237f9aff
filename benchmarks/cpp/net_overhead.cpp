// One training step (forward + backward, gradients accumulating into the
// parameters) of the document's Net, batch 64, float32, timed in C++ without
// Python: eager LibTorch, torch_act per-layer linear_act, torch_act mlp, and a
// "floor": a C++ autograd function over the same six parameters that does no
// math at all (its forward allocates the output, its backward hands back
// precomputed gradients).  The floor is what the autograd engine, the graph
// node and the six gradient accumulations cost by themselves; no op that goes
// through autograd can take a step in less.  mlp_flat keeps the six tensors
// in one parameter: its own floor is the same no-math function over that one
// parameter (one gradient accumulation).  Best of 15 interleaved rounds.
#include <torch/torch.h>
#include <torch_act/torch_act.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <functional>
#include <vector>

namespace {

// Best time per call of each contender, in us.  The contenders take turns
// (round r runs each of them for n calls) so that a slow spell of a shared
// machine hits all of them alike rather than whichever ran then.
std::vector<double> best_us(const std::vector<std::function<void()>>& fs, int n = 5000,
                            int rounds = 15) {
  for (const auto& f : fs)
    for (int i = 0; i < 500; ++i) f();
  std::vector<double> best(fs.size(), 1e30);
  for (int r = 0; r < rounds; ++r)
    for (size_t c = 0; c < fs.size(); ++c) {
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < n; ++i) fs[c]();
      const std::chrono::duration<double, std::micro> d = std::chrono::steady_clock::now() - t0;
      best[c] = std::min(best[c], d.count() / n);
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

at::Tensor g_flat_grad;  // the one-parameter floor's precomputed gradient

struct NoMathFlat : torch::autograd::Function<NoMathFlat> {
  static at::Tensor forward(torch::autograd::AutogradContext*, const at::Tensor& x,
                            const at::Tensor& params) {
    return torch::empty({x.size(0), 1}, x.options());
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext*,
                                                 torch::autograd::variable_list) {
    return {at::Tensor(), g_flat_grad.clone()};
  }
};

}  // namespace

int main(int argc, char** argv) {
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

  // the same six tensors in one parameter (weight then bias, layer by layer)
  const auto P = torch::cat({W[0].detach().flatten(), B[0].detach(), W[1].detach().flatten(), B[1].detach(),
                             W[2].detach().flatten(), B[2].detach()}).requires_grad_();
  g_flat_grad = torch::randn_like(P);
  const std::vector<bool> flat_bias = {true, true, true};

  const std::vector<std::string> names = {"eager", "linear_act", "mlp", "floor", "mlp_flat", "floor1",
                                           "clones"};
  const std::vector<std::function<void()>> contenders = {
      [&] {
        auto h = torch::relu(torch::linear(x, W[0], B[0]));
        h = torch::sigmoid(torch::linear(h, W[1], B[1]));
        torch::linear(h, W[2], B[2]).backward(gy);
      },
      [&] {
        auto h = torch_act::linear_act(x, W[0], B[0], "relu");
        h = torch_act::linear_act(h, W[1], B[1], "sigmoid");
        torch_act::linear_act(h, W[2], B[2], "identity").backward(gy);
      },
      [&] { torch_act::mlp(x, W, bl, acts, alphas).backward(gy); },
      [&] { NoMath::apply(x, W[0], B[0], W[1], B[1], W[2], B[2]).backward(gy); },
      [&] { torch_act::mlp_flat(x, P, {2, 10, 5, 1}, flat_bias, acts, alphas).backward(gy); },
      [&] { NoMathFlat::apply(x, P).backward(gy); },
      [&] { for (const auto& g : g_grads) (void)g.clone(); },
  };
  if (argc > 1) {
    // net_overhead <name> [seconds]: run one contender in a loop (for perf record)
    for (size_t c = 0; c < names.size(); ++c)
      if (names[c] == argv[1]) {
        const double secs = argc > 2 ? std::atof(argv[2]) : 10.0;
        const auto t0 = std::chrono::steady_clock::now();
        while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < secs)
          for (int i = 0; i < 1000; ++i) contenders[c]();
        return 0;
      }
    std::fprintf(stderr, "usage: net_overhead [eager|linear_act|mlp|floor|mlp_flat|floor1|clones [seconds]]\n");
    return 2;
  }
  const auto t = best_us(contenders);
  const double eager = t[0], linear = t[1], mlp = t[2], floor = t[3], flat = t[4], floor1 = t[5],
               clones = t[6];

  std::printf("Net 2-10-5-1, batch 64, float32, one training step, %d thread(s) (best of 15 interleaved rounds, us)\n",
              at::get_num_threads());
  std::printf("| contender | us/step | vs eager | above the floor |\n|---|---:|---:|---:|\n");
  std::printf("| eager LibTorch | %.1f | 1.00x | %.1f |\n", eager, eager - floor);
  std::printf("| torch_act linear_act x3 | %.1f | %.2fx | %.1f |\n", linear, eager / linear, linear - floor);
  std::printf("| torch_act mlp | %.1f | %.2fx | %.1f |\n", mlp, eager / mlp, mlp - floor);
  std::printf("| floor: autograd with no math | %.1f | %.2fx | 0 |\n", floor, eager / floor);
  std::printf("| torch_act mlp_flat (one parameter) | %.1f | %.2fx | %.1f above its floor |\n", flat,
              eager / flat, flat - floor1);
  std::printf("| floor, one parameter | %.1f | %.2fx | 0 |\n", floor1, eager / floor1);
  std::printf("(the floor includes %.1f us of gradient clones)\n", clones);
  std::printf("best possible ratio for any autograd op: eager / floor = %.2fx\n", eager / floor);
  std::printf("mlp / floor = %.2fx; mlp_flat / its floor = %.2fx\n", mlp / floor, flat / floor1);
  return 0;
}
