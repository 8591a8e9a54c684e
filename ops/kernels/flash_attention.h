#pragma once
// FlashAttention kernels (Dao et al. 2022; backward after FlashAttention-2, Dao 2023). They never hold
// the T x S attention matrix: forward walks the keys block by block with an online softmax, keeping per
// query row a running max m, running sum l and running output o (rescaled by exp(m_old - m_new) as each
// key block arrives), and saves only the output and the per-row log-sum-exp; backward recomputes each
// block of probabilities from that log-sum-exp, P = exp(scale * q k^T - lse).
//
// Operands are contiguous: q (BH, T, E), k (BH, S, E), v (BH, S, Ev), out/dout (BH, T, Ev), lse (BH, T).
// Work is split over (BH x query blocks) in forward and in the dq pass of backward, and over (BH x key
// blocks) in the dk/dv pass, so no two threads write the same rows; extra memory is a few tiles per thread
// plus D = rowsum(dout * out), one value per query row. float32 tiles multiply with oneDNN's sgemm
// (single-threaded inside the parallel region), float64 and GRAFT_REFERENCE_KERNELS with plain loops.
#include <cstdint>

#include "graft/graph/tensor.h"

namespace graft::kernels {

struct FlashBlocks {
  int64_t query = 64;  // query rows per tile
  int64_t key = 64;    // key rows per tile
};

// is_causal: query i attends to keys j <= i (top-left aligned, as scaled_dot_product_attention).
void flash_attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, double scale, bool is_causal,
                             FlashBlocks blocks, const Tensor& out, const Tensor& lse);

// Writes dq, dk, dv (contiguous, shaped like q, k, v).
void flash_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                              const Tensor& dout, double scale, bool is_causal, FlashBlocks blocks, const Tensor& dq,
                              const Tensor& dk, const Tensor& dv);

}  // namespace graft::kernels
