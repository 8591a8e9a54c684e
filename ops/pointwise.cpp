#include "graft/ops/pointwise.h"

#include <cmath>

#include "graft/autograd/profiler.h"
#include "graft/ops/detail/op_helpers.h"
#include "graft/ops/kernels/activation.h"
#include "graft/ops/operators.h"

namespace graft {

using namespace detail;

DType result_type(const Tensor& a, const Tensor& b) {
  const bool a_zero = a.dim() == 0, b_zero = b.dim() == 0;
  if (a_zero == b_zero) return promote_types(a.dtype(), b.dtype());
  // PyTorch: a 0-dim tensor only promotes a dimensioned one to a higher category (bool < int < float).
  DType dimmed = a_zero ? b.dtype() : a.dtype(), zero = a_zero ? a.dtype() : b.dtype();
  if (is_floating(dimmed)) return dimmed;
  if (dimmed == kBool || is_floating(zero)) return promote_types(dimmed, zero);
  return dimmed;
}

namespace {

// x op s for a scalar s, in the dtype PyTorch gives it.
template <class F>
Tensor map_scalar(const char* op, const Tensor& x, const Scalar& s, DType out_dtype, F f) {
  check_defined(op, "input", x);
  Tensor xc = as_dtype(x, out_dtype);
  Tensor out = empty_tensor(x.shape(), out_dtype);
  dispatch_all(out_dtype, [&]<class T>() {
    const auto sv = opmath(s.to<T>());  // the scalar in the tensor's dtype, as PyTorch converts it
    loops::map1<T, T>(out, xc, [&](T v) { return static_cast<T>(f(opmath(v), sv)); });
  });
  return out;
}

DType scalar_result(const Tensor& x, const Scalar& s) { return graft::result_type(x.dtype(), s.kind()); }

// a^b for integers as PyTorch computes it: exact, wrapping around on overflow like any integer product; a
// negative exponent gives 1 for a == 1, +-1 for a == -1 and 0 otherwise (integer division's reading of 1 / a^|b|).
template <class T>
T integer_pow(T a, T b) {
  if constexpr (std::is_same_v<T, bool>) {
    return b ? a : true;
  } else {
    if (b < 0) return a == 1 ? T{1} : a == -1 ? ((b & 1) ? T{-1} : T{1}) : T{0};
    using U = std::make_unsigned_t<T>;
    U result = 1, base = static_cast<U>(a);
    for (U e = static_cast<U>(b); e > 0; e >>= 1) {
      if (e & 1) result *= base;
      base *= base;
    }
    return static_cast<T>(result);
  }
}

// pow's elementwise function: integer_pow for integers, std::pow otherwise.
auto pow_of = [](auto v, auto s) {
  using T = decltype(v);
  if constexpr (std::is_integral_v<T>) return integer_pow<T>(v, static_cast<T>(s));
  else return static_cast<T>(std::pow(v, static_cast<T>(s)));
};

void check_binary(const char* op, const Tensor& a, const Tensor& b) {
  check_defined(op, "input", a);
  check_defined(op, "other", b);
}

}  // namespace

// ---------------------------------------------------------------- arithmetic

Tensor add(const Tensor& a, const Tensor& b, const Scalar& alpha) {
  GRAFT_RECORD_FUNCTION("add", a, b);
  check_binary("add", a, b);
  DType dt = result_type(a, b);
  const double al = alpha.to_double();
  Tensor out = al == 1.0 ? map_binary("add", a, b, dt, dt, [](auto x, auto y) { return x + y; })
                         : map_binary("add", a, b, dt, dt, [&](auto x, auto y) { return x + static_cast<decltype(y)>(al) * y; });
  if (auto node = make_node("AddBackward0", {a, b}, [al](Node& n, GradList& g) -> GradList {
        return {g[0], n.needs_input_grad(1) ? (al == 1.0 ? g[0] : mul(g[0], al)) : Tensor()};
      }))
    set_history(out, node);
  return out;
}

Tensor add(const Tensor& a, const Scalar& b) {
  GRAFT_RECORD_FUNCTION("add", a);
  Tensor out = map_scalar("add", a, b, scalar_result(a, b), [](auto x, auto s) { return x + s; });
  if (auto node = make_node("AddBackward1", {a}, [](Node&, GradList& g) -> GradList { return {g[0]}; }))
    set_history(out, node);
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b, const Scalar& alpha) {
  GRAFT_RECORD_FUNCTION("sub", a, b);
  check_binary("sub", a, b);
  GRAFT_CHECK(!(a.dtype() == kBool && b.dtype() == kBool), "sub: subtracting two bool tensors is not supported");
  DType dt = result_type(a, b);
  const double al = alpha.to_double();
  Tensor out = map_binary("sub", a, b, dt, dt, [&](auto x, auto y) { return x - static_cast<decltype(y)>(al) * y; });
  if (auto node = make_node("SubBackward0", {a, b}, [al](Node& n, GradList& g) -> GradList {
        return {g[0], n.needs_input_grad(1) ? mul(g[0], -al) : Tensor()};
      }))
    set_history(out, node);
  return out;
}

Tensor sub(const Tensor& a, const Scalar& b) {
  GRAFT_RECORD_FUNCTION("sub", a);
  Tensor out = map_scalar("sub", a, b, scalar_result(a, b), [](auto x, auto s) { return x - s; });
  if (auto node = make_node("SubBackward1", {a}, [](Node&, GradList& g) -> GradList { return {g[0]}; }))
    set_history(out, node);
  return out;
}

Tensor rsub(const Tensor& a, const Scalar& b) {
  GRAFT_RECORD_FUNCTION("rsub", a);
  Tensor out = map_scalar("rsub", a, b, scalar_result(a, b), [](auto x, auto s) { return s - x; });
  if (auto node = make_node("RsubBackward1", {a}, [](Node&, GradList& g) -> GradList { return {neg(g[0])}; }))
    set_history(out, node);
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  GRAFT_RECORD_FUNCTION("mul", a, b);
  check_binary("mul", a, b);
  DType dt = result_type(a, b);
  Tensor out = map_binary("mul", a, b, dt, dt, [](auto x, auto y) { return x * y; });
  if (auto node = make_node("MulBackward0", {a, b}, [](Node& n, GradList& g) -> GradList {
        return {n.needs_input_grad(0) ? mul(g[0], n.saved(1)) : Tensor(),
                n.needs_input_grad(1) ? mul(g[0], n.saved(0)) : Tensor()};
      })) {
    set_history(out, node);
    node->save(a);
    node->save(b);
  }
  return out;
}

Tensor mul(const Tensor& a, const Scalar& b) {
  GRAFT_RECORD_FUNCTION("mul", a);
  Tensor out = map_scalar("mul", a, b, scalar_result(a, b), [](auto x, auto s) { return x * s; });
  if (auto node = make_node("MulBackward1", {a}, [s = b.to_double()](Node&, GradList& g) -> GradList {
        return {mul(g[0], s)};
      }))
    set_history(out, node);
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  GRAFT_RECORD_FUNCTION("div", a, b);
  check_binary("div", a, b);
  DType dt = result_type(a, b);
  if (!is_floating(dt)) dt = kFloat32;
  Tensor out = map_binary("div", a, b, dt, dt, [](auto x, auto y) { return x / y; });
  if (auto node = make_node("DivBackward0", {a, b}, [](Node& n, GradList& g) -> GradList {
        Tensor b = n.saved(1);
        return {n.needs_input_grad(0) ? div(g[0], b) : Tensor(),
                n.needs_input_grad(1) ? neg(div(mul(g[0], n.saved(0)), mul(b, b))) : Tensor()};
      })) {
    set_history(out, node);
    node->save(a);
    node->save(b);
  }
  return out;
}

Tensor div(const Tensor& a, const Scalar& b) {
  GRAFT_RECORD_FUNCTION("div", a);
  DType dt = scalar_result(a, b);
  if (!is_floating(dt)) dt = kFloat32;
  Tensor out = map_scalar("div", a, b, dt, [](auto x, auto s) { return x / s; });
  if (auto node = make_node("DivBackward1", {a}, [s = b.to_double()](Node&, GradList& g) -> GradList {
        return {div(g[0], s)};
      }))
    set_history(out, node);
  return out;
}

Tensor rdiv(const Tensor& a, const Scalar& b) {
  GRAFT_RECORD_FUNCTION("rdiv", a);
  DType dt = scalar_result(a, b);
  if (!is_floating(dt)) dt = kFloat32;
  Tensor out = map_scalar("rdiv", a, b, dt, [](auto x, auto s) { return s / x; });
  if (auto node = make_node("RdivBackward1", {a}, [](Node& n, GradList& g) -> GradList {
        // d(s/x)/dx = -s/x^2 = -out/x
        return {neg(div(mul(g[0], n.saved(1)), n.saved(0)))};
      })) {
    set_history(out, node);
    node->save(a);
    node->save_output(out);
  }
  return out;
}

Tensor neg(const Tensor& x) {
  GRAFT_RECORD_FUNCTION("neg", x);
  check_defined("neg", "input", x);
  GRAFT_CHECK(x.dtype() != kBool, "neg: negation of a bool tensor is not supported; use logical_not");
  Tensor out = empty_tensor(x.shape(), x.dtype());
  dispatch_numeric(x.dtype(), "neg", [&]<class T>() { loops::map1<T, T>(out, x, [](T v) { return static_cast<T>(-v); }); });
  if (auto node = make_node("NegBackward0", {x}, [](Node&, GradList& g) -> GradList { return {neg(g[0])}; }))
    set_history(out, node);
  return out;
}

Tensor pow(const Tensor& x, const Scalar& exponent) {
  GRAFT_RECORD_FUNCTION("pow", x);
  check_defined("pow", "input", x);
  const double e = exponent.to_double();
  DType dt = scalar_result(x, exponent);
  GRAFT_CHECK(is_floating(dt) || e >= 0, "pow: Integers to negative integer powers are not allowed (a {} tensor to the "
              "power {})", dtype_name(x.dtype()), e);
  // Small integral exponents as products, as PyTorch's pow kernel does (and 10x faster than powf).
  auto general = pow_of;
  Tensor out = !is_floating(dt) ? map_scalar("pow", x, exponent, dt, general)
               : e == 1.0       ? map_scalar("pow", x, exponent, dt, [](auto v, auto) { return v; })
               : e == 2.0       ? map_scalar("pow", x, exponent, dt, [](auto v, auto) { return v * v; })
               : e == 3.0       ? map_scalar("pow", x, exponent, dt, [](auto v, auto) { return v * v * v; })
                                : map_scalar("pow", x, exponent, dt, general);
  if (auto node = make_node("PowBackward0", {x}, [e](Node& n, GradList& g) -> GradList {
        if (e == 0.0) return {zeros_like(g[0])};
        return {mul(g[0], mul(pow(n.saved(0), e - 1.0), e))};
      })) {
    set_history(out, node);
    node->save(x);
  }
  return out;
}

Tensor pow(const Tensor& x, const Tensor& exponent) {
  GRAFT_RECORD_FUNCTION("pow", x, exponent);
  check_binary("pow", x, exponent);
  DType dt = result_type(x, exponent);
  Tensor out = map_binary("pow", x, exponent, dt, dt, pow_of);
  if (auto node = make_node("PowBackward1", {x, exponent}, [](Node& n, GradList& g) -> GradList {
        Tensor base = n.saved(0), e = n.saved(1);
        Tensor g_base, g_exp;
        if (n.needs_input_grad(0)) g_base = where(eq(e, 0), Scalar(0), mul(g[0], mul(e, pow(base, sub(e, 1)))));
        if (n.needs_input_grad(1)) {
          // d/de x^e = x^e log x, taken as 0 where x == 0 and e >= 0 (the limit), as in PyTorch.
          Tensor at_zero = logical_and(eq(base, 0), ge(e, 0));
          g_exp = where(at_zero, Scalar(0), mul(g[0], mul(n.saved(2), log(base))));
        }
        return {g_base, g_exp};
      })) {
    set_history(out, node);
    node->save(x);
    node->save(exponent);
    node->save_output(out);
  }
  return out;
}

Tensor pow(const Scalar& base, const Tensor& exponent) {
  GRAFT_RECORD_FUNCTION("pow", exponent);
  check_defined("pow", "exponent", exponent);
  const double b = base.to_double();
  DType dt = result_type(exponent.dtype(), base.kind());
  Tensor out = map_scalar("pow", exponent, base, dt, [](auto e, auto s) { return pow_of(s, e); });
  if (auto node = make_node("PowBackward2", {exponent}, [b](Node& n, GradList& g) -> GradList {
        if (b == 0.0) return {where(ge(n.saved(0), 0), Scalar(0), mul(g[0], mul(n.saved(1), std::log(b))))};
        return {mul(g[0], mul(n.saved(1), std::log(b)))};
      })) {
    set_history(out, node);
    node->save(exponent);
    node->save_output(out);
  }
  return out;
}

// ---------------------------------------------------------------- functions

Tensor exp(const Tensor& x_in) {
  GRAFT_RECORD_FUNCTION("exp", x_in);
  Tensor x = floating_input("exp", x_in);
  Tensor y = map_floating("exp", x, [](auto v) { return std::exp(v); });
  if (auto node = make_node("ExpBackward0", {x_in}, [](Node& n, GradList& g) -> GradList { return {mul(g[0], n.saved(0))}; })) {
    set_history(y, node);
    node->save_output(y);
  }
  return y;
}

Tensor log(const Tensor& x_in) {
  GRAFT_RECORD_FUNCTION("log", x_in);
  Tensor x = floating_input("log", x_in);
  Tensor y = map_floating("log", x, [](auto v) { return std::log(v); });
  if (auto node = make_node("LogBackward0", {x_in}, [](Node& n, GradList& g) -> GradList { return {div(g[0], n.saved(0))}; })) {
    set_history(y, node);
    node->save(x_in);
  }
  return y;
}

Tensor sqrt(const Tensor& x_in) {
  GRAFT_RECORD_FUNCTION("sqrt", x_in);
  Tensor x = floating_input("sqrt", x_in);
  Tensor y = map_floating("sqrt", x, [](auto v) { return std::sqrt(v); });
  if (auto node = make_node("SqrtBackward0", {x_in}, [](Node& n, GradList& g) -> GradList {
        return {div(g[0], mul(n.saved(0), 2))};
      })) {
    set_history(y, node);
    node->save_output(y);
  }
  return y;
}

Tensor rsqrt(const Tensor& x_in) {
  GRAFT_RECORD_FUNCTION("rsqrt", x_in);
  Tensor x = floating_input("rsqrt", x_in);
  Tensor y = map_floating("rsqrt", x, [](auto v) { return decltype(v)(1) / std::sqrt(v); });
  if (auto node = make_node("RsqrtBackward0", {x_in}, [](Node& n, GradList& g) -> GradList {
        Tensor y = n.saved(0);  // d/dx x^-1/2 = -1/2 y^3
        return {mul(g[0], mul(mul(y, mul(y, y)), -0.5))};
      })) {
    set_history(y, node);
    node->save_output(y);
  }
  return y;
}

Tensor sign(const Tensor& x) {
  GRAFT_RECORD_FUNCTION("sign", x);
  check_defined("sign", "input", x);
  Tensor y = empty_tensor(x.shape(), x.dtype());
  dispatch_all(x.dtype(), [&]<class T>() {
    loops::map1<T, T>(y, x, [](T v) {
      if constexpr (std::is_same_v<T, bool>) return v;
      else return static_cast<T>((T(0) < v) - (v < T(0)));
    });
  });
  if (auto node = make_node("SignBackward0", {x}, [](Node&, GradList& g) -> GradList { return {zeros_like(g[0])}; }))
    set_history(y, node);
  return y;
}

Tensor abs(const Tensor& x) {
  GRAFT_RECORD_FUNCTION("abs", x);
  check_defined("abs", "input", x);
  Tensor y = empty_tensor(x.shape(), x.dtype());
  dispatch_numeric(x.dtype(), "abs", [&]<class T>() { loops::map1<T, T>(y, x, [](T v) { return v < T(0) ? T(-v) : v; }); });
  if (auto node = make_node("AbsBackward0", {x}, [](Node& n, GradList& g) -> GradList { return {mul(g[0], sign(n.saved(0)))}; })) {
    set_history(y, node);
    node->save(x);
  }
  return y;
}

Tensor sin(const Tensor& x_in) {
  GRAFT_RECORD_FUNCTION("sin", x_in);
  Tensor x = floating_input("sin", x_in);
  Tensor y = map_floating("sin", x, [](auto v) { return std::sin(v); });
  if (auto node = make_node("SinBackward0", {x_in}, [](Node& n, GradList& g) -> GradList { return {mul(g[0], cos(n.saved(0)))}; })) {
    set_history(y, node);
    node->save(x_in);
  }
  return y;
}

Tensor cos(const Tensor& x_in) {
  GRAFT_RECORD_FUNCTION("cos", x_in);
  Tensor x = floating_input("cos", x_in);
  Tensor y = map_floating("cos", x, [](auto v) { return std::cos(v); });
  if (auto node = make_node("CosBackward0", {x_in}, [](Node& n, GradList& g) -> GradList { return {mul(g[0], neg(sin(n.saved(0))))}; })) {
    set_history(y, node);
    node->save(x_in);
  }
  return y;
}

Tensor tanh(const Tensor& x_in) {
  GRAFT_RECORD_FUNCTION("tanh", x_in);
  Tensor x = floating_input("tanh", x_in);
  Tensor y = kernels::activation_forward({kernels::Activation::Tanh}, x);
  if (auto node = make_node("TanhBackward0", {x_in}, [](Node& n, GradList& g) -> GradList { return {tanh_backward(g[0], n.saved(0))}; })) {
    set_history(y, node);
    node->save_output(y);
  }
  return y;
}

Tensor sigmoid(const Tensor& x_in) {
  GRAFT_RECORD_FUNCTION("sigmoid", x_in);
  Tensor x = floating_input("sigmoid", x_in);
  // oneDNN for large float32 tensors; the loops compute 1 / (1 + e^-x), which overflows harmlessly to 0
  // for very negative x and is exact for positive x.
  Tensor y = kernels::activation_forward({kernels::Activation::Sigmoid}, x);
  if (auto node = make_node("SigmoidBackward0", {x_in}, [](Node& n, GradList& g) -> GradList { return {sigmoid_backward(g[0], n.saved(0))}; })) {
    set_history(y, node);
    node->save_output(y);
  }
  return y;
}

Tensor tanh_backward(const Tensor& grad, const Tensor& y) {
  GRAFT_RECORD_FUNCTION("tanh_backward", grad, y);
  return backward_formula(
      {grad, y},
      [&] {
        DType dt = promote_types(grad.dtype(), y.dtype());
        return map_binary("tanh_backward", grad, y, dt, dt, [](auto g, auto v) { return g * (decltype(v)(1) - v * v); });
      },
      [&] { return mul(grad, rsub(mul(y, y), 1)); });
}

Tensor sigmoid_backward(const Tensor& grad, const Tensor& y) {
  GRAFT_RECORD_FUNCTION("sigmoid_backward", grad, y);
  return backward_formula(
      {grad, y},
      [&] {
        DType dt = promote_types(grad.dtype(), y.dtype());
        return map_binary("sigmoid_backward", grad, y, dt, dt, [](auto g, auto v) { return g * v * (decltype(v)(1) - v); });
      },
      [&] { return mul(grad, mul(y, rsub(y, 1))); });
}

Tensor clamp(const Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max) {
  GRAFT_RECORD_FUNCTION("clamp", x);
  check_defined("clamp", "input", x);
  GRAFT_CHECK(min || max, "clamp: at least one of 'min' or 'max' must be given");
  GRAFT_CHECK(x.dtype() != kBool, "clamp: not supported for bool tensors");
  DType dt = x.dtype();
  if (min) dt = graft::result_type(dt, min->kind());
  if (max) dt = graft::result_type(dt, max->kind());
  Tensor xc = as_dtype(x, dt);
  Tensor y = empty_tensor(x.shape(), dt);
  dispatch_numeric(dt, "clamp", [&]<class T>() {
    const bool has_lo = min.has_value(), has_hi = max.has_value();
    const T lo = has_lo ? min->to<T>() : T(0), hi = has_hi ? max->to<T>() : T(0);
    loops::map1<T, T>(y, xc, [&](T v) {
      if constexpr (is_floating_type_v<T>)
        if (std::isnan(static_cast<opmath_t<T>>(v))) return v;
      if (has_lo && v < lo) v = lo;
      if (has_hi && v > hi) v = hi;  // PyTorch: min(max(x, lo), hi), so hi wins when lo > hi
      return v;
    });
  });
  if (auto node = make_node("ClampBackward1", {x}, [min, max](Node& n, GradList& g) -> GradList {
        Tensor x = n.saved(0);
        Tensor inside;
        if (min) inside = ge(x, *min);
        if (max) inside = inside.defined() ? logical_and(inside, le(x, *max)) : le(x, *max);
        return {where(inside, g[0], Scalar(0))};
      })) {
    set_history(y, node);
    node->save(x);
  }
  return y;
}

Tensor clamp_min(const Tensor& x, const Scalar& min) {
  GRAFT_RECORD_FUNCTION("clamp_min", x);
  return clamp(x, min, std::nullopt);
}
Tensor clamp_max(const Tensor& x, const Scalar& max) {
  GRAFT_RECORD_FUNCTION("clamp_max", x);
  return clamp(x, std::nullopt, max);
}

namespace {
// maximum / minimum: the winner takes the gradient, ties split it.
Tensor extremum(const char* op, const char* node_name, const Tensor& a, const Tensor& b, bool largest) {
  check_binary(op, a, b);
  DType dt = result_type(a, b);
  Tensor out = largest ? map_binary(op, a, b, dt, dt, [](auto x, auto y) {
    if constexpr (std::is_floating_point_v<decltype(x)>)
      if (std::isnan(x) || std::isnan(y)) return std::isnan(x) ? x : y;
    return x > y ? x : y;
  })
                       : map_binary(op, a, b, dt, dt, [](auto x, auto y) {
    if constexpr (std::is_floating_point_v<decltype(x)>)
      if (std::isnan(x) || std::isnan(y)) return std::isnan(x) ? x : y;
    return x < y ? x : y;
  });
  if (auto node = make_node(node_name, {a, b}, [largest](Node& n, GradList& g) -> GradList {
        Tensor a = n.saved(0), b = n.saved(1);
        Tensor half = mul(g[0], 0.5);
        Tensor a_wins = largest ? gt(a, b) : lt(a, b), b_wins = largest ? lt(a, b) : gt(a, b), tie = eq(a, b);
        return {n.needs_input_grad(0) ? where(a_wins, g[0], where(tie, half, Scalar(0))) : Tensor(),
                n.needs_input_grad(1) ? where(b_wins, g[0], where(tie, half, Scalar(0))) : Tensor()};
      })) {
    set_history(out, node);
    node->save(a);
    node->save(b);
  }
  return out;
}
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) {
  GRAFT_RECORD_FUNCTION("maximum", a, b);
  return extremum("maximum", "MaximumBackward0", a, b, true);
}
Tensor minimum(const Tensor& a, const Tensor& b) {
  GRAFT_RECORD_FUNCTION("minimum", a, b);
  return extremum("minimum", "MinimumBackward0", a, b, false);
}

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  GRAFT_RECORD_FUNCTION("where", condition, a, b);
  check_defined("where", "condition", condition);
  check_binary("where", a, b);
  GRAFT_CHECK(condition.dtype() == kBool, "where: condition must be a bool tensor, got {}", dtype_name(condition.dtype()));
  DType dt = result_type(a, b);
  Shape shape = broadcast_shapes("where", broadcast_shapes("where", condition.shape(), a.shape()), b.shape());
  Tensor out = empty_tensor(shape, dt);
  Tensor ac = as_dtype(a, dt), bc = as_dtype(b, dt);
  dispatch_all(dt, [&]<class T>() {
    loops::map3<T, bool, T, T>(out, condition, ac, bc, [](bool c, T x, T y) { return c ? x : y; });
  });
  if (auto node = make_node("WhereBackward0", {a, b}, [](Node& n, GradList& g) -> GradList {
        Tensor c = n.saved(0);
        return {n.needs_input_grad(0) ? where(c, g[0], Scalar(0)) : Tensor(),
                n.needs_input_grad(1) ? where(c, Scalar(0), g[0]) : Tensor()};
      })) {
    set_history(out, node);
    node->save(condition);
  }
  return out;
}

Tensor where(const Tensor& condition, const Tensor& a, const Scalar& b) {
  GRAFT_RECORD_FUNCTION("where", condition, a);
  check_defined("where", "input", a);
  return where(condition, a, scalar_tensor(b, graft::result_type(a.dtype(), b.kind())));
}

Tensor where(const Tensor& condition, const Scalar& a, const Tensor& b) {
  GRAFT_RECORD_FUNCTION("where", condition, b);
  check_defined("where", "other", b);
  return where(condition, scalar_tensor(a, graft::result_type(b.dtype(), a.kind())), b);
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, const Scalar& value) {
  GRAFT_RECORD_FUNCTION("masked_fill", x, mask);
  check_defined("masked_fill", "input", x);
  check_defined("masked_fill", "mask", mask);
  GRAFT_CHECK(mask.dtype() == kBool, "masked_fill: mask must be a bool tensor, got {}", dtype_name(mask.dtype()));
  Shape shape = broadcast_shapes("masked_fill", x.shape(), mask.shape());
  Tensor out = empty_tensor(shape, x.dtype());
  dispatch_all(x.dtype(), [&]<class T>() {
    const T v = value.to<T>();
    loops::map2<T, T, bool>(out, x, mask, [v](T a, bool m) { return m ? v : a; });
  });
  if (auto node = make_node("MaskedFillBackward0", {x}, [](Node& n, GradList& g) -> GradList {
        return {masked_fill(g[0], n.saved(0), 0)};
      })) {
    set_history(out, node);
    node->save(mask);
  }
  return out;
}

// ---------------------------------------------------------------- comparisons and logic

namespace {
template <class F>
Tensor compare(const char* op, const Tensor& a, const Tensor& b, F f) {
  check_binary(op, a, b);
  return map_binary(op, a, b, result_type(a, b), kBool, f);
}
template <class F>
Tensor compare(const char* op, const Tensor& a, const Scalar& s, F f) {
  check_defined(op, "input", a);
  DType dt = graft::result_type(a.dtype(), s.kind());
  Tensor ac = as_dtype(a, dt);
  Tensor out = empty_tensor(a.shape(), kBool);
  dispatch_all(dt, [&]<class T>() {
    const auto sv = opmath(s.to<T>());
    loops::map1<bool, T>(out, ac, [&](T v) { return static_cast<bool>(f(opmath(v), sv)); });
  });
  return out;
}
}  // namespace

#define GRAFT_COMPARISON(name, expr)                                         \
  Tensor name(const Tensor& a, const Tensor& b) {                            \
    GRAFT_RECORD_FUNCTION(#name, a, b);                                      \
    return compare(#name, a, b, [](auto x, auto y) { return expr; });        \
  }                                                                          \
  Tensor name(const Tensor& a, const Scalar& b) {                            \
    GRAFT_RECORD_FUNCTION(#name, a);                                         \
    return compare(#name, a, b, [](auto x, auto y) { return expr; });        \
  }
GRAFT_COMPARISON(eq, x == y)
GRAFT_COMPARISON(ne, x != y)
GRAFT_COMPARISON(lt, x < y)
GRAFT_COMPARISON(le, x <= y)
GRAFT_COMPARISON(gt, x > y)
GRAFT_COMPARISON(ge, x >= y)
#undef GRAFT_COMPARISON

Tensor logical_and(const Tensor& a, const Tensor& b) {
  GRAFT_RECORD_FUNCTION("logical_and", a, b);
  check_binary("logical_and", a, b);
  return map_binary("logical_and", as_dtype(a, kBool), as_dtype(b, kBool), kBool, kBool, [](bool x, bool y) { return x && y; });
}

Tensor logical_or(const Tensor& a, const Tensor& b) {
  GRAFT_RECORD_FUNCTION("logical_or", a, b);
  check_binary("logical_or", a, b);
  return map_binary("logical_or", as_dtype(a, kBool), as_dtype(b, kBool), kBool, kBool, [](bool x, bool y) { return x || y; });
}

Tensor logical_not(const Tensor& x) {
  GRAFT_RECORD_FUNCTION("logical_not", x);
  check_defined("logical_not", "input", x);
  Tensor out = empty_tensor(x.shape(), kBool);
  Tensor xb = as_dtype(x, kBool);
  loops::map1<bool, bool>(out, xb, [](bool v) { return !v; });
  return out;
}

Tensor isnan(const Tensor& x) {
  GRAFT_RECORD_FUNCTION("isnan", x);
  check_defined("isnan", "input", x);
  Tensor out = empty_tensor(x.shape(), kBool);
  dispatch_all(x.dtype(), [&]<class T>() {
    loops::map1<bool, T>(out, x, [](T v) {
      if constexpr (is_floating_type_v<T>) return std::isnan(static_cast<opmath_t<T>>(v));
      else return false;
    });
  });
  return out;
}

Tensor isinf(const Tensor& x) {
  GRAFT_RECORD_FUNCTION("isinf", x);
  check_defined("isinf", "input", x);
  Tensor out = empty_tensor(x.shape(), kBool);
  dispatch_all(x.dtype(), [&]<class T>() {
    loops::map1<bool, T>(out, x, [](T v) {
      if constexpr (is_floating_type_v<T>) return std::isinf(static_cast<opmath_t<T>>(v));
      else return false;
    });
  });
  return out;
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  GRAFT_RECORD_FUNCTION("allclose", a, b);
  check_binary("allclose", a, b);
  Tensor close = map_binary("allclose", a, b, kFloat64, kBool, [&](double x, double y) {
    if (std::isnan(x) || std::isnan(y)) return equal_nan && std::isnan(x) && std::isnan(y);
    if (x == y) return true;
    return std::abs(x - y) <= atol + rtol * std::abs(y);
  });
  for (bool c : close.to_vector<bool>())
    if (!c) return false;
  return true;
}

bool equal(const Tensor& a, const Tensor& b) {
  GRAFT_RECORD_FUNCTION("equal", a, b);
  check_binary("equal", a, b);
  if (!(a.shape() == b.shape())) return false;
  for (bool c : eq(a, b).to_vector<bool>())
    if (!c) return false;
  return true;
}

}  // namespace graft
