#pragma once
// The arithmetic of clip_grad_norm_, shared by nn::utils::clip_grad_norm_ and ZeRO's sharded version
// (optim/zero), which must reproduce it exactly while the gradients are spread over ranks.
#include "graft/graph/dtype.h"

namespace graft::nn::utils::detail {

// A p-norm accumulated in double over values added one by one (p = inf: max |x|; -inf: min |x|; 0: count
// of non-zeros). Its state lives in two doubles owned by the caller, so that it can travel between ranks:
// the running sum (or extremum), starting at initial(p), and a flag set when a NaN was seen.
struct NormAccumulator {
  static double initial(double p);
  void add(double x) const;
  double result() const;

  double p;
  double* acc;
  double* nan;
};

// x rounded to dtype's precision (norms are computed in the gradients' dtype, as torch.norm does).
double round_to(double x, DType dtype);

// The factor the gradients are multiplied by: max_norm / (total_norm + 1e-6) evaluated in `dtype` as
// PyTorch does (reciprocal, then product). Scale only when it is below 1 or NaN: multiplying by exactly 1
// would change nothing. With error_if_nonfinite, a NaN or infinite total_norm is an error.
double clip_coefficient(double total_norm, double max_norm, double norm_type, DType dtype, bool error_if_nonfinite);

}  // namespace graft::nn::utils::detail
