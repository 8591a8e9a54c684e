#pragma once
// Matrix products over 3-D operands: out[b] = a[b] @ b[b] (or out[b] += ... with accumulate), with
// a: (batch, M, K), b: (batch, K, N) in any strides (a batch stride of 0 broadcasts), out contiguous.
// f32 runs on oneDNN's sgemm (transposed operands are passed as 'T' flags, not copied); f64, tiny
// products and GRAFT_REFERENCE_KERNELS run the reference loops. bfloat16 and float16 accumulate in float32
// and round once: bf16 on oneDNN's bf16 kernels where the CPU has them (bf16_matmul_path() decides),
// otherwise (and f16 always) by multiplying float32 copies.
#include "graft/graph/tensor.h"

namespace graft::kernels {

void bmm(const Tensor& a, const Tensor& b, const Tensor& out, bool accumulate = false);
void bmm_reference(const Tensor& a, const Tensor& b, const Tensor& out, bool accumulate = false);

// True when oneDNN can run bf16 products on this CPU's own instructions (AVX512_BF16; AMX stays capped,
// see backend.h).
bool bf16_matmul_hardware();
// bmm of bfloat16 operands into a bfloat16 `out` on oneDNN's bf16 kernels; an error without the hardware.
void bmm_bf16_onednn(const Tensor& a, const Tensor& b, const Tensor& out, bool accumulate);

}  // namespace graft::kernels
