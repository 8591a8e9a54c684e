#pragma once
// Reductions over all elements or over dims (negative dims count from the end; keepdim keeps them as 1; an
// empty list of dims means all of them, as PyTorch 1.13's dim=[]).
#include <initializer_list>
#include <optional>
#include <tuple>

#include "graft/graph/tensor.h"

namespace graft {

/// Sums of integers and bools are int64, as in PyTorch.
Tensor sum(const Tensor& x);
Tensor sum(const Tensor& x, IntList dims, bool keepdim = false);
/// Floating inputs only; the mean of no elements is NaN, as in PyTorch.
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, IntList dims, bool keepdim = false);
/// Sums `x` down to `shape` (which x must broadcast from): the adjoint of expand (Tensor.sum_to_size).
Tensor sum_to(const Tensor& x, IntList shape);

/// Largest/smallest element. The all-element forms split the gradient evenly among ties; the forms with a
/// dim return (values, indices) and send the gradient to the index returned (the first on ties).
Tensor max(const Tensor& x);
Tensor min(const Tensor& x);
std::tuple<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim = false);
std::tuple<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim = false);
/// torch.amax / torch.amin: over several dims, gradient split evenly among ties.
Tensor amax(const Tensor& x, IntList dims, bool keepdim = false);
Tensor amin(const Tensor& x, IntList dims, bool keepdim = false);
/// Index of the largest/smallest element (of the flattened tensor when dim is not given); not differentiable.
Tensor argmax(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor argmin(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);

/// Variance and standard deviation, with Bessel's correction when unbiased (PyTorch's default).
Tensor var(const Tensor& x, bool unbiased = true);
Tensor var(const Tensor& x, IntList dims, bool unbiased = true, bool keepdim = false);
Tensor std(const Tensor& x, bool unbiased = true);
Tensor std(const Tensor& x, IntList dims, bool unbiased = true, bool keepdim = false);
/// A braced list picks the overloads with dims, not the bool one: var(x, {1}) reduces dim 1 (with only the
/// overloads above, {1} would convert to `unbiased` and reduce every dim).
inline Tensor var(const Tensor& x, std::initializer_list<int64_t> dims, bool unbiased = true, bool keepdim = false) {
  return var(x, IntList(dims), unbiased, keepdim);
}
inline Tensor std(const Tensor& x, std::initializer_list<int64_t> dims, bool unbiased = true, bool keepdim = false) {
  return std(x, IntList(dims), unbiased, keepdim);
}

/// log(sum(exp(x))) computed stably (the max is subtracted first); rows of -inf, and reductions over no
/// elements, give -inf. As in PyTorch, the gradient is grad * exp(x - result), NaN on rows of -inf.
Tensor logsumexp(const Tensor& x, IntList dims, bool keepdim = false);

}  // namespace graft
