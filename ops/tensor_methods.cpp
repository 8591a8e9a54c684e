// Tensor's differentiable methods are thin forwards to the ops (declared in graph/tensor.h), plus the
// in-place writes, which bump the storage's version counter.
#include "graft/graph/tensor.h"

#include "graft/autograd/profiler.h"
#include "graft/graph/overlap.h"
#include "graft/ops/detail/op_helpers.h"
#include "graft/ops/indexing.h"
#include "graft/ops/matmul.h"
#include "graft/ops/operators.h"
#include "graft/ops/reduction.h"
#include "graft/ops/shape.h"

namespace graft {

Tensor Tensor::view(IntList shape) const { return graft::view(*this, shape); }
Tensor Tensor::reshape(IntList shape) const { return graft::reshape(*this, shape); }
Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const { return graft::flatten(*this, start_dim, end_dim); }
Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const { return graft::transpose(*this, dim0, dim1); }
Tensor Tensor::t() const { return graft::t(*this); }
Tensor Tensor::mT() const {
  GRAFT_CHECK(dim() >= 2, "mT: expects a tensor with at least 2 dims, got shape {}", shape_str(shape()));
  return graft::transpose(*this, -2, -1);
}
Tensor Tensor::permute(IntList dims) const { return graft::permute(*this, dims); }
Tensor Tensor::expand(IntList shape) const { return graft::expand(*this, shape); }
Tensor Tensor::expand_as(const Tensor& other) const { return graft::expand(*this, other.shape()); }
Tensor Tensor::squeeze() const { return graft::squeeze(*this); }
Tensor Tensor::squeeze(int64_t dim) const { return graft::squeeze(*this, dim); }
Tensor Tensor::unsqueeze(int64_t dim) const { return graft::unsqueeze(*this, dim); }
Tensor Tensor::narrow(int64_t dim, int64_t start, int64_t length) const { return graft::narrow(*this, dim, start, length); }
Tensor Tensor::slice(int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step) const {
  return graft::slice(*this, dim, start, end, step);
}
Tensor Tensor::select(int64_t dim, int64_t index) const { return graft::select(*this, dim, index); }
Tensor Tensor::operator[](int64_t index) const { return graft::select(*this, 0, index); }
std::vector<Tensor> Tensor::split(int64_t split_size, int64_t dim) const { return graft::split(*this, split_size, dim); }
std::vector<Tensor> Tensor::chunk(int64_t chunks, int64_t dim) const { return graft::chunk(*this, chunks, dim); }
Tensor Tensor::contiguous() const { return graft::contiguous(*this); }
Tensor Tensor::clone() const { return graft::clone(*this); }
Tensor Tensor::to(DType dtype) const { return graft::to(*this, dtype); }

Tensor Tensor::sum() const { return graft::sum(*this); }
Tensor Tensor::sum(IntList dims, bool keepdim) const { return graft::sum(*this, dims, keepdim); }
Tensor Tensor::mean() const { return graft::mean(*this); }
Tensor Tensor::mean(IntList dims, bool keepdim) const { return graft::mean(*this, dims, keepdim); }
Tensor Tensor::max() const { return graft::max(*this); }
Tensor Tensor::min() const { return graft::min(*this); }
Tensor Tensor::argmax(std::optional<int64_t> dim, bool keepdim) const { return graft::argmax(*this, dim, keepdim); }
Tensor Tensor::argmin(std::optional<int64_t> dim, bool keepdim) const { return graft::argmin(*this, dim, keepdim); }
Tensor Tensor::var(IntList dims, bool unbiased, bool keepdim) const { return graft::var(*this, dims, unbiased, keepdim); }
Tensor Tensor::std(IntList dims, bool unbiased, bool keepdim) const { return graft::std(*this, dims, unbiased, keepdim); }

Tensor Tensor::exp() const { return graft::exp(*this); }
Tensor Tensor::log() const { return graft::log(*this); }
Tensor Tensor::sqrt() const { return graft::sqrt(*this); }
Tensor Tensor::rsqrt() const { return graft::rsqrt(*this); }
Tensor Tensor::abs() const { return graft::abs(*this); }
Tensor Tensor::sin() const { return graft::sin(*this); }
Tensor Tensor::cos() const { return graft::cos(*this); }
Tensor Tensor::tanh() const { return graft::tanh(*this); }
Tensor Tensor::sigmoid() const { return graft::sigmoid(*this); }
Tensor Tensor::neg() const { return graft::neg(*this); }
Tensor Tensor::pow(const Scalar& exponent) const { return graft::pow(*this, exponent); }
Tensor Tensor::pow(const Tensor& exponent) const { return graft::pow(*this, exponent); }
Tensor Tensor::clamp(std::optional<Scalar> min, std::optional<Scalar> max) const { return graft::clamp(*this, min, max); }
Tensor Tensor::matmul(const Tensor& other) const { return graft::matmul(*this, other); }
Tensor Tensor::masked_fill(const Tensor& mask, const Scalar& value) const { return graft::masked_fill(*this, mask, value); }
Tensor Tensor::tril(int64_t diagonal) const { return graft::tril(*this, diagonal); }
Tensor Tensor::triu(int64_t diagonal) const { return graft::triu(*this, diagonal); }

// ---------------------------------------------------------------- in place

namespace {

void check_inplace(const char* op, const Tensor& self) {
  GRAFT_CHECK(self.defined(), "{}: the tensor is undefined", op);
  GRAFT_CHECK(!(GradMode::is_enabled() && self.requires_grad()),
              "{}: a tensor that requires grad (shape {}) cannot be modified in place while grad mode is on: graft "
              "records no in-place history. Use the out-of-place op, or write under NoGradGuard.",
              op, shape_str(self.shape()));
}

void check_fits(const char* op, const Tensor& self, const Tensor& other) {
  GRAFT_CHECK(other.defined(), "{}: the other tensor is undefined", op);
  GRAFT_CHECK(is_expandable_to(other.shape(), self.shape()),
              "{}: a tensor of shape {} cannot be broadcast to the shape {} of the tensor written in place", op,
              shape_str(other.shape()), shape_str(self.shape()));
}

// What an in-place write of `self` reading `other` may do, as PyTorch's TensorIterator decides: no element of
// self may be a location shared with another, and other may not overlap self partly. Memory shared in a way
// too hard to classify is read through a copy, so the result is right whatever the layouts.
Tensor readable_source(const char* op, const Tensor& self, const Tensor& other) {
  assert_no_partial_overlap(self, other, op);
  if (get_overlap_status(self, other) == MemOverlapStatus::TooHard && ranges_overlap(self, other))
    return loops::contiguous_copy(other);
  return other;
}

// self = f(self, other) elementwise, other broadcast and converted to self's dtype.
template <class F>
Tensor& update(const char* op, Tensor& self, const Tensor& other, F f) {
  GRAFT_RECORD_FUNCTION(op, self, other);
  check_inplace(op, self);
  check_fits(op, self, other);
  assert_no_internal_overlap(self, op);
  Tensor o = detail::as_dtype(readable_source(op, self, other), self.dtype());
  dispatch_numeric(self.dtype(), op, [&]<class T>() {
    loops::map2<T, T, T>(self, self, o, [&](T a, T b) { return static_cast<T>(f(detail::opmath(a), detail::opmath(b))); });
  });
  self.storage()->bump_version();
  return self;
}

template <class F>
Tensor& update_scalar(const char* op, Tensor& self, F f) {
  GRAFT_RECORD_FUNCTION(op, self);
  check_inplace(op, self);
  assert_no_internal_overlap(self, op);
  dispatch_all(self.dtype(), [&]<class T>() {
    loops::map1<T, T>(self, self, [&](T a) { return static_cast<T>(f(detail::opmath(a))); });
  });
  self.storage()->bump_version();
  return self;
}

}  // namespace

Tensor& Tensor::zero_() { return fill_(0); }

Tensor& Tensor::fill_(const Scalar& value) {
  GRAFT_RECORD_FUNCTION("fill_", *this);
  check_inplace("fill_", *this);
  dispatch_all(dtype(), [&]<class T>() {
    const T v = value.to<T>();
    loops::map1<T, T>(*this, *this, [v](T) { return v; });
  });
  storage()->bump_version();
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  GRAFT_RECORD_FUNCTION("copy_", *this, src);
  check_inplace("copy_", *this);
  check_fits("copy_", *this, src);
  // Copying a tensor onto itself changes nothing (PyTorch returns early too).
  if (get_overlap_status(*this, src) != MemOverlapStatus::Full || dtype() != src.dtype()) {
    assert_no_internal_overlap(*this, "copy_");
    loops::copy_into(*this, readable_source("copy_", *this, src));
  }
  storage()->bump_version();
  return *this;
}

Tensor& Tensor::add_(const Tensor& other, const Scalar& alpha) {
  const double a = alpha.to_double();
  if (a == 1.0) return update("add_", *this, other, [](auto x, auto y) { return x + y; });
  return update("add_", *this, other, [a](auto x, auto y) { return x + static_cast<decltype(x)>(a) * y; });
}
Tensor& Tensor::add_(const Scalar& other) {
  return update_scalar("add_", *this, [s = other.to_double()](auto x) { return static_cast<double>(x) + s; });
}
Tensor& Tensor::sub_(const Tensor& other, const Scalar& alpha) {
  const double a = alpha.to_double();
  return update("sub_", *this, other, [a](auto x, auto y) { return x - static_cast<decltype(x)>(a) * y; });
}
Tensor& Tensor::mul_(const Tensor& other) { return update("mul_", *this, other, [](auto x, auto y) { return x * y; }); }
Tensor& Tensor::mul_(const Scalar& other) {
  return update_scalar("mul_", *this, [s = other.to_double()](auto x) { return static_cast<double>(x) * s; });
}
Tensor& Tensor::div_(const Tensor& other) {
  GRAFT_CHECK(is_floating(dtype()), "div_: in-place true division needs a floating-point tensor, got {}", dtype_name(dtype()));
  return update("div_", *this, other, [](auto x, auto y) { return x / y; });
}
Tensor& Tensor::div_(const Scalar& other) {
  GRAFT_CHECK(is_floating(dtype()), "div_: in-place true division needs a floating-point tensor, got {}", dtype_name(dtype()));
  return update_scalar("div_", *this, [s = other.to_double()](auto x) { return static_cast<double>(x) / s; });
}
Tensor& Tensor::clamp_(std::optional<Scalar> min, std::optional<Scalar> max) {
  GRAFT_RECORD_FUNCTION("clamp_", *this);
  check_inplace("clamp_", *this);
  assert_no_internal_overlap(*this, "clamp_");
  Tensor clamped = graft::clamp(detach(), min, max);
  loops::copy_into(*this, clamped);
  storage()->bump_version();
  return *this;
}
Tensor& Tensor::masked_fill_(const Tensor& mask, const Scalar& value) {
  GRAFT_RECORD_FUNCTION("masked_fill_", *this, mask);
  check_inplace("masked_fill_", *this);
  check_fits("masked_fill_", *this, mask);
  GRAFT_CHECK(mask.dtype() == kBool, "masked_fill_: mask must be a bool tensor, got {}", dtype_name(mask.dtype()));
  // An expanded self is fine here (every copy of a location gets the same value; PyTorch only warns).
  const Tensor m = readable_source("masked_fill_", *this, mask);
  dispatch_all(dtype(), [&]<class T>() {
    const T v = value.to<T>();
    loops::map2<T, T, bool>(*this, *this, m, [v](T a, bool keep) { return keep ? v : a; });
  });
  storage()->bump_version();
  return *this;
}

}  // namespace graft
