#include "graft/ops/normalization.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "graft/autograd/profiler.h"
#include "graft/ops/detail/autocast.h"
#include "graft/ops/detail/op_helpers.h"
#include "graft/ops/kernels/normalization.h"
#include "graft/ops/operators.h"
#include "graft/ops/reduction.h"
#include "graft/ops/shape.h"

namespace graft::nn::functional {

using namespace graft::detail;
using kernels::NormGradsWanted;

namespace {

// An optional per-feature tensor (weight, bias, running statistics) of the input's dtype and the given shape.
void check_parameter(const char* op, const char* arg, const Tensor& t, IntList shape, DType dtype) {
  if (!t.defined()) return;
  GRAFT_CHECK(t.shape() == shape, "{}: expected {} of shape {}, got {}", op, arg, shape_str(shape), shape_str(t.shape()));
  GRAFT_CHECK(t.dtype() == dtype, "{}: expected {} of dtype {} (the input's), got {}", op, arg, dtype_name(dtype),
              dtype_name(t.dtype()));
}

// normalized_shape must be non-empty and match the input's trailing dims. Returns how many elements it has.
int64_t check_normalized_shape(const char* op, const Tensor& x, IntList normalized_shape) {
  GRAFT_CHECK(!normalized_shape.empty(), "{}: normalized_shape must have at least one dim, got []", op);
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  bool fits = x.dim() >= k;
  for (int64_t i = 0; fits && i < k; ++i) fits = x.shape()[x.dim() - k + i] == normalized_shape[i];
  const std::string ns = shape_str(normalized_shape);
  GRAFT_CHECK(fits, "{}: normalized_shape {} expects an input of shape [*, {}, got {}", op, ns, ns.substr(1),
              shape_str(x.shape()));
  return numel_of(normalized_shape);
}

// The trailing `k` dims, negatively numbered: {-k, ..., -1}.
std::vector<int64_t> trailing_dims(int64_t k) {
  std::vector<int64_t> dims;
  for (int64_t d = -k; d < 0; ++d) dims.push_back(d);
  return dims;
}

Tensor reshape_to(const Tensor& t, const TensorMeta& meta) { return t.defined() ? reshape(t, meta.shape) : t; }

// Gradients of (x - mean) * rstd * w + b (center) or x * rstd * w (RMS norm) over the trailing `k` dims,
// in differentiable ops, with the statistics recomputed from x so that their own dependence on x is
// differentiated too.
GradList row_norm_composite(const Tensor& g, const Tensor& x, const Tensor& w, int64_t k, double eps, bool center,
                            NormGradsWanted wanted) {
  const std::vector<int64_t> dims = trailing_dims(k);
  Tensor xc = center ? sub(x, mean(x, dims, true)) : x;
  Tensor rstd = rsqrt(add(mean(mul(xc, xc), dims, true), eps));
  Tensor xhat = mul(xc, rstd);
  GradList out{Tensor(), Tensor(), Tensor()};
  if (wanted.input) {
    Tensor gh = w.defined() ? mul(g, w) : g;
    Tensor proj = sub(gh, mul(xhat, mean(mul(gh, xhat), dims, true)));
    out[0] = mul(rstd, center ? sub(proj, mean(gh, dims, true)) : proj);
  }
  if (wanted.weight) out[1] = sum_to(mul(g, xhat), w.shape());
  if (wanted.bias) out[2] = sum_to(g, IntList(x.shape().data() + x.dim() - k, static_cast<size_t>(k)));
  return out;
}

}  // namespace

// ---------------------------------------------------------------- layer_norm

Tensor layer_norm(const Tensor& input, IntList normalized_shape, const Tensor& weight, const Tensor& bias, double eps) {
  if (autocast_wants_float32({input, weight, bias}))
    return layer_norm(autocast_float32(input), normalized_shape, autocast_float32(weight), autocast_float32(bias), eps);
  GRAFT_RECORD_FUNCTION("layer_norm", input, weight, bias);
  check_floating_operand("layer_norm", input);
  const int64_t cols = check_normalized_shape("layer_norm", input, normalized_shape);
  check_parameter("layer_norm", "weight", weight, normalized_shape, input.dtype());
  check_parameter("layer_norm", "bias", bias, normalized_shape, input.dtype());
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  kernels::NormForward fwd = kernels::layer_norm_forward(input, weight, bias, cols, eps);
  if (auto node = make_node("NativeLayerNormBackward0", {input, weight, bias}, [cols, k, eps](Node& n, GradList& g) -> GradList {
        Tensor x = n.saved(0), w = n.saved(1);
        const NormGradsWanted wanted{n.needs_input_grad(0), n.needs_input_grad(1), n.needs_input_grad(2)};
        if (autograd::needs_recording({g[0], x, w})) return row_norm_composite(g[0], x, w, k, eps, true, wanted);
        kernels::NormGrads r = kernels::layer_norm_backward(g[0], x, n.saved(2), n.saved(3), w, cols, eps, wanted);
        return {r.input, reshape_to(r.weight, n.input_meta(1)), reshape_to(r.bias, n.input_meta(2))};
      })) {
    set_history(fwd.output, node);
    node->save(input);
    node->save(weight);
    node->save(fwd.mean);
    node->save(fwd.rstd);
  }
  return fwd.output;
}

// ---------------------------------------------------------------- rms_norm

Tensor rms_norm(const Tensor& input, IntList normalized_shape, const Tensor& weight, std::optional<double> eps_opt) {
  if (autocast_wants_float32({input, weight}))
    return rms_norm(autocast_float32(input), normalized_shape, autocast_float32(weight), eps_opt);
  GRAFT_RECORD_FUNCTION("rms_norm", input, weight);
  check_floating_operand("rms_norm", input);
  const int64_t cols = check_normalized_shape("rms_norm", input, normalized_shape);
  check_parameter("rms_norm", "weight", weight, normalized_shape, input.dtype());
  // PyTorch's default: torch.finfo(input.dtype).eps.
  const double eps = eps_opt ? *eps_opt
                     : input.dtype() == kFloat32  ? static_cast<double>(std::numeric_limits<float>::epsilon())
                     : input.dtype() == kBFloat16 ? static_cast<double>(std::numeric_limits<BFloat16>::epsilon())
                     : input.dtype() == kFloat16  ? static_cast<double>(std::numeric_limits<Half>::epsilon())
                                                  : std::numeric_limits<double>::epsilon();
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  kernels::NormForward fwd = kernels::rms_norm_forward(input, weight, cols, eps);
  if (auto node = make_node("RmsNormBackward0", {input, weight}, [cols, k, eps](Node& n, GradList& g) -> GradList {
        Tensor x = n.saved(0), w = n.saved(1);
        const NormGradsWanted wanted{n.needs_input_grad(0), n.needs_input_grad(1), false};
        if (autograd::needs_recording({g[0], x, w})) {
          GradList r = row_norm_composite(g[0], x, w, k, eps, false, wanted);
          return {r[0], r[1]};
        }
        kernels::NormGrads r = kernels::rms_norm_backward(g[0], x, n.saved(2), w, cols, wanted);
        return {r.input, reshape_to(r.weight, n.input_meta(1))};
      })) {
    set_history(fwd.output, node);
    node->save(input);
    node->save(weight);
    node->save(fwd.rstd);
  }
  return fwd.output;
}

Tensor rms_norm(const Tensor& input, const Tensor& weight, std::optional<double> eps) {
  GRAFT_RECORD_FUNCTION("rms_norm", input, weight);
  check_defined("rms_norm", "weight", weight);
  GRAFT_CHECK(weight.dim() > 0, "rms_norm: weight must have at least one dim (it gives normalized_shape), got a 0-dim tensor");
  return rms_norm(input, weight.shape(), weight, eps);
}

// ---------------------------------------------------------------- batch_norm

namespace {

// Per-channel values [C] shaped to broadcast against an input of `ndim` dims: [1, C, 1, ...].
Tensor per_channel(const Tensor& t, int64_t ndim) {
  Shape shape(static_cast<size_t>(ndim), 1);
  shape[1] = t.numel();
  return reshape(t, shape);
}

std::vector<int64_t> all_but_channel_dims(int64_t ndim) {
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < ndim; ++d) dims.push_back(d);
  return dims;
}

GradList batch_norm_composite(const Tensor& g, const Tensor& x, const Tensor& w, const Tensor& saved_mean,
                              const Tensor& saved_rstd, bool training, double eps, NormGradsWanted wanted) {
  const std::vector<int64_t> dims = all_but_channel_dims(x.dim());
  Tensor xc, rstd;
  if (training) {  // the batch statistics depend on x: recompute them in ops
    xc = sub(x, mean(x, dims, true));
    rstd = rsqrt(add(mean(mul(xc, xc), dims, true), eps));
  } else {  // running statistics: constants
    xc = sub(x, per_channel(saved_mean, x.dim()));
    rstd = per_channel(saved_rstd, x.dim());
  }
  Tensor xhat = mul(xc, rstd);
  GradList out{Tensor(), Tensor(), Tensor()};
  if (wanted.input) {
    Tensor gh = w.defined() ? mul(g, per_channel(w, x.dim())) : g;
    out[0] = training ? mul(rstd, sub(sub(gh, mean(gh, dims, true)), mul(xhat, mean(mul(gh, xhat), dims, true))))
                      : mul(gh, rstd);
  }
  if (wanted.weight) out[1] = sum(mul(g, xhat), dims);
  if (wanted.bias) out[2] = sum(g, dims);
  return out;
}

// running = (1 - momentum) * running + momentum * batch, in place and outside autograd (16-bit buffers are
// updated in float32 and rounded).
void update_running(const Tensor& running, const Tensor& batch_in, double momentum, double batch_scale) {
  NoGradGuard no_grad;
  const DType compute = opmath_dtype(running.dtype());
  Tensor current = loops::copy_as(running, compute), batch = loops::copy_as(batch_in, compute);
  Tensor updated = empty_tensor(running.shape(), compute);
  dispatch_floating(compute, "batch_norm", [&]<class T>() {
    const T *cur = current.data_ptr<T>(), *b = batch.data_ptr<T>();
    T* out = updated.data_ptr<T>();
    for (int64_t c = 0; c < running.numel(); ++c)
      out[c] = static_cast<T>((1.0 - momentum) * cur[c] + momentum * batch_scale * b[c]);
  });
  loops::copy_into(running, updated);
  running.storage()->bump_version();
}

Tensor rstd_of(const Tensor& var_in, double eps) {
  Tensor var = to_opmath(var_in);
  Tensor r = empty_tensor(var.shape(), var.dtype());
  dispatch_floating(var.dtype(), "batch_norm", [&]<class T>() {
    loops::map1<T, T>(r, var, [eps](T v) { return static_cast<T>(1.0 / std::sqrt(static_cast<double>(v) + eps)); });
  });
  return r;
}

}  // namespace

Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  check_floating_operand("batch_norm", input);
  // PyTorch's mixed type: a 16-bit input (a convolution's output under autocast) with float32 parameters and
  // statistics normalises in float32 and returns the input's dtype.
  bool float32_state = false;
  for (const Tensor* t : {&running_mean, &running_var, &weight, &bias})
    float32_state = float32_state || (t->defined() && t->dtype() == kFloat32);
  if (is_reduced_floating(input.dtype()) && float32_state)
    return to(batch_norm(to(input, kFloat32), running_mean, running_var, weight, bias, training, momentum, eps),
              input.dtype());
  GRAFT_RECORD_FUNCTION("batch_norm", input, running_mean, running_var, weight, bias);
  GRAFT_CHECK(input.dim() >= 2, "batch_norm: expected an input of shape (N, C, *) (e.g. (N, C), (N, C, L) or (N, C, H, W)), got {}", shape_str(input.shape()));
  const int64_t channels = input.shape()[1];
  const Shape channel_shape{channels};
  for (auto [arg, t] : {std::pair<const char*, const Tensor*>{"weight", &weight}, {"bias", &bias},
                        {"running_mean", &running_mean}, {"running_var", &running_var}}) {
    if (!t->defined()) continue;
    GRAFT_CHECK(t->numel() == channels, "batch_norm: {} should have {} elements (the input's channels, dim 1 of {}), not {}",
                arg, channels, shape_str(input.shape()), t->numel());
    GRAFT_CHECK(t->dtype() == input.dtype(), "batch_norm: expected {} of dtype {} (the input's), got {}", arg,
                dtype_name(input.dtype()), dtype_name(t->dtype()));
  }
  for (auto [arg, t] : {std::pair<const char*, const Tensor*>{"running_mean", &running_mean}, {"running_var", &running_var}})
    GRAFT_CHECK(!t->defined() || !t->requires_grad(),
                "batch_norm: {} is a buffer (updated in place, never differentiated) and cannot require grad", arg);
  GRAFT_CHECK(training || (running_mean.defined() && running_var.defined()),
              "batch_norm: running_mean and running_var must be given when not training");
  GRAFT_CHECK(running_mean.defined() == running_var.defined(),
              "batch_norm: give both running_mean and running_var, or neither");
  Tensor w = weight.defined() ? reshape(weight, channel_shape) : weight;
  Tensor b = bias.defined() ? reshape(bias, channel_shape) : bias;

  Tensor mean_c, rstd_c;
  if (training) {
    // Counted from the other dims, not numel / channels. PyTorch refuses exactly one value per channel (its
    // variance would be 0/0) and accepts none: an empty batch normalises to an empty output and leaves the
    // running statistics as they are.
    int64_t per_channel_count = 1;
    for (int64_t d = 0; d < input.dim(); ++d)
      if (d != 1) per_channel_count *= input.shape()[d];
    GRAFT_CHECK(per_channel_count != 1, "batch_norm: expected more than 1 value per channel when training, got input of shape {}",
                shape_str(input.shape()));
    if (per_channel_count == 0) {
      mean_c = zeros(channel_shape, opmath_dtype(input.dtype()));
      rstd_c = ones(channel_shape, opmath_dtype(input.dtype()));
    } else {
      kernels::ChannelStatistics stats = kernels::batch_norm_statistics(input);
      mean_c = stats.mean;
      rstd_c = rstd_of(stats.var, eps);
      if (running_mean.defined()) {
        const double n = static_cast<double>(per_channel_count);
        update_running(running_mean, stats.mean, momentum, 1.0);
        update_running(running_var, stats.var, momentum, n / (n - 1));
      }
    }
  } else {
    mean_c = loops::copy_as(running_mean.reshape(channel_shape), opmath_dtype(input.dtype()));
    rstd_c = rstd_of(running_var.reshape(channel_shape), eps);
  }
  Tensor y = kernels::batch_norm_forward(input, mean_c, rstd_c, w, b);
  if (auto node = make_node("NativeBatchNormBackward0", {input, weight, bias}, [training, eps](Node& n, GradList& g) -> GradList {
        Tensor x = n.saved(0), w = n.saved(1), m = n.saved(2), r = n.saved(3);
        const NormGradsWanted wanted{n.needs_input_grad(0), n.needs_input_grad(1), n.needs_input_grad(2)};
        GradList out;
        if (autograd::needs_recording({g[0], x, w})) out = batch_norm_composite(g[0], x, w, m, r, training, eps, wanted);
        else {
          kernels::NormGrads k = kernels::batch_norm_backward(g[0], x, m, r, w, training, wanted);
          out = {k.input, k.weight, k.bias};
        }
        return {out[0], reshape_to(out[1], n.input_meta(1)), reshape_to(out[2], n.input_meta(2))};
      })) {
    set_history(y, node);
    node->save(input);
    node->save(w);
    node->save(mean_c);
    node->save(rstd_c);
  }
  return y;
}

}  // namespace graft::nn::functional
