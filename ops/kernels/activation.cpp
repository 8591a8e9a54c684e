#include "graft/ops/kernels/activation.h"

#include <algorithm>
#include <cmath>

#include "graft/ops/kernels/backend.h"
#include "graft/ops/kernels/loops.h"
#include "graft/ops/kernels/onednn_primitives.h"

namespace graft::kernels {

namespace {

// ---------------------------------------------------------------- reference formulas (PyTorch's)

constexpr double kSqrt1_2 = 0.70710678118654752440;     // 1/sqrt(2)
constexpr double kInvSqrt2Pi = 0.39894228040143267794;  // 1/sqrt(2 pi)
constexpr double kGeluBeta = 0.79788456080286535588;    // sqrt(2/pi)
constexpr double kGeluKappa = 0.044715;

template <class T>
T sigmoid_of(T v) { return T(1) / (T(1) + std::exp(-v)); }

// f(v) for activation A; alpha and beta as in ActivationSpec.
template <Activation A, class T>
T forward_of(T v, T alpha, T beta) {
  if constexpr (A == Activation::Relu) return v < T(0) ? T(0) : v;  // NaN passes through, as in PyTorch
  else if constexpr (A == Activation::LeakyRelu) return v > T(0) ? v : v * alpha;
  else if constexpr (A == Activation::Elu) return v > T(0) ? v : alpha * std::expm1(v);
  else if constexpr (A == Activation::GeluErf) return T(0.5) * v * (T(1) + std::erf(v * T(kSqrt1_2)));
  else if constexpr (A == Activation::GeluTanh)
    return T(0.5) * v * (T(1) + std::tanh(T(kGeluBeta) * (v + T(kGeluKappa) * v * v * v)));
  else if constexpr (A == Activation::Silu) return v * sigmoid_of(v);
  else if constexpr (A == Activation::Softplus) {
    // log1p(exp(z)) as max(z, 0) + log1p(exp(-|z|)), which cannot overflow: the threshold may be +inf.
    const T z = v * alpha;
    return z > beta ? v : (std::max(z, T(0)) + std::log1p(std::exp(-std::abs(z)))) / alpha;
  }
  else if constexpr (A == Activation::Tanh) return std::tanh(v);
  else return sigmoid_of(v);
}

// g * f'(s) for activation A, s being the output for relu/tanh/sigmoid and the input otherwise.
template <Activation A, class T>
T backward_of(T g, T s, T alpha, T beta) {
  if constexpr (A == Activation::Relu) return s > T(0) ? g : T(0);
  else if constexpr (A == Activation::LeakyRelu) return s > T(0) ? g : g * alpha;
  else if constexpr (A == Activation::Elu) return s > T(0) ? g : g * alpha * std::exp(s);
  else if constexpr (A == Activation::GeluErf) {
    const T cdf = T(0.5) * (T(1) + std::erf(s * T(kSqrt1_2)));
    const T pdf = T(kInvSqrt2Pi) * std::exp(T(-0.5) * s * s);
    return g * (cdf + s * pdf);
  } else if constexpr (A == Activation::GeluTanh) {
    const T s2 = s * s;
    const T t = std::tanh(T(kGeluBeta) * (s + T(kGeluKappa) * s2 * s));
    const T d_inner = T(kGeluBeta) * (T(1) + T(3 * kGeluKappa) * s2);
    return g * (T(0.5) * (T(1) + t) + T(0.5) * s * (T(1) - t * t) * d_inner);
  } else if constexpr (A == Activation::Silu) {
    const T sg = sigmoid_of(s);
    return g * sg * (T(1) + s * (T(1) - sg));
  }
  // PyTorch writes g * z / (z + 1) with z = exp(beta x), which is NaN once z overflows (a threshold above
  // 88 in float32); the sigmoid form is the same number without the overflow.
  else if constexpr (A == Activation::Softplus) return s * alpha > beta ? g : g * sigmoid_of(s * alpha);
  else if constexpr (A == Activation::Tanh) return g * (T(1) - s * s);
  else return g * s * (T(1) - s);
}

// Calls f.template operator()<A>() with the activation as a compile-time constant, so that the loops
// have no switch inside.
template <class F>
void dispatch_activation(Activation a, F&& f) {
  switch (a) {
    case Activation::Relu: return f.template operator()<Activation::Relu>();
    case Activation::LeakyRelu: return f.template operator()<Activation::LeakyRelu>();
    case Activation::Elu: return f.template operator()<Activation::Elu>();
    case Activation::GeluErf: return f.template operator()<Activation::GeluErf>();
    case Activation::GeluTanh: return f.template operator()<Activation::GeluTanh>();
    case Activation::Silu: return f.template operator()<Activation::Silu>();
    case Activation::Softplus: return f.template operator()<Activation::Softplus>();
    case Activation::Tanh: return f.template operator()<Activation::Tanh>();
    case Activation::Sigmoid: return f.template operator()<Activation::Sigmoid>();
  }
}

void check_dtype(const ActivationSpec& f, DType dt) {
  if (f.kind == Activation::Relu)
    GRAFT_CHECK(dt != kBool, "relu: bool inputs are not supported");
  else
    GRAFT_CHECK(is_floating(dt), "activation: expected a floating-point tensor, got {}", dtype_name(dt));
}

// ---------------------------------------------------------------- oneDNN eltwise (f32)

struct EltwiseAlg {
  dnnl::algorithm alg;
  float alpha = 0, beta = 0;
};

// oneDNN's algorithm for f, or false where the loops are as fast (relu, leaky_relu) or oneDNN computes
// something else (softplus with beta != 1 or a threshold low enough to matter in f32).
bool onednn_alg(const ActivationSpec& f, EltwiseAlg& out) {
  using A = dnnl::algorithm;
  switch (f.kind) {
    case Activation::Elu: out = {A::eltwise_elu, static_cast<float>(f.alpha)}; return true;
    case Activation::GeluErf: out = {A::eltwise_gelu_erf}; return true;
    case Activation::GeluTanh: out = {A::eltwise_gelu_tanh}; return true;
    case Activation::Silu: out = {A::eltwise_swish, 1.f}; return true;
    case Activation::Tanh: out = {A::eltwise_tanh_use_dst_for_bwd}; return true;
    case Activation::Sigmoid: out = {A::eltwise_logistic_use_dst_for_bwd}; return true;
    // soft_relu is log(1 + e^x) with no threshold, and its derivative the logistic function: above x = 17
    // that rounds to 1 in float32, so any threshold >= 17 gives the same gradients.
    case Activation::Softplus:
      if (f.alpha == 1.0 && f.beta >= 17.0) {
        out = {A::eltwise_soft_relu};
        return true;
      }
      return false;
    default: return false;
  }
}

bool onednn_eligible(const ActivationSpec& f, const Tensor& t, EltwiseAlg& alg) {
  return t.dtype() == kFloat32 && t.numel() >= kOneDnnEltwiseMinElements && !use_reference_kernels() && onednn_alg(f, alg);
}

// oneDNN's soft_relu loses accuracy left of 0 (relative error 1.5e-5 on [-4, 0), 2e-3 on [-8, -4), and
// worse further out, where it flushes to 0), so softplus's forward stays on the loops. Its derivative,
// the logistic function, is accurate.
bool onednn_forward_eligible(const ActivationSpec& f, const Tensor& t, EltwiseAlg& alg) {
  return f.kind != Activation::Softplus && onednn_eligible(f, t, alg);
}

// The backward of tanh and sigmoid from their output is two multiplications, which the loops vectorise:
// 4x faster than oneDNN at 4096 elements.
bool onednn_backward_eligible(const ActivationSpec& f, const Tensor& t, EltwiseAlg& alg) {
  return f.kind != Activation::Tanh && f.kind != Activation::Sigmoid && onednn_eligible(f, t, alg);
}

struct EltwiseForward {
  dnnl::eltwise_forward::primitive_desc pd;
  dnnl::eltwise_forward prim;
};
struct EltwiseBackward {
  dnnl::eltwise_backward::primitive_desc pd;
  dnnl::eltwise_backward prim;
};

dnnl::eltwise_forward::primitive_desc forward_pd(const EltwiseAlg& a, int64_t n) {
  auto md = onednn::f32_desc({n});
  return {{dnnl::prop_kind::forward_training, a.alg, md, a.alpha, a.beta}, onednn::engine()};
}

onednn::PrimitiveKey eltwise_key(int64_t direction, const EltwiseAlg& a, int64_t n) {
  return onednn::make_key({direction, static_cast<int64_t>(a.alg), onednn::key_bits(a.alpha), onednn::key_bits(a.beta), n});
}

void onednn_forward(const EltwiseAlg& a, const Tensor& x, const Tensor& y) {
  ThreadBudget budget;
  static onednn::PrimitiveCache<EltwiseForward> cache;
  const int64_t n = x.numel();
  auto e = cache.get(eltwise_key(0, a, n), [&] {
    auto pd = forward_pd(a, n);
    return EltwiseForward{pd, dnnl::eltwise_forward(pd)};
  });
  auto md = onednn::f32_desc({n});
  e->prim.execute(onednn::stream(), {{DNNL_ARG_SRC, onednn::wrap(md, x)}, {DNNL_ARG_DST, onednn::wrap(md, y)}});
  onednn::stream().wait();
}

// `saved` is the forward input, or its output for the *_use_dst_for_bwd algorithms.
void onednn_backward(const EltwiseAlg& a, const Tensor& grad, const Tensor& saved, const Tensor& out) {
  ThreadBudget budget;
  static onednn::PrimitiveCache<EltwiseBackward> cache;
  const int64_t n = saved.numel();
  auto e = cache.get(eltwise_key(1, a, n), [&] {
    auto md = onednn::f32_desc({n});
    dnnl::eltwise_backward::primitive_desc pd({a.alg, md, md, a.alpha, a.beta}, onednn::engine(), forward_pd(a, n));
    return EltwiseBackward{pd, dnnl::eltwise_backward(pd)};
  });
  const bool from_dst = a.alg == dnnl::algorithm::eltwise_tanh_use_dst_for_bwd ||
                        a.alg == dnnl::algorithm::eltwise_logistic_use_dst_for_bwd;
  auto md = onednn::f32_desc({n});
  e->prim.execute(onednn::stream(), {{from_dst ? DNNL_ARG_DST : DNNL_ARG_SRC, onednn::wrap(md, saved)},
                                     {DNNL_ARG_DIFF_DST, onednn::wrap(md, grad)},
                                     {DNNL_ARG_DIFF_SRC, onednn::wrap(md, out)}});
  onednn::stream().wait();
}

}  // namespace

// bfloat16 and float16 are computed in float32 and rounded once, as PyTorch's kernels do.
Tensor activation_forward(const ActivationSpec& f, const Tensor& x) {
  if (is_reduced_floating(x.dtype())) return from_opmath(activation_forward(f, to_opmath(x)), x.dtype());
  check_dtype(f, x.dtype());
  Tensor y = empty_tensor(x.shape(), x.dtype());
  EltwiseAlg alg;
  if (onednn_forward_eligible(f, x, alg)) {
    onednn_forward(alg, onednn::dense(x, x.shape(), kFloat32), y);
    return y;
  }
  if (x.dtype() == kInt64) {  // relu only
    map1<int64_t, int64_t>(y, x, [](int64_t v) { return v < 0 ? int64_t{0} : v; });
    return y;
  }
  dispatch_floating(x.dtype(), "activation", [&]<class T>() {
    const T alpha = static_cast<T>(f.alpha), beta = static_cast<T>(f.beta);
    dispatch_activation(f.kind, [&]<Activation A>() { map1<T, T>(y, x, [&](T v) { return forward_of<A>(v, alpha, beta); }); });
  });
  return y;
}

Tensor activation_backward(const ActivationSpec& f, const Tensor& grad, const Tensor& saved) {
  if (is_reduced_floating(saved.dtype()))
    return from_opmath(activation_backward(f, to_opmath(grad), to_opmath(saved)), saved.dtype());
  check_dtype(f, saved.dtype());
  GRAFT_CHECK(is_expandable_to(grad.shape(), saved.shape()), "activation backward: grad of shape {} does not fit {}",
              shape_str(grad.shape()), shape_str(saved.shape()));
  Tensor out = empty_tensor(saved.shape(), saved.dtype());
  EltwiseAlg alg;
  if (onednn_backward_eligible(f, saved, alg)) {
    onednn_backward(alg, onednn::dense(grad, saved.shape(), kFloat32), onednn::dense(saved, saved.shape(), kFloat32), out);
    return out;
  }
  Tensor g = grad.dtype() == saved.dtype() ? grad : copy_as(grad, saved.dtype());
  dispatch_floating(saved.dtype(), "activation backward", [&]<class T>() {
    const T alpha = static_cast<T>(f.alpha), beta = static_cast<T>(f.beta);
    dispatch_activation(f.kind, [&]<Activation A>() {
      map2<T, T, T>(out, g, saved, [&](T gv, T s) { return backward_of<A>(gv, s, alpha, beta); });
    });
  });
  return out;
}

}  // namespace graft::kernels
