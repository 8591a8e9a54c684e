// nn::Embedding: PyTorch's lookup and weight gradient (padding row excluded), init, repr and errors.
#include <gtest/gtest.h>

#include "graft/graft.h"
#include "module_reference.h"

using namespace graft;
using namespace graft::nn;
using graft::testing::check_against_pytorch;

namespace {

TEST(EmbeddingModule, MatchesPyTorch) {
  check_against_pytorch("Embedding", [] { return std::make_shared<Embedding>(10, 3, 1); });
  check_against_pytorch("Embedding_plain", [] { return std::make_shared<Embedding>(10, 3); });
}

TEST(EmbeddingModule, InitialisesNormalWithThePaddingRowZeroed) {
  manual_seed(0);
  Embedding emb(2000, 50, -3);
  EXPECT_EQ(*emb.padding_idx, 1997);  // normalised, as PyTorch stores it
  auto w = emb.weight.to_vector<double>();
  double mean = 0, var = 0;
  for (double v : w) mean += v / w.size();
  for (double v : w) var += (v - mean) * (v - mean) / w.size();
  EXPECT_NEAR(mean, 0.0, 0.01);
  EXPECT_NEAR(var, 1.0, 0.02);
  EXPECT_EQ(emb.weight.select(0, 1997).abs().sum().item<double>(), 0.0);
  EXPECT_NE(emb.weight.select(0, 1996).abs().sum().item<double>(), 0.0);
  EXPECT_TRUE(emb.weight.requires_grad());
}

TEST(EmbeddingModule, ReprListsNonDefaultArguments) {
  EXPECT_EQ(Embedding(10, 3).repr(), "Embedding(10, 3)");
  EXPECT_EQ(Embedding(10, 3, -1).repr(), "Embedding(10, 3, padding_idx=9)");
  EXPECT_EQ(Embedding(10, 3, std::nullopt, 1.0, 1.0, true).repr(),
            "Embedding(10, 3, max_norm=1.0, norm_type=1.0, scale_grad_by_freq=True)");
}

TEST(EmbeddingModule, FromPretrainedCopiesAndFreezes) {
  Tensor w = randn({4, 2}, kFloat64);
  auto emb = Embedding::from_pretrained(w);
  EXPECT_TRUE(equal(emb->weight, w));
  EXPECT_FALSE(emb->weight.is_same(w));
  EXPECT_FALSE(emb->weight.requires_grad());
  EXPECT_EQ(emb->weight.dtype(), kFloat64);
  EXPECT_TRUE(Embedding::from_pretrained(w, false)->weight.requires_grad());
  EXPECT_TRUE(equal(emb->forward(tensor({3, 0}, {2})), stack({w[3], w[0]})));
  EXPECT_THROW(Embedding::from_pretrained(randn({4})), Error);
}

TEST(EmbeddingModule, RejectsBadArguments) {
  try {
    Embedding(10, 3, 10);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "Embedding: padding_idx must be within num_embeddings (10), got 10");
  }
  EXPECT_THROW(Embedding(10, 3, -11), Error);
  EXPECT_THROW(Embedding(-1, 3), Error);
  EXPECT_THROW(Embedding(10, 3, std::nullopt, -1.0), Error);
  Embedding emb(10, 3);
  EXPECT_THROW(emb.forward(tensor({1, 10}, {2})), Error);   // id out of range
  EXPECT_THROW(emb.forward(tensor({1.0, 2.0}, {2})), Error);  // float ids
}

TEST(EmbeddingModule, NamedOptionsEqualThePositionalArguments) {
  Embedding named({.num_embeddings = 10, .embedding_dim = 3, .padding_idx = -1, .max_norm = 1.5});
  EXPECT_EQ(named.repr(), Embedding(10, 3, -1, 1.5).repr());
  EXPECT_EQ(named.padding_idx, 9);
  EXPECT_EQ(Embedding({.num_embeddings = 4, .embedding_dim = 2, .dtype = kFloat64}).weight.dtype(), kFloat64);
}

}  // namespace
