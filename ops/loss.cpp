#include "graft/ops/loss.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "graft/autograd/profiler.h"
#include "graft/graph/warning.h"
#include "graft/ops/activation.h"
#include "graft/ops/detail/autocast.h"
#include "graft/ops/detail/op_helpers.h"
#include "graft/ops/indexing.h"
#include "graft/ops/kernels/loss.h"
#include "graft/ops/operators.h"
#include "graft/ops/reduction.h"
#include "graft/ops/shape.h"

namespace graft::nn::functional {

using namespace graft::detail;
using kernels::Reduction;

namespace {

Reduction parse_reduction(const char* op, std::string_view reduction) {
  if (reduction == "none") return Reduction::None;
  if (reduction == "mean") return Reduction::Mean;
  if (reduction == "sum") return Reduction::Sum;
  GRAFT_FAIL("{}: reduction must be 'none', 'mean' or 'sum', got '{}'", op, reduction);
}

Tensor reduce_loss(const Tensor& loss, Reduction reduction) {
  switch (reduction) {
    case Reduction::Mean: return mean(loss);
    case Reduction::Sum: return sum(loss);
    case Reduction::None: break;
  }
  return loss;
}

// PyTorch refuses a weight that requires grad: the losses are not differentiable with respect to it.
void check_constant(const char* op, const char* arg, const Tensor& t) {
  GRAFT_CHECK(!(t.requires_grad() && GradMode::is_enabled()),
              "{}: '{}' requires grad, but the loss is not differentiable with respect to it (as in PyTorch); "
              "pass {}.detach()",
              op, arg, arg);
}

// An optional per-element weight (weight, pos_weight): broadcastable to input's shape, a constant, floating.
Tensor elementwise_weight(const char* op, const char* arg, const Tensor& w, const Tensor& input) {
  if (!w.defined()) return w;
  GRAFT_CHECK(is_floating(w.dtype()), "{}: '{}' must be a floating-point tensor, got {}", op, arg, dtype_name(w.dtype()));
  check_constant(op, arg, w);
  GRAFT_CHECK(is_expandable_to(w.shape(), input.shape()),
              "{}: '{}' of shape {} does not broadcast to the input's shape {}", op, arg, shape_str(w.shape()),
              shape_str(input.shape()));
  return as_dtype(w, input.dtype());
}

// ---- the classification losses' shared checks ----

// The class dim: 0 for an unbatched (C) input, else 1.
int64_t class_dim_of(const char* op, const Tensor& input) {
  GRAFT_CHECK(input.dim() >= 1, "{}: expected an input of shape (C), (N, C) or (N, C, d1, ...), got shape {}", op,
              shape_str(input.shape()));
  return input.dim() == 1 ? 0 : 1;
}

Shape without_dim(IntList shape, int64_t dim) {
  Shape s(shape.begin(), shape.end());
  s.erase(s.begin() + dim);
  return s;
}

void check_class_target(const char* op, const Tensor& input, const Tensor& target) {
  GRAFT_CHECK(target.dtype() == kInt64, "{}: expected an int64 target of class indices, got {}", op,
              dtype_name(target.dtype()));
  const Shape expected = without_dim(input.shape(), class_dim_of(op, input));
  if (input.dim() == 2)
    GRAFT_CHECK(target.dim() == 1 && target.shape()[0] == input.shape()[0],
                "{}: expected input batch_size ({}) to match target batch_size ({}); target shape {}, input shape {}",
                op, input.shape()[0], target.dim() >= 1 ? target.shape()[0] : 0, shape_str(target.shape()),
                shape_str(input.shape()));
  GRAFT_CHECK(target.shape() == expected, "{}: expected a target of shape {} for input of shape {}, got {}", op,
              shape_str(expected), shape_str(input.shape()), shape_str(target.shape()));
}

// A floating input with a class dim and an int64 target of class indices that matches it (nll_loss,
// focal_loss); returns the class dim.
int64_t check_class_inputs(const char* op, const Tensor& input, const Tensor& target) {
  check_defined(op, "input", input);
  check_defined(op, "target", target);
  check_floating_input(op, input);
  const int64_t cd = class_dim_of(op, input);
  check_class_target(op, input, target);
  return cd;
}

void check_class_weight(const char* op, const Tensor& weight, const Tensor& input, int64_t classes) {
  if (!weight.defined()) return;
  GRAFT_CHECK(weight.dim() == 1 && weight.numel() == classes,
              "{}: weight should hold one value for each of the {} classes, got shape {}", op, classes,
              shape_str(weight.shape()));
  GRAFT_CHECK(weight.dtype() == input.dtype(), "{}: weight is {} but input is {}; they must have the same dtype", op,
              dtype_name(weight.dtype()), dtype_name(input.dtype()));
  check_constant(op, "weight", weight);
}

// A (C) tensor shaped to broadcast along the class dim of an input of `ndim` dims: (C, 1, ..., 1) after dim 1.
Tensor along_class_dim(const Tensor& per_class, int64_t ndim, int64_t class_dim) {
  Shape shape(static_cast<size_t>(ndim), 1);
  shape[static_cast<size_t>(class_dim)] = per_class.numel();
  return reshape(per_class, shape);
}

// ---- nll_loss: one fused kernel each way ----

Tensor nll_loss_backward(const Tensor& grad, const Tensor& index, const Tensor& coef, const Shape& input_shape,
                         int64_t class_dim) {
  return backward_formula(
      {grad}, [&] { return kernels::nll_loss_backward(grad, index, coef, input_shape, class_dim); },
      [&] {
        return scatter_add(zeros(input_shape, coef.dtype()), class_dim, unsqueeze(index, class_dim),
                           unsqueeze(mul(grad, coef), class_dim));
      });
}

Tensor nll_loss_impl(const char* op, const Tensor& log_probs, const Tensor& target, const Tensor& weight,
                     int64_t ignore_index, Reduction reduction) {
  const int64_t cd = class_dim_of(op, log_probs);
  kernels::NllLoss r = kernels::nll_loss_forward(op, log_probs, cd, target, weight, ignore_index, reduction);
  if (auto node = make_node("NllLossBackward0", {log_probs}, [cd, shape = log_probs.shape()](Node& n, GradList& g) -> GradList {
        return {nll_loss_backward(g[0], n.saved(0), n.saved(1), shape, cd)};
      })) {
    set_history(r.loss, node);
    node->save(r.index);
    node->save(r.coef);
  }
  return r.loss;
}

// The denominator of a weighted mean over class-index targets: the sum of weight[target] (or the count)
// over the targets not ignored.
double total_target_weight(const Tensor& target, const Tensor& weight, int64_t ignore_index) {
  std::vector<int64_t> t = target.to_vector<int64_t>();
  std::vector<double> w = weight.defined() ? weight.to_vector<double>() : std::vector<double>();
  double total = 0;
  for (int64_t c : t)
    if (c != ignore_index) total += w.empty() ? 1.0 : w[static_cast<size_t>(c)];
  return total;
}

Tensor cross_entropy_probabilities(const char* op, const Tensor& input, const Tensor& target, const Tensor& weight,
                                   int64_t ignore_index, Reduction reduction, double label_smoothing) {
  GRAFT_CHECK(is_floating(target.dtype()),
              "{}: a target of the input's shape {} holds class probabilities and must be floating-point, got {}", op,
              shape_str(input.shape()), dtype_name(target.dtype()));
  GRAFT_CHECK(ignore_index < 0, "{}: ignore_index ({}) is not supported for class-probability targets", op, ignore_index);
  const int64_t cd = class_dim_of(op, input);
  const int64_t classes = input.shape()[cd];
  Tensor log_probs = log_softmax(input, cd);
  Tensor t = label_smoothing > 0 ? add(mul(target, 1.0 - label_smoothing), label_smoothing / static_cast<double>(classes))
                                 : target;
  Tensor terms = mul(log_probs, t);
  if (weight.defined()) terms = mul(terms, along_class_dim(weight, input.dim(), cd));
  switch (reduction) {
    case Reduction::None: return neg(sum(terms, {cd}));
    case Reduction::Sum: return neg(sum(terms));
    case Reduction::Mean: break;
  }
  // The mean is over samples (N * d1 * ... * dk), whatever the weights; no samples give NaN.
  const double samples = classes == 0 ? 0.0 : static_cast<double>(input.numel() / classes);
  return div(neg(sum(terms)), samples);
}

Tensor focal_loss_impl(const Tensor& input, const Tensor& target, const Tensor* alpha_per_class, double alpha,
                       double gamma, std::string_view reduction) {
  const char* op = "focal_loss";
  const Reduction r = parse_reduction(op, reduction);
  const int64_t cd = check_class_inputs(op, input, target);
  GRAFT_CHECK(gamma >= 0, "{}: gamma must be >= 0, got {}", op, gamma);
  const int64_t classes = input.shape()[cd];
  if (alpha_per_class) {
    check_defined(op, "alpha", *alpha_per_class);
    GRAFT_CHECK(alpha_per_class->dim() == 1 && alpha_per_class->numel() == classes,
                "{}: a per-class alpha should hold one value for each of the {} classes, got shape {}", op, classes,
                shape_str(alpha_per_class->shape()));
    GRAFT_CHECK(is_floating(alpha_per_class->dtype()), "{}: alpha must be floating-point, got {}", op,
                dtype_name(alpha_per_class->dtype()));
  } else {
    GRAFT_CHECK(alpha >= 0, "{}: alpha must be >= 0, got {}", op, alpha);
  }
  for (int64_t c : target.to_vector<int64_t>())
    GRAFT_CHECK(c >= 0 && c < classes, "{}: target {} is out of bounds (expected a class index in [0, {}))", op, c, classes);

  Tensor log_pt = squeeze(gather(log_softmax(input, cd), cd, unsqueeze(target, cd)), cd);
  Tensor loss = mul(pow(rsub(exp(log_pt), 1), gamma), neg(log_pt));
  if (alpha_per_class)
    loss = mul(loss, reshape(index_select(*alpha_per_class, 0, reshape(target, {-1})), target.shape()));
  else if (alpha != 1.0)
    loss = mul(loss, alpha);
  return reduce_loss(loss, r);
}

// log(1 + exp(z)) for any z: softplus without its threshold (its kernel is exact for large |z|).
Tensor exact_softplus(const Tensor& z) { return softplus(z, 1.0, std::numeric_limits<double>::infinity()); }

// The factor of softplus(-x) in binary_cross_entropy_with_logits: 1 + (pos_weight - 1) target.
Tensor positive_weight(const Tensor& pos_weight, const Tensor& target) { return add(mul(sub(pos_weight, 1), target), 1); }

void warn_if_broadcast(const char* op, const Tensor& input, const Tensor& target) {
  broadcast_shapes(op, input.shape(), target.shape());
  if (input.shape() != target.shape())
    warn(fmt::format("{}: using a target size ({}) that is different to the input size ({}). This will likely lead "
                     "to incorrect results due to broadcasting. Please ensure they have the same size.",
                     op, shape_str(target.shape()), shape_str(input.shape())));
}

void check_regression(const char* op, const Tensor& input, const Tensor& target) {
  check_defined(op, "input", input);
  check_defined(op, "target", target);
  check_floating_input(op, input);
  warn_if_broadcast(op, input, target);
}

}  // namespace

// ---------------------------------------------------------------- regression losses

Tensor mse_loss(const Tensor& input, const Tensor& target, std::string_view reduction) {
  if (autocast_wants_float32({input, target}))
    return mse_loss(autocast_float32(input), autocast_float32(target), reduction);
  GRAFT_RECORD_FUNCTION("mse_loss", input, target);
  const Reduction r = parse_reduction("mse_loss", reduction);
  check_regression("mse_loss", input, target);
  Tensor d = sub(input, target);
  return reduce_loss(mul(d, d), r);
}

Tensor l1_loss(const Tensor& input, const Tensor& target, std::string_view reduction) {
  if (autocast_wants_float32({input, target})) return l1_loss(autocast_float32(input), autocast_float32(target), reduction);
  GRAFT_RECORD_FUNCTION("l1_loss", input, target);
  const Reduction r = parse_reduction("l1_loss", reduction);
  check_regression("l1_loss", input, target);
  return reduce_loss(abs(sub(input, target)), r);
}

Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, std::string_view reduction, double beta) {
  if (autocast_wants_float32({input, target}))
    return smooth_l1_loss(autocast_float32(input), autocast_float32(target), reduction, beta);
  GRAFT_RECORD_FUNCTION("smooth_l1_loss", input, target);
  const Reduction r = parse_reduction("smooth_l1_loss", reduction);
  check_regression("smooth_l1_loss", input, target);
  GRAFT_CHECK(beta >= 0, "smooth_l1_loss: beta must be >= 0 (negative values are not supported), got {}", beta);
  Tensor d = sub(input, target);
  Tensor ad = abs(d);
  if (beta == 0) return reduce_loss(ad, r);  // the quadratic piece would divide by 0
  return reduce_loss(where(lt(ad, beta), mul(mul(d, d), 0.5 / beta), sub(ad, 0.5 * beta)), r);
}

// ---------------------------------------------------------------- binary cross-entropy

Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight, std::string_view reduction) {
  if (autocast_wants_float32({input, target, weight}))
    return binary_cross_entropy(autocast_float32(input), autocast_float32(target), autocast_float32(weight), reduction);
  GRAFT_RECORD_FUNCTION("binary_cross_entropy", input, target, weight);
  const char* op = "binary_cross_entropy";
  const Reduction r = parse_reduction(op, reduction);
  check_defined(op, "input", input);
  check_defined(op, "target", target);
  check_floating_input(op, input);
  GRAFT_CHECK(target.shape() == input.shape(),
              "{}: using a target size ({}) that is different to the input size ({}) is not supported; they must be "
              "the same (as in PyTorch)",
              op, shape_str(target.shape()), shape_str(input.shape()));
  const DType dt = input.dtype();
  Tensor t = to(target, dt);
  Tensor w = elementwise_weight(op, "weight", weight, input);
  Tensor loss = kernels::binary_cross_entropy(input, t, w);
  if (auto node = make_node("BinaryCrossEntropyBackward0", {input, t}, [has_weight = w.defined()](Node& n, GradList& g) -> GradList {
        Tensor x = n.saved(0), y = n.saved(1);
        Tensor gw = has_weight ? mul(g[0], n.saved(2)) : g[0];
        Tensor gx, gy;
        // PyTorch's gradients: the denominator is clamped, not the logs (so input 0 or 1 gives a huge, finite slope).
        // PyTorch's clamp is the float 1e-12 (its EPSILON constant), also in double.
        if (n.needs_input_grad(0)) gx = div(mul(gw, sub(x, y)), clamp_min(mul(rsub(x, 1), x), static_cast<double>(1e-12f)));
        if (n.needs_input_grad(1)) gy = mul(gw, sub(log(rsub(x, 1)), log(x)));
        return {gx, gy};
      })) {
    set_history(loss, node);
    node->save(input);
    node->save(t);
    if (w.defined()) node->save(w);
  }
  return reduce_loss(loss, r);
}

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const Tensor& weight,
                                        std::string_view reduction, const Tensor& pos_weight) {
  if (autocast_wants_float32({input, target, weight, pos_weight}))
    return binary_cross_entropy_with_logits(autocast_float32(input), autocast_float32(target), autocast_float32(weight),
                                            reduction, autocast_float32(pos_weight));
  GRAFT_RECORD_FUNCTION("binary_cross_entropy_with_logits", input, target, weight, pos_weight);
  const char* op = "binary_cross_entropy_with_logits";
  const Reduction r = parse_reduction(op, reduction);
  check_defined(op, "input", input);
  check_defined(op, "target", target);
  check_floating_input(op, input);
  GRAFT_CHECK(target.shape() == input.shape(), "{}: target size ({}) must be the same as input size ({})", op,
              shape_str(target.shape()), shape_str(input.shape()));
  Tensor t = to(target, input.dtype());
  Tensor w = elementwise_weight(op, "weight", weight, input);
  Tensor pw = elementwise_weight(op, "pos_weight", pos_weight, input);
  Tensor loss;
  {
    NoGradGuard no_grad;  // the node below carries the gradient, in PyTorch's accurate form
    Tensor x = input.detach(), y = t.detach();
    Tensor softplus_neg = exact_softplus(neg(x));  // -log(sigmoid(x)), finite for any x
    loss = add(mul(rsub(y, 1), x), pw.defined() ? mul(positive_weight(pw, y), softplus_neg) : softplus_neg);
    if (w.defined()) loss = mul(loss, w);
  }
  if (auto node = make_node("BinaryCrossEntropyWithLogitsBackward0", {input, t},
                            [has_weight = w.defined(), has_pos = pw.defined()](Node& n, GradList& g) -> GradList {
        Tensor x = n.saved(0), y = n.saved(1);
        Tensor pw = has_pos ? n.saved(2) : Tensor();
        Tensor gw = has_weight ? mul(g[0], n.saved(has_pos ? 3 : 2)) : g[0];
        Tensor gx, gy;
        // d/dx = l sigmoid(x) - pos_weight y (sigmoid(x) - y without pos_weight): no cancellation for large |x|.
        if (n.needs_input_grad(0))
          gx = mul(gw, has_pos ? sub(mul(positive_weight(pw, y), sigmoid(x)), mul(pw, y)) : sub(sigmoid(x), y));
        // d/dy = pos_weight softplus(-x) - softplus(x) (-x without pos_weight), as PyTorch.
        if (n.needs_input_grad(1))
          gy = mul(gw, has_pos ? sub(mul(pw, exact_softplus(neg(x))), exact_softplus(x)) : neg(x));
        return {gx, gy};
      })) {
    set_history(loss, node);
    node->save(input);
    node->save(t);
    if (pw.defined()) node->save(pw);
    if (w.defined()) node->save(w);
  }
  return reduce_loss(loss, r);
}

// ---------------------------------------------------------------- nll_loss, cross_entropy, focal_loss

Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                std::string_view reduction) {
  if (autocast_wants_float32({input, weight}))
    return nll_loss(autocast_float32(input), target, autocast_float32(weight), ignore_index, reduction);
  GRAFT_RECORD_FUNCTION("nll_loss", input, target, weight);
  const char* op = "nll_loss";
  const Reduction r = parse_reduction(op, reduction);
  const int64_t cd = check_class_inputs(op, input, target);
  check_class_weight(op, weight, input, input.shape()[cd]);
  return nll_loss_impl(op, input, target, weight, ignore_index, r);
}

Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                     std::string_view reduction, double label_smoothing) {
  if (autocast_wants_float32({input, target, weight}))
    return cross_entropy(autocast_float32(input), autocast_float32(target), autocast_float32(weight), ignore_index,
                         reduction, label_smoothing);
  GRAFT_RECORD_FUNCTION("cross_entropy", input, target, weight);
  const char* op = "cross_entropy";
  const Reduction r = parse_reduction(op, reduction);
  check_defined(op, "input", input);
  check_defined(op, "target", target);
  check_floating_input(op, input);
  // PyTorch accepts negative values here for class-index targets (and ignores them); graft does not.
  GRAFT_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0,
              "{}: label_smoothing must be between 0.0 and 1.0, got {}", op, label_smoothing);
  const int64_t cd = class_dim_of(op, input);
  const int64_t classes = input.shape()[cd];
  check_class_weight(op, weight, input, classes);
  if (target.shape() == input.shape())
    return cross_entropy_probabilities(op, input, target, weight, ignore_index, r, label_smoothing);

  check_class_target(op, input, target);
  Tensor log_probs = log_softmax(input, cd);
  Tensor nll = nll_loss_impl(op, log_probs, target, weight, ignore_index, r);
  if (label_smoothing == 0.0) return nll;

  // PyTorch's smoothing term: -sum_c weight[c] * log_probs[c] per sample, 0 where the target is ignored.
  Tensor smooth = neg(sum(weight.defined() ? mul(log_probs, along_class_dim(weight, input.dim(), cd)) : log_probs, {cd}));
  smooth = masked_fill(smooth, eq(target, ignore_index), 0);
  switch (r) {
    case Reduction::Sum: smooth = sum(smooth); break;
    case Reduction::Mean: smooth = div(sum(smooth), total_target_weight(target, weight, ignore_index)); break;
    case Reduction::None: break;
  }
  return add(mul(nll, 1.0 - label_smoothing), mul(smooth, label_smoothing / static_cast<double>(classes)));
}

Tensor focal_loss(const Tensor& input, const Tensor& target, double alpha, double gamma, std::string_view reduction) {
  if (autocast_wants_float32({input})) return focal_loss(autocast_float32(input), target, alpha, gamma, reduction);
  GRAFT_RECORD_FUNCTION("focal_loss", input, target);
  return focal_loss_impl(input, target, nullptr, alpha, gamma, reduction);
}

Tensor focal_loss(const Tensor& input, const Tensor& target, const Tensor& alpha, double gamma,
                  std::string_view reduction) {
  if (autocast_wants_float32({input, alpha}))
    return focal_loss(autocast_float32(input), target, autocast_float32(alpha), gamma, reduction);
  GRAFT_RECORD_FUNCTION("focal_loss", input, target, alpha);
  return focal_loss_impl(input, target, &alpha, 1.0, gamma, reduction);
}

// ---------------------------------------------------------------- class weights

Tensor compute_class_weight(const Tensor& target, int64_t num_classes, std::string_view mode, DType dtype) {
  GRAFT_RECORD_FUNCTION("compute_class_weight", target);
  const char* op = "compute_class_weight";
  check_defined(op, "target", target);
  GRAFT_CHECK(mode == "balanced" || mode == "inverse", "{}: mode must be 'balanced' or 'inverse', got '{}'", op, mode);
  GRAFT_CHECK(target.dtype() == kInt64, "{}: expected an int64 target of class indices, got {}", op,
              dtype_name(target.dtype()));
  GRAFT_CHECK(is_floating(dtype), "{}: the weights' dtype must be floating-point, got {}", op, dtype_name(dtype));
  GRAFT_CHECK(target.numel() > 0, "{}: cannot compute class weights from an empty target (shape {})", op,
              shape_str(target.shape()));
  GRAFT_CHECK(num_classes == -1 || num_classes >= 1, "{}: num_classes must be -1 (inferred) or >= 1, got {}", op,
              num_classes);
  std::vector<int64_t> t = target.to_vector<int64_t>();
  const int64_t largest = *std::max_element(t.begin(), t.end());
  const int64_t classes = num_classes == -1 ? largest + 1 : num_classes;
  std::vector<int64_t> count(static_cast<size_t>(classes), 0);
  for (int64_t c : t) {
    GRAFT_CHECK(c >= 0 && c < classes, "{}: target {} is out of range for {} classes", op, c, classes);
    ++count[static_cast<size_t>(c)];
  }
  const double n = static_cast<double>(t.size());
  std::vector<double> w(static_cast<size_t>(classes));
  for (size_t c = 0; c < w.size(); ++c) {
    GRAFT_CHECK(count[c] > 0, "{}: class {} does not occur in the target, so its weight would be infinite", op, c);
    w[c] = mode == "balanced" ? n / (static_cast<double>(classes) * static_cast<double>(count[c]))
                              : 1.0 / static_cast<double>(count[c]);
  }
  return tensor(w, {classes}, dtype);
}

}  // namespace graft::nn::functional
