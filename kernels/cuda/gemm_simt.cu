// torch_act — CUDA-core GEMM with the fused bias + activation epilogue, for
// float64 and for float32 when TF32 is off (torch.backends.cuda.matmul.allow_tf32).
//
// Computes C = act(A . B^T + bias), A [M, K], B [N, K] with ANY strides
// (each load is scalar; thread mapping follows whichever dim has unit stride,
// so global loads stay coalesced for either layout), accumulating in T.
// Tiling: a 64x64 block tile, 256 threads each owning a 4x4 micro-tile
// (rows ty + 16i, columns tx + 16j: conflict-free shared reads), BK = 16,
// global -> register prefetch of the next K slice while the current one is
// multiplied from double-buffered shared memory.  Epilogue: epilogue.cuh
// (also linear_glu's, over interleaved weights: glu.cu).
// Speed: FMA bound on large problems (fp64: the GPU's FP64 rate; fp32:
// well below cuBLAS's SIMT kernels, which use bigger register tiles).
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAException.h>

#include "common.cuh"
#include "gemm.cuh"

namespace torch_act {
namespace cuda {
namespace {

constexpr int BM = 64, BN = 64, BK = 16, THREADS = 256, TM = 4, TN = 4;
constexpr int LDT = BM + 4;   // shared [BK][BM + 4] (same for B with BN)
constexpr int LDS = BN + 8;   // staging [BM][BN + 8]
static_assert(BM == BN, "one shared row length for both operands");
static_assert(BN == kSimtBN, "gemm.cuh's kSimtBN (linear_glu's interleave) must match");
constexpr int kLoads = BM * BK / THREADS;  // elements per thread per operand

template <class T>
struct SimtSmem {
  static constexpr size_t kMain = 2 * 2 * static_cast<size_t>(BK) * LDT * sizeof(T);
  static constexpr size_t kStage = static_cast<size_t>(BM) * LDS * sizeof(T);
  static constexpr size_t kBytes = kMain > kStage ? kMain : kStage;
};

// Element e of the [ROWS x BK] slice: (row, k) with the unit-stride dim fastest.
__device__ __forceinline__ void slice_pos(int e, bool k_fast, int& r, int& k) {
  if (k_fast) {
    r = e / BK;
    k = e % BK;
  } else {
    r = e % BM;
    k = e / BM;
  }
}

template <class T>
__device__ __forceinline__ void load_regs(T (&reg)[kLoads], const T* g, int64_t sr, int64_t sk,
                                          int64_t row0, int64_t R, int64_t k0, int64_t K, bool k_fast,
                                          int tid) {
#pragma unroll
  for (int i = 0; i < kLoads; ++i) {
    int r, k;
    slice_pos(tid + i * THREADS, k_fast, r, k);
    const int64_t gr = row0 + r, gk = k0 + k;
    reg[i] = (gr < R && gk < K) ? g[gr * sr + gk * sk] : T(0);
  }
}

template <class T>
__device__ __forceinline__ void store_regs(T* s, const T (&reg)[kLoads], bool k_fast, int tid) {
#pragma unroll
  for (int i = 0; i < kLoads; ++i) {
    int r, k;
    slice_pos(tid + i * THREADS, k_fast, r, k);
    s[k * LDT + r] = reg[i];
  }
}

template <class T>
__global__ void __launch_bounds__(THREADS) simt_gemm_kernel(const GemmArgs p) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* sA = reinterpret_cast<T*>(smem_raw);  // [2][BK][LDT]
  T* sB = sA + 2 * BK * LDT;               // [2][BK][LDT]
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int64_t m0 = static_cast<int64_t>(blockIdx.x % p.tiles_m) * BM;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x / p.tiles_m) * BN;
  const T* A = static_cast<const T*>(p.a);
  const T* B = static_cast<const T*>(p.b);
  const bool a_kf = p.a_sk == 1, b_kf = p.b_sk == 1;
  const int KT = static_cast<int>(cdiv(p.K, BK));

  T acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = T(0);

  T ra[kLoads], rb[kLoads];
  if (KT > 0) {
    load_regs(ra, A, p.a_sr, p.a_sk, m0, p.M, 0, p.K, a_kf, tid);
    load_regs(rb, B, p.b_sr, p.b_sk, n0, p.N, 0, p.K, b_kf, tid);
    store_regs(sA, ra, a_kf, tid);
    store_regs(sB, rb, b_kf, tid);
  }
  __syncthreads();
  for (int kt = 0; kt < KT; ++kt) {
    const int cur = kt & 1;
    const bool more = kt + 1 < KT;
    if (more) {  // next slice into registers while this one is multiplied
      const int64_t k0 = static_cast<int64_t>(kt + 1) * BK;
      load_regs(ra, A, p.a_sr, p.a_sk, m0, p.M, k0, p.K, a_kf, tid);
      load_regs(rb, B, p.b_sr, p.b_sk, n0, p.N, k0, p.K, b_kf, tid);
    }
    const T* a = sA + cur * BK * LDT;
    const T* b = sB + cur * BK * LDT;
#pragma unroll
    for (int k = 0; k < BK; ++k) {
      T av[TM], bv[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) av[i] = a[k * LDT + ty + 16 * i];
#pragma unroll
      for (int j = 0; j < TN; ++j) bv[j] = b[k * LDT + tx + 16 * j];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
    }
    if (more) {  // the other buffer was last read before the previous barrier
      store_regs(sA + (cur ^ 1) * BK * LDT, ra, a_kf, tid);
      store_regs(sB + (cur ^ 1) * BK * LDT, rb, b_kf, tid);
    }
    __syncthreads();
  }

  T* stage = reinterpret_cast<T*>(smem_raw);
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) stage[(ty + 16 * i) * LDS + tx + 16 * j] = acc[i][j];
  __syncthreads();
  epilogue_store<T, T, BM, BN, THREADS>(stage, LDS, p.epi, p.M, p.N, m0, n0);
}

}  // namespace

template <class T>
bool simt_gemm(const at::Tensor& a, const at::Tensor& b, const at::Tensor& c,
               const at::Tensor& bias, const at::Tensor& preact, int epi_act, Rowwise rowwise, double alpha,
               const GluParams* glu) {
  TORCH_CHECK(glu == nullptr || glu->bn == BN, "torch_act: linear_glu: the CUDA-core GEMM's tile is ", BN,
              " wide, not ", glu->bn);
  GemmArgs p = make_gemm_args<T>(a, b, c, bias, preact, epi_act, rowwise, alpha, glu);
  p.tiles_m = static_cast<int>(cdiv(p.M, BM));
  p.tiles_n = static_cast<int>(cdiv(p.N, BN));
  const bool fuse_rows = rowwise != Rowwise::None;
  p.epi.fuse_rowwise = fuse_rows && p.N <= BN;
  if (fuse_rows && !p.epi.fuse_rowwise) p.epi.act = 0;  // the identity
  const int64_t tiles = static_cast<int64_t>(p.tiles_m) * p.tiles_n;
  simt_gemm_kernel<T><<<static_cast<unsigned>(tiles), THREADS, SimtSmem<T>::kBytes,
                        at::cuda::getCurrentCUDAStream()>>>(p);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return p.epi.fuse_rowwise;
}

template bool simt_gemm<float>(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                               const at::Tensor&, const at::Tensor&, int, Rowwise, double,
                               const GluParams*);
template bool simt_gemm<double>(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                const at::Tensor&, const at::Tensor&, int, Rowwise, double,
                                const GluParams*);

}  // namespace cuda
}  // namespace torch_act
