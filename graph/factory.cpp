#include "graft/graph/factory.h"

#include <cmath>
#include <cstring>
#include <mutex>
#include <numeric>

namespace graft {

namespace {

Tensor finish(Tensor t, const TensorOptions& options) {
  if (options.requires_grad_) {
    GRAFT_CHECK(is_floating(t.dtype()), "requires_grad: only floating-point tensors can require gradients, got {}",
                dtype_name(t.dtype()));
    t.impl()->set_requires_grad(true);
  }
  return t;
}

template <class T>
void fill_with(Tensor& t, T value) {
  T* p = static_cast<T*>(t.data_ptr());
  std::fill(p, p + t.numel(), value);
}

void fill_scalar(Tensor& t, const Scalar& v) {
  dispatch_all(t.dtype(), [&]<class T>() { fill_with<T>(t, v.to<T>()); });
}

Generator& pick(Generator* gen) { return gen ? *gen : default_generator(); }

}  // namespace

Tensor empty(IntList shape, TensorOptions options) {
  return finish(empty_tensor(shape, options.dtype_or(kFloat32)), options);
}

Tensor zeros(IntList shape, TensorOptions options) {
  Tensor t = empty_tensor(shape, options.dtype_or(kFloat32));
  if (t.numel() > 0) std::memset(t.data_ptr(), 0, static_cast<size_t>(t.numel()) * t.element_size());
  return finish(std::move(t), options);
}

Tensor ones(IntList shape, TensorOptions options) { return full(shape, 1, options.dtype(options.dtype_or(kFloat32))); }

Tensor full(IntList shape, const Scalar& value, TensorOptions options) {
  DType inferred = value.kind() == Scalar::Kind::Float ? kFloat32
                   : value.kind() == Scalar::Kind::Bool ? kBool
                                                        : kInt64;
  Tensor t = empty_tensor(shape, options.dtype_or(inferred));
  fill_scalar(t, value);
  return finish(std::move(t), options);
}

Tensor scalar_tensor(const Scalar& value, TensorOptions options) { return full({}, value, options); }

Tensor arange(const Scalar& end, TensorOptions options) { return arange(0, end, 1, options); }

Tensor arange(const Scalar& start, const Scalar& end, const Scalar& step, TensorOptions options) {
  bool integral = start.is_integral() && end.is_integral() && step.is_integral();
  DType dt = options.dtype_or(integral ? kInt64 : kFloat32);
  double s = start.to_double(), e = end.to_double(), st = step.to_double();
  GRAFT_CHECK(st != 0, "arange: step must be nonzero");
  GRAFT_CHECK((st > 0 && e >= s) || (st < 0 && e <= s),
              "arange: upper bound {} and lower bound {} are inconsistent with step sign {}", e, s, st);
  int64_t n = integral ? (end.to_int() - start.to_int() + step.to_int() - (step.to_int() > 0 ? 1 : -1)) / step.to_int()
                       : static_cast<int64_t>(std::ceil((e - s) / st));
  Tensor t = empty_tensor({n}, dt);
  dispatch_all(dt, [&]<class T>() {
    T* p = static_cast<T*>(t.data_ptr());
    for (int64_t i = 0; i < n; ++i) {
      if constexpr (std::is_integral_v<T>) p[i] = static_cast<T>(start.to_int() + i * step.to_int());
      else if constexpr (is_reduced_floating_type_v<T>)  // PyTorch: start + step * i in float, then rounded
        p[i] = static_cast<T>(static_cast<float>(s) + static_cast<float>(st) * static_cast<float>(i));
      else p[i] = static_cast<T>(s + static_cast<double>(i) * st);
    }
  });
  return finish(std::move(t), options);
}

Tensor linspace(double start, double end, int64_t steps, TensorOptions options) {
  GRAFT_CHECK(steps >= 0, "linspace: number of steps must be non-negative, got {}", steps);
  DType dt = options.dtype_or(kFloat32);
  Tensor t = empty_tensor({steps}, dt);
  dispatch_all(dt, [&]<class T>() {
    T* p = static_cast<T*>(t.data_ptr());
    if (steps == 1) {
      p[0] = static_cast<T>(start);
      return;
    }
    // PyTorch's linspace kernel, element by element: the bounds in T, the step in T for floating types
    // (double for integers), and the second half filled backwards from `end` so both ends are exact.
    // (PyTorch's vectorised loop computes runs of 4-16 elements as base + k * step instead, which can
    // differ from this in the last bit for long float tensors.)
    // For bfloat16 and float16 every step of that arithmetic rounds to T, as c10's operators do.
    using Step = std::conditional_t<is_floating_type_v<T>, T, double>;
    using Math = opmath_t<Step>;
    auto round = [](Math v) { return static_cast<Math>(static_cast<Step>(v)); };
    const T lo = static_cast<T>(start), hi = static_cast<T>(end);
    const Math step = round((static_cast<Math>(hi) - static_cast<Math>(lo)) / static_cast<Math>(steps - 1));
    const int64_t half = steps / 2;
    for (int64_t i = 0; i < steps; ++i)
      p[i] = static_cast<T>(i < half ? static_cast<Math>(lo) + round(step * static_cast<Math>(i))
                                     : static_cast<Math>(hi) - round(step * static_cast<Math>(steps - i - 1)));
  });
  return finish(std::move(t), options);
}

Tensor eye(int64_t n, std::optional<int64_t> m, TensorOptions options) {
  int64_t cols = m.value_or(n);
  GRAFT_CHECK(n >= 0 && cols >= 0, "eye: sizes must be non-negative, got {} x {}", n, cols);
  Tensor t = zeros({n, cols}, options.dtype(options.dtype_or(kFloat32)).requires_grad(false));
  dispatch_all(t.dtype(), [&]<class T>() {
    T* p = static_cast<T*>(t.data_ptr());
    for (int64_t i = 0; i < std::min(n, cols); ++i) p[i * cols + i] = static_cast<T>(1);
  });
  return finish(std::move(t), options);
}

Tensor rand(IntList shape, TensorOptions options, Generator* gen) {
  DType dt = options.dtype_or(kFloat32);
  Tensor t = empty_tensor(shape, dt);
  Generator& g = pick(gen);
  std::lock_guard<std::mutex> lock(g.mutex());
  // bfloat16 and float16 draw float32 values and round them: the same stream as a float32 tensor.
  dispatch_floating_and_half(dt, "rand", [&]<class T>() {
    T* p = static_cast<T*>(t.data_ptr());
    for (int64_t i = 0; i < t.numel(); ++i) {
      if constexpr (std::is_same_v<T, double>) p[i] = g.uniform();
      else p[i] = static_cast<T>(g.uniform_float());
    }
  });
  return finish(std::move(t), options);
}

Tensor randn(IntList shape, TensorOptions options, Generator* gen) {
  DType dt = options.dtype_or(kFloat32);
  Tensor t = empty_tensor(shape, dt);
  Generator& g = pick(gen);
  std::lock_guard<std::mutex> lock(g.mutex());
  dispatch_floating_and_half(dt, "randn", [&]<class T>() {
    T* p = static_cast<T*>(t.data_ptr());
    const int64_t n = t.numel();
    for (int64_t i = 0; i < n; i += 2) {
      double a, b;
      g.normal_pair(a, b);
      p[i] = static_cast<T>(a);  // 16-bit types through float32, as the float32 stream
      if (i + 1 < n) p[i + 1] = static_cast<T>(b);
    }
  });
  return finish(std::move(t), options);
}

Tensor randint(int64_t low, int64_t high, IntList shape, TensorOptions options, Generator* gen) {
  GRAFT_CHECK(high > low, "randint: expected low < high, got low={} high={}", low, high);
  DType dt = options.dtype_or(kInt64);
  Tensor t = empty_tensor(shape, dt);
  Generator& g = pick(gen);
  std::lock_guard<std::mutex> lock(g.mutex());
  dispatch_numeric(dt, "randint", [&]<class T>() {
    T* p = static_cast<T*>(t.data_ptr());
    for (int64_t i = 0; i < t.numel(); ++i)
      p[i] = static_cast<T>(low + static_cast<int64_t>(g.below(static_cast<uint64_t>(high - low))));
  });
  return finish(std::move(t), options);
}

Tensor randint(int64_t high, IntList shape, TensorOptions options, Generator* gen) {
  return randint(0, high, shape, options, gen);
}

Tensor randperm(int64_t n, TensorOptions options, Generator* gen) {
  GRAFT_CHECK(n >= 0, "randperm: n must be non-negative, got {}", n);
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  Generator& g = pick(gen);
  {
    std::lock_guard<std::mutex> lock(g.mutex());
    for (int64_t i = n - 1; i > 0; --i) std::swap(perm[i], perm[g.below(static_cast<uint64_t>(i + 1))]);
  }
  return tensor(perm, {n}, options.dtype(options.dtype_or(kInt64)));
}

Tensor empty_like(const Tensor& t, TensorOptions options) { return empty(t.shape(), options.dtype(options.dtype_or(t.dtype()))); }
Tensor zeros_like(const Tensor& t, TensorOptions options) { return zeros(t.shape(), options.dtype(options.dtype_or(t.dtype()))); }
Tensor ones_like(const Tensor& t, TensorOptions options) { return ones(t.shape(), options.dtype(options.dtype_or(t.dtype()))); }
Tensor full_like(const Tensor& t, const Scalar& value, TensorOptions options) {
  return full(t.shape(), value, options.dtype(options.dtype_or(t.dtype())));
}
Tensor rand_like(const Tensor& t, TensorOptions options, Generator* gen) {
  return rand(t.shape(), options.dtype(options.dtype_or(t.dtype())), gen);
}
Tensor randn_like(const Tensor& t, TensorOptions options, Generator* gen) {
  return randn(t.shape(), options.dtype(options.dtype_or(t.dtype())), gen);
}

namespace {
template <class V>
Tensor from_values(const char* what, const std::vector<V>& values, IntList shape, DType dt, const TensorOptions& o) {
  Shape sh = shape.empty() ? Shape{static_cast<int64_t>(values.size())} : Shape(shape.begin(), shape.end());
  GRAFT_CHECK(numel_of(sh) == static_cast<int64_t>(values.size()), "tensor: {} values do not fill shape {} ({} elements)",
              values.size(), shape_str(sh), numel_of(sh));
  Tensor t = empty_tensor(sh, dt);
  dispatch_all(dt, [&]<class T>() {
    T* p = static_cast<T*>(t.data_ptr());
    for (size_t i = 0; i < values.size(); ++i) p[i] = static_cast<T>(values[i]);
  });
  return finish(std::move(t), o);
}
}  // namespace

Tensor tensor(const std::vector<double>& values, IntList shape, TensorOptions options) {
  return from_values("double", values, shape, options.dtype_or(kFloat32), options);
}
Tensor tensor(const std::vector<int64_t>& values, IntList shape, TensorOptions options) {
  return from_values("int64", values, shape, options.dtype_or(kInt64), options);
}
Tensor tensor(const std::vector<bool>& values, IntList shape, TensorOptions options) {
  return from_values("bool", values, shape, options.dtype_or(kBool), options);
}

Tensor from_blob(void* data, IntList shape, DType dtype, std::function<void(void*)> deleter) {
  return from_blob(data, shape, contiguous_strides(shape), dtype, std::move(deleter));
}

Tensor from_blob(void* data, IntList shape, IntList strides, DType dtype, std::function<void(void*)> deleter) {
  GRAFT_CHECK(shape.size() == strides.size(), "from_blob: shape {} and strides {} differ in length", shape_str(shape),
              shape_str(strides));
  const int64_t extent = view_extent(shape, strides, 0, "from_blob");
  const int64_t nbytes = checked_mul(extent, static_cast<int64_t>(element_size(dtype)), "from_blob", "the byte count");
  auto storage = Storage::wrap(data, static_cast<size_t>(nbytes), std::move(deleter));
  return Tensor(std::make_shared<TensorImpl>(std::move(storage), Shape(shape.begin(), shape.end()),
                                             Shape(strides.begin(), strides.end()), 0, dtype));
}

}  // namespace graft
