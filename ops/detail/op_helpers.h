#pragma once
// Shared plumbing of the op implementations (not part of the public API).
#include "graft/autograd/function.h"
#include "graft/graph/copy.h"
#include "graft/graph/factory.h"
#include "graft/graph/loops.h"
#include "graft/ops/shape.h"

namespace graft::detail {

using autograd::make_node;
using autograd::set_history;

inline void check_defined(const char* op, const char* arg, const Tensor& t) {
  GRAFT_CHECK(t.defined(), "{}: argument '{}' is an undefined tensor", op, arg);
}

// `t` in dtype `dt`: t itself, or a converted copy outside the graph (the op's node links the original).
inline Tensor as_dtype(const Tensor& t, DType dt) { return t.dtype() == dt ? t : loops::copy_as(t, dt); }

// The input of a floating function (exp, log, ...): integers and bools become float32, as in PyTorch.
inline Tensor floating_input(const char* op, const Tensor& x) {
  check_defined(op, "input", x);
  return is_floating(x.dtype()) ? x : loops::copy_as(x, kFloat32);
}

// The elementwise helpers below call f with the elements converted to opmath_t<T>: float for bfloat16 and
// float16, so each element is computed in float32 and rounded once when stored, as PyTorch does.
template <class T>
inline opmath_t<T> opmath(T v) { return static_cast<opmath_t<T>>(v); }

// y = f(x) elementwise over a floating tensor (float32, float64, bfloat16, float16); f is a generic lambda.
template <class F>
Tensor map_floating(const char* op, const Tensor& x, F f) {
  Tensor y = empty_tensor(x.shape(), x.dtype());
  dispatch_floating_and_half(x.dtype(), op, [&]<class T>() {
    loops::map1<T, T>(y, x, [&](T v) { return static_cast<T>(f(opmath(v))); });
  });
  return y;
}

// out = f(a, b) elementwise with broadcasting, computed in `compute`; the result has dtype `compute`
// (arithmetic) or bool (comparisons).
template <class F>
Tensor map_binary(const char* op, const Tensor& a, const Tensor& b, DType compute, DType out_dtype, F f) {
  Shape shape = broadcast_shapes(op, a.shape(), b.shape());
  Tensor out = empty_tensor(shape, out_dtype);
  Tensor ac = as_dtype(a, compute), bc = as_dtype(b, compute);
  dispatch_all(compute, [&]<class T>() {
    if (out_dtype == DType::Bool)
      loops::map2<bool, T, T>(out, ac, bc, [&](T x, T y) { return static_cast<bool>(f(opmath(x), opmath(y))); });
    else if (out_dtype == compute)
      loops::map2<T, T, T>(out, ac, bc, [&](T x, T y) { return static_cast<T>(f(opmath(x), opmath(y))); });
    else
      GRAFT_FAIL("{}: unsupported result dtype {}", op, dtype_name(out_dtype));
  });
  return out;
}

using loops::from_opmath;
using loops::to_opmath;

// The ops whose kernels are float32 and float64 only (convolution, pooling, fold/unfold, the fused recurrent
// layer) take any floating input: a bfloat16 or float16 one runs on float32 copies (float32_copy) and the
// result is rounded back once, as PyTorch's CPU kernels accumulate 16-bit data in float32. A non-floating
// input is an error naming the op and the dtype; an undefined one passes (the op's check_defined names it).
inline void check_floating_input(const char* op, const Tensor& input) {
  GRAFT_CHECK(!input.defined() || is_floating(input.dtype()), "{}: expected a floating-point input, got {}", op,
              dtype_name(input.dtype()));
}

// An input that must be given and floating: check_defined, then check_floating_input.
inline void check_floating_operand(const char* op, const Tensor& input) {
  check_defined(op, "input", input);
  check_floating_input(op, input);
}

// `t` converted (differentiably) to float32 when it is bfloat16 or float16; otherwise `t` itself (also when
// undefined).
inline Tensor float32_copy(const Tensor& t) {
  return t.defined() && is_reduced_floating(t.dtype()) ? to(t, kFloat32) : t;
}

// Computes a backward formula: `fused()` (one kernel) when nothing is being recorded, else `composite()`,
// the same formula from differentiable ops, so that the backward pass can itself be differentiated.
template <class Fused, class Composite>
Tensor backward_formula(ArrayRef<Tensor> inputs, Fused fused, Composite composite) {
  return autograd::needs_recording(inputs) ? composite() : fused();
}

// Squeezes the dims in `mask` (keepdim=false form of a reduction result).
Tensor squeeze_dims(const Tensor& t, uint64_t mask);
// Bitmask of the dims in `dims` (wrapped, duplicates rejected); all dims when `dims` is empty.
uint64_t dim_mask(const char* op, IntList dims, int64_t ndim);

}  // namespace graft::detail
