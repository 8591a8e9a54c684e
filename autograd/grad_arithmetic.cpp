#include "graft/autograd/grad_arithmetic.h"

namespace graft::autograd {

namespace {
GradArithmetic installed;
}

const GradArithmetic& grad_arithmetic() {
  GRAFT_CHECK(installed.add != nullptr, "autograd: the gradient arithmetic of ops/ is not installed");
  return installed;
}

void install_grad_arithmetic(const GradArithmetic& ops) { installed = ops; }

}  // namespace graft::autograd
