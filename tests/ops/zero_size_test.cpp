// Every registered op with zero-size dimensions, forward and backward, as PyTorch treats them: each sample of
// the op registry is run again with one of its sizes set to 0 wherever it appears in the inputs (so that the
// inputs stay consistent: linear's in_features, out_features or batch, an embedding's dim, ...). The op must
// either give outputs of the right, empty, shapes whose gradients have the inputs' shapes and are zero where
// nothing flows back -- the same in float32 and float64, and with the reference kernels -- or raise
// graft::Error where PyTorch raises too (tests/reference/zero_size.py checks every expected error against
// PyTorch; tests/reference/zero_size.json holds its verdicts). Never a crash, never a view over a buffer too
// small for it.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "graft/ops/backend.h"
#include "support/op_registry.h"

using namespace graft;
using namespace graft::testing;

namespace {

// The sizes a sample's inputs use (2 and more: a 1 is usually a broadcast dim, which stays).
std::set<int64_t> sizes_of(const Sample& s) {
  std::set<int64_t> sizes;
  for (const Tensor& t : s.inputs)
    if (t.defined())
      for (int64_t d : t.shape())
        if (d >= 2) sizes.insert(d);
  return sizes;
}

// `t` with every dim of size `size` set to 0 (the same tensor when it has none).
Tensor zeroed(const Tensor& t, int64_t size) {
  if (!t.defined()) return t;
  Shape shape = t.shape();
  bool changed = false;
  for (int64_t& d : shape)
    if (d == size) {
      d = 0;
      changed = true;
    }
  return changed ? empty(shape, t.dtype()) : t;
}

TensorList prepare(const Sample& s, const TensorList& inputs) {
  TensorList in;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor t = inputs[i].defined() ? inputs[i].detach().clone() : Tensor();
    const bool constant = std::find(s.constant.begin(), s.constant.end(), i) != s.constant.end();
    if (t.defined() && is_floating(t.dtype()) && !constant) t.requires_grad_(true);
    in.push_back(t);
  }
  return in;
}

struct Outcome {
  std::string error;              // the graft::Error, or empty
  TensorList outputs, gradients;  // gradients: one per input (undefined where none flows)
};

Outcome run(const OpInfo& op, const Sample& s, const TensorList& inputs, bool reference) {
  ReferenceKernelsGuard guard(reference);
  Outcome out;
  try {
    TensorList in = op.differentiable ? prepare(s, inputs) : inputs;
    out.outputs = s.fn(in);
    for (const Tensor& o : out.outputs)
      if (o.defined()) o.to_vector<double>();  // every output element is readable
    out.gradients.resize(in.size());
    if (!op.differentiable) return out;
    TensorList roots, seeds, wrt;
    std::vector<size_t> where;
    for (const Tensor& o : out.outputs)
      if (o.defined() && o.requires_grad()) {
        roots.push_back(o);
        seeds.push_back(ones(o.shape(), o.dtype()));
      }
    for (size_t i = 0; i < in.size(); ++i)
      if (in[i].defined() && in[i].requires_grad()) {
        wrt.push_back(in[i]);
        where.push_back(i);
      }
    if (roots.empty() || wrt.empty()) return out;
    TensorList grads = autograd::grad(roots, wrt, seeds, false, false, /*allow_unused=*/true);
    for (size_t k = 0; k < grads.size(); ++k) out.gradients[where[k]] = grads[k];
  } catch (const Error& e) {
    out.error = e.what();
  }
  return out;
}

// PyTorch's verdicts on the variants graft refuses: "<op>/<sample>/<size>" -> PyTorch's error message.
const std::map<std::string, std::string>& pytorch_errors() {
  static const std::map<std::string, std::string> verdicts = [] {
    std::ifstream in(std::string(GRAFT_SOURCE_DIR) + "/tests/reference/zero_size.json");
    std::map<std::string, std::string> out;
    if (!in) return out;
    const nlohmann::json j = nlohmann::json::parse(in);
    for (auto it = j["errors"].begin(); it != j["errors"].end(); ++it) out[it.key()] = it.value().get<std::string>();
    return out;
  }();
  return verdicts;
}

std::string key_of(const OpInfo& op, const Sample& s, int64_t size) {
  return fmt::format("{}/{}/{}", op.name, s.description, size);
}

std::vector<std::string> registered_names() {
  std::vector<std::string> names;
  for (const OpInfo& op : registry()) names.push_back(op.name);
  return names;
}

class ZeroSize : public ::testing::TestWithParam<std::string> {};

TEST_P(ZeroSize, EveryDimCanBeZeroWherePyTorchAllowsIt) {
  const OpInfo& op = *find_op(GetParam());
  const std::vector<Sample> s64 = op.samples(kFloat64), s32 = op.samples(kFloat32);
  for (size_t k = 0; k < s64.size(); ++k) {
    const Sample& s = s64[k];
    const Outcome original = run(op, s, s.inputs, false);
    ASSERT_TRUE(original.error.empty()) << original.error;
    for (int64_t size : sizes_of(s)) {
      const std::string key = key_of(op, s, size);
      SCOPED_TRACE(key);
      TensorList in64, in32;
      for (const Tensor& t : s.inputs) in64.push_back(zeroed(t, size));
      for (const Tensor& t : s32[k].inputs) in32.push_back(zeroed(t, size));
      const Outcome got = run(op, s, in64, false);
      auto expected = pytorch_errors().find(key);
      if (!got.error.empty()) {
        EXPECT_NE(expected, pytorch_errors().end())
            << "graft raises where PyTorch does not (as far as tests/reference/zero_size.json knows): " << got.error;
        continue;
      }
      EXPECT_EQ(expected, pytorch_errors().end()) << "PyTorch raises here: " << expected->second;
      // Gradients have the inputs' shapes; they are zero when every output is empty.
      bool all_empty = true;
      for (const Tensor& o : got.outputs) all_empty = all_empty && (!o.defined() || o.numel() == 0);
      for (size_t i = 0; i < in64.size(); ++i) {
        const Tensor& g = got.gradients[i];
        if (!g.defined()) {
          EXPECT_FALSE(original.gradients[i].defined()) << "no gradient for input " << i;
          continue;
        }
        EXPECT_EQ(g.shape(), in64[i].shape()) << "gradient of input " << i;
        if (all_empty) EXPECT_TRUE(equal(g, zeros_like(g))) << "gradient of input " << i << ": " << g;
      }
      // float32 and the reference kernels give the same shapes.
      const Outcome f32 = run(op, s32[k], in32, false), ref = run(op, s32[k], in32, true);
      for (const Outcome* other : {&f32, &ref}) {
        ASSERT_TRUE(other->error.empty()) << other->error;
        ASSERT_EQ(other->outputs.size(), got.outputs.size());
        for (size_t i = 0; i < got.outputs.size(); ++i)
          if (got.outputs[i].defined()) EXPECT_EQ(other->outputs[i].shape(), got.outputs[i].shape());
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllOps, ZeroSize, ::testing::ValuesIn(registered_names()),
                         [](const auto& info) { return info.param; });

}  // namespace
