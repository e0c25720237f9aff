// The document's network on torch_act's fused layers, trained from C++:
//
//   Linear(2, 10) -> relu -> Linear(10, 5) -> sigmoid -> Linear(5, 1)
//
// Each activation is fused into the Linear before it (one op per layer, with
// torch_act's C++ autograd).  The task, generated here: classify 2-D points
// in [-1, 1]^2 as inside / outside the circle of radius 0.6.  Prints the loss
// every few steps; exits 1 unless the loss falls.
//
//   net [steps=400] [lr=0.5]
#include <torch/torch.h>
#include <torch_act/torch_act.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

namespace tnn = torch_act::nn;

// The same parameter names as the Python torch_act.net.Net (fc1, fc2, fc3).
struct NetImpl : torch::nn::Module {
  NetImpl()
      : fc1(register_module("fc1", tnn::Linear(tnn::LinearOptions(2, 10).activation("relu")))),
        fc2(register_module("fc2", tnn::Linear(tnn::LinearOptions(10, 5).activation("sigmoid")))),
        fc3(register_module("fc3", tnn::Linear(5, 1))) {}

  torch::Tensor forward(const torch::Tensor& x) { return fc3(fc2(fc1(x))); }

  tnn::Linear fc1, fc2, fc3;
};
TORCH_MODULE(Net);

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 400;
  const double lr = argc > 2 ? std::atof(argv[2]) : 0.5;
  if (steps < 1 || !(lr > 0)) {
    std::cerr << "usage: net [steps>=1] [lr>0]\n";
    return 2;
  }
  torch::manual_seed(0);

  const auto info = torch_act::build_info();
  std::cout << "torch_act " << info.version << " (torch " << info.torch_version << ", "
            << (info.with_cuda ? "CPU + CUDA" : "CPU only") << ")\n";

  // 512 points, label 1 inside the circle of radius 0.6 (about 28% of them).
  const torch::Tensor x = torch::rand({512, 2}) * 2 - 1;
  const torch::Tensor y = (x.pow(2).sum(1, /*keepdim=*/true) < 0.36).to(torch::kFloat);

  Net net;
  std::cout << *net << "\n";
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(lr).momentum(0.9));

  double first = 0, last = 0;
  for (int step = 0; step < steps; ++step) {
    opt.zero_grad();
    const torch::Tensor logits = net->forward(x);
    const torch::Tensor loss = torch::binary_cross_entropy_with_logits(logits, y);
    loss.backward();
    opt.step();
    last = loss.item<double>();
    if (step == 0) first = last;
    if (step % 25 == 0 || step == steps - 1) std::printf("step %4d  loss %.4f\n", step, last);
  }

  torch::NoGradGuard no_grad;
  const double acc = ((net->forward(x) > 0).to(torch::kFloat) == y).to(torch::kFloat).mean().item<double>();
  std::printf("accuracy %.3f\n", acc);
  if (!(last < 0.8 * first)) {
    std::printf("FAIL: the loss did not fall (%.4f -> %.4f)\n", first, last);
    return 1;
  }
  std::printf("OK: loss fell %.4f -> %.4f\n", first, last);
  return 0;
}
