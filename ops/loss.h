#pragma once
// Loss functions, after torch.nn.functional (PyTorch 1.13): names, argument order, defaults and semantics.
//
// - `reduction` is "none" (one loss per element or sample), "mean" or "sum" everywhere; anything else raises.
// - Class weights (`weight`, `pos_weight`) are constants, as in PyTorch: passing one that requires grad while
//   grad mode is on raises (PyTorch: "... is not differentiable with respect to argument 'weight'").
// - Classification losses take input (C), (N, C) or (N, C, d1, ..., dk) with the classes along dim 1 (dim 0
//   for an unbatched (C) input), and int64 class-index targets of shape (), (N) or (N, d1, ..., dk).
#include <cstdint>
#include <string_view>

#include "graft/graph/tensor.h"

namespace graft::nn::functional {

/// (input - target)^2. A target of another shape broadcasts, with a warning (as in PyTorch).
Tensor mse_loss(const Tensor& input, const Tensor& target, std::string_view reduction = "mean");
/// |input - target|; the gradient at input == target is 0.
Tensor l1_loss(const Tensor& input, const Tensor& target, std::string_view reduction = "mean");
/// 0.5 (input - target)^2 / beta where |input - target| < beta, else |input - target| - 0.5 beta.
/// beta must be >= 0; beta = 0 is l1_loss.
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, std::string_view reduction = "mean",
                      double beta = 1.0);

/// -weight (target log(input) + (1 - target) log(1 - input)) for probabilities input in [0, 1] (checked),
/// with each log clamped at -100 so that input 0 or 1 gives a finite loss, as in PyTorch. target has input's
/// shape; weight broadcasts to it. The gradient is PyTorch's: weight (input - target) / max(input (1 - input),
/// 1e-12) for input, and weight (log(1 - input) - log(input)) for target.
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                            std::string_view reduction = "mean");
/// binary_cross_entropy(sigmoid(input), target) computed from the logits in the stable form
/// (1 - target) input + l softplus(-input), l = 1 + (pos_weight - 1) target, with softplus(z) =
/// max(z, 0) + log1p(exp(-|z|)): no overflow and no log(0) for any logit. weight and pos_weight (the weight of
/// the positive class, typically of shape (C) for (N, C) input) broadcast to input's shape.
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                                        std::string_view reduction = "mean", const Tensor& pos_weight = {});
/// binary_cross_entropy_with_logits's keyword arguments, for designated initialisers:
/// `F::binary_cross_entropy_with_logits(x, y, {.pos_weight = w})`. The defaults are PyTorch's.
struct BinaryCrossEntropyWithLogitsFuncOptions {
  Tensor weight = {};
  std::string_view reduction = "mean";
  Tensor pos_weight = {};
};
/// binary_cross_entropy_with_logits with its keyword arguments named. @throws graft::Error as the positional form.
inline Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                               const BinaryCrossEntropyWithLogitsFuncOptions& options) {
  return binary_cross_entropy_with_logits(input, target, options.weight, options.reduction, options.pos_weight);
}

/// -weight[target] * input[target] for log-probabilities input. Targets equal to ignore_index contribute 0
/// and are left out of the mean, which divides by the sum of weight[target] over the targets not ignored
/// (NaN when every target is ignored, as in PyTorch).
Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight = {}, int64_t ignore_index = -100,
                std::string_view reduction = "mean");
/// nll_loss's keyword arguments, for designated initialisers: `F::nll_loss(log_probs, target, {.reduction =
/// "sum"})`. The defaults are PyTorch's.
struct NLLLossFuncOptions {
  Tensor weight = {};
  int64_t ignore_index = -100;
  std::string_view reduction = "mean";
};
/// nll_loss with its keyword arguments named. @throws graft::Error as the positional form.
inline Tensor nll_loss(const Tensor& input, const Tensor& target, const NLLLossFuncOptions& options) {
  return nll_loss(input, target, options.weight, options.ignore_index, options.reduction);
}
/// nll_loss(log_softmax(input, class dim), ...), through a max-subtracted log-softmax, so it never takes log(0).
/// The target is either class indices (int64, as for nll_loss) or class probabilities (floating, input's
/// shape; ignore_index must then stay negative, and the mean divides by the number of samples N * d1 * ... *
/// dk whatever the weights). With label_smoothing in [0, 1] the loss is exactly PyTorch's:
///   (1 - ls) * nll + (ls / C) * smooth,  smooth = -sum_c weight[c] * log_softmax(input)_c
/// where, for the mean, smooth is summed over the targets not ignored and divided by the same denominator as
/// nll (the sum of weight[target], or the count when there is no weight); for probability targets the target
/// becomes target * (1 - ls) + ls / C.
Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = {},
                     int64_t ignore_index = -100, std::string_view reduction = "mean", double label_smoothing = 0.0);

/// cross_entropy's keyword arguments, for designated initialisers:
/// `F::cross_entropy(logits, target, {.ignore_index = 0, .label_smoothing = 0.1})`. The defaults are PyTorch's.
/// (LibTorch's F::CrossEntropyFuncOptions is a builder with the same fields; this one is an aggregate.)
struct CrossEntropyFuncOptions {
  Tensor weight = {};
  int64_t ignore_index = -100;
  std::string_view reduction = "mean";
  double label_smoothing = 0.0;
};
/// cross_entropy with its keyword arguments named. @throws graft::Error as the positional form.
inline Tensor cross_entropy(const Tensor& input, const Tensor& target, const CrossEntropyFuncOptions& options) {
  return cross_entropy(input, target, options.weight, options.ignore_index, options.reduction,
                       options.label_smoothing);
}

/// Focal loss (Lin et al., 2017) on softmax logits, for class-index targets: per sample
///   alpha_t * (1 - p_t)^gamma * CE,  CE = -log p_t,  p_t = softmax(input)_target,
/// with log p_t from the same stable log-softmax as cross_entropy. There is no torch.nn.functional.focal_loss;
/// this is torchvision's sigmoid_focal_loss adapted to softmax: alpha_t is the scalar alpha (1 = unweighted)
/// or alpha[target] for a per-class alpha of shape (C); "mean" is the plain mean over the samples (not
/// divided by the alphas), as in torchvision. gamma = 0 and alpha = 1 give cross_entropy. gamma >= 0.
Tensor focal_loss(const Tensor& input, const Tensor& target, double alpha = 1.0, double gamma = 2.0,
                  std::string_view reduction = "mean");
Tensor focal_loss(const Tensor& input, const Tensor& target, const Tensor& alpha, double gamma = 2.0,
                  std::string_view reduction = "mean");

/// Class weights for the `weight` argument of the losses, from int64 class-index targets (any shape), with
/// scikit-learn's meaning of "balanced": n / (C * count_c), so that sum_c count_c * weight_c = n (the weighted
/// number of samples is unchanged); "inverse" is 1 / count_c, not normalised. num_classes = -1 takes the
/// largest target + 1. A class that never occurs raises (its weight would be infinite; scikit-learn raises too).
/// Not differentiable; the result is a (C) tensor of `dtype`.
Tensor compute_class_weight(const Tensor& target, int64_t num_classes = -1, std::string_view mode = "balanced",
                            DType dtype = kFloat32);

}  // namespace graft::nn::functional
