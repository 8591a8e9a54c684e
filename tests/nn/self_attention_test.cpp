// nn::SelfAttention and nn::CrossAttention: the single-head formula, agreement with a one-head
// MultiheadAttention holding the same weights, masks, dropout, gradients and bad input.
#include <gtest/gtest.h>

#include <cmath>

#include "graft/graft.h"

using namespace graft;
using nn::CrossAttention;
using nn::MultiheadAttention;
using nn::SelfAttention;

namespace {

// softmax(q k^T / sqrt(E) + mask) v, by hand, for a bool "takes part" mask or none.
Tensor attention_by_hand(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& keep = {}) {
  Tensor scores = div(matmul(q, transpose(k, -2, -1)), std::sqrt(static_cast<double>(q.shape().back())));
  if (keep.defined()) scores = masked_fill(scores, logical_not(keep), -INFINITY);
  return matmul(nn::functional::softmax(scores, -1), v);
}

// A one-head MultiheadAttention (batch_first) with the projections of `m`.
template <class M>
std::shared_ptr<MultiheadAttention> as_one_head_mha(M& m, int64_t kdim) {
  auto mha = std::make_shared<MultiheadAttention>(m.embed_dim, 1, 0.0, true, false, false, kdim, kdim, true, kFloat64);
  NoGradGuard no_grad;
  if (mha->qkv_same_embed_dim) {
    mha->in_proj_weight.copy_(cat({m.q_proj->weight, m.k_proj->weight, m.v_proj->weight}, 0));
  } else {
    mha->q_proj_weight.copy_(m.q_proj->weight);
    mha->k_proj_weight.copy_(m.k_proj->weight);
    mha->v_proj_weight.copy_(m.v_proj->weight);
  }
  mha->in_proj_bias.copy_(cat({m.q_proj->bias, m.k_proj->bias, m.v_proj->bias}, 0));
  mha->out_proj->weight.copy_(m.out_proj->weight);
  mha->out_proj->bias.copy_(m.out_proj->bias);
  return mha;
}

TEST(SelfAttention, ComputesSingleHeadAttentionOfItsProjections) {
  manual_seed(1);
  SelfAttention m(6, true, 0.0, kFloat64);
  Tensor x = randn({2, 4, 6}, dtype(kFloat64));
  Tensor keep = tensor({true, false, true, true, true, true, false, true, true, true, true, false, true, true, true, true},
                       {4, 4});
  Tensor expected = (*m.out_proj)(attention_by_hand((*m.q_proj)(x), (*m.k_proj)(x), (*m.v_proj)(x), keep));
  EXPECT_TRUE(allclose(m.forward(x, keep), expected, 1e-12, 1e-12));
  Tensor causal = tensor({true, false, false, false, true, true, false, false, true, true, true, false, true, true, true, true},
                         {4, 4});
  EXPECT_TRUE(allclose(m.forward(x, {}, true), m.forward(x, causal), 1e-12, 1e-12));
  // A float mask is added to the scores.
  Tensor additive = masked_fill(zeros({4, 4}, dtype(kFloat64)), logical_not(keep), -INFINITY);
  EXPECT_TRUE(allclose(m.forward(x, additive), expected, 1e-12, 1e-12));
}

TEST(SelfAttention, EqualsOneHeadMultiheadAttentionWithTheSameWeights) {
  manual_seed(2);
  SelfAttention m(8, true, 0.0, kFloat64);
  auto mha = as_one_head_mha(m, 8);
  Tensor x = randn({3, 5, 8}, dtype(kFloat64));
  Tensor masked_out = rand({5, 5}, dtype(kFloat64)) < 0.3;  // MultiheadAttention: True = masked out
  masked_out = logical_and(masked_out, logical_not(eye(5, std::nullopt, dtype(kBool))));
  auto [expected, w] = mha->forward(x, x, x, {}, false, masked_out);
  EXPECT_TRUE(allclose(m.forward(x, logical_not(masked_out)), expected, 1e-12, 1e-12));
}

TEST(SelfAttention, DropoutInTrainingOnlyAndSequential) {
  manual_seed(3);
  auto attn = std::make_shared<SelfAttention>(8, true, 0.5);
  Tensor x = randn({2, 6, 8});
  attn->eval();
  Tensor a = attn->forward(x), b = attn->forward(x);
  EXPECT_TRUE(allclose(a, b, 0, 0));
  attn->train();
  EXPECT_FALSE(allclose(attn->forward(x), a, 1e-3, 1e-3));
  nn::Sequential seq({attn, std::make_shared<nn::Linear>(8, 3)});
  seq.eval();
  EXPECT_EQ(shape_str(seq.forward(x).shape()), "[2, 6, 3]");
  EXPECT_EQ(attn->repr().substr(0, 42), "SelfAttention(\n  embed_dim=8, dropout=0.5\n");
}

TEST(SelfAttention, GradcheckAndGradgradcheck) {
  manual_seed(4);
  auto m = std::make_shared<SelfAttention>(3, true, 0.0, kFloat64);
  Tensor x = randn({2, 4, 3}, dtype(kFloat64).requires_grad());
  auto f = [&](const TensorList& in) { return m->forward(in[0], {}, true); };
  EXPECT_TRUE(autograd::gradcheck(f, {x}));
  EXPECT_TRUE(autograd::gradgradcheck(f, {x}));
  sum(m->forward(x)).backward();
  for (const auto& [name, p] : m->named_parameters()) EXPECT_TRUE(p.grad().defined()) << name;
}

TEST(SelfAttention, RejectsBadInput) {
  SelfAttention m(4);
  try {
    m.forward(ones({2, 3, 5}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "SelfAttention: expected an input of shape (..., L, embed_dim=4), got [2, 3, 5]");
  }
  EXPECT_THROW(m.forward(ones({4})), Error);
  EXPECT_THROW(m.forward(ones({3, 4}), ones({3, 3}, dtype(kBool)), true), Error);  // mask and is_causal
  EXPECT_THROW(m.forward(ones({3, 4}), ones({2, 3}, dtype(kBool))), Error);        // mask shape
  EXPECT_THROW(SelfAttention(0), Error);
  EXPECT_THROW(SelfAttention(4, true, -0.1), Error);
}

TEST(CrossAttention, QueriesFromXKeysAndValuesFromContext) {
  manual_seed(5);
  CrossAttention m(6, 4, true, 0.0, kFloat64);
  Tensor x = randn({2, 3, 6}, dtype(kFloat64)), context = randn({2, 5, 4}, dtype(kFloat64));
  Tensor keep = tensor({true, true, true, false, false, true, true, true, true, true}, {2, 1, 5});  // key padding
  Tensor expected =
      (*m.out_proj)(attention_by_hand((*m.q_proj)(x), (*m.k_proj)(context), (*m.v_proj)(context), keep));
  Tensor out = m.forward(x, context, keep);
  EXPECT_EQ(shape_str(out.shape()), "[2, 3, 6]");
  EXPECT_TRUE(allclose(out, expected, 1e-12, 1e-12));
  // The context does not depend on x: changing x's last query leaves the others' outputs alone.
  Tensor x2 = x.clone();
  {
    NoGradGuard g;
    select(select(x2, 0, 1), 0, 2).fill_(3.0);
  }
  Tensor out2 = m.forward(x2, context, keep);
  EXPECT_TRUE(allclose(narrow(out2, 1, 0, 2), narrow(out, 1, 0, 2), 0, 0));
}

TEST(CrossAttention, EqualsOneHeadMultiheadAttentionWithKdimAndVdim) {
  manual_seed(6);
  CrossAttention m(8, 5, true, 0.0, kFloat64);
  auto mha = as_one_head_mha(m, 5);
  Tensor x = randn({2, 3, 8}, dtype(kFloat64)), context = randn({2, 6, 5}, dtype(kFloat64));
  Tensor padding = tensor({false, false, false, false, true, true, false, false, false, false, false, false}, {2, 6});
  auto [expected, w] = mha->forward(x, context, context, padding, false);
  Tensor keep = reshape(logical_not(padding), {2, 1, 6});
  EXPECT_TRUE(allclose(m.forward(x, context, keep), expected, 1e-12, 1e-12));
}

TEST(CrossAttention, GradcheckOverXContextAndAdditiveMask) {
  manual_seed(7);
  CrossAttention m(4, 3, true, 0.0, kFloat64);
  Tensor x = randn({2, 2, 4}, dtype(kFloat64).requires_grad());
  Tensor context = randn({2, 3, 3}, dtype(kFloat64).requires_grad());
  Tensor mask = randn({2, 3}, dtype(kFloat64).requires_grad());
  auto f = [&](const TensorList& in) { return m.forward(in[0], in[1], in[2]); };
  EXPECT_TRUE(autograd::gradcheck(f, {x, context, mask}));
  EXPECT_TRUE(autograd::gradgradcheck(f, {x, context, mask}));
}

TEST(CrossAttention, DropoutAndBadInput) {
  manual_seed(8);
  CrossAttention m(4, std::nullopt, false, 0.9);
  EXPECT_EQ(m.context_dim, 4);
  EXPECT_FALSE(m.q_proj->bias.defined());
  Tensor x = randn({3, 4}), context = randn({5, 4});
  m.eval();
  Tensor a = m.forward(x, context);
  m.train();
  EXPECT_FALSE(allclose(m.forward(x, context), a, 1e-3, 1e-3));
  try {
    m.forward(x, randn({5, 3}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "CrossAttention: expected context of shape (..., S, context_dim=4), got [5, 3]");
  }
  EXPECT_THROW(m.forward(randn({3, 5}), context), Error);
  EXPECT_THROW(m.forward(x, Tensor()), Error);
  EXPECT_THROW(m.forward(x, context, ones({3, 4}, dtype(kBool))), Error);  // mask (L, S) is (3, 5)
  EXPECT_THROW(CrossAttention(4, 0), Error);
}

}  // namespace
