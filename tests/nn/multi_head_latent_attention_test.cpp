// MultiHeadLatentAttention (DeepSeek-V2): the formulas, the absorbed cached path against the full pass,
// what the cache holds, gradients, parameter names, errors.
#include <gtest/gtest.h>

#include <cmath>

#include "llm_test_util.h"

using namespace graft;
using namespace graft::llm_test;
namespace F = graft::nn::functional;

namespace {

nn::MultiHeadLatentAttentionOptions small(int64_t q_lora_rank, DType dt = kFloat32) {
  return {.d_model = 32, .num_heads = 4, .kv_lora_rank = 12, .qk_nope_head_dim = 6, .qk_rope_head_dim = 4,
          .v_head_dim = 5, .q_lora_rank = q_lora_rank, .dtype = dt};
}

// The paper's equations written out head by head with plain ops (no scaled_dot_product_attention).
Tensor explicit_mla(nn::MultiHeadLatentAttention& m, const Tensor& x) {
  const auto& o = m.options;
  const int64_t T = x.size(1), dn = o.qk_nope_head_dim, dr = o.qk_rope_head_dim, dv = o.v_head_dim;
  const DType dt = x.dtype();
  auto rms = [&](const Tensor& t, const Tensor& w) {
    return t * ((t * t).mean({-1}, true) + *o.norm_eps).rsqrt() * w;
  };
  auto w = [&](const char* child) { return m.child(child)->parameter("weight"); };
  Tensor q = o.q_lora_rank == 0 ? F::linear(x, w("q_proj"))
                                : F::linear(rms(F::linear(x, w("q_a_proj")), w("q_a_layernorm")), w("q_b_proj"));
  Tensor ckv_kr = F::linear(x, w("kv_a_proj_with_mqa"));
  Tensor c = rms(ckv_kr.narrow(-1, 0, o.kv_lora_rank), w("kv_a_layernorm"));  // (B, T, dc)
  auto [cos, sin] = F::rope_cos_sin(dr, 0, T, o.rope_base, dt);
  Tensor k_rope = F::apply_rotary_emb(ckv_kr.narrow(-1, o.kv_lora_rank, dr), cos, sin);  // (B, T, dr)
  Tensor causal = tril(ones({T, T}, dtype(kBool)));
  std::vector<Tensor> heads;
  for (int64_t h = 0; h < o.num_heads; ++h) {
    Tensor qh = q.narrow(-1, h * (dn + dr), dn + dr);
    Tensor q_nope = qh.narrow(-1, 0, dn), q_rope = F::apply_rotary_emb(qh.narrow(-1, dn, dr), cos, sin);
    Tensor w_uk = w("kv_b_proj").narrow(0, h * (dn + dv), dn);       // (dn, dc)
    Tensor w_uv = w("kv_b_proj").narrow(0, h * (dn + dv) + dn, dv);  // (dv, dc)
    Tensor k_nope = F::linear(c, w_uk), v = F::linear(c, w_uv);
    Tensor scores = (matmul(q_nope, k_nope.transpose(1, 2)) + matmul(q_rope, k_rope.transpose(1, 2))) /
                    std::sqrt(static_cast<double>(dn + dr));
    heads.push_back(matmul(F::softmax(masked_fill(scores, logical_not(causal), -kInf), -1), v));
  }
  return F::linear(cat(heads, -1), w("o_proj"));
}

TEST(MultiHeadLatentAttention, FollowsTheDeepSeekV2Equations) {
  manual_seed(10);
  for (int64_t q_lora : {0, 10}) {
    nn::MultiHeadLatentAttention mla(small(q_lora, kFloat64));
    Tensor x = randn({2, 7, 32}, dtype(kFloat64));
    EXPECT_LT(max_abs_diff(mla.forward(x), explicit_mla(mla, x)), 1e-12) << "q_lora_rank " << q_lora;
  }
}

TEST(MultiHeadLatentAttention, CachedAbsorbedDecodingEqualsTheFullPass) {
  manual_seed(11);
  for (DType dt : {kFloat32, kFloat64})
    for (int64_t q_lora : {0, 10}) {
      nn::MultiHeadLatentAttention mla(small(q_lora, dt));
      Tensor x = randn({2, 9, 32}, dtype(dt));
      NoGradGuard no_grad;
      Tensor full = mla.forward(x);
      const double tol = dt == kFloat32 ? 1e-5 : 1e-12;
      for (auto [prefill, steps] :
           std::vector<std::pair<int64_t, std::vector<int64_t>>>{{3, {1}}, {2, {3, 2}}, {9, {1}}, {1, {1}}}) {
        auto cache = mla.new_cache();
        Tensor inc = run_in_chunks(x, prefill, steps, [&](const Tensor& c) { return mla.forward(c, cache.get()); });
        EXPECT_LT(max_abs_diff(inc, full), tol) << dtype_name(dt) << " q_lora " << q_lora << " prefill " << prefill;
      }
    }
}

TEST(MultiHeadLatentAttention, TheCacheHoldsOnlyTheLatentAndTheRopeKey) {
  manual_seed(12);
  nn::MultiHeadLatentAttention mla(small(0));
  Tensor x = randn({2, 5, 32});
  auto cache = mla.new_cache();
  NoGradGuard no_grad;
  mla.forward(x.narrow(1, 0, 3), cache.get());
  mla.forward(x.narrow(1, 3, 2), cache.get());
  auto& latent = dynamic_cast<nn::LatentKVCache&>(*cache);
  EXPECT_EQ(latent.entries().shape(), (Shape{2, 1, 5, 12 + 4}));
  EXPECT_EQ(latent.bytes(), 2u * 5 * (12 + 4) * sizeof(float));
  Tensor compressed = mla.child("kv_a_proj_with_mqa")->forward(x);
  EXPECT_LT(max_abs_diff(latent.latent(), mla.child("kv_a_layernorm")->forward(compressed.narrow(-1, 0, 12))), 1e-6);
  auto [cos, sin] = F::rope_cos_sin(4, 0, 5);
  EXPECT_LT(max_abs_diff(latent.rope_key(), F::apply_rotary_emb(compressed.narrow(-1, 12, 4), cos, sin)), 1e-6);
}

TEST(MultiHeadLatentAttention, AbsorbedWeightsAreViewsOfKvBProj) {
  nn::MultiHeadLatentAttention mla(small(0));
  EXPECT_EQ(mla.w_uk().shape(), (Shape{4, 6, 12}));
  EXPECT_EQ(mla.w_uv().shape(), (Shape{4, 5, 12}));
  EXPECT_EQ(mla.w_uv().at<double>({2, 1, 3}), mla.kv_b_proj()->weight.at<double>({2 * 11 + 6 + 1, 3}));
}

TEST(MultiHeadLatentAttention, GradcheckBothPaths) {
  manual_seed(13);
  auto o = small(6, kFloat64);
  o.d_model = 8, o.num_heads = 2, o.kv_lora_rank = 4, o.qk_nope_head_dim = 2, o.qk_rope_head_dim = 2, o.v_head_dim = 3;
  nn::MultiHeadLatentAttention mla(o);
  Tensor x = randn({1, 3, 8}, dtype(kFloat64).requires_grad());
  TensorList inputs{x};
  for (const char* child : {"q_a_proj", "q_a_layernorm", "q_b_proj", "kv_a_proj_with_mqa", "kv_a_layernorm", "kv_b_proj", "o_proj"})
    inputs.push_back(mla.child(child)->parameter("weight"));
  EXPECT_TRUE(autograd::gradcheck([&](const TensorList&) { return mla.forward(x); }, inputs));
  EXPECT_TRUE(autograd::gradcheck(
      [&](const TensorList&) {
        auto cache = mla.new_cache();
        Tensor a = mla.forward(x.narrow(1, 0, 2), cache.get());
        return cat({a, mla.forward(x.narrow(1, 2, 1), cache.get())}, 1);
      },
      inputs));
}

TEST(MultiHeadLatentAttention, ParameterNamesFollowTransformers) {
  nn::MultiHeadLatentAttention direct(small(0));
  EXPECT_EQ(names(direct.state_dict()),
            (std::vector<std::string>{"q_proj.weight", "kv_a_proj_with_mqa.weight", "kv_a_layernorm.weight",
                                      "kv_b_proj.weight", "o_proj.weight"}));
  auto o = small(10);
  o.bias = true;
  nn::MultiHeadLatentAttention compressed(o);
  EXPECT_EQ(names(compressed.state_dict()),
            (std::vector<std::string>{"q_a_proj.weight", "q_a_proj.bias", "q_a_layernorm.weight", "q_b_proj.weight",
                                      "kv_a_proj_with_mqa.weight", "kv_a_proj_with_mqa.bias", "kv_a_layernorm.weight",
                                      "kv_b_proj.weight", "o_proj.weight", "o_proj.bias"}));
  auto shape = [&](const char* child) { return compressed.child(child)->parameter("weight").shape(); };
  EXPECT_EQ(shape("q_b_proj"), (Shape{4 * (6 + 4), 10}));
  EXPECT_EQ(shape("kv_a_proj_with_mqa"), (Shape{12 + 4, 32}));
  EXPECT_EQ(shape("kv_b_proj"), (Shape{4 * (6 + 5), 12}));
  EXPECT_EQ(shape("o_proj"), (Shape{32, 4 * 5}));
}

TEST(MultiHeadLatentAttention, RejectsMisuse) {
  auto o = small(0);
  o.qk_rope_head_dim = 3;
  expect_error([&] { nn::MultiHeadLatentAttention m(o); }, "qk_rope_head_dim must be positive and even, got 3");
  o = small(0);
  o.kv_lora_rank = 0;
  expect_error([&] { nn::MultiHeadLatentAttention m(o); }, "kv_lora_rank, qk_nope_head_dim and v_head_dim must be positive");
  o = small(-1);
  expect_error([&] { nn::MultiHeadLatentAttention m(o); }, "q_lora_rank must be non-negative");
  nn::MultiHeadLatentAttention mla(small(0));
  nn::KVCache wrong;
  expect_error([&] { mla.forward(randn({1, 2, 32}), &wrong); }, "expected a LatentKVCache (from new_cache()), got a KVCache");
  expect_error([&] { mla.forward(randn({1, 2, 31})); }, "expected an input of shape (B, T, d_model=32)");
}

}  // namespace
