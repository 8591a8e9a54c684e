// F.linear's registry entry (behaviour tests are in tests/nn/linear_test.cpp, next to nn::Linear).
#include "support/op_registry.h"

using namespace graft;
using namespace graft::testing;
namespace F = graft::nn::functional;

namespace {

GRAFT_REGISTER_OP({.name = "linear", .samples = [](DType dt) {
  return std::vector<Sample>{
      sample("bias", {uniform({3, 4}, dt, -1, 1, 1), uniform({5, 4}, dt, -1, 1, 2), uniform({5}, dt, -1, 1, 3)},
             [](const TensorList& in) { return F::linear(in[0], in[1], in[2]); }),
      sample("no bias, batch dims", {uniform({2, 3, 4}, dt, -1, 1, 4), uniform({2, 4}, dt, -1, 1, 5)},
             [](const TensorList& in) { return F::linear(in[0], in[1]); }),
      sample("1-D input", {uniform({4}, dt, -1, 1, 6), uniform({3, 4}, dt, -1, 1, 7), uniform({3}, dt, -1, 1, 8)},
             [](const TensorList& in) { return F::linear(in[0], in[1], in[2]); }),
      sample("large enough for sgemm", {uniform({24, 32}, dt, -1, 1, 9), uniform({20, 32}, dt, -1, 1, 10), uniform({20}, dt, -1, 1, 11)},
             [](const TensorList& in) { return F::linear(in[0], in[1], in[2]); })};
}});

}  // namespace
