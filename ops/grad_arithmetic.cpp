// Gives the backward engine (autograd/) the ops it needs, without autograd depending on ops/.
#include "graft/autograd/grad_arithmetic.h"

#include "graft/ops/pointwise.h"
#include "graft/ops/reduction.h"
#include "graft/ops/shape.h"

namespace graft {
namespace {

const bool installed = [] {
  autograd::GradArithmetic ops;
  ops.add = [](const Tensor& a, const Tensor& b) { return graft::add(a, b); };
  ops.add_inplace = [](Tensor& self, const Tensor& other) { self.add_(other); };
  ops.sum_to = [](const Tensor& t, IntList shape) { return graft::sum_to(t, shape); };
  ops.to_dtype = [](const Tensor& t, DType dtype) { return graft::to(t, dtype); };
  ops.clone = [](const Tensor& t) { return graft::clone(t); };
  autograd::install_grad_arithmetic(ops);
  return true;
}();

}  // namespace
}  // namespace graft
