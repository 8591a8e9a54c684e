// The synthetic sets: two spirals and imbalanced Gaussian blobs, deterministic by seed.
#include <gtest/gtest.h>

#include <cmath>

#include "graft/graft.h"

using namespace graft;
using namespace graft::data;

namespace {

TEST(Spirals, TwoClassesOfPointsOnInterleavedSpirals) {
  TensorDataset d = make_spirals(200, /*noise=*/0.0, /*seed=*/1);
  EXPECT_EQ(d.inputs().shape(), (Shape{400, 2}));
  EXPECT_EQ(d.inputs().dtype(), kFloat32);
  auto y = d.targets().to_vector<int64_t>();
  EXPECT_EQ(std::count(y.begin(), y.end(), 0), 200);
  EXPECT_EQ(std::count(y.begin(), y.end(), 1), 200);
  // Without noise each point lies on its arm: at radius r the angle is r * span (+ pi for class 1).
  const double span = 1.5 * 2 * M_PI;
  auto x = make_spirals(200, 0.0, 1, 1.5, kFloat64).inputs().to_vector<double>();
  for (size_t i = 0; i < 400; ++i) {
    const double px = x[2 * i], py = x[2 * i + 1];
    const double r = std::hypot(px, py);
    ASSERT_LE(r, 1.0 + 1e-12);
    const double t = r * span + (i >= 200 ? M_PI : 0.0);
    EXPECT_NEAR(px, r * std::cos(t), 1e-9);
    EXPECT_NEAR(py, r * std::sin(t), 1e-9);
  }
}

TEST(Spirals, DeterministicBySeedAndNoisy) {
  auto a = make_spirals(50, 0.1, 7).inputs().to_vector<float>();
  EXPECT_EQ(a, make_spirals(50, 0.1, 7).inputs().to_vector<float>());
  EXPECT_NE(a, make_spirals(50, 0.1, 8).inputs().to_vector<float>());
  EXPECT_NE(a, make_spirals(50, 0.0, 7).inputs().to_vector<float>());
  EXPECT_THROW(make_spirals(-1), Error);
  EXPECT_THROW(make_spirals(10, -0.1), Error);
  EXPECT_THROW(make_spirals(10, 0.0, 0, 0.0), Error);
  EXPECT_THROW(make_spirals(10, 0.0, 0, 1.5, kInt64), Error);
}

TEST(Blobs, CountsPerClassGiveTheImbalance) {
  TensorDataset d = make_blobs({900, 90, 10}, /*dims=*/5, /*cluster_std=*/0.5, /*center_box=*/10.0, /*seed=*/3);
  EXPECT_EQ(d.inputs().shape(), (Shape{1000, 5}));
  auto y = d.targets().to_vector<int64_t>();
  EXPECT_EQ(std::count(y.begin(), y.end(), 0), 900);
  EXPECT_EQ(std::count(y.begin(), y.end(), 1), 90);
  EXPECT_EQ(std::count(y.begin(), y.end(), 2), 10);
  // Each class scatters around its own center with the requested spread.
  Tensor x = d.inputs().to(kFloat64);
  Tensor class0 = x.narrow(0, 0, 900);
  Tensor center0 = class0.mean({0});
  for (double c : center0.to_vector<double>()) EXPECT_LE(std::abs(c), 10.5);
  Tensor spread = class0.std({0});
  for (double s : spread.to_vector<double>()) EXPECT_NEAR(s, 0.5, 0.05);
}

TEST(Blobs, ZeroSpreadPutsEveryPointOnItsCenterInsideTheBox) {
  TensorDataset d = make_blobs({3, 2}, 2, 0.0, 4.0, 11, kFloat64);
  auto x = d.inputs().to_vector<double>();
  EXPECT_EQ(x[0], x[2]);
  EXPECT_EQ(x[1], x[5]);
  EXPECT_EQ(x[6], x[8]);
  EXPECT_NE(x[0], x[6]);
  for (double v : x) EXPECT_LE(std::abs(v), 4.0);
  EXPECT_EQ(make_blobs({3, 2}, 2, 0.0, 4.0, 11, kFloat64).inputs().to_vector<double>(), x);
}

TEST(Blobs, BadArgumentsAreErrors) {
  EXPECT_THROW(make_blobs({}), Error);
  EXPECT_THROW(make_blobs({3, -1}), Error);
  EXPECT_THROW(make_blobs({3}, 0), Error);
  EXPECT_THROW(make_blobs({3}, 2, -1.0), Error);
}

}  // namespace
