#pragma once
// How ops take part in autocast (graph/autocast_mode.h). graft's lists, after PyTorch's CPU autocast lists
// with the float32 list widened as the issue asks (PyTorch's CPU autocast runs softmax and the norms in the
// lower dtype; its CUDA autocast keeps them in float32, as graft does on the CPU):
// - lower precision (float32 inputs cast to the scope's dtype): matmul, mm, bmm, linear, conv1d, conv2d,
//   scaled_dot_product_attention, flash_attention;
// - float32 (16-bit inputs cast to float32): softmax, log_softmax, masked_softmax, layer_norm, rms_norm,
//   every loss, sum, mean, var, std, logsumexp, cumsum, and conv_transpose1d/2d (on PyTorch's CPU list);
// - everything else runs in the dtypes it is given (float64 is never cast, as in PyTorch); batch_norm of a
//   16-bit input with float32 parameters computes in float32 and returns the input's dtype, as PyTorch's.
#include <initializer_list>

#include "graft/graph/autocast_mode.h"
#include "graft/graph/tensor.h"

namespace graft::detail {

// True inside an enabled autocast scope when one of `inputs` is float32 (a lower-precision op then calls
// itself again with autocast_lower's casts) / when one of them is bfloat16 or float16 (a float32 op then
// calls itself with autocast_float32's casts).
bool autocast_wants_lower(std::initializer_list<Tensor> inputs);
bool autocast_wants_float32(std::initializer_list<Tensor> inputs);

// Under an enabled autocast scope, a float32 `t` cast (differentiably) to the scope's 16-bit dtype; otherwise
// (or for any other dtype, or an undefined tensor) `t` itself. Parameters are cast once per scope (the cache).
Tensor autocast_lower(const Tensor& t);
// Under an enabled autocast scope, a 16-bit `t` cast (differentiably) to float32; otherwise `t` itself.
Tensor autocast_float32(const Tensor& t);

}  // namespace graft::detail
