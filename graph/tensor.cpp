#include "graft/graph/tensor.h"

#include <cstring>

#include "graft/graph/node.h"

namespace graft {

// ---------------------------------------------------------------- TensorImpl

TensorImpl::TensorImpl(std::shared_ptr<Storage> storage, Shape shape, Shape strides, int64_t offset, DType dtype)
    : storage_(std::move(storage)),
      shape_(std::move(shape)),
      strides_(std::move(strides)),
      offset_(offset),
      numel_(numel_of(shape_)),
      dtype_(dtype),
      contiguous_(is_contiguous_layout(shape_, strides_)) {}

TensorImpl::~TensorImpl() { release_node(std::move(grad_fn_)); }

void TensorImpl::set_grad_fn(std::shared_ptr<Node> fn, uint32_t output_nr) {
  release_node(std::move(grad_fn_));
  grad_fn_ = std::move(fn);
  output_nr_ = output_nr;
}

void TensorImpl::set_data(const TensorImpl& src) {
  const bool same_meta = src.shape_ == shape_ && src.dtype_ == dtype_;
  storage_ = src.storage_;
  shape_ = src.shape_;
  strides_ = src.strides_;
  offset_ = src.offset_;
  numel_ = src.numel_;
  dtype_ = src.dtype_;
  contiguous_ = src.contiguous_;
  if (!same_meta) {
    grad_ = Tensor();
    grad_accumulator_.reset();
  }
}

TensorImpl::Hooks& TensorImpl::ensure_hooks() {
  if (!hooks_) hooks_ = std::make_unique<Hooks>();
  return *hooks_;
}

Tensor empty_tensor(IntList shape, DType dtype) {
  for (int64_t s : shape) GRAFT_CHECK(s >= 0, "empty: negative dimension {} in shape {}", s, shape_str(shape));
  Shape sh(shape.begin(), shape.end());
  Shape st = contiguous_strides(sh);
  const int64_t nbytes = nbytes_of(sh, element_size(dtype), "empty");
  std::shared_ptr<Storage> storage;
  try {
    storage = Storage::allocate(static_cast<size_t>(nbytes));
  } catch (const Error& e) {
    GRAFT_FAIL("empty: a {} tensor of shape {} needs {} bytes: {}", dtype_name(dtype), shape_str(sh), nbytes, e.what());
  }
  return Tensor(std::make_shared<TensorImpl>(std::move(storage), std::move(sh), std::move(st), 0, dtype));
}

Tensor make_view(const Tensor& base, IntList shape, IntList strides, int64_t offset) {
  const std::shared_ptr<Storage>& storage = base.storage();
  check_view_bounds(shape, strides, offset, static_cast<int64_t>(storage->nbytes() / base.element_size()));
  return Tensor(std::make_shared<TensorImpl>(storage, Shape(shape.begin(), shape.end()),
                                             Shape(strides.begin(), strides.end()), offset, base.dtype()));
}

// ---------------------------------------------------------------- Tensor: layout

void Tensor::throw_undefined() { GRAFT_FAIL("tensor is undefined (default-constructed)"); }

int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim("size", d, dim())]; }
int64_t Tensor::stride(int64_t d) const { return strides()[wrap_dim("stride", d, dim())]; }

// ---------------------------------------------------------------- Tensor: autograd state

const Tensor& Tensor::grad() const { return const_cast<TensorImpl&>(checked()).grad(); }
Tensor& Tensor::mutable_grad() { return const_cast<TensorImpl&>(checked()).grad(); }
bool Tensor::retains_grad() const { return impl_ && impl_->hooks() && impl_->hooks()->retains_grad; }

void Tensor::set_grad(const Tensor& g) {
  const TensorImpl& t = checked();
  if (g.defined()) {
    GRAFT_CHECK(g.shape() == t.shape(), "set_grad: gradient of shape {} does not match tensor of shape {}",
                shape_str(g.shape()), shape_str(t.shape()));
    GRAFT_CHECK(g.dtype() == t.dtype(), "set_grad: gradient is {} but the tensor is {}", dtype_name(g.dtype()),
                dtype_name(t.dtype()));
  }
  impl_->grad() = g;
}

Tensor Tensor::detach() const {
  const TensorImpl& t = checked();
  return Tensor(std::make_shared<TensorImpl>(t.storage(), t.shape(), t.strides(), t.offset(), t.dtype()));
}

Tensor& Tensor::detach_() {
  checked();
  impl_->set_grad_fn(nullptr, 0);
  impl_->set_requires_grad(false);
  return *this;
}

// ---------------------------------------------------------------- element access

namespace detail {

double read_as_double(const void* p, DType dtype) {
  switch (dtype) {
    case DType::Float32: return *static_cast<const float*>(p);
    case DType::Float64: return *static_cast<const double*>(p);
    case DType::Int64: return static_cast<double>(*static_cast<const int64_t*>(p));
    case DType::Bool: return *static_cast<const bool*>(p) ? 1.0 : 0.0;
    case DType::BFloat16: return static_cast<float>(*static_cast<const BFloat16*>(p));
    case DType::Float16: return static_cast<float>(*static_cast<const Half*>(p));
  }
  return 0;
}

int64_t read_as_int(const void* p, DType dtype) {
  switch (dtype) {
    case DType::Float32: return static_cast<int64_t>(*static_cast<const float*>(p));
    case DType::Float64: return static_cast<int64_t>(*static_cast<const double*>(p));
    case DType::Int64: return *static_cast<const int64_t*>(p);
    case DType::Bool: return *static_cast<const bool*>(p) ? 1 : 0;
    case DType::BFloat16: return static_cast<int64_t>(static_cast<float>(*static_cast<const BFloat16*>(p)));
    case DType::Float16: return static_cast<int64_t>(static_cast<float>(*static_cast<const Half*>(p)));
  }
  return 0;
}

void for_each_element(const TensorImpl& t, const std::function<void(const char*)>& f) {
  const int64_t n = t.numel();
  if (n == 0) return;
  const int64_t es = static_cast<int64_t>(element_size(t.dtype()));
  const char* base = static_cast<const char*>(t.data());
  if (t.is_contiguous()) {
    for (int64_t i = 0; i < n; ++i) f(base + i * es);
    return;
  }
  const size_t nd = t.shape().size();
  Shape index(nd, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0;
    for (size_t d = 0; d < nd; ++d) off += index[d] * t.strides()[d];
    f(base + off * es);
    for (size_t d = nd; d-- > 0;) {
      if (++index[d] < t.shape()[d]) break;
      index[d] = 0;
    }
  }
}

}  // namespace detail
}  // namespace graft
