#pragma once
// Matrix products over 3-D operands: out[b] = a[b] @ b[b] (or out[b] += ... with accumulate), with
// a: (batch, M, K), b: (batch, K, N) in any strides (a batch stride of 0 broadcasts), out contiguous.
// f32 runs on oneDNN's sgemm (transposed operands are passed as 'T' flags, not copied); f64, tiny
// products and GRAFT_REFERENCE_KERNELS run the reference loops.
#include "graft/graph/tensor.h"

namespace graft::kernels {

void bmm(const Tensor& a, const Tensor& b, const Tensor& out, bool accumulate = false);
void bmm_reference(const Tensor& a, const Tensor& b, const Tensor& out, bool accumulate = false);

}  // namespace graft::kernels
