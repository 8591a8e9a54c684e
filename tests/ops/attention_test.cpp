// scaled_dot_product_attention: registry entries, PyTorch reference values (tests/reference/attention.py),
// grouped-query attention, masks, dropout and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "graft/graph/node.h"
#include "graft/ops/attention.h"
#include "graft/ops/kernels/backend.h"
#include "support/op_registry.h"
#include "support/errors.h"
#include "support/reference_json.h"

using namespace graft;
using namespace graft::testing;
using graft::nn::functional::scaled_dot_product_attention;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

Tensor sdpa(const TensorList& in, const Tensor& mask = {}, bool causal = false, std::optional<double> scale = std::nullopt,
            bool gqa = false) {
  return scaled_dot_product_attention(in[0], in[1], in[2], mask, 0.0, causal, scale, gqa);
}

Tensor padding_mask() {  // (B=2, 1, 1, S=5): the first sequence has 3 real tokens, the second 5
  return tensor({true, true, true, false, false, true, true, true, true, true}, {2, 1, 1, 5});
}

GRAFT_REGISTER_OP({.name = "scaled_dot_product_attention", .samples = [](DType dt) {
  auto qkv = [dt](IntList q, IntList k, IntList v, uint64_t seed) {
    return TensorList{uniform(q, dt, -1, 1, seed), uniform(k, dt, -1, 1, seed + 1), uniform(v, dt, -1, 1, seed + 2)};
  };
  Tensor tri = tensor({true, false, false, false, false, true, true, false, true, false, true, true, true, false, true}, {3, 5});
  std::vector<Sample> s = {
      sample("plain (B, H, T, E)", qkv({2, 2, 3, 4}, {2, 2, 5, 4}, {2, 2, 5, 3}, 1), [](const TensorList& in) { return sdpa(in); }),
      sample("2-D, scale 0.7", qkv({3, 4}, {5, 4}, {5, 2}, 4), [](const TensorList& in) { return sdpa(in, {}, false, 0.7); }),
      sample("causal, T > S", qkv({1, 2, 4, 3}, {1, 2, 3, 3}, {1, 2, 3, 2}, 7), [](const TensorList& in) { return sdpa(in, {}, true); }),
      sample("bool padding mask (B, 1, 1, S)", qkv({2, 2, 3, 4}, {2, 2, 5, 4}, {2, 2, 5, 3}, 10),
             [](const TensorList& in) { return sdpa(in, padding_mask()); }),
      sample("bool mask (T, S)", qkv({2, 1, 3, 2}, {2, 1, 5, 2}, {2, 1, 5, 2}, 13), [tri](const TensorList& in) { return sdpa(in, tri); }),
      // The additive mask is the fourth input: its gradient is checked too.
      sample("float mask (B, 1, T, S)", TensorList{uniform({2, 2, 3, 4}, dt, -1, 1, 16), uniform({2, 2, 5, 4}, dt, -1, 1, 17),
                                                   uniform({2, 2, 5, 3}, dt, -1, 1, 18), uniform({2, 1, 3, 5}, dt, -1, 1, 19)},
             [](const TensorList& in) { return sdpa(in, in[3]); }),
      sample("gqa: 4 query heads, 2 kv heads, causal", qkv({1, 4, 3, 2}, {1, 2, 3, 2}, {1, 2, 3, 2}, 20),
             [](const TensorList& in) { return sdpa(in, {}, true, std::nullopt, true); }),
      sample("mqa: 3 query heads, 1 kv head, padding mask", qkv({2, 3, 2, 2}, {2, 1, 5, 2}, {2, 1, 5, 3}, 23),
             [](const TensorList& in) { return sdpa(in, padding_mask(), false, std::nullopt, true); }),
      // Each call reseeds, so every evaluation drops the same weights and the function is deterministic.
      sample("dropout 0.3 (reseeded)", qkv({1, 2, 3, 2}, {1, 2, 4, 2}, {1, 2, 4, 2}, 26), [](const TensorList& in) {
        manual_seed(77);
        return scaled_dot_product_attention(in[0], in[1], in[2], {}, 0.3);
      }),
  };
  return s;
}});

// ---- reference values from PyTorch ----

Tensor from_json(const nlohmann::json& j, DType floating) {
  if (j.is_null()) return {};
  Shape shape;
  for (const auto& d : j["shape"]) shape.push_back(d.get<int64_t>());
  if (j["dtype"] == "bool") {
    std::vector<bool> values;
    for (const auto& v : j["values"]) values.push_back(v.get<bool>());
    return tensor(values, shape);
  }
  std::vector<double> values;
  for (const auto& v : j["values"]) values.push_back(v.is_null() ? -kInf : v.get<double>());
  return tensor(values, shape, floating);
}

void expect_close(const Tensor& actual, const Tensor& expected, double rtol, double atol, const std::string& what) {
  ASSERT_TRUE(actual.defined()) << what;
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  EXPECT_TRUE(allclose(actual.to(kFloat64), expected.to(kFloat64), rtol, atol)) << what << "\nactual: " << actual
                                                                               << "\nexpected: " << expected;
}

void check_reference_cases(DType dt, double rtol, double atol) {
  nlohmann::json ref = reference_json("attention.json");
  ASSERT_GE(ref["cases"].size(), 20u);
  for (const auto& c : ref["cases"]) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    Tensor q = from_json(c["query"], dt).requires_grad_(), k = from_json(c["key"], dt).requires_grad_(),
           v = from_json(c["value"], dt).requires_grad_();
    Tensor mask = from_json(c["attn_mask"], dt);
    const bool float_mask = mask.defined() && mask.dtype() != kBool;
    if (float_mask) mask.requires_grad_();
    std::optional<double> scale;
    if (!c["scale"].is_null()) scale = c["scale"].get<double>();
    Tensor out = scaled_dot_product_attention(q, k, v, mask, 0.0, c["is_causal"].get<bool>(), scale,
                                              c["enable_gqa"].get<bool>());
    expect_close(out, from_json(c["out"], kFloat64), rtol, atol, name + ": output");
    TensorList wrt{q, k, v};
    if (float_mask) wrt.push_back(mask);
    TensorList grads = autograd::grad({out}, wrt, {from_json(c["grad_out"], dt)});
    expect_close(grads[0], from_json(c["grad_query"], kFloat64), rtol, atol, name + ": grad query");
    expect_close(grads[1], from_json(c["grad_key"], kFloat64), rtol, atol, name + ": grad key");
    expect_close(grads[2], from_json(c["grad_value"], kFloat64), rtol, atol, name + ": grad value");
    if (float_mask) expect_close(grads[3], from_json(c["grad_attn_mask"], kFloat64), rtol, atol, name + ": grad mask");
  }
}

TEST(ScaledDotProductAttention, MatchesPyTorchInFloat64) { check_reference_cases(kFloat64, 1e-10, 1e-12); }
TEST(ScaledDotProductAttention, MatchesPyTorchInFloat32) { check_reference_cases(kFloat32, 1e-4, 1e-5); }

// ---- grouped-query attention ----

// key/value (B, Hkv, S, E) repeated to (B, H, S, E) as torch.repeat_interleave(x, H / Hkv, dim=-3) does,
// from differentiable ops: the explicit reference the grouped computation must agree with.
Tensor repeat_heads(const Tensor& x, int64_t groups) {
  const Shape& s = x.shape();
  return x.unsqueeze(2).expand({s[0], s[1], groups, s[2], s[3]}).reshape({s[0], s[1] * groups, s[2], s[3]});
}

TEST(ScaledDotProductAttention, GroupedKeyValueGradientsSumOverTheirQueryGroup) {
  for (int64_t kv_heads : {1, 2, 3}) {
    SCOPED_TRACE("kv heads " + std::to_string(kv_heads));
    const int64_t H = 6, G = H / kv_heads;
    Tensor q = uniform({2, H, 4, 3}, kFloat64, -1, 1, 1).requires_grad_();
    Tensor k = uniform({2, kv_heads, 5, 3}, kFloat64, -1, 1, 2).requires_grad_();
    Tensor v = uniform({2, kv_heads, 5, 2}, kFloat64, -1, 1, 3).requires_grad_();
    Tensor g = uniform({2, H, 4, 2}, kFloat64, -1, 1, 4);
    Tensor out = scaled_dot_product_attention(q, k, v, {}, 0.0, true, std::nullopt, true);
    TensorList grads = autograd::grad({out}, {q, k, v}, {g});

    // The same attention with every key/value head repeated for its group of query heads.
    Tensor k_rep = repeat_heads(k.detach(), G).requires_grad_(), v_rep = repeat_heads(v.detach(), G).requires_grad_();
    Tensor ref = scaled_dot_product_attention(q, k_rep, v_rep, {}, 0.0, true);
    TensorList ref_grads = autograd::grad({ref}, {q, k_rep, v_rep}, {g});
    EXPECT_TRUE(allclose(out, ref, 1e-12, 1e-12));
    EXPECT_TRUE(allclose(grads[0], ref_grads[0], 1e-12, 1e-12));
    // The gradient of a shared key/value head is the sum of the repeated heads' gradients over its group.
    auto group_sum = [&](const Tensor& t) { return t.reshape({2, kv_heads, G, t.size(2), t.size(3)}).sum({2}); };
    EXPECT_TRUE(allclose(grads[1], group_sum(ref_grads[1]), 1e-12, 1e-12));
    EXPECT_TRUE(allclose(grads[2], group_sum(ref_grads[2]), 1e-12, 1e-12));
  }
}

// Every tensor the graph records (each node's inputs, which is what backward produces gradients for) has
// key/value's own number of heads: no repeated copy of key or value exists in forward or backward.
TEST(ScaledDotProductAttention, GroupedQueryAttentionRecordsNoRepeatedKeyValue) {
  const int64_t B = 2, H = 8, Hkv = 2, T = 3, S = 5, E = 4, Ev = 6;
  Tensor q = uniform({B, H, T, E}, kFloat64, -1, 1, 1).requires_grad_();
  Tensor k = uniform({B, Hkv, S, E}, kFloat64, -1, 1, 2).requires_grad_();
  Tensor v = uniform({B, Hkv, S, Ev}, kFloat64, -1, 1, 3).requires_grad_();
  Tensor out = scaled_dot_product_attention(q, k, v, {}, 0.0, false, std::nullopt, true);
  EXPECT_EQ(out.shape(), Shape({B, H, T, Ev}));
  std::set<Node*> seen;
  std::vector<Node*> stack{out.grad_fn().get()};
  const std::vector<Shape> repeated{{B, H, S, E}, {B, H, E, S}, {B, H, S, Ev}, {B * H, S, E}, {B * H, E, S}, {B * H, S, Ev}};
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    if (!n || !seen.insert(n).second) continue;
    for (size_t i = 0; i < n->num_inputs(); ++i) {
      for (const Shape& r : repeated) EXPECT_NE(n->input_meta(i).shape, r) << n->name() << " input " << i;
      stack.push_back(n->next_edge(i).node.get());
    }
  }
  EXPECT_GT(seen.size(), 4u);
  TensorList grads = autograd::grad({out}, {k, v}, {ones_like(out)});
  EXPECT_EQ(grads[0].shape(), k.shape());
  EXPECT_EQ(grads[1].shape(), v.shape());
}

// ---- masks ----

TEST(ScaledDotProductAttention, BoolMaskEqualsAdditiveMinusInfinityMask) {
  Tensor q = uniform({2, 2, 3, 4}, kFloat64, -1, 1, 1), k = uniform({2, 2, 5, 4}, kFloat64, -1, 1, 2),
         v = uniform({2, 2, 5, 3}, kFloat64, -1, 1, 3);
  Tensor keep = padding_mask();
  Tensor additive = where(keep, zeros({1}, kFloat64), full({1}, -kInf, kFloat64));
  EXPECT_TRUE(allclose(scaled_dot_product_attention(q, k, v, keep), scaled_dot_product_attention(q, k, v, additive), 1e-12, 1e-12));
}

TEST(ScaledDotProductAttention, CausalEqualsALowerTriangularMask) {
  Tensor q = uniform({1, 2, 4, 3}, kFloat64, -1, 1, 1), k = uniform({1, 2, 6, 3}, kFloat64, -1, 1, 2),
         v = uniform({1, 2, 6, 3}, kFloat64, -1, 1, 3);
  Tensor tri = ones({4, 6}, kFloat64).tril() > 0.5;
  EXPECT_TRUE(allclose(scaled_dot_product_attention(q, k, v, {}, 0.0, true), scaled_dot_product_attention(q, k, v, tri), 1e-12, 1e-12));
}

// A query that no key may attend to gets a zero output row and zero gradients, as PyTorch >= 2.5 gives
// (torch 1.13's private _scaled_dot_product_attention and torch 2.0-2.4 give NaN).
TEST(ScaledDotProductAttention, FullyMaskedRowsGiveZerosNotNaN) {
  Tensor q = uniform({1, 1, 3, 2}, kFloat64, -1, 1, 1).requires_grad_();
  Tensor k = uniform({1, 1, 4, 2}, kFloat64, -1, 1, 2).requires_grad_();
  Tensor v = uniform({1, 1, 4, 2}, kFloat64, -1, 1, 3).requires_grad_();
  Tensor keep = tensor({true, true, false, false, false, false, false, false, true, false, true, true}, {3, 4});
  Tensor out = scaled_dot_product_attention(q, k, v, keep);
  EXPECT_FALSE(isnan(out).to_vector<bool>()[0]);
  EXPECT_EQ(out.select(2, 1).abs().sum().item<double>(), 0.0);
  EXPECT_GT(out.select(2, 0).abs().sum().item<double>(), 0.0);
  TensorList grads = autograd::grad({out}, {q, k, v}, {ones_like(out)});
  for (const Tensor& g : grads) EXPECT_FALSE(isnan(g).sum().item<int64_t>() > 0);
  EXPECT_EQ(grads[0].select(2, 1).abs().sum().item<double>(), 0.0);
}

TEST(ScaledDotProductAttention, EmptyKeySequenceGivesZeros) {
  Tensor out = scaled_dot_product_attention(ones({2, 3, 4}), ones({2, 0, 4}), ones({2, 0, 5}));
  EXPECT_EQ(out.shape(), Shape({2, 3, 5}));
  EXPECT_EQ(out.abs().sum().item<double>(), 0.0);
}

// ---- dropout ----

TEST(ScaledDotProductAttention, DropoutZeroesWeightsWithProbabilityPAndRescalesTheRest) {
  // With a zero query every weight is 1/S and value = identity makes the output the weight matrix.
  const int64_t T = 64, S = 50;
  const double p = 0.25;
  manual_seed(3);
  Tensor w = scaled_dot_product_attention(zeros({T, 4}, kFloat64), uniform({S, 4}, kFloat64), eye(S, std::nullopt, kFloat64), {}, p);
  int64_t dropped = 0;
  for (double x : w.to_vector<double>()) {
    if (x == 0.0) ++dropped;
    else EXPECT_NEAR(x, 1.0 / S / (1 - p), 1e-15);
  }
  const double frac = static_cast<double>(dropped) / (T * S);
  EXPECT_NEAR(frac, p, 0.03);  // 3200 draws: the standard error is 0.008
}

TEST(ScaledDotProductAttention, DropoutIsSeededByTheGlobalGenerator) {
  Tensor q = uniform({2, 3, 4}, kFloat32, -1, 1, 1), k = uniform({2, 5, 4}, kFloat32, -1, 1, 2), v = uniform({2, 5, 4}, kFloat32, -1, 1, 3);
  manual_seed(11);
  Tensor a = scaled_dot_product_attention(q, k, v, {}, 0.5);
  manual_seed(11);
  Tensor b = scaled_dot_product_attention(q, k, v, {}, 0.5);
  Tensor c = scaled_dot_product_attention(q, k, v, {}, 0.5);
  EXPECT_TRUE(equal(a, b));
  EXPECT_FALSE(equal(a, c));
  EXPECT_EQ(scaled_dot_product_attention(q, k, v, {}, 1.0).abs().sum().item<double>(), 0.0);
}

// ---- fast and reference kernels ----

TEST(ScaledDotProductAttention, Float32AgreesWithFloat64AtModerateSize) {
  Tensor q = uniform({2, 4, 40, 16}, kFloat64, -1, 1, 1), k = uniform({2, 2, 56, 16}, kFloat64, -1, 1, 2),
         v = uniform({2, 2, 56, 24}, kFloat64, -1, 1, 3);
  Tensor o64 = scaled_dot_product_attention(q, k, v, {}, 0.0, true, std::nullopt, true);
  Tensor o32 = scaled_dot_product_attention(q.to(kFloat32), k.to(kFloat32), v.to(kFloat32), {}, 0.0, true, std::nullopt, true);
  EXPECT_TRUE(allclose(o32.to(kFloat64), o64, 1e-5, 1e-6));
}

// The float32 softmax of attention runs on oneDNN above 1024 scores; the reference loops define the
// results, including the rows oneDNN cannot compute itself (nothing kept: zeros; a NaN or +inf score: NaN).
TEST(ScaledDotProductAttention, Float32FastPathMatchesTheReferenceLoops) {
  auto run = [](bool reference, int variant) {
    ReferenceKernelsGuard guard(reference);
    Tensor q = uniform({2, 4, 48, 16}, kFloat32, -1, 1, 1), k = uniform({2, 2, 40, 16}, kFloat32, -1, 1, 2),
           v = uniform({2, 2, 40, 8}, kFloat32, -1, 1, 3);
    Tensor mask;
    if (variant == 1) {  // bool mask with rows where nothing takes part (queries 5 and 6 of every head)
      Tensor keep = uniform({48, 40}, kFloat32, 0, 1, 4) > 0.3;
      keep.slice(0, 5, 7).fill_(false);
      mask = keep;
    } else if (variant == 2) {  // additive mask: a -inf row (zeros), a +inf entry and a NaN entry (NaN rows)
      mask = uniform({2, 1, 48, 40}, kFloat32, -1, 1, 5);
      mask.select(2, 3).fill_(-kInf);
      mask.select(0, 1).select(1, 7).select(1, 2).fill_(kInf);
      mask.select(0, 0).select(1, 9).select(1, 4).fill_(std::nan(""));
    }
    q.requires_grad_();
    k.requires_grad_();
    v.requires_grad_();
    Tensor out = scaled_dot_product_attention(q, k, v, mask, 0.0, variant == 0, std::nullopt, true);
    TensorList grads = autograd::grad({out}, {q, k, v}, {cos(out * 3)});
    grads.insert(grads.begin(), out);
    return grads;
  };
  for (int variant : {0, 1, 2}) {
    TensorList fast = run(false, variant), ref = run(true, variant);
    for (size_t i = 0; i < fast.size(); ++i) {
      SCOPED_TRACE(::testing::Message() << "variant " << variant << ", tensor " << i);
      EXPECT_TRUE(equal(isnan(fast[i]), isnan(ref[i])));
      Tensor finite = logical_not(isnan(ref[i]));
      EXPECT_TRUE(allclose(where(finite, fast[i], 0.0), where(finite, ref[i], 0.0), 1e-5, 1e-6));
    }
    if (variant == 1) {
      EXPECT_EQ(fast[0].select(2, 5).abs().sum().item<double>(), 0.0);
    } else if (variant == 2) {
      EXPECT_EQ(isnan(fast[0].select(0, 1).select(1, 7)).sum().item<int64_t>(), 4 * 8);
      EXPECT_EQ(isnan(fast[0].select(0, 0).select(1, 9)).sum().item<int64_t>(), 4 * 8);
      EXPECT_EQ(fast[0].select(2, 3).abs().sum().item<double>(), 0.0);
    }
  }
}

// ---- bad input ----

TEST(ScaledDotProductAttention, RejectsBadInput) {
  Tensor q = ones({2, 4, 3, 8}), k = ones({2, 4, 5, 8}), v = ones({2, 4, 5, 6});
  auto op = [](const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& m = {}, double p = 0, bool causal = false,
               bool gqa = false) { scaled_dot_product_attention(q, k, v, m, p, causal, std::nullopt, gqa); };
  expect_error([&] { op(Tensor(), k, v); }, {"scaled_dot_product_attention", "query", "undefined"});
  expect_error([&] { op(ones({8}), ones({8}), ones({8})); }, {"at least 2 dims", "[8]"});
  expect_error([&] { op(ones({2, 4, 3, 7}), k, v); }, {"embedding size", "[2, 4, 3, 7]", "[2, 4, 5, 8]"});
  expect_error([&] { op(q, k, ones({2, 4, 6, 6})); }, {"sequence length", "[2, 4, 5, 8]", "[2, 4, 6, 6]"});
  expect_error([&] { op(q, k.to(kFloat64), v); }, {"same dtype", "float32", "float64"});
  expect_error([&] { op(ones({2, 3}, kInt64), ones({2, 3}, kInt64), ones({2, 3}, kInt64)); }, {"floating-point", "int64"});
  expect_error([&] { op(q, k, v, {}, 1.5); }, {"dropout_p", "1.5"});
  expect_error([&] { op(q, k, v, {}, -0.1); }, {"dropout_p"});
  expect_error([&] { op(q, k, v, ones({3, 5}) > 0, 0, true); }, {"is_causal", "attn_mask"});
  expect_error([&] { op(q, k, v, ones({3, 5}, kInt64)); }, {"attn_mask", "bool", "int64"});
  expect_error([&] { op(q, k, v, ones({3, 5}, kFloat64)); }, {"attn_mask", "float64"});
  expect_error([&] { op(q, k, v, ones({3, 4}) > 0); }, {"attn_mask of shape [3, 4]", "[2, 4, 3, 5]"});
  expect_error([&] { op(q, k, v, ones({3, 2, 1, 5}) > 0); }, {"attn_mask of shape [3, 2, 1, 5]"});
  // Fewer key/value heads than query heads need enable_gqa, and must divide the query heads.
  expect_error([&] { op(q, ones({2, 2, 5, 8}), ones({2, 2, 5, 6})); }, {"4 heads", "key 2", "enable_gqa"});
  expect_error([&] { op(q, ones({2, 3, 5, 8}), ones({2, 3, 5, 6}), {}, 0, false, true); },
               {"key heads (3)", "value heads (3)", "query heads (4)"});
  expect_error([&] { op(ones({3, 8}), ones({5, 8}), ones({5, 6}), {}, 0, false, true); }, {"enable_gqa needs a heads dim"});
  expect_error([&] { op(ones({3, 4, 3, 8}), k, v); }, {"cannot be broadcast", "[3, 4]", "[2, 4]"});
}

TEST(ScaledDotProductAttention, NamedOptionsEqualThePositionalArguments) {
  manual_seed(5);
  const Tensor q = randn({2, 4, 5, 8}), k = randn({2, 2, 7, 8}), v = randn({2, 2, 7, 8});
  EXPECT_TRUE(equal(scaled_dot_product_attention(q, k, v, {.is_causal = true, .scale = 0.5, .enable_gqa = true}),
                    scaled_dot_product_attention(q, k, v, {}, 0.0, true, 0.5, true)));
  const Tensor mask = randn({5, 7});
  EXPECT_TRUE(equal(scaled_dot_product_attention(q, k, v, {.attn_mask = mask, .enable_gqa = true}),
                    scaled_dot_product_attention(q, k, v, mask, 0.0, false, std::nullopt, true)));
}

}  // namespace
