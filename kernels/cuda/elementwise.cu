// torch_act — the CUDA entry points activation_forward / activation_backward
// (cuda_ops.h): row activations go to rowwise.cu, elementwise ones to the
// activation's own kernels (act_kernels.cuh, through its ActKernels table);
// plus the per-device attribute cache (SM count, compute capability).

#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <atomic>

#include "common.cuh"
#include "internal.h"
#include "cuda_ops.h"

namespace torch_act {
namespace cuda {

constexpr int kMaxDevices = 64;

namespace {
// Per-device attribute cache (cudaDeviceGetAttribute does not synchronise, but
// is not free either).  Benign race: concurrent first calls store the same value.
int cached_attribute(cudaDeviceAttr attr, std::atomic<int>* cache) {
  const int dev = c10::cuda::current_device();
  TORCH_CHECK(dev >= 0 && dev < kMaxDevices, "torch_act: device index ", dev, " out of range");
  int v = cache[dev].load(std::memory_order_relaxed);
  if (v <= 0) {
    C10_CUDA_CHECK(cudaDeviceGetAttribute(&v, attr, dev));
    cache[dev].store(v, std::memory_order_relaxed);
  }
  return v;
}
std::atomic<int> g_sms[kMaxDevices], g_major[kMaxDevices];  // 0: not yet read
}  // namespace

int sm_count() { return cached_attribute(cudaDevAttrMultiProcessorCount, g_sms); }
int cc_major() { return cached_attribute(cudaDevAttrComputeCapabilityMajor, g_major); }

const ActKernels& act_kernels(const KernelSet& act) {
  TORCH_CHECK(act.cuda != nullptr, "torch_act: activation '", act.name,
              "' has no CUDA kernels (its plugin was built without CUDA)");
  return *act.cuda;
}

void activation_forward(const at::Tensor& x, const KernelSet& act, double alpha,
                        const at::Tensor& out) {
  if (x.numel() == 0) return;
  const c10::cuda::CUDAGuard guard(x.device());
  if (act.rowwise != Rowwise::None) {
    const int64_t n = x.size(-1);
    softmax_forward(x.view({-1, n}), out.view({-1, n}), act.rowwise == Rowwise::LogSoftmax);
  } else {
    act_kernels(act).forward(x, out, alpha);
  }
}

void activation_backward(const at::Tensor& g, const at::Tensor& s, const KernelSet& act,
                         double alpha, const at::Tensor& dx) {
  if (g.numel() == 0) return;
  const c10::cuda::CUDAGuard guard(g.device());
  if (act.rowwise != Rowwise::None) {
    const int64_t n = g.size(-1);
    softmax_backward(g.view({-1, n}), s.view({-1, n}), dx.view({-1, n}),
                     act.rowwise == Rowwise::LogSoftmax);
  } else {
    act_kernels(act).backward(g, s, dx, alpha);
  }
}

void activation_deriv(const at::Tensor& g, const at::Tensor& s, const KernelSet& act,
                      double alpha, int64_t order, const at::Tensor& out) {
  if (g.numel() == 0) return;
  const c10::cuda::CUDAGuard guard(g.device());
  const ActKernels& k = act_kernels(act);
  TORCH_CHECK(k.deriv != nullptr, "torch_act: activation '", act.name,
              "' has no elementwise higher-derivative kernel");
  k.deriv(g, s, out, alpha, static_cast<int>(order));
}

}  // namespace cuda
}  // namespace torch_act
