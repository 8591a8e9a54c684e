#pragma once
// Activation functions, as in torch.nn.functional: names, argument order, defaults and semantics follow
// PyTorch, including its subgradients at the kinks (relu'(0) = 0, leaky_relu'(0) = negative_slope,
// elu'(0) = alpha). All but relu want floating-point inputs (float32 or float64), as in PyTorch.
//
// Each backward is a fused kernel (oneDNN for large float32 tensors, plain loops otherwise) when nothing
// records it, and the same formula in differentiable ops under create_graph, so every activation has
// second derivatives.
#include <optional>
#include <string_view>

#include "graft/graph/tensor.h"
#include "graft/ops/pointwise.h"

namespace graft::nn::functional {

Tensor relu(const Tensor& input);
Tensor leaky_relu(const Tensor& input, double negative_slope = 0.01);
/// alpha * (exp(x) - 1) for x <= 0, x above.
Tensor elu(const Tensor& input, double alpha = 1.0);
/// graft::sigmoid and graft::tanh (ops/pointwise.h), under their torch.nn.functional names.
using graft::sigmoid;
using graft::tanh;
/// x * Phi(x) with the exact Gaussian CDF (approximate = "none"), or PyTorch's tanh approximation
/// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (approximate = "tanh").
Tensor gelu(const Tensor& input, std::string_view approximate = "none");
/// x * sigmoid(x), also called swish.
Tensor silu(const Tensor& input);
/// log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (where the two agree to rounding).
Tensor softplus(const Tensor& input, double beta = 1.0, double threshold = 20.0);

/// exp(x) / sum(exp(x)) along `dim`, computed with the maximum subtracted first, so large inputs do not
/// overflow. With `dtype`, the input is converted first (as torch's dtype argument does).
/// A slice that is -inf everywhere (a fully masked attention row) gives NaN in every element, exactly as
/// PyTorch does (its maximum is -inf and -inf - (-inf) is NaN); -inf entries in a slice with any finite
/// entry get probability 0 (log-probability -inf). Mask before softmax only where some key remains.
Tensor softmax(const Tensor& input, int64_t dim, std::optional<DType> dtype = std::nullopt);
/// x - max - log(sum(exp(x - max))) along `dim`: the log of softmax without forming it (so it never takes
/// log(0) of an underflowed probability). Fully -inf slices give NaN, as with softmax and in PyTorch.
Tensor log_softmax(const Tensor& input, int64_t dim, std::optional<DType> dtype = std::nullopt);

/// softmax over the last dim of the entries where `keep` (a bool tensor broadcastable to input, or
/// undefined: everything) is true and that are not -inf; a row where nothing takes part is all zeros instead
/// of NaN, as PyTorch's _safe_softmax inside scaled_dot_product_attention since torch 2.5. Its gradient is
/// zero on such rows. What attention's probabilities are: scores masked, then normalised.
/// Raises graft::Error for a non-floating input, a non-bool keep, or a keep that does not broadcast.
Tensor masked_softmax(const Tensor& input, const Tensor& keep = {});

/// The input gradient of softmax (and masked_softmax) from its output y = softmax(x, dim) and the output
/// gradient: y * (grad_output - sum(grad_output * y, dim)). PyTorch's _softmax_backward_data. Differentiable
/// in both arguments.
Tensor softmax_backward_data(const Tensor& grad_output, const Tensor& output, int64_t dim);
/// The same for log_softmax from its output y: grad_output - exp(y) * sum(grad_output, dim).
/// PyTorch's _log_softmax_backward_data.
Tensor log_softmax_backward_data(const Tensor& grad_output, const Tensor& output, int64_t dim);

}  // namespace graft::nn::functional
