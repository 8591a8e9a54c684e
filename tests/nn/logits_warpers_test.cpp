// Temperature, top-k and top-p (nucleus) filtering of logits: which tokens survive, ties, errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "graft/graft.h"

using namespace graft;
namespace F = graft::nn::functional;

namespace {

const double kInf = INFINITY;
const double kNaN = std::nan("");

// The tokens of each row whose logit is not -inf.
std::vector<std::set<int64_t>> kept(const Tensor& logits) {
  const int64_t vocab = logits.shape().back();
  const std::vector<double> x = logits.to_vector<double>();
  std::vector<std::set<int64_t>> out(x.size() / static_cast<size_t>(vocab));
  for (size_t i = 0; i < x.size(); ++i)
    if (x[i] != -kInf) out[i / static_cast<size_t>(vocab)].insert(static_cast<int64_t>(i) % vocab);
  return out;
}

std::set<int64_t> kept_row(const Tensor& logits) { return kept(logits).at(0); }

// Logits (1, n) whose softmax is `probs`.
Tensor logits_of(const std::vector<double>& probs, DType dtype = kFloat64) {
  std::vector<double> x;
  for (double p : probs) x.push_back(std::log(p));
  return tensor(x, {1, static_cast<int64_t>(x.size())}, dtype);
}

template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TemperatureScale, DividesLogitsByTheTemperature) {
  Tensor x = tensor({1.0, -2.0, 4.0}, {1, 3});
  EXPECT_EQ(nn::temperature_scale(x, 2.0).to_vector<double>(), (std::vector<double>{0.5, -1.0, 2.0}));
  EXPECT_EQ(nn::temperature_scale(x.to(kFloat32), 0.5).dtype(), kFloat32);
  EXPECT_EQ(x.to_vector<double>(), (std::vector<double>{1.0, -2.0, 4.0}));  // the input is untouched
}

TEST(TemperatureScale, RejectsNonPositiveOrNonFiniteTemperatures) {
  Tensor x = zeros({1, 3});
  for (double t : {0.0, -1.0, kNaN, kInf})
    EXPECT_NE(error_of([&] { nn::temperature_scale(x, t); }).find("temperature must be a positive finite number"),
              std::string::npos) << t;
  EXPECT_NE(error_of([&] { nn::temperature_scale(zeros({1, 3}, kInt64), 1.0); }).find("float32 or float64"),
            std::string::npos);
}

TEST(TopKFilter, KeepsTheKLargestLogitsOfEachRow) {
  Tensor x = tensor({1.0, 5.0, 3.0, 4.0, 2.0,  //
                     9.0, 0.0, 8.0, 7.0, -1.0},
                    {2, 5});
  auto rows = kept(nn::top_k_filter(x, 2));
  EXPECT_EQ(rows[0], (std::set<int64_t>{1, 3}));
  EXPECT_EQ(rows[1], (std::set<int64_t>{0, 2}));
  Tensor y = nn::top_k_filter(x, 3);
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{-kInf, 5, 3, 4, -kInf, 9, -kInf, 8, 7, -kInf}));
}

TEST(TopKFilter, KeepsEveryTokenTiedWithTheKthLargest) {
  Tensor x = tensor({1.0, 3.0, 3.0, 0.0}, {1, 4});
  EXPECT_EQ(kept_row(nn::top_k_filter(x, 1)), (std::set<int64_t>{1, 2}));
  EXPECT_EQ(kept_row(nn::top_k_filter(x, 2)), (std::set<int64_t>{1, 2}));
  EXPECT_EQ(kept_row(nn::top_k_filter(x, 3)), (std::set<int64_t>{0, 1, 2}));
}

TEST(TopKFilter, ZeroOrAtLeastTheVocabularyKeepsEverything) {
  Tensor x = tensor({1.0, 3.0, 2.0}, {1, 3});
  EXPECT_TRUE(nn::top_k_filter(x, 0).is_same(x));
  EXPECT_TRUE(nn::top_k_filter(x, 3).is_same(x));
  EXPECT_TRUE(nn::top_k_filter(x, 100).is_same(x));
  // min_tokens_to_keep raises k
  EXPECT_EQ(kept_row(nn::top_k_filter(x, 1, 2)), (std::set<int64_t>{1, 2}));
}

TEST(TopKFilter, WorksOnAnyLeadingShapeAndBothFloatTypes) {
  Tensor x = randn({2, 3, 7});
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor y = nn::top_k_filter(x.to(dt), 3);
    EXPECT_EQ(y.shape(), x.shape());
    EXPECT_EQ(y.dtype(), dt);
    for (const auto& row : kept(y)) EXPECT_EQ(row.size(), 3u);
  }
}

TEST(TopKFilter, RejectsBadArguments) {
  EXPECT_NE(error_of([] { nn::top_k_filter(zeros({1, 3}), -1); }).find("top_k must be non-negative"), std::string::npos);
  EXPECT_NE(error_of([] { nn::top_k_filter(zeros({1, 3}), 1, 0); }).find("min_tokens_to_keep"), std::string::npos);
  EXPECT_NE(error_of([] { nn::top_k_filter(zeros({1, 3}, kInt64), 1); }).find("float32 or float64"), std::string::npos);
  EXPECT_NE(error_of([] { nn::top_k_filter(tensor({1.0, kNaN}, {1, 2}), 1); }).find("NaN (row 0, token 1)"),
            std::string::npos);
  EXPECT_NE(error_of([] { nn::top_k_filter(zeros({2, 0}), 1); }).find("vocab > 0"), std::string::npos);
}

TEST(TopPFilter, KeepsTheTokenThatCrossesTopP) {
  // Probabilities 0.1 0.4 0.2 0.3, in scrambled order: by size 0.4 (token 1), 0.3 (3), 0.2 (2), 0.1 (0).
  Tensor x = logits_of({0.1, 0.4, 0.2, 0.3});
  EXPECT_EQ(kept_row(nn::top_p_filter(x, 0.35)), (std::set<int64_t>{1}));        // 0.4 alone reaches 0.35
  EXPECT_EQ(kept_row(nn::top_p_filter(x, 0.45)), (std::set<int64_t>{1, 3}));     // 0.4 < 0.45, 0.3 crosses it
  EXPECT_EQ(kept_row(nn::top_p_filter(x, 0.65)), (std::set<int64_t>{1, 3}));     // 0.7 reaches 0.65
  EXPECT_EQ(kept_row(nn::top_p_filter(x, 0.75)), (std::set<int64_t>{1, 2, 3}));  // 0.2 crosses from 0.7
  EXPECT_EQ(kept_row(nn::top_p_filter(x, 0.95)), (std::set<int64_t>{0, 1, 2, 3}));
  EXPECT_TRUE(nn::top_p_filter(x, 1.0).is_same(x));
  // Kept logits are unchanged.
  Tensor y = nn::top_p_filter(x, 0.45);
  EXPECT_EQ(y.at<double>({0, 1}), x.at<double>({0, 1}));
  EXPECT_EQ(y.at<double>({0, 3}), x.at<double>({0, 3}));
}

TEST(TopPFilter, KeepsEveryTokenTiedWithTheCrossingOne) {
  Tensor x = logits_of({0.2, 0.3, 0.1, 0.3, 0.1});
  // Both 0.3s are kept even though the first reaches 0.2 alone: the set does not depend on token order.
  EXPECT_EQ(kept_row(nn::top_p_filter(x, 0.2)), (std::set<int64_t>{1, 3}));
  EXPECT_EQ(kept_row(nn::top_p_filter(x, 0.55)), (std::set<int64_t>{1, 3}));
  EXPECT_EQ(kept_row(nn::top_p_filter(x, 0.65)), (std::set<int64_t>{0, 1, 3}));
  // 0.8 < 0.85: the crossing token is a 0.1, and so is the other one.
  EXPECT_EQ(kept_row(nn::top_p_filter(x, 0.85)), (std::set<int64_t>{0, 1, 2, 3, 4}));
  // Three tokens of 0.2 tie for the crossing place after 0.3.
  EXPECT_EQ(kept_row(nn::top_p_filter(logits_of({0.2, 0.1, 0.2, 0.3, 0.2}), 0.4)), (std::set<int64_t>{0, 2, 3, 4}));
}

TEST(TopPFilter, MinTokensToKeepAndRowsAreIndependent) {
  Tensor x = logits_of({0.05, 0.9, 0.05});
  EXPECT_EQ(kept_row(nn::top_p_filter(x, 0.5)), (std::set<int64_t>{1}));
  EXPECT_EQ(kept_row(nn::top_p_filter(x, 0.5, 2)).size(), 3u);  // the second place is a tie of two
  Tensor two = cat({logits_of({0.6, 0.3, 0.1}), logits_of({0.1, 0.1, 0.8})}, 0);
  auto rows = kept(nn::top_p_filter(two, 0.7));
  EXPECT_EQ(rows[0], (std::set<int64_t>{0, 1}));
  EXPECT_EQ(rows[1], (std::set<int64_t>{2}));
}

TEST(TopPFilter, LeavesMinusInfinityAlone) {
  Tensor x = tensor({0.0, -kInf, 1.0, -kInf, -kInf, -kInf}, {2, 3});
  Tensor y = nn::top_p_filter(x, 0.5);
  EXPECT_EQ(kept(y)[0], (std::set<int64_t>{2}));
  EXPECT_EQ(kept(y)[1], (std::set<int64_t>{}));
}

// On random logits (no ties), the kept set is the smallest prefix of the tokens by probability whose total
// reaches top_p: every kept token is more probable than every removed one, the kept total reaches top_p,
// and without its least probable token it would not.
TEST(TopPFilter, KeepsTheSmallestSetReachingTopPOnRandomLogits) {
  manual_seed(11);
  Tensor x = randn({200, 12}, kFloat64) * 2.0;
  const std::vector<double> p = F::softmax(x, -1).to_vector<double>();
  for (double top_p : {0.05, 0.3, 0.5, 0.9, 0.99}) {
    auto rows = kept(nn::top_p_filter(x, top_p));
    for (size_t r = 0; r < rows.size(); ++r) {
      const double* pr = p.data() + r * 12;
      double total = 0, least_kept = 1, most_removed = 0;
      for (int64_t v = 0; v < 12; ++v) {
        if (rows[r].count(v)) {
          total += pr[v];
          least_kept = std::min(least_kept, pr[v]);
        } else {
          most_removed = std::max(most_removed, pr[v]);
        }
      }
      ASSERT_FALSE(rows[r].empty());
      EXPECT_GT(least_kept, most_removed) << "row " << r << " top_p " << top_p;
      EXPECT_GE(total, top_p) << "row " << r << " top_p " << top_p;
      EXPECT_LT(total - least_kept, top_p) << "row " << r << " top_p " << top_p;
    }
  }
}

TEST(TopPFilter, RejectsBadArguments) {
  Tensor x = zeros({1, 3});
  for (double p : {0.0, -0.1, 1.5, kNaN})
    EXPECT_NE(error_of([&] { nn::top_p_filter(x, p); }).find("top_p must be in (0, 1]"), std::string::npos) << p;
  EXPECT_NE(error_of([&] { nn::top_p_filter(x, 0.5, 0); }).find("min_tokens_to_keep"), std::string::npos);
  EXPECT_NE(error_of([] { nn::top_p_filter(tensor({1.0, kInf}, {1, 2}), 0.5); }).find("+inf (row 0)"),
            std::string::npos);
  EXPECT_NE(error_of([] { nn::top_p_filter(tensor({kNaN, 1.0}, {1, 2}), 0.5); }).find("NaN"), std::string::npos);
  EXPECT_NE(error_of([] { nn::top_p_filter(Tensor(), 0.5); }).find("undefined"), std::string::npos);
}

TEST(LogitsWarpers, RemovedTokensGetNoGradient) {
  Tensor x = tensor({1.0, 5.0, 3.0, 4.0}, {1, 4}, dtype(kFloat64).requires_grad());
  Tensor w = tensor({1.0, 2.0, 3.0, 4.0}, {1, 4}, kFloat64);
  Tensor loss = (F::softmax(nn::top_k_filter(nn::temperature_scale(x, 2.0), 2), -1) * w).sum();
  loss.backward();
  auto g = x.grad().to_vector<double>();
  EXPECT_EQ(g[0], 0.0);
  EXPECT_EQ(g[2], 0.0);
  EXPECT_NE(g[1], 0.0);
  EXPECT_NE(g[3], 0.0);
}

}  // namespace
