#include "graft/ops/kernels/matmul.h"

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>

#include "graft/ops/kernels/backend.h"
#include "graft/ops/kernels/loops.h"

namespace graft::kernels {

namespace {

Tensor zeros_like_scalar(const Tensor& out) {
  Tensor z = empty_tensor({}, out.dtype());
  dispatch_floating_and_half(out.dtype(), "matmul", [&]<class T>() { *static_cast<T*>(z.data_ptr()) = T(0); });
  return z;
}

// Below this many multiply-adds sgemm is faster on one thread than on two.
constexpr int64_t kSingleThreadMacs = 64 * 64 * 64;
// Up to this many multiply-adds per product, a batch with at least two products per thread runs one
// product per thread at a time rather than each product over all threads: attention's (T x E) @ (E x S)
// products are too thin to split well, and whole products need no synchronisation between threads.
constexpr int64_t kBatchSplitMacs = 256 * 256 * 256;
// Up to this many multiply-adds, one product on several threads runs as one single-threaded sgemm per
// thread on a panel of its columns (or rows, whichever dim is longer). oneDNN's own split of such products
// (an MLP layer at batch 128: 128 x 784 x 512) costs 15-25% more CPU time on two threads than the work on
// one; panels cost none. Larger products gain nothing from it.
constexpr int64_t kPanelSplitMacs = int64_t{1} << 26;

template <class T>
void reference_loops(const Tensor& a, const Tensor& b, const Tensor& out, bool accumulate) {
  const int64_t batch = out.shape()[0], M = out.shape()[1], N = out.shape()[2], K = a.shape()[2];
  const int64_t as0 = a.strides()[0], as1 = a.strides()[1], as2 = a.strides()[2];
  const int64_t bs0 = b.strides()[0], bs1 = b.strides()[1], bs2 = b.strides()[2];
  const T* A = static_cast<const T*>(a.data_ptr());
  const T* B = static_cast<const T*>(b.data_ptr());
  T* C = static_cast<T*>(out.data_ptr());
  parallel_for(batch * M, batch * M * N * K, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t bi = r / M, i = r % M;
      T* c = C + (bi * M + i) * N;
      if (!accumulate)
        for (int64_t j = 0; j < N; ++j) c[j] = T(0);
      const T* arow = A + bi * as0 + i * as1;
      const T* bmat = B + bi * bs0;
      for (int64_t k = 0; k < K; ++k) {
        const T av = arow[k * as2];
        const T* brow = bmat + k * bs1;
        if (bs2 == 1)
          for (int64_t j = 0; j < N; ++j) c[j] += av * brow[j];
        else
          for (int64_t j = 0; j < N; ++j) c[j] += av * brow[j * bs2];
      }
    }
  });
}

// How sgemm sees one (rows x cols) matrix with strides (s_row, s_col): 'N' row-major or 'T' column-major,
// with its leading dimension; false when neither (a copy is needed).
bool gemm_layout(int64_t rows, int64_t cols, int64_t s_row, int64_t s_col, char& trans, int64_t& ld) {
  // The stride of a dim of size 1 is irrelevant: pick the one that makes the layout work.
  if (cols == 1) s_col = 1;
  if (rows == 1) s_row = s_col == 1 ? std::max<int64_t>(cols, 1) : 1;
  if (s_col == 1 && s_row >= std::max<int64_t>(cols, 1)) {
    trans = 'N';
    ld = s_row;
    return true;
  }
  if (s_row == 1 && s_col >= std::max<int64_t>(rows, 1)) {
    trans = 'T';
    ld = s_col;
    return true;
  }
  return false;
}

// The operands of a batch of (M x K) @ (K x N) products as gemm takes them: each matrix row-major ('N') or
// column-major ('T') with its leading dimension, copied when it is neither.
struct GemmOperands {
  Tensor a, b;
  char ta = 'N', tb = 'N';
  int64_t lda = 0, ldb = 0;
};

GemmOperands gemm_operands(const Tensor& a_in, const Tensor& b_in, int64_t M, int64_t K, int64_t N) {
  GemmOperands g{a_in, b_in};
  if (!gemm_layout(M, K, g.a.strides()[1], g.a.strides()[2], g.ta, g.lda)) {
    g.a = contiguous_copy(g.a);
    gemm_layout(M, K, g.a.strides()[1], g.a.strides()[2], g.ta, g.lda);
  }
  if (!gemm_layout(K, N, g.b.strides()[1], g.b.strides()[2], g.tb, g.ldb)) {
    g.b = contiguous_copy(g.b);
    gemm_layout(K, N, g.b.strides()[1], g.b.strides()[2], g.tb, g.ldb);
  }
  return g;
}

// Runs one(i) for the `batch` products of `macs` multiply-adds each, one product per thread at a time, when
// that is how the batch runs best (many small products, or moderate ones with at least two per thread);
// false, having run nothing, otherwise. Inside the parallel region oneDNN and OpenBLAS run single-threaded.
template <class One>
bool one_product_per_thread(int64_t batch, int64_t macs, int64_t threads, One&& one) {
  const bool many_small = batch > 1 && macs < kSingleThreadMacs;
  const bool many_moderate = batch >= 2 * threads && macs <= kBatchSplitMacs;
  if (!((many_small || many_moderate) && threads > 1 && batch * macs >= kParallelGrain)) return false;
#pragma omp parallel for schedule(static) num_threads(static_cast<int>(threads))
  for (int64_t i = 0; i < batch; ++i) one(i);
  return true;
}

void sgemm_batched(const Tensor& a_in, const Tensor& b_in, const Tensor& out, bool accumulate) {
  const int64_t batch = out.shape()[0], M = out.shape()[1], N = out.shape()[2], K = a_in.shape()[2];
  const GemmOperands g = gemm_operands(a_in, b_in, M, K, N);
  const char ta = g.ta, tb = g.tb;
  const int64_t lda = g.lda, ldb = g.ldb;
  const float* A = static_cast<const float*>(g.a.data_ptr());
  const float* B = static_cast<const float*>(g.b.data_ptr());
  float* C = static_cast<float*>(out.data_ptr());
  const int64_t as0 = g.a.strides()[0], bs0 = g.b.strides()[0];
  const float beta = accumulate ? 1.f : 0.f;
  const int64_t macs = M * N * K;
  auto one = [&](int64_t i) {
    dnnl_sgemm(ta, tb, M, N, K, 1.f, A + i * as0, lda, B + i * bs0, ldb, beta, C + i * M * N, N);
  };
  const int64_t threads = threads_for_next_region();
  if (one_product_per_thread(batch, macs, threads, one)) return;
  const bool by_cols = N >= M;
  const int64_t split_len = by_cols ? N : M;
  if (macs >= kSingleThreadMacs && macs <= kPanelSplitMacs && threads > 1 && split_len >= 64 * threads &&
      !omp_in_parallel()) {
    // Panels of whole 16-float vectors.
    const int64_t panel = ((split_len + threads - 1) / threads + 15) / 16 * 16;
    for (int64_t i = 0; i < batch; ++i) {
      const float *Ai = A + i * as0, *Bi = B + i * bs0;
      float* Ci = C + i * M * N;
#pragma omp parallel num_threads(static_cast<int>(threads))
      {
        const int64_t lo = omp_get_thread_num() * panel, hi = std::min(split_len, lo + panel);
        if (lo < hi && by_cols) {
          dnnl_sgemm(ta, tb, M, hi - lo, K, 1.f, Ai, lda, Bi + (tb == 'N' ? lo : lo * ldb), ldb, beta, Ci + lo, N);
        } else if (lo < hi) {
          dnnl_sgemm(ta, tb, hi - lo, N, K, 1.f, Ai + (ta == 'N' ? lo * lda : lo), lda, Bi, ldb, beta, Ci + lo * N, N);
        }
      }
    }
    return;
  }
  ThreadBudget budget(macs < kSingleThreadMacs ? 1 : static_cast<int>(threads));
  for (int64_t i = 0; i < batch; ++i) one(i);
}

// float64 products through OpenBLAS's dgemm (oneDNN has none). OpenBLAS's OpenMP build threads each call over
// omp_get_max_threads(), which ThreadBudget sets, and runs single-threaded inside a parallel region; so a batch
// of small products runs one product per thread, and a large product uses the threads graft grants it.
void dgemm_batched(const Tensor& a_in, const Tensor& b_in, const Tensor& out, bool accumulate) {
  const int64_t batch = out.shape()[0], M = out.shape()[1], N = out.shape()[2], K = a_in.shape()[2];
  const GemmOperands g = gemm_operands(a_in, b_in, M, K, N);
  const double* A = static_cast<const double*>(g.a.data_ptr());
  const double* B = static_cast<const double*>(g.b.data_ptr());
  double* C = static_cast<double*>(out.data_ptr());
  const int64_t as0 = g.a.strides()[0], bs0 = g.b.strides()[0];
  const double beta = accumulate ? 1.0 : 0.0;
  const int64_t macs = M * N * K;
  auto one = [&](int64_t i) {
    cblas_dgemm(CblasRowMajor, g.ta == 'N' ? CblasNoTrans : CblasTrans, g.tb == 'N' ? CblasNoTrans : CblasTrans,
                static_cast<blasint>(M), static_cast<blasint>(N), static_cast<blasint>(K), 1.0, A + i * as0,
                static_cast<blasint>(g.lda), B + i * bs0, static_cast<blasint>(g.ldb), beta, C + i * M * N,
                static_cast<blasint>(N));
  };
  const int64_t threads = threads_for_next_region();
  if (one_product_per_thread(batch, macs, threads, one)) return;
  ThreadBudget budget(macs < kSingleThreadMacs ? 1 : static_cast<int>(threads));
  for (int64_t i = 0; i < batch; ++i) one(i);
}

}  // namespace

namespace {

// A product into a 16-bit `out`, computed in float32 by `multiply` (bmm or bmm_reference) and rounded once.
template <class Multiply>
void through_float32(const Tensor& a, const Tensor& b, const Tensor& out, bool accumulate, Multiply multiply) {
  Tensor out32 = accumulate ? copy_as(out, kFloat32) : empty_tensor(out.shape(), kFloat32);
  multiply(copy_as(a, kFloat32), copy_as(b, kFloat32), out32, accumulate);
  copy_into(out, out32);
}

}  // namespace

void bmm_reference(const Tensor& a, const Tensor& b, const Tensor& out, bool accumulate) {
  if (is_reduced_floating(out.dtype())) {
    through_float32(a, b, out, accumulate, [](auto&&... args) { bmm_reference(args...); });
    return;
  }
  dispatch_floating(out.dtype(), "matmul", [&]<class T>() { reference_loops<T>(a, b, out, accumulate); });
}

void bmm(const Tensor& a, const Tensor& b, const Tensor& out, bool accumulate) {
  if (out.numel() == 0) return;
  if (is_reduced_floating(out.dtype()) && a.shape()[2] > 0 && !use_reference_kernels()) {
    if (out.dtype() == kBFloat16 && use_bf16_matmul_kernels()) bmm_bf16_onednn(a, b, out, accumulate);
    else through_float32(a, b, out, accumulate, [](auto&&... args) { bmm(args...); });
    return;
  }
  if (a.shape()[2] == 0) {  // an empty inner dim: the product is zero
    if (!accumulate) copy_into(out, zeros_like_scalar(out));
    return;
  }
  const int64_t macs = out.shape()[1] * out.shape()[2] * a.shape()[2];
  if (out.dtype() == DType::Float32 && !use_reference_kernels() && macs > kTinyMacs) {
    sgemm_batched(a, b, out, accumulate);
    return;
  }
  if (out.dtype() == DType::Float64 && !use_reference_kernels() && macs > kTinyMacs) {
    dgemm_batched(a, b, out, accumulate);
    return;
  }
  bmm_reference(a, b, out, accumulate);
}

}  // namespace graft::kernels
