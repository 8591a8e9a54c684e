// multinomial: registry entry, reproducibility, statistics of the draws, and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>

#include "support/op_registry.h"
#include "support/errors.h"

using namespace graft;
using namespace graft::testing;

namespace {

GRAFT_REGISTER_OP({.name = "multinomial", .samples = [](DType dt) {
  Tensor p = tensor({0.1, 0.2, 0.3, 0.4, 0.0, 1.0, 2.0, 1.0}, {2, 4}, dt);
  return std::vector<Sample>{sample("with replacement", {p}, [](const TensorList& in) {
                               Generator gen(42);
                               return multinomial(in[0], 6, true, &gen);
                             }),
                             sample("without replacement, 1-D", {p[0]}, [](const TensorList& in) {
                               Generator gen(43);
                               return multinomial(in[0], 3, false, &gen);
                             })};
}, .differentiable = false});

std::vector<double> frequencies(const Tensor& samples, int64_t categories) {
  std::vector<double> f(static_cast<size_t>(categories), 0);
  std::vector<int64_t> s = samples.to_vector<int64_t>();
  for (int64_t c : s) f[static_cast<size_t>(c)] += 1.0 / static_cast<double>(s.size());
  return f;
}

TEST(Multinomial, SameSeedSameSamples) {
  Tensor p = tensor({0.5, 1.5, 2.0, 0.0, 1.0}, {});
  for (bool replacement : {true, false}) {
    Generator a(123), b(123), c(124);
    Tensor x = multinomial(p, 4, replacement, &a), y = multinomial(p, 4, replacement, &b), z = multinomial(p, 4, replacement, &c);
    EXPECT_TRUE(equal(x, y));
    // The generator's state moves on: the next draws differ from the first (overwhelmingly likely for 200 draws).
    EXPECT_FALSE(equal(multinomial(p.expand({50, 5}), 4, replacement, &a), multinomial(p.expand({50, 5}), 4, replacement, &c)));
  }
  // The global generator, through manual_seed.
  manual_seed(7);
  Tensor first = multinomial(p, 10, true);
  manual_seed(7);
  EXPECT_TRUE(equal(first, multinomial(p, 10, true)));
}

TEST(Multinomial, WithReplacementFrequenciesMatchTheProbabilities) {
  Generator gen(2024);
  const int64_t n = 200000;
  // Unnormalised weights; category 2 has probability 0.
  Tensor w = tensor({1.0, 2.0, 0.0, 3.0, 4.0}, {}, kFloat64);
  Tensor s = multinomial(w, n, true, &gen);
  EXPECT_EQ(s.shape(), Shape({n}));
  std::vector<double> f = frequencies(s, 5);
  const std::vector<double> p{0.1, 0.2, 0.0, 0.3, 0.4};
  for (size_t c = 0; c < 5; ++c) EXPECT_NEAR(f[c], p[c], 0.005) << "category " << c;  // ~5 standard deviations
  EXPECT_EQ(f[2], 0.0);
}

TEST(Multinomial, WithoutReplacementDrawsDistinctCategoriesInSuccessiveDrawOrder) {
  Generator gen(99);
  const int64_t rows = 40000;
  Tensor w = tensor({0.1, 0.2, 0.3, 0.4}, {}, kFloat32).expand({rows, 4});
  Tensor s = multinomial(w, 2, false, &gen);
  ASSERT_EQ(s.shape(), Shape({rows, 2}));
  std::vector<double> first(4, 0), second(4, 0);
  const std::vector<double> p{0.1, 0.2, 0.3, 0.4};
  for (int64_t r = 0; r < rows; ++r) {
    int64_t a = s.at<int64_t>({r, 0}), b = s.at<int64_t>({r, 1});
    ASSERT_NE(a, b);
    first[static_cast<size_t>(a)] += 1.0 / rows;
    second[static_cast<size_t>(b)] += 1.0 / rows;
  }
  for (size_t c = 0; c < 4; ++c) {
    // The second draw: P(b = c) = sum_{a != c} p_a p_c / (1 - p_a).
    double expected = 0;
    for (size_t a = 0; a < 4; ++a)
      if (a != c) expected += p[a] * p[c] / (1 - p[a]);
    EXPECT_NEAR(first[c], p[c], 0.012) << c;
    EXPECT_NEAR(second[c], expected, 0.012) << c;
  }
  // All categories of a row: a permutation.
  Tensor all = multinomial(tensor({1.0, 1.0, 5.0}, {}), 3, false, &gen);
  std::vector<int64_t> v = all.to_vector<int64_t>();
  EXPECT_EQ(std::set<int64_t>(v.begin(), v.end()), (std::set<int64_t>{0, 1, 2}));
}

TEST(Multinomial, RejectsBadDistributions) {
  EXPECT_EQ(error_of([] { multinomial(tensor({0.5, -0.1}, {}), 1); }),
            "multinomial: probability tensor contains either inf, nan or element < 0 (row 0, category 1: -0.10000000149011612)");
  EXPECT_EQ(error_of([] { multinomial(tensor({0.5, std::numeric_limits<double>::quiet_NaN()}, {}), 1); }),
            "multinomial: probability tensor contains either inf, nan or element < 0 (row 0, category 1: nan)");
  EXPECT_EQ(error_of([] { multinomial(tensor({1.0, 1.0, 0.0, 0.0}, {2, 2}), 1); }),
            "multinomial: invalid distribution in row 1 (sum of probabilities <= 0)");
  EXPECT_EQ(error_of([] { multinomial(tensor({1.0, 1.0, 1.0}, {}), 4); }),
            "multinomial: cannot sample num_samples (4) > prob_dist.size(-1) (3) samples without replacement");
  EXPECT_EQ(error_of([] { multinomial(tensor({1.0, 0.0, 1.0}, {}), 3); }),
            "multinomial: row 0 has only 2 categories of nonzero probability; cannot draw 3 samples without replacement");
  EXPECT_EQ(error_of([] { multinomial(tensor({1.0, 0.0, 1.0}, {}), 0); }), "multinomial: cannot sample num_samples <= 0 samples, got 0");
  EXPECT_EQ(error_of([] { multinomial(ones({2, 2, 2}), 1); }), "multinomial: prob_dist must be 1 or 2 dim, got shape [2, 2, 2]");
  EXPECT_EQ(error_of([] { multinomial(tensor({1, 2}, {}), 1); }), "multinomial: only floating-point probabilities are supported, got int64");
  EXPECT_EQ(error_of([] { multinomial(zeros({2, 0}), 1); }), "multinomial: the distribution has no categories (shape [2, 0])");
  // With replacement, more samples than categories is fine.
  EXPECT_EQ(multinomial(tensor({1.0, 0.0, 1.0}, {}), 10, true).shape(), Shape({10}));
}

}  // namespace
