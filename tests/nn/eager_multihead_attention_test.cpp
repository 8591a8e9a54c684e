// nn::EagerMultiheadAttention: built from a MultiheadAttention holding a torch state dict, it gives torch's
// outputs, weights and gradients (tests/reference/mha.py) with separate and with fused projections.
#include <gtest/gtest.h>

#include "graft/graft.h"
#include "nn/mha_reference.h"

using namespace graft;
using namespace graft::testing::mha_reference;
using nn::EagerMultiheadAttention;
using nn::MultiheadAttention;

namespace {

TEST(EagerMultiheadAttention, MatchesTorchForEveryReferenceCase) {
  int fused_cases = 0;
  for (DType dt : {kFloat64, kFloat32}) {
    for (const auto& c : cases()) {
      auto mha = make_module(c, dt);
      for (bool use_in_proj : {false, true}) {
        if (use_in_proj && !mha->qkv_same_embed_dim) continue;
        fused_cases += use_in_proj;
        SCOPED_TRACE(use_in_proj ? "fused in_proj" : "separate q/k/v projections");
        auto eager = EagerMultiheadAttention::from(*mha, use_in_proj);
        Call call = make_call(c, dt);
        check_case(
            c, call,
            [&](const Call& a) {
              return eager->forward(a.query, a.key, a.value, a.key_padding_mask, a.need_weights, a.attn_mask,
                                    a.average_attn_weights, a.is_causal);
            },
            [&](const std::string& name) { return eager_grad_as_mha(*eager, name); }, dt, tolerance(dt));
      }
    }
  }
  EXPECT_GT(fused_cases, 60);
}

TEST(EagerMultiheadAttention, ParametersAndPrinting) {
  auto separate = std::make_shared<EagerMultiheadAttention>(8, 2, 0.1, true, true, false, 6, 4);
  std::vector<std::string> names;
  for (const auto& [n, t] : separate->named_parameters()) names.push_back(n + shape_str(t.shape()));
  EXPECT_EQ(names, (std::vector<std::string>{"bias_k[1, 1, 8]", "bias_v[1, 1, 8]", "q_proj.weight[8, 8]",
                                             "q_proj.bias[8]", "k_proj.weight[8, 6]", "k_proj.bias[8]",
                                             "v_proj.weight[8, 4]", "v_proj.bias[8]", "out_proj.weight[8, 8]",
                                             "out_proj.bias[8]"}));
  auto fused = std::make_shared<EagerMultiheadAttention>(8, 4, 0.0, false, false, false, std::nullopt, std::nullopt, true,
                                                        true);
  names.clear();
  for (const auto& [n, t] : fused->named_parameters()) names.push_back(n + shape_str(t.shape()));
  EXPECT_EQ(names, (std::vector<std::string>{"in_proj.weight[24, 8]", "out_proj.weight[8, 8]"}));
  EXPECT_EQ(fused->repr(),
            "EagerMultiheadAttention(\n"
            "  embed_dim=8, num_heads=4, dropout=0, use_in_proj=True\n"
            "  (in_proj): Linear(in_features=8, out_features=24, bias=False)\n"
            "  (out_proj): Linear(in_features=8, out_features=8, bias=False)\n)");
}

TEST(EagerMultiheadAttention, RejectsBadArguments) {
  try {
    EagerMultiheadAttention(8, 2, 0.0, true, false, false, 6, std::nullopt, false, true);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "EagerMultiheadAttention: use_in_proj (one fused in_proj for q, k and v) needs kdim == vdim == "
                 "embed_dim, got embed_dim=8 kdim=6 vdim=8");
  }
  EXPECT_THROW(EagerMultiheadAttention(9, 2), Error);
  EXPECT_THROW(EagerMultiheadAttention(8, 2, -1.0), Error);
  EagerMultiheadAttention m(8, 2);
  try {
    m.forward(randn({3, 2, 8}), randn({5, 2, 8}), randn({5, 2, 8}), {}, true, zeros({3, 4}, dtype(kBool)));
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "EagerMultiheadAttention: the shape of the 2-D attn_mask is [3, 4], but should be [3, 5]");
  }
  EXPECT_THROW(m.forward(randn({3, 2, 8}, dtype(kFloat64)), randn({5, 2, 8}, dtype(kFloat64)),
                         randn({5, 2, 8}, dtype(kFloat64))),
               Error);
}

}  // namespace
