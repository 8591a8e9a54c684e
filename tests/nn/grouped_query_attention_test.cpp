// GroupedQueryAttention / MultiQueryAttention: equivalence with multi-head attention over repeated K/V
// weights, cached decoding, causality, gradients, parameter names, errors.
#include <gtest/gtest.h>

#include "llm_test_util.h"

using namespace graft;
using namespace graft::llm_test;

namespace {

// The multi-head attention equivalent to `gqa`: its k_proj/v_proj rows repeat each key/value head for the
// num_heads / num_kv_heads query heads that share it (repeat_interleave over heads).
std::shared_ptr<nn::GroupedQueryAttention> equivalent_mha(const nn::GroupedQueryAttention& gqa, bool bias) {
  const int64_t H = gqa.num_heads, Hkv = gqa.num_kv_heads, hd = gqa.head_dim, d = gqa.d_model();
  auto mha = std::make_shared<nn::GroupedQueryAttention>(d, H, H, gqa.has_rope(), bias, 2048, 10000.0,
                                                         gqa.q_proj()->weight.dtype());
  std::vector<int64_t> rows;
  for (int64_t h = 0; h < H; ++h) rows.push_back(h / (H / Hkv));
  Tensor index = tensor(rows, {H}, dtype(kInt64));
  auto repeat = [&](const Tensor& w) {  // (Hkv * hd, ...) -> (H * hd, ...)
    Shape per_head{Hkv, hd};
    for (int64_t i = 1; i < w.dim(); ++i) per_head.push_back(w.size(i));
    Shape out = w.shape();
    out[0] = H * hd;
    return index_select(w.reshape(per_head), 0, index).reshape(out);
  };
  nn::StateDict sd;
  for (const auto& [name, t] : gqa.state_dict())
    sd.emplace_back(name, name.rfind("k_proj", 0) == 0 || name.rfind("v_proj", 0) == 0 ? repeat(t) : t);
  mha->load_state_dict(sd);
  return mha;
}

TEST(GroupedQueryAttention, EqualsMultiHeadAttentionWithRepeatedKeyValueWeights) {
  manual_seed(3);
  for (bool rope : {false, true})
    for (bool bias : {false, true})
      for (int64_t kv_heads : {1, 2, 3}) {
        nn::GroupedQueryAttention gqa(24, 6, kv_heads, rope, bias);
        auto mha = equivalent_mha(gqa, bias);
        Tensor x = randn({2, 7, 24});
        EXPECT_LT(max_abs_diff(gqa.forward(x), mha->forward(x)), 1e-5)
            << "kv_heads " << kv_heads << " rope " << rope << " bias " << bias;
      }
}

TEST(GroupedQueryAttention, GradientsEqualThoseOfTheEquivalentMultiHeadAttention) {
  manual_seed(4);
  nn::GroupedQueryAttention gqa(16, 4, 2, true, false, 64, 10000.0, kFloat64);
  auto mha = equivalent_mha(gqa, false);
  Tensor x = randn({2, 5, 16}, dtype(kFloat64).requires_grad());
  Tensor g = randn({2, 5, 16}, dtype(kFloat64));
  TensorList gq = autograd::grad({gqa.forward(x)}, {x, gqa.q_proj()->weight, gqa.o_proj()->weight}, {g});
  TensorList gm = autograd::grad({mha->forward(x)}, {x, mha->q_proj()->weight, mha->o_proj()->weight}, {g});
  for (size_t i = 0; i < gq.size(); ++i) EXPECT_LT(max_abs_diff(gq[i], gm[i]), 1e-12) << i;
  // The shared key weights get the sum of the gradients of their repeats.
  Tensor gk = autograd::grad({gqa.forward(x)}, {gqa.k_proj()->weight}, {g})[0];
  Tensor gk_mha = autograd::grad({mha->forward(x)}, {mha->k_proj()->weight}, {g})[0];
  EXPECT_LT(max_abs_diff(gk, gk_mha.view({2, 2, 4, 16}).sum({1}).view({8, 16})), 1e-12);
}

TEST(GroupedQueryAttention, CachedDecodingEqualsTheFullPass) {
  manual_seed(5);
  for (DType dt : {kFloat32, kFloat64})
    for (int64_t kv_heads : {4, 2, 1}) {
      nn::GroupedQueryAttention attn(32, 4, kv_heads, true, true, 64, 10000.0, dt);
      Tensor x = randn({2, 10, 32}, dtype(dt));
      NoGradGuard no_grad;
      Tensor full = attn.forward(x);
      const double tol = dt == kFloat32 ? 1e-5 : 1e-12;
      for (auto [prefill, steps] : std::vector<std::pair<int64_t, std::vector<int64_t>>>{
               {4, {1}}, {3, {2, 3}}, {1, {3}}, {10, {1}}}) {
        auto cache = attn.new_cache();
        Tensor inc = run_in_chunks(x, prefill, steps, [&](const Tensor& c) { return attn.forward(c, cache.get()); });
        EXPECT_LT(max_abs_diff(inc, full), tol) << "kv_heads " << kv_heads << " prefill " << prefill;
        EXPECT_EQ(cache->length(), 10);
      }
    }
}

TEST(GroupedQueryAttention, CacheHoldsOnlyTheKeyValueHeads) {
  nn::GroupedQueryAttention attn(32, 8, 2);
  auto cache = attn.new_cache();
  NoGradGuard no_grad;
  attn.forward(randn({3, 5, 32}), cache.get());
  auto& kv = dynamic_cast<nn::KVCache&>(*cache);
  EXPECT_EQ(kv.keys().shape(), (Shape{3, 2, 5, 4}));
  EXPECT_EQ(kv.bytes(), 2u * 3 * 2 * 5 * 4 * sizeof(float));
}

TEST(GroupedQueryAttention, FutureTokensDoNotChangeEarlierOutputs) {
  nn::GroupedQueryAttention attn(16, 4, 2);
  Tensor x = randn({1, 6, 16});
  Tensor y = attn.forward(x);
  Tensor x2 = x.clone();
  {
    NoGradGuard no_grad;
    x2.narrow(1, 4, 1).copy_(randn({1, 1, 16}));
  }
  Tensor y2 = attn.forward(x2);
  EXPECT_EQ(max_abs_diff(y.narrow(1, 0, 4), y2.narrow(1, 0, 4)), 0.0);
  EXPECT_GT(max_abs_diff(y.narrow(1, 4, 2), y2.narrow(1, 4, 2)), 1e-4);
}

TEST(GroupedQueryAttention, Gradcheck) {
  manual_seed(6);
  nn::GroupedQueryAttention attn(8, 4, 2, true, true, 16, 10000.0, kFloat64);
  Tensor x = randn({2, 3, 8}, dtype(kFloat64).requires_grad());
  TensorList inputs{x, attn.q_proj()->weight, attn.k_proj()->weight, attn.v_proj()->bias, attn.o_proj()->weight};
  EXPECT_TRUE(autograd::gradcheck([&](const TensorList&) { return attn.forward(x); }, inputs));
  // Through the cache: a prompt of 2 then one token, recorded by autograd.
  EXPECT_TRUE(autograd::gradcheck(
      [&](const TensorList&) {
        auto cache = attn.new_cache();
        Tensor a = attn.forward(x.narrow(1, 0, 2), cache.get());
        return cat({a, attn.forward(x.narrow(1, 2, 1), cache.get())}, 1);
      },
      inputs));
}

TEST(GroupedQueryAttention, ParameterNamesAndMultiQuery) {
  nn::GroupedQueryAttention gqa(16, 4, 2, true, true);
  EXPECT_EQ(names(gqa.state_dict()), (std::vector<std::string>{"q_proj.weight", "q_proj.bias", "k_proj.weight",
                                                               "k_proj.bias", "v_proj.weight", "v_proj.bias",
                                                               "o_proj.weight", "o_proj.bias"}));
  EXPECT_EQ(gqa.k_proj()->weight.shape(), (Shape{8, 16}));
  nn::MultiQueryAttention mqa(16, 4);
  EXPECT_EQ(mqa.type_name(), "MultiQueryAttention");
  EXPECT_EQ(mqa.num_kv_heads, 1);
  EXPECT_EQ(mqa.k_proj()->weight.shape(), (Shape{4, 16}));
  EXPECT_EQ(names(mqa.state_dict()),
            (std::vector<std::string>{"q_proj.weight", "k_proj.weight", "v_proj.weight", "o_proj.weight"}));
  // MQA is GQA with one key/value head.
  nn::GroupedQueryAttention one(16, 4, 1);
  one.load_state_dict(mqa.state_dict());
  Tensor x = randn({2, 3, 16});
  EXPECT_EQ(max_abs_diff(one.forward(x), mqa.forward(x)), 0.0);
  std::string repr = mqa.repr();
  EXPECT_NE(repr.find("MultiQueryAttention(\n  d_model=16, num_heads=4, num_kv_heads=1, head_dim=4, rope=True"),
            std::string::npos)
      << repr;
}

TEST(GroupedQueryAttention, RejectsMisuse) {
  expect_error([] { nn::GroupedQueryAttention a(10, 4, 2); }, "d_model (10) must be a positive multiple of num_heads (4)");
  expect_error([] { nn::GroupedQueryAttention a(16, 4, 3); }, "num_kv_heads (3) must be positive and divide num_heads (4)");
  expect_error([] { nn::GroupedQueryAttention a(12, 4, 2, true); }, "RoPE needs an even head_dim");
  nn::GroupedQueryAttention attn(16, 4, 2, true, false, 8);
  expect_error([&] { attn.forward(randn({2, 16})); }, "expected an input of shape (B, T, d_model=16), got [2, 16]");
  expect_error([&] { attn.forward(randn({2, 3, 8})); }, "got [2, 3, 8]");
  nn::LatentKVCache wrong;
  expect_error([&] { attn.forward(randn({1, 2, 16}), &wrong); }, "expected a KVCache (from new_cache()), got a LatentKVCache");
  auto cache = attn.new_cache();
  NoGradGuard no_grad;
  attn.forward(randn({1, 6, 16}), cache.get());
  expect_error([&] { attn.forward(randn({1, 3, 16}), cache.get()); }, "positions 6 .. 8 exceed max_positions=8");
  EXPECT_EQ(cache->length(), 6);
  expect_error([&] { attn.forward(randn({2, 1, 16}), cache.get()); }, "cannot append a tensor of shape [2, 2, 1, 4]");
}

}  // namespace
