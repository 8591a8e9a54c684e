#include "graft/ops/kernels/flash_attention.h"

#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "graft/ops/kernels/backend.h"
#include "graft/ops/kernels/loops.h"

namespace graft::kernels {

namespace {

// Row-major C (M x N) = alpha * op(A) * op(B) + beta * C, with op(X) = X^T when the flag is set and beta
// 0 or 1. A tile product: float32 goes to sgemm, everything else (and tiny tiles) to loops ordered so the
// innermost one runs along contiguous rows.
template <class T>
void tile_gemm(bool fast, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
               int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if constexpr (std::is_same_v<T, float>) {
    if (fast && M * N * K > kTinyMacs) {
      dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      return;
    }
  }
  if (beta == T(0))
    for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, T(0));
  if (!trans_a && !trans_b) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t p = 0; p < K; ++p) {
        const T a = alpha * A[i * lda + p];
        const T* b = B + p * ldb;
        T* c = C + i * ldc;
        for (int64_t j = 0; j < N; ++j) c[j] += a * b[j];
      }
  } else if (!trans_a && trans_b) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        const T* a = A + i * lda;
        const T* b = B + j * ldb;
        T s = 0;
        for (int64_t p = 0; p < K; ++p) s += a[p] * b[p];
        C[i * ldc + j] += alpha * s;
      }
  } else if (trans_a && !trans_b) {
    for (int64_t p = 0; p < K; ++p)
      for (int64_t i = 0; i < M; ++i) {
        const T a = alpha * A[p * lda + i];
        const T* b = B + p * ldb;
        T* c = C + i * ldc;
        for (int64_t j = 0; j < N; ++j) c[j] += a * b[j];
      }
  } else {
    GRAFT_FAIL("flash_attention: internal error: no tile product for A^T B^T");
  }
}

int64_t num_blocks(int64_t n, int64_t block) { return (n + block - 1) / block; }

// The t-th of n blocks in zigzag order (0, n-1, 1, n-2, ...): with causal masking the cost of a query
// block grows with its index, and parallel_for hands each thread a contiguous range of tasks, so pairing
// cheap with expensive blocks keeps the threads evenly loaded.
int64_t zigzag(int64_t t, int64_t n) { return t % 2 == 0 ? t / 2 : n - 1 - t / 2; }

// Number of keys of the block starting at j0 (of length bc) that query row i may attend to.
int64_t visible_keys(bool causal, int64_t i, int64_t j0, int64_t bc) {
  return causal ? std::clamp<int64_t>(i - j0 + 1, 0, bc) : bc;
}

// The thread budget of a pass over `work` elements: when parallel_for keeps the work on one thread, sgemm
// must not open a parallel region of its own for every tile either (inside a parallel region it runs
// single-threaded by itself).
int budget_for(int64_t work) { return worth_parallel(work) ? ThreadBudget::kAny : 1; }

struct Dims {
  int64_t BH, T, S, E, Ev;
};

Dims dims_of(const Tensor& q, const Tensor& k, const Tensor& v) {
  return {q.shape()[0], q.shape()[1], k.shape()[1], q.shape()[2], v.shape()[2]};
}

template <class T>
void forward_loops(const Tensor& q, const Tensor& k, const Tensor& v, T scale, bool causal, FlashBlocks blk,
                   const Tensor& out, const Tensor& lse) {
  const Dims d = dims_of(q, k, v);
  const bool fast = std::is_same_v<T, float> && !use_reference_kernels();
  const T* Q = static_cast<const T*>(q.data_ptr());
  const T* K = static_cast<const T*>(k.data_ptr());
  const T* V = static_cast<const T*>(v.data_ptr());
  T* O = static_cast<T*>(out.data_ptr());
  T* L = static_cast<T*>(lse.data_ptr());
  const int64_t nq = num_blocks(d.T, blk.query);
  const int64_t tasks = d.BH * nq;
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  const int64_t work = tasks * blk.query * d.S * (d.E + d.Ev);
  ThreadBudget threads(budget_for(work));
  parallel_for(tasks, work, [&](int64_t t0, int64_t t1) {
    std::vector<T> s(static_cast<size_t>(blk.query * blk.key));   // scores, then probabilities, of one tile
    std::vector<T> acc(static_cast<size_t>(blk.query * d.Ev));    // running (unnormalised) output
    std::vector<T> m(static_cast<size_t>(blk.query)), l(static_cast<size_t>(blk.query));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t bh = t / nq, i0 = zigzag(t % nq, nq) * blk.query;
      const int64_t br = std::min(blk.query, d.T - i0);
      const T* Qi = Q + (bh * d.T + i0) * d.E;
      const T* Kb = K + bh * d.S * d.E;
      const T* Vb = V + bh * d.S * d.Ev;
      std::fill(acc.begin(), acc.begin() + br * d.Ev, T(0));
      std::fill(m.begin(), m.begin() + br, kNegInf);
      std::fill(l.begin(), l.begin() + br, T(0));
      const int64_t kend = causal ? std::min(d.S, i0 + br) : d.S;
      for (int64_t j0 = 0; j0 < kend; j0 += blk.key) {
        const int64_t bc = std::min(blk.key, kend - j0);
        tile_gemm<T>(fast, false, true, br, bc, d.E, scale, Qi, d.E, Kb + j0 * d.E, d.E, T(0), s.data(), bc);
        for (int64_t r = 0; r < br; ++r) {
          T* sr = s.data() + r * bc;
          const int64_t vis = visible_keys(causal, i0 + r, j0, bc);
          T mx = kNegInf;
          for (int64_t c = 0; c < vis; ++c) mx = std::max(mx, sr[c]);
          const T m_new = std::max(m[r], mx);
          if (m_new == kNegInf) {  // nothing visible yet: contributes nothing
            std::fill(sr, sr + bc, T(0));
            continue;
          }
          const T alpha = std::exp(m[r] - m_new);  // rescales what was accumulated under the old max
          T sum = 0;
          for (int64_t c = 0; c < vis; ++c) {
            sr[c] = std::exp(sr[c] - m_new);
            sum += sr[c];
          }
          std::fill(sr + vis, sr + bc, T(0));
          l[r] = l[r] * alpha + sum;
          m[r] = m_new;
          if (alpha != T(1)) {
            T* a = acc.data() + r * d.Ev;
            for (int64_t e = 0; e < d.Ev; ++e) a[e] *= alpha;
          }
        }
        tile_gemm<T>(fast, false, false, br, d.Ev, bc, T(1), s.data(), bc, Vb + j0 * d.Ev, d.Ev, T(1), acc.data(),
                     d.Ev);
      }
      for (int64_t r = 0; r < br; ++r) {
        T* o = O + (bh * d.T + i0 + r) * d.Ev;
        const T* a = acc.data() + r * d.Ev;
        const T inv = l[r] > T(0) ? T(1) / l[r] : T(0);  // a row that sees no key (S = 0) is zero
        for (int64_t e = 0; e < d.Ev; ++e) o[e] = a[e] * inv;
        L[bh * d.T + i0 + r] = l[r] > T(0) ? m[r] + std::log(l[r]) : kNegInf;
      }
    }
  });
}

// P = exp(scale * Q_i K_j^T - lse_i) of one (br x bc) tile, zero where causal masking hides a key.
template <class T>
void recompute_probabilities(bool fast, const T* Qi, const T* Kj, const T* lse_i, T scale, bool causal, int64_t i0,
                             int64_t j0, int64_t br, int64_t bc, int64_t E, T* p) {
  tile_gemm<T>(fast, false, true, br, bc, E, scale, Qi, E, Kj, E, T(0), p, bc);
  for (int64_t r = 0; r < br; ++r) {
    T* pr = p + r * bc;
    const int64_t vis = visible_keys(causal, i0 + r, j0, bc);
    for (int64_t c = 0; c < vis; ++c) pr[c] = std::exp(pr[c] - lse_i[r]);
    std::fill(pr + vis, pr + bc, T(0));
  }
}

// dS = P * (dP - D_i), in place of dP.
template <class T>
void score_gradient(const T* p, const T* D_i, int64_t br, int64_t bc, T* dp) {
  for (int64_t r = 0; r < br; ++r)
    for (int64_t c = 0; c < bc; ++c) dp[r * bc + c] = p[r * bc + c] * (dp[r * bc + c] - D_i[r]);
}

template <class T>
void backward_loops(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                    const Tensor& dout, T scale, bool causal, FlashBlocks blk, const Tensor& dq, const Tensor& dk,
                    const Tensor& dv) {
  const Dims d = dims_of(q, k, v);
  const bool fast = std::is_same_v<T, float> && !use_reference_kernels();
  const T* Q = static_cast<const T*>(q.data_ptr());
  const T* K = static_cast<const T*>(k.data_ptr());
  const T* V = static_cast<const T*>(v.data_ptr());
  const T* O = static_cast<const T*>(out.data_ptr());
  const T* L = static_cast<const T*>(lse.data_ptr());
  const T* dO = static_cast<const T*>(dout.data_ptr());
  T* dQ = static_cast<T*>(dq.data_ptr());
  T* dK = static_cast<T*>(dk.data_ptr());
  T* dV = static_cast<T*>(dv.data_ptr());

  // D = rowsum(dO * O) = rowsum(dP * P): the softmax backward's per-row term, one value per query row.
  std::vector<T> D(static_cast<size_t>(d.BH * d.T));
  parallel_for(d.BH * d.T, d.BH * d.T * d.Ev, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      T s = 0;
      for (int64_t e = 0; e < d.Ev; ++e) s += dO[r * d.Ev + e] * O[r * d.Ev + e];
      D[r] = s;
    }
  });
  const int64_t work = d.BH * d.T * d.S * (2 * d.E + 2 * d.Ev);
  ThreadBudget threads(budget_for(work));

  // dK and dV: each task owns one key block and walks the query blocks that see it.
  const int64_t nk = num_blocks(d.S, blk.key);
  parallel_for(d.BH * nk, work, [&](int64_t t0, int64_t t1) {
    std::vector<T> p(static_cast<size_t>(blk.query * blk.key)), dp(p.size());
    std::vector<T> dk_acc(static_cast<size_t>(blk.key * d.E)), dv_acc(static_cast<size_t>(blk.key * d.Ev));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t bh = t / nk, j0 = zigzag(t % nk, nk) * blk.key;
      const int64_t bc = std::min(blk.key, d.S - j0);
      const T* Kj = K + (bh * d.S + j0) * d.E;
      const T* Vj = V + (bh * d.S + j0) * d.Ev;
      std::fill(dk_acc.begin(), dk_acc.begin() + bc * d.E, T(0));
      std::fill(dv_acc.begin(), dv_acc.begin() + bc * d.Ev, T(0));
      for (int64_t i0 = causal ? j0 : 0; i0 < d.T; i0 += blk.query) {
        const int64_t br = std::min(blk.query, d.T - i0);
        const T* Qi = Q + (bh * d.T + i0) * d.E;
        const T* dOi = dO + (bh * d.T + i0) * d.Ev;
        recompute_probabilities<T>(fast, Qi, Kj, L + bh * d.T + i0, scale, causal, i0, j0, br, bc, d.E, p.data());
        tile_gemm<T>(fast, true, false, bc, d.Ev, br, T(1), p.data(), bc, dOi, d.Ev, T(1), dv_acc.data(), d.Ev);
        tile_gemm<T>(fast, false, true, br, bc, d.Ev, T(1), dOi, d.Ev, Vj, d.Ev, T(0), dp.data(), bc);
        score_gradient<T>(p.data(), D.data() + bh * d.T + i0, br, bc, dp.data());
        tile_gemm<T>(fast, true, false, bc, d.E, br, scale, dp.data(), bc, Qi, d.E, T(1), dk_acc.data(), d.E);
      }
      std::copy(dk_acc.begin(), dk_acc.begin() + bc * d.E, dK + (bh * d.S + j0) * d.E);
      std::copy(dv_acc.begin(), dv_acc.begin() + bc * d.Ev, dV + (bh * d.S + j0) * d.Ev);
    }
  });

  // dQ: each task owns one query block and walks the key blocks it sees. Recomputing P here instead of
  // sharing dQ between the key-block tasks costs two tile products more but needs no atomics and no
  // per-thread copies of dQ, and the result does not depend on the number of threads.
  const int64_t nq = num_blocks(d.T, blk.query);
  parallel_for(d.BH * nq, work, [&](int64_t t0, int64_t t1) {
    std::vector<T> p(static_cast<size_t>(blk.query * blk.key)), dp(p.size());
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t bh = t / nq, i0 = zigzag(t % nq, nq) * blk.query;
      const int64_t br = std::min(blk.query, d.T - i0);
      const T* Qi = Q + (bh * d.T + i0) * d.E;
      const T* dOi = dO + (bh * d.T + i0) * d.Ev;
      T* dQi = dQ + (bh * d.T + i0) * d.E;
      std::fill(dQi, dQi + br * d.E, T(0));
      const int64_t kend = causal ? std::min(d.S, i0 + br) : d.S;
      for (int64_t j0 = 0; j0 < kend; j0 += blk.key) {
        const int64_t bc = std::min(blk.key, kend - j0);
        const T* Kj = K + (bh * d.S + j0) * d.E;
        const T* Vj = V + (bh * d.S + j0) * d.Ev;
        recompute_probabilities<T>(fast, Qi, Kj, L + bh * d.T + i0, scale, causal, i0, j0, br, bc, d.E, p.data());
        tile_gemm<T>(fast, false, true, br, bc, d.Ev, T(1), dOi, d.Ev, Vj, d.Ev, T(0), dp.data(), bc);
        score_gradient<T>(p.data(), D.data() + bh * d.T + i0, br, bc, dp.data());
        tile_gemm<T>(fast, false, false, br, d.E, bc, scale, dp.data(), bc, Kj, d.E, T(1), dQi, d.E);
      }
    }
  });
}

}  // namespace

namespace {
// A 16-bit result computed into a float32 scratch tensor and rounded into `out` once.
struct RoundedOutput {
  const Tensor& out;
  Tensor scratch = empty_tensor(out.shape(), kFloat32);
  ~RoundedOutput() { copy_into(out, scratch); }
};
}  // namespace

// bfloat16 and float16 run on float32 copies; the outputs are rounded once, the log-sum-exp stays float32.
void flash_attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, double scale, bool is_causal,
                             FlashBlocks blocks, const Tensor& out, const Tensor& lse) {
  if (is_reduced_floating(q.dtype())) {
    RoundedOutput o{out};
    flash_attention_forward(to_opmath(q), to_opmath(k), to_opmath(v), scale, is_causal, blocks, o.scratch, lse);
    return;
  }
  dispatch_floating(q.dtype(), "flash_attention", [&]<class T>() {
    forward_loops<T>(q, k, v, static_cast<T>(scale), is_causal, blocks, out, lse);
  });
}

void flash_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                              const Tensor& dout, double scale, bool is_causal, FlashBlocks blocks, const Tensor& dq,
                              const Tensor& dk, const Tensor& dv) {
  if (is_reduced_floating(q.dtype())) {
    RoundedOutput gq{dq}, gk{dk}, gv{dv};
    flash_attention_backward(to_opmath(q), to_opmath(k), to_opmath(v), to_opmath(out), lse, to_opmath(dout), scale,
                             is_causal, blocks, gq.scratch, gk.scratch, gv.scratch);
    return;
  }
  dispatch_floating(q.dtype(), "flash_attention", [&]<class T>() {
    backward_loops<T>(q, k, v, out, lse, dout, static_cast<T>(scale), is_causal, blocks, dq, dk, dv);
  });
}

}  // namespace graft::kernels
