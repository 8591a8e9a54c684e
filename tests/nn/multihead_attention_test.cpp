// nn::MultiheadAttention: torch.nn.MultiheadAttention's outputs, weights and gradients for the same state dict
// (tests/reference/mha.py), its parameters and initialisation, dropout, masks and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "graft/graft.h"
#include "support/errors.h"
#include "nn/mha_reference.h"

using namespace graft;
using graft::testing::error_of;
using namespace graft::testing::mha_reference;
using nn::MultiheadAttention;

namespace {

std::tuple<Tensor, Tensor> run(MultiheadAttention& m, const Call& c) {
  return m.forward(c.query, c.key, c.value, c.key_padding_mask, c.need_weights, c.attn_mask, c.average_attn_weights,
                   c.is_causal);
}

TEST(MultiheadAttention, MatchesTorchForEveryReferenceCase) {
  ASSERT_GE(cases().size(), 40u);
  for (DType dt : {kFloat64, kFloat32}) {
    for (const auto& c : cases()) {
      auto m = make_module(c, dt);
      Call call = make_call(c, dt);
      check_case(
          c, call, [&](const Call& a) { return run(*m, a); },
          [&](const std::string& name) { return mha_grad(*m, name); },
          dt, tolerance(dt));
    }
  }
}

TEST(MultiheadAttention, NamedOptionsBuildTheSameModuleAsPositionalArguments) {
  manual_seed(3);
  MultiheadAttention positional(8, 2, 0.1, true, true, false, 6, 4, true);
  manual_seed(3);
  MultiheadAttention named({.embed_dim = 8, .num_heads = 2, .dropout = 0.1, .add_bias_kv = true, .kdim = 6,
                            .vdim = 4, .batch_first = true});
  EXPECT_EQ(named.kdim, 6);
  EXPECT_EQ(named.vdim, 4);
  EXPECT_TRUE(named.batch_first);
  EXPECT_DOUBLE_EQ(named.dropout, 0.1);
  const auto a = positional.state_dict(), b = named.state_dict();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(equal(a[i].second, b[i].second)) << a[i].first;
  }
  EXPECT_THROW(MultiheadAttention({.embed_dim = 8, .num_heads = 3}), Error);  // 8 is not divisible by 3
}

TEST(MultiheadAttention, StateDictHasTorchNamesInTorchOrder) {
  for (const auto& c : cases()) {
    auto m = make_module(c, kFloat32);
    std::vector<std::string> names;
    for (const auto& [n, t] : m->state_dict()) names.push_back(n);
    EXPECT_EQ(names, c.at("state_order").get<std::vector<std::string>>()) << c.at("name");
  }
  MultiheadAttention separate(8, 2, 0.0, true, true, false, 6, 4);
  std::vector<std::string> names;
  for (const auto& [n, t] : separate.state_dict()) names.push_back(n + shape_str(t.shape()));
  EXPECT_EQ(names, (std::vector<std::string>{"q_proj_weight[8, 8]", "k_proj_weight[8, 6]", "v_proj_weight[8, 4]",
                                             "in_proj_bias[24]", "bias_k[1, 1, 8]", "bias_v[1, 1, 8]",
                                             "out_proj.weight[8, 8]", "out_proj.bias[8]"}));
  EXPECT_FALSE(separate.in_proj_weight.defined());
  MultiheadAttention no_bias(4, 1, 0.0, false);
  EXPECT_EQ(no_bias.state_dict().size(), 2u);  // in_proj_weight, out_proj.weight
  EXPECT_FALSE(no_bias.out_proj->bias.defined());
}

TEST(MultiheadAttention, InitialisesAsTorch) {
  manual_seed(3);
  MultiheadAttention m(64, 4, 0.0, true, true);
  // xavier_uniform_ on (3E, E): bound sqrt(6 / (E + 3E))
  const double bound = std::sqrt(6.0 / (64 + 192));
  auto w = m.in_proj_weight.to_vector<double>();
  EXPECT_LE(*std::max_element(w.begin(), w.end()), bound);
  EXPECT_GT(*std::max_element(w.begin(), w.end()), 0.98 * bound);
  EXPECT_GE(*std::min_element(w.begin(), w.end()), -bound);
  EXPECT_EQ(max(abs(m.in_proj_bias)).item<double>(), 0.0);
  EXPECT_EQ(max(abs(m.out_proj->bias)).item<double>(), 0.0);
  // out_proj.weight keeps Linear's default: uniform in ±1/sqrt(E)
  EXPECT_LE(max(abs(m.out_proj->weight)).item<double>(), 1.0 / 8.0);
  EXPECT_GT(max(abs(m.out_proj->weight)).item<double>(), 0.98 / 8.0);
  // xavier_normal_ on (1, 1, E): fan_in = fan_out = E, std sqrt(2 / 2E); a sample of 64 has a positive spread
  EXPECT_GT(max(abs(m.bias_k)).item<double>(), 0.0);
  EXPECT_FALSE(m.bias_k.is_same(m.bias_v));
  MultiheadAttention kv(6, 3, 0.0, true, false, false, 5, 7);
  const double kbound = std::sqrt(6.0 / (6 + 5));
  EXPECT_LE(max(abs(kv.k_proj_weight)).item<double>(), kbound);
  EXPECT_EQ(kv.head_dim, 2);
  EXPECT_FALSE(kv.qkv_same_embed_dim);
}

TEST(MultiheadAttention, WeightsBranchAndSdpaBranchAgree) {
  // need_weights=true computes the weights step by step; need_weights=false calls
  // scaled_dot_product_attention. Both drop the same weights for the same seed.
  manual_seed(11);
  MultiheadAttention m(8, 2, 0.4, true, false, false, std::nullopt, std::nullopt, true);
  Tensor q = randn({3, 4, 8}), kv = randn({3, 6, 8});
  Tensor kpm = tensor({false, false, false, false, true, true, false, false, false, false, false, false,
                       false, true, false, false, false, false},
                      {3, 6});
  for (bool training : {true, false}) {
    m.train(training);
    manual_seed(5);
    auto [with_weights, w] = m.forward(q, kv, kv, kpm, true);
    manual_seed(5);
    auto [without, none] = m.forward(q, kv, kv, kpm, false);
    EXPECT_TRUE(allclose(with_weights, without, 1e-6, 1e-6)) << "training=" << training;
    EXPECT_FALSE(none.defined());
  }
}

TEST(MultiheadAttention, DropoutActsOnWeightsInTrainingOnly) {
  manual_seed(2);
  MultiheadAttention m(8, 2, 0.5);
  Tensor x = randn({5, 2, 8});
  m.eval();
  auto [out_eval, w_eval] = m.forward(x, x, x, {}, true, {}, false);
  auto [again, w_again] = m.forward(x, x, x, {}, true, {}, false);
  EXPECT_TRUE(allclose(out_eval, again, 0, 0));
  EXPECT_TRUE(allclose(sum(w_eval, {-1}), ones({2, 2, 5}), 1e-6, 1e-6));  // per head, rows sum to 1
  m.train();
  auto [out_train, w_train] = m.forward(x, x, x, {}, true, {}, false);
  EXPECT_FALSE(allclose(out_train, out_eval, 1e-3, 1e-3));
  // Surviving weights are scaled by 1 / (1 - p) = 2; the dropped ones are 0.
  auto dropped = w_train.to_vector<double>(), kept = w_eval.to_vector<double>();
  int zeros = 0;
  for (size_t i = 0; i < dropped.size(); ++i) {
    if (dropped[i] == 0) ++zeros;
    else EXPECT_NEAR(dropped[i], 2 * kept[i], 1e-6);
  }
  EXPECT_GT(zeros, 30);  // of 100 weights
  EXPECT_LT(zeros, 70);
  // p = 1 drops every weight: the output is out_proj's bias.
  MultiheadAttention all(8, 2, 1.0);
  nn::init::normal_(all.out_proj->bias);
  auto [out, w] = all.forward(x, x, x);
  EXPECT_TRUE(allclose(out, expand(all.out_proj->bias, {5, 2, 8}), 1e-6, 1e-6));
  EXPECT_EQ(max(abs(w)).item<double>(), 0.0);
}

TEST(MultiheadAttention, FullyMaskedRowGivesZerosNotNaN) {
  // torch 1.13 gives NaN here; graft gives zero weights and attention output (the output is out_proj's bias)
  // and zero gradients from that row, as its scaled_dot_product_attention.
  manual_seed(4);
  MultiheadAttention m(4, 2);
  nn::init::normal_(m.out_proj->bias);
  Tensor x = randn({2, 1, 4}, requires_grad());
  Tensor mask = tensor({true, true, false, false}, {2, 2});  // query 0 sees nothing
  for (bool need_weights : {true, false}) {
    auto [out, w] = m.forward(x, x, x, {}, need_weights, mask);
    Tensor row0 = select(out, 0, 0);
    EXPECT_TRUE(allclose(row0, unsqueeze(m.out_proj->bias, 0), 1e-6, 1e-6));
    if (need_weights) {
      EXPECT_EQ(sum(abs(select(w, 1, 0))).item<double>(), 0.0);
    }
    sum(out).backward();
    EXPECT_EQ(sum(isnan(x.grad()).to(kFloat64)).item<double>(), 0.0);
    x.mutable_grad() = Tensor();
  }
}

TEST(MultiheadAttention, IsCausalWithAttnMaskUsesTheMaskAsAHint) {
  manual_seed(8);
  MultiheadAttention m(4, 2, 0.0, true, false, false, std::nullopt, std::nullopt, true);
  Tensor x = randn({2, 3, 4});
  Tensor causal = tensor({false, true, true, false, false, true, false, false, false}, {3, 3});
  Tensor other = tensor({false, false, true, true, false, false, false, false, false}, {3, 3});
  auto [a, wa] = m.forward(x, x, x, {}, true, causal);
  auto [b, wb] = m.forward(x, x, x, {}, true, {}, true, true);
  auto [c, wc] = m.forward(x, x, x, {}, true, other, true, true);
  auto [d, wd] = m.forward(x, x, x, {}, true, other);
  EXPECT_TRUE(allclose(a, b, 1e-6, 1e-6));
  EXPECT_TRUE(allclose(wa, wb, 1e-6, 1e-6));
  EXPECT_TRUE(allclose(c, d, 0, 0));
}

TEST(MultiheadAttention, GradcheckAndGradgradcheck) {
  manual_seed(6);
  MultiheadAttention m(4, 2, 0.0, true, true, true, 3, 5, true, kFloat64);
  Tensor q = randn({2, 3, 4}, dtype(kFloat64).requires_grad());
  Tensor k = randn({2, 2, 3}, dtype(kFloat64).requires_grad());
  Tensor v = randn({2, 2, 5}, dtype(kFloat64).requires_grad());
  Tensor mask = randn({4, 3, 2}, dtype(kFloat64).requires_grad());  // additive, (N * H, L, S)
  Tensor kpm = tensor({false, true, false, false}, {2, 2});
  auto f = [&](const TensorList& in) {
    auto [out, w] = m.forward(in[0], in[1], in[2], kpm, true, in[3], false);
    return TensorList{out, w};
  };
  autograd::DifferentiableFunction fn(f);
  EXPECT_TRUE(autograd::gradcheck(fn, {q, k, v, mask}));
  EXPECT_TRUE(autograd::gradgradcheck(fn, {q, k, v, mask}));
}

TEST(MultiheadAttention, ToFloat64AndPrinting) {
  auto holder = std::make_shared<MultiheadAttention>(4, 2);  // modules are held by shared_ptr (to() walks them)
  MultiheadAttention& m = *holder;
  m.to(kFloat64);
  auto [out, w] = m.forward(randn({3, 4}, dtype(kFloat64)), randn({5, 4}, dtype(kFloat64)), randn({5, 4}, dtype(kFloat64)));
  EXPECT_EQ(out.dtype(), kFloat64);
  EXPECT_EQ(shape_str(out.shape()), "[3, 4]");
  EXPECT_EQ(shape_str(w.shape()), "[3, 5]");
  EXPECT_EQ(m.repr(), "MultiheadAttention(\n  (out_proj): Linear(in_features=4, out_features=4, bias=True)\n)");
}

TEST(MultiheadAttention, RejectsBadConstructorArguments) {
  EXPECT_EQ(error_of([] { MultiheadAttention(10, 3); }),
            "MultiheadAttention: embed_dim must be divisible by num_heads, got embed_dim=10 num_heads=3");
  EXPECT_EQ(error_of([] { MultiheadAttention(8, 0); }),
            "MultiheadAttention: embed_dim, num_heads, kdim and vdim must be positive, got embed_dim=8 num_heads=0 "
            "kdim=8 vdim=8");
  EXPECT_EQ(error_of([] { MultiheadAttention(8, 2, 1.5); }), "MultiheadAttention: dropout must be in [0, 1], got 1.5");
  EXPECT_THROW(MultiheadAttention(8, 2, 0.0, true, false, false, 0), Error);
  EXPECT_THROW(MultiheadAttention(8, 2, 0.0, true, false, false, std::nullopt, std::nullopt, false, kInt64), Error);
}

TEST(MultiheadAttention, RejectsBadInputs) {
  MultiheadAttention m(8, 2);  // (L, N, E)
  Tensor q = randn({3, 2, 8}), kv = randn({5, 2, 8});
  auto fwd = [&](const Tensor& query, const Tensor& key, const Tensor& value, const Tensor& kpm = {},
                 const Tensor& mask = {}) { return error_of([&] { m.forward(query, key, value, kpm, true, mask); }); };
  EXPECT_EQ(fwd(randn({2, 3, 2, 8}), kv, kv),
            "MultiheadAttention: query should be an unbatched 2-D or batched 3-D tensor, but received a 4-D query of "
            "shape [2, 3, 2, 8]");
  EXPECT_EQ(fwd(q, randn({5, 8}), kv),
            "MultiheadAttention: for batched (3-D) query [3, 2, 8], expected key and value to be 3-D but found 2-D and "
            "3-D tensors (shapes [5, 8] and [5, 2, 8])");
  EXPECT_EQ(fwd(randn({3, 8}), kv, kv),
            "MultiheadAttention: for unbatched (2-D) query [3, 8], expected key and value to be 2-D but found 3-D and "
            "3-D tensors (shapes [5, 2, 8] and [5, 2, 8])");
  EXPECT_EQ(fwd(randn({3, 2, 6}), kv, kv),
            "MultiheadAttention: expected query of embedding size embed_dim=8 (last dim), got [3, 2, 6]");
  EXPECT_EQ(fwd(q, randn({5, 2, 7}), kv),
            "MultiheadAttention: expected key of embedding size kdim=8 (last dim), got [5, 2, 7]");
  EXPECT_EQ(fwd(q, kv, randn({5, 2, 7})),
            "MultiheadAttention: expected value of embedding size vdim=8 (last dim), got [5, 2, 7]");
  EXPECT_EQ(fwd(q, randn({5, 3, 8}), randn({5, 3, 8})),
            "MultiheadAttention: query, key and value must have the same batch size, got shapes [3, 2, 8], [5, 3, 8] "
            "and [5, 3, 8] (batch_first=false)");
  EXPECT_EQ(fwd(q, kv, randn({4, 2, 8})),
            "MultiheadAttention: key and value must have the same sequence length, got shapes [5, 2, 8] and [4, 2, 8]");
  EXPECT_EQ(fwd(q, kv, kv, zeros({2, 4}, dtype(kBool))),
            "MultiheadAttention: expected key_padding_mask of shape [2, 5], but got [2, 4]");
  EXPECT_EQ(fwd(q, kv, kv, zeros({5}, dtype(kBool))),
            "MultiheadAttention: for batched (3-D) query, expected key_padding_mask to be undefined or 2-D (N, S) but "
            "found shape [5]");
  EXPECT_EQ(fwd(q, kv, kv, {}, zeros({5, 3}, dtype(kBool))),
            "MultiheadAttention: the shape of the 2-D attn_mask is [5, 3], but should be [3, 5]");
  EXPECT_EQ(fwd(q, kv, kv, {}, zeros({2, 3, 5}, dtype(kBool))),
            "MultiheadAttention: the shape of the 3-D attn_mask is [2, 3, 5], but should be [4, 3, 5] (N * num_heads, L, "
            "S)");
  EXPECT_EQ(fwd(q, kv, kv, {}, zeros({1, 1, 3, 5}, dtype(kBool))),
            "MultiheadAttention: expected attn_mask to be undefined, 2-D or 3-D but found shape [1, 1, 3, 5]");
  EXPECT_EQ(fwd(q, kv, kv, {}, zeros({3, 5}, dtype(kInt64))),
            "MultiheadAttention: attn_mask must be a bool mask (True = masked out) or a floating mask of the query's "
            "dtype (float32), got int64");
  EXPECT_EQ(fwd(q, kv, kv, zeros({2, 5}, dtype(kFloat64))),
            "MultiheadAttention: key_padding_mask must be a bool mask (True = masked out) or a floating mask of the "
            "query's dtype (float32), got float64");
  EXPECT_EQ(fwd(q.to(kFloat64), kv, kv),
            "MultiheadAttention: query, key and value must have the same dtype, got float64, float32 and float32");
  EXPECT_EQ(fwd(q.to(kFloat64), kv.to(kFloat64), kv.to(kFloat64)),
            "MultiheadAttention: query is float64 but the module's parameters are float32");
  EXPECT_EQ(fwd(Tensor(), kv, kv), "MultiheadAttention: query, key and value must be defined");
  // Unbatched: a 3-D attn_mask is (num_heads, L, S).
  EXPECT_EQ(fwd(randn({3, 8}), randn({5, 8}), randn({5, 8}), {}, zeros({4, 3, 5}, dtype(kBool))),
            "MultiheadAttention: the shape of the 3-D attn_mask is [4, 3, 5], but should be [2, 3, 5] (1 * num_heads, "
            "L, S)");
}

}  // namespace
