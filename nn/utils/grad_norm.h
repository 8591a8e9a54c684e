#pragma once
// The arithmetic of clip_grad_norm_, shared by nn::utils::clip_grad_norm_ and ZeRO's sharded version
// (optim/zero), which must reproduce it exactly while the gradients are spread over ranks. Public for any
// code that computes a gradient norm in pieces and must agree with clip_grad_norm_ bit for bit.
#include "graft/graph/dtype.h"

namespace graft::nn::utils {

/// A p-norm accumulated in double over values added one by one (p = inf: max |x|; -inf: min |x|; 0: count
/// of non-zeros). Its state lives in two doubles owned by the caller, so that it can travel between ranks:
/// the running sum (or extremum), starting at initial(p), and a flag set when a NaN was seen.
struct NormAccumulator {
  /// The starting value of the running sum for norm type `p`.
  static double initial(double p);
  /// Adds one value (its absolute value, power, or extremum) to the running state.
  void add(double x) const;
  /// The norm of everything added so far (NaN when a NaN was added).
  double result() const;

  double p;
  double* acc;
  double* nan;
};

/// x rounded to dtype's precision (norms are computed in the gradients' dtype, as torch.norm does).
double round_to(double x, DType dtype);

/// The factor the gradients are multiplied by: max_norm / (total_norm + 1e-6) evaluated in `dtype` as
/// PyTorch does (reciprocal, then product). Scale only when it is below 1 or NaN: multiplying by exactly 1
/// would change nothing.
/// @throws graft::Error with error_if_nonfinite, when total_norm is NaN or infinite.
double clip_coefficient(double total_norm, double max_norm, double norm_type, DType dtype, bool error_if_nonfinite);

}  // namespace graft::nn::utils
