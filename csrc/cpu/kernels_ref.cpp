// torch_act — bootstrap CPU kernels: plain loops (to be replaced by the packed
// GEMM and vectorised kernels).  Correct for every dtype, not fast.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <c10/util/Exception.h>

#include <cmath>
#include <cstdlib>

#include "kernels.h"

namespace torch_act {
namespace cpu {
namespace {

template <class T, class Acc>
void row_softmax(Acc* z, int64_t n, bool log) {
  Acc mx = -INFINITY;
  for (int64_t j = 0; j < n; ++j) mx = std::max(mx, z[j]);
  Acc sum = 0;
  for (int64_t j = 0; j < n; ++j) sum += std::exp(z[j] - mx);
  for (int64_t j = 0; j < n; ++j) z[j] = log ? z[j] - mx - std::log(sum) : std::exp(z[j] - mx) / sum;
}

}  // namespace

void linear_act_forward(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, Act act,
                        double alpha, const at::Tensor& out, const at::Tensor& preact) {
  const int64_t M = x.size(0), K = x.size(1), N = w.size(0);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "linear_act_fwd", [&] {
    using Acc = at::opmath_type<scalar_t>;
    const scalar_t* xp = x.const_data_ptr<scalar_t>();
    const scalar_t* wp = w.const_data_ptr<scalar_t>();
    const scalar_t* bp = b.defined() ? b.const_data_ptr<scalar_t>() : nullptr;
    scalar_t* op = out.data_ptr<scalar_t>();
    scalar_t* pp = preact.defined() ? preact.data_ptr<scalar_t>() : nullptr;
    const int64_t xs0 = x.stride(0), xs1 = x.stride(1), ws0 = w.stride(0), ws1 = w.stride(1);
    dispatch_act(act, [&](auto opv) {
      using Op = decltype(opv);
      at::parallel_for(0, M, 16, [&](int64_t m0, int64_t m1) {
        std::vector<Acc> row(N);
        for (int64_t m = m0; m < m1; ++m) {
          for (int64_t n = 0; n < N; ++n) {
            Acc acc = bp ? Acc(bp[n]) : Acc(0);
            for (int64_t k = 0; k < K; ++k) acc += Acc(xp[m * xs0 + k * xs1]) * Acc(wp[n * ws0 + k * ws1]);
            row[n] = acc;
            if (pp) pp[m * N + n] = scalar_t(acc);
          }
          if constexpr (Op::kRowwise) {
            row_softmax<scalar_t, Acc>(row.data(), N, Op::kind == Act::LogSoftmax);
            for (int64_t n = 0; n < N; ++n) op[m * N + n] = scalar_t(row[n]);
          } else {
            for (int64_t n = 0; n < N; ++n) op[m * N + n] = scalar_t(Op::forward(row[n], Acc(alpha)));
          }
        }
      });
    });
  });
}

void activation_forward(const at::Tensor& x, Act act, double alpha, const at::Tensor& out) {
  const int64_t numel = x.numel();
  if (numel == 0) return;
  const int64_t n = x.dim() ? x.size(-1) : 1;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "act_fwd", [&] {
    using Acc = at::opmath_type<scalar_t>;
    const scalar_t* xp = x.const_data_ptr<scalar_t>();
    scalar_t* op = out.data_ptr<scalar_t>();
    dispatch_act(act, [&](auto opv) {
      using Op = decltype(opv);
      if constexpr (Op::kRowwise) {
        at::parallel_for(0, numel / n, 16, [&](int64_t r0, int64_t r1) {
          std::vector<Acc> row(n);
          for (int64_t r = r0; r < r1; ++r) {
            for (int64_t j = 0; j < n; ++j) row[j] = Acc(xp[r * n + j]);
            row_softmax<scalar_t, Acc>(row.data(), n, Op::kind == Act::LogSoftmax);
            for (int64_t j = 0; j < n; ++j) op[r * n + j] = scalar_t(row[j]);
          }
        });
      } else {
        at::parallel_for(0, numel, 4096, [&](int64_t i0, int64_t i1) {
          for (int64_t i = i0; i < i1; ++i) op[i] = scalar_t(Op::forward(Acc(xp[i]), Acc(alpha)));
        });
      }
    });
  });
}

void activation_backward(const at::Tensor& g, const at::Tensor& s, Act act, double alpha,
                         const at::Tensor& dx) {
  const int64_t numel = g.numel();
  if (numel == 0) return;
  const int64_t n = g.dim() ? g.size(-1) : 1;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, g.scalar_type(), "act_bwd", [&] {
    using Acc = at::opmath_type<scalar_t>;
    const scalar_t* gp = g.const_data_ptr<scalar_t>();
    const scalar_t* sp = s.defined() ? s.const_data_ptr<scalar_t>() : nullptr;
    scalar_t* dp = dx.data_ptr<scalar_t>();
    dispatch_act(act, [&](auto opv) {
      using Op = decltype(opv);
      if constexpr (Op::kRowwise) {
        const bool log = Op::kind == Act::LogSoftmax;
        at::parallel_for(0, numel / n, 16, [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r) {
            Acc dot = 0;
            for (int64_t j = 0; j < n; ++j)
              dot += log ? Acc(gp[r * n + j]) : Acc(gp[r * n + j]) * Acc(sp[r * n + j]);
            for (int64_t j = 0; j < n; ++j) {
              const Acc gj = gp[r * n + j], yj = sp[r * n + j];
              dp[r * n + j] = scalar_t(log ? gj - std::exp(yj) * dot : yj * (gj - dot));
            }
          }
        });
      } else {
        at::parallel_for(0, numel, 4096, [&](int64_t i0, int64_t i1) {
          for (int64_t i = i0; i < i1; ++i)
            dp[i] = scalar_t(Op::backward(Acc(gp[i]), sp ? Acc(sp[i]) : Acc(0), Acc(alpha)));
        });
      }
    });
  });
}

void linear_act_backward(const at::Tensor& g, const at::Tensor& x, const at::Tensor& w,
                         const at::Tensor& s, Act act, double alpha, const at::Tensor& dx,
                         const at::Tensor& dw, const at::Tensor& db) {
  const int64_t M = x.size(0), K = x.size(1), N = w.size(0);
  at::Tensor gc = g.contiguous();
  at::Tensor dz = at::empty({M, N}, g.options());
  activation_backward(gc, s, act, alpha, dz);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "linear_act_bwd", [&] {
    using Acc = at::opmath_type<scalar_t>;
    const scalar_t* zp = dz.const_data_ptr<scalar_t>();
    const scalar_t* xp = x.const_data_ptr<scalar_t>();
    const scalar_t* wp = w.const_data_ptr<scalar_t>();
    const int64_t xs0 = x.stride(0), xs1 = x.stride(1), ws0 = w.stride(0), ws1 = w.stride(1);
    if (db.defined()) {
      scalar_t* bp = db.data_ptr<scalar_t>();
      for (int64_t n = 0; n < N; ++n) {
        Acc acc = 0;
        for (int64_t m = 0; m < M; ++m) acc += Acc(zp[m * N + n]);
        bp[n] = scalar_t(acc);
      }
    }
    if (dx.defined()) {
      scalar_t* p = dx.data_ptr<scalar_t>();
      at::parallel_for(0, M, 16, [&](int64_t m0, int64_t m1) {
        for (int64_t m = m0; m < m1; ++m)
          for (int64_t k = 0; k < K; ++k) {
            Acc acc = 0;
            for (int64_t n = 0; n < N; ++n) acc += Acc(zp[m * N + n]) * Acc(wp[n * ws0 + k * ws1]);
            p[m * K + k] = scalar_t(acc);
          }
      });
    }
    if (dw.defined()) {
      scalar_t* p = dw.data_ptr<scalar_t>();
      at::parallel_for(0, N, 4, [&](int64_t n0, int64_t n1) {
        for (int64_t n = n0; n < n1; ++n)
          for (int64_t k = 0; k < K; ++k) {
            Acc acc = 0;
            for (int64_t m = 0; m < M; ++m) acc += Acc(zp[m * N + n]) * Acc(xp[m * xs0 + k * xs1]);
            p[n * K + k] = scalar_t(acc);
          }
      });
    }
  });
}

std::vector<std::string> compiled_isas() { return {"portable"}; }
std::vector<std::string> supported_isas() { return {"portable"}; }
std::string current_isa() { return "portable"; }
void set_isa(const std::string& isa) {
  TORCH_CHECK(isa == "portable", "set_cpu_isa: unsupported ISA '", isa, "'");
}

}  // namespace cpu
}  // namespace torch_act
