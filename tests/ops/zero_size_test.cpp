// Every registered op with zero-size dimensions, forward and backward, as PyTorch treats them.
//
// The sweep: each sample of the op registry is run again with one of its sizes set to 0 wherever it appears in
// the inputs (so the inputs stay consistent: linear's in_features, out_features or batch, an embedding's dim,
// ...). The op must either give outputs of the right, empty, shapes whose gradients have the inputs' shapes
// and are zero where nothing flows back -- the same in float32 and float64, and with the reference kernels --
// or raise a graft::Error of a kind PyTorch raises too: tests/reference/zero_size.json lists, per op, the
// refusals allowed (a pattern on graft's message) beside a PyTorch call in that situation and the error
// PyTorch gives there (tests/reference/zero_size.py fails unless PyTorch raises). Never a crash, never a view
// over a buffer too small for it.
//
// The accepted calls: calls PyTorch answers with empty or partly empty results (linear without input
// features, an embedding of dim 0, batch_norm of an empty batch, ...), with PyTorch's outputs and gradients.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <regex>
#include <set>

#include "graft/ops/backend.h"
#include "ops/torch_reference.h"
#include "support/op_registry.h"

using namespace graft;
using namespace graft::testing;
namespace F = graft::nn::functional;

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

// The refusals allowed per op: patterns on graft's message, each one a situation PyTorch refuses too.
std::vector<std::regex> allowed_refusals(const std::string& op) {
  std::vector<std::regex> out;
  const nlohmann::json& refusals = reference_json("zero_size.json").at("refusals");
  if (refusals.contains(op))
    for (const auto& entry : refusals.at(op)) out.emplace_back(entry.at("graft").get<std::string>());
  return out;
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
      if (!got.error.empty()) {
        const std::vector<std::regex> allowed = allowed_refusals(op.name);
        const bool pytorch_refuses_too = std::any_of(allowed.begin(), allowed.end(), [&](const std::regex& r) {
          return std::regex_search(got.error, r);
        });
        EXPECT_TRUE(pytorch_refuses_too) << "graft raises where tests/reference/zero_size.json knows no PyTorch "
                                            "refusal of this kind: "
                                         << got.error;
        continue;
      }
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
        if (all_empty) {
          EXPECT_TRUE(equal(g, zeros_like(g))) << "gradient of input " << i << ": " << g;
        }
      }
      // float32 and the reference kernels give the same shapes.
      const Outcome f32 = run(op, s32[k], in32, false), ref = run(op, s32[k], in32, true);
      for (const Outcome* other : {&f32, &ref}) {
        ASSERT_TRUE(other->error.empty()) << other->error;
        ASSERT_EQ(other->outputs.size(), got.outputs.size());
        for (size_t i = 0; i < got.outputs.size(); ++i)
          if (got.outputs[i].defined()) {
            EXPECT_EQ(other->outputs[i].shape(), got.outputs[i].shape());
          }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllOps, ZeroSize, ::testing::ValuesIn(registered_names()),
                         [](const auto& info) { return info.param; });

// ---------------------------------------------------------------- calls PyTorch accepts

using Call = std::function<Tensor(const TensorList&)>;

const std::map<std::string, Call>& graft_calls() {
  static const std::map<std::string, Call> calls = {
      {"linear, no input features", [](const TensorList& in) { return F::linear(in[0], in[1], in[2]); }},
      {"linear, no output features", [](const TensorList& in) { return F::linear(in[0], in[1], in[2]); }},
      {"linear, no rows", [](const TensorList& in) { return F::linear(in[0], in[1], in[2]); }},
      {"embedding of dim 0",
       [](const TensorList& in) { return F::embedding(tensor({1, 2, 4, 1}, {2, 2}, kInt64), in[0]); }},
      {"batch_norm without channels",
       [](const TensorList& in) { return F::batch_norm(in[0], {}, {}, {}, {}, /*training=*/true); }},
      {"batch_norm of an empty batch",
       [](const TensorList& in) { return F::batch_norm(in[0], {}, {}, in[1], in[2], /*training=*/true); }},
      {"layer_norm of an empty feature dim", [](const TensorList& in) { return F::layer_norm(in[0], {0}); }},
      {"softmax over an empty dim", [](const TensorList& in) { return F::softmax(in[0], -1); }},
      {"log_softmax of no rows", [](const TensorList& in) { return F::log_softmax(in[0], -1); }},
      {"matmul with an empty inner dim", [](const TensorList& in) { return matmul(in[0], in[1]); }},
      {"narrow an empty tensor at an offset", [](const TensorList& in) { return narrow(in[0], 1, 2, 2); }},
      {"select from a tensor with an empty dim", [](const TensorList& in) { return select(in[0], 0, 2); }},
      {"adaptive_avg_pool2d without channels (forward only in PyTorch)",
       [](const TensorList& in) { return F::adaptive_avg_pool2d(in[0], {2}); }},
      {"conv_transpose2d of no samples with an empty output",
       [](const TensorList& in) { return F::conv_transpose2d(in[0], in[1], {}, 2, 1, 1); }},
      {"sum over an empty dim", [](const TensorList& in) { return sum(in[0], {1}); }},
      {"mean over an empty dim is NaN", [](const TensorList& in) { return mean(in[0], {1}); }},
      {"cumsum along an empty dim", [](const TensorList& in) { return cumsum(in[0], 0); }},
      {"lstm_cell with hidden size 0",
       [](const TensorList& in) { return std::get<0>(F::lstm_cell(in[0], {}, {}, in[1], in[2], in[3], in[4])); }},
      {"lstm_cell with no input features",
       [](const TensorList& in) { return std::get<0>(F::lstm_cell(in[0], {}, {}, in[1], in[2], in[3], in[4])); }},
      {"gru_cell of no rows", [](const TensorList& in) { return F::gru_cell(in[0], {}, in[1], in[2]); }},
  };
  return calls;
}

std::vector<std::string> accepted_names() {
  std::vector<std::string> names;
  for (const auto& c : reference_json("zero_size.json").at("accepted")) names.push_back(c.at("name"));
  return names;
}

class ZeroSizeAccepted : public ::testing::TestWithParam<std::string> {};

TEST_P(ZeroSizeAccepted, GivesPyTorchsOutputsAndGradients) {
  using torch_reference::to_tensor;
  const nlohmann::json* ref = nullptr;
  for (const auto& c : reference_json("zero_size.json").at("accepted"))
    if (c.at("name") == GetParam()) ref = &c;
  ASSERT_NE(ref, nullptr);
  auto call = graft_calls().find(GetParam());
  ASSERT_NE(call, graft_calls().end()) << "no graft call for the PyTorch case " << GetParam();
  for (bool reference : {false, true}) {
    SCOPED_TRACE(reference ? "reference kernels" : "fast kernels");
    ReferenceKernelsGuard guard(reference);
    TensorList in;
    for (const auto& j : ref->at("inputs")) in.push_back(to_tensor(j).requires_grad_(true));
    const Tensor out = call->second(in);
    const Tensor expected = to_tensor(ref->at("output"));
    ASSERT_EQ(out.shape(), expected.shape());
    EXPECT_TRUE(allclose(out, expected, 1e-9, 1e-9, /*equal_nan=*/true)) << out << "\nPyTorch: " << expected;
    const TensorList grads = autograd::grad({sum(out)}, in, {}, false, false, /*allow_unused=*/true);
    for (size_t i = 0; i < in.size(); ++i) {
      const Tensor want = to_tensor(ref->at("grads")[i]);
      const Tensor got = grads[i].defined() ? grads[i] : zeros_like(in[i]);
      ASSERT_EQ(got.shape(), want.shape()) << "gradient of input " << i;
      EXPECT_TRUE(allclose(got, want, 1e-9, 1e-9, true)) << "gradient of input " << i << ": " << got
                                                         << "\nPyTorch: " << want;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(PyTorch, ZeroSizeAccepted, ::testing::ValuesIn(accepted_names()), [](const auto& info) {
  std::string name;
  for (char c : info.param) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name;
});

}  // namespace

namespace {

// Where graft differs from PyTorch 1.13 (README): a convolution over no input channels is the sum of nothing
// plus the bias, shaped as any other convolution's output; PyTorch returns an empty tensor with the input's
// (zero) channels instead.
TEST(ZeroSizeDifferences, AConvolutionOverNoInputChannelsIsTheBias) {
  Tensor x = uniform({1, 0, 4, 4}, kFloat32, -1, 1, 1).requires_grad_(true);
  Tensor w = uniform({3, 0, 2, 2}, kFloat32, -1, 1, 2).requires_grad_(true);
  Tensor b = tensor({0.5, -1.0, 2.0}, {3}, kFloat32).requires_grad_(true);
  Tensor y = F::conv2d(x, w, b);
  ASSERT_EQ(y.shape(), Shape({1, 3, 3, 3}));
  EXPECT_TRUE(equal(y, expand(b.detach().reshape({1, 3, 1, 1}), {1, 3, 3, 3})));
  sum(y).backward();
  EXPECT_EQ(x.grad().shape(), x.shape());
  EXPECT_EQ(w.grad().shape(), w.shape());
  EXPECT_TRUE(equal(b.grad(), full({3}, 9.0, kFloat32)));
}

}  // namespace

namespace {

// Modules built with a zero-size dimension construct (PyTorch initialises their empty parameters as a no-op,
// and a fan-in of 0 gives a zero bias bound), run forward and backward, and give empty or bias-only outputs.
TEST(ZeroSizeModules, ConstructAndRunWithAZeroSizeDimension) {
  nn::Linear no_inputs(0, 4);
  for (const Tensor& p : no_inputs.parameters()) EXPECT_TRUE(std::isfinite(p.abs().sum().item<double>()));
  Tensor y = no_inputs(zeros({3, 0}));
  EXPECT_EQ(y.shape(), Shape({3, 4}));
  EXPECT_TRUE(equal(y, expand(no_inputs.bias.detach(), {3, 4})));
  EXPECT_TRUE(equal(no_inputs.bias.detach(), zeros({4})));  // bound 1/sqrt(fan_in) is 0 when fan_in is 0

  nn::Linear no_outputs(5, 0);
  Tensor x = uniform({3, 5}, kFloat32, -1, 1, 1).requires_grad_(true);
  Tensor z = no_outputs(x);
  EXPECT_EQ(z.shape(), Shape({3, 0}));
  sum(z).backward();
  EXPECT_TRUE(equal(x.grad(), zeros({3, 5})));

  nn::Embedding embedding(5, 0);
  EXPECT_EQ(embedding(tensor({1, 4}, {2}, kInt64)).shape(), Shape({2, 0}));

  nn::LSTM lstm(0, 3);
  EXPECT_EQ(lstm(zeros({4, 2, 0})).shape(), Shape({4, 2, 3}));

  nn::LSTMCell cell(2, 0);
  EXPECT_EQ(cell(zeros({3, 2})).shape(), Shape({3, 0}));  // h (forward(x) alone returns h)
  nn::GRUCell no_input_cell(0, 3);
  EXPECT_EQ(no_input_cell(zeros({3, 0})).shape(), Shape({3, 3}));

  nn::BatchNorm1d no_features(0);
  EXPECT_EQ(no_features(zeros({4, 0})).shape(), Shape({4, 0}));
}

}  // namespace
