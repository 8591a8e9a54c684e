// Element access for tests and users: item, to_vector (any layout, logical order), at.
#include <gtest/gtest.h>

#include "graft/graft.h"
#include "support/errors.h"

using namespace graft;
using graft::testing::error_of;

TEST(Access, ItemConvertsOneElement) {
  EXPECT_EQ(scalar_tensor(2.5).item<double>(), 2.5);
  EXPECT_EQ(scalar_tensor(2.5).item<int64_t>(), 2);
  EXPECT_EQ(tensor({-3.9}, {1}, kFloat64).item<int>(), -3);  // truncation toward zero, as static_cast
  EXPECT_EQ(full({1, 1}, 7).item<float>(), 7.0f);
  EXPECT_EQ(scalar_tensor(true).item<bool>(), true);
  EXPECT_EQ(scalar_tensor(0.0).item<bool>(), false);
  EXPECT_EQ(arange(6).reshape({2, 3}).select(1, 2).select(0, 1).item<int64_t>(), 5);  // a 0-dim view
  EXPECT_EQ(error_of([] { zeros({2, 2}).item<float>(); }),
            "item: a tensor with 4 elements (shape [2, 2]) cannot be converted to a scalar");
  EXPECT_THROW(zeros({0}).item<float>(), Error);
}

TEST(Access, ToVectorReadsLogicalOrderOfAnyLayout) {
  Tensor m = arange(12, kFloat64).reshape({3, 4});
  EXPECT_EQ(m.t().to_vector<int64_t>(), (std::vector<int64_t>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
  EXPECT_EQ(m.slice(1, 1, 4, 2).to_vector<double>(), (std::vector<double>{1, 3, 5, 7, 9, 11}));
  EXPECT_EQ(m.select(0, 2).unsqueeze(0).expand({2, 4}).to_vector<float>(),
            (std::vector<float>{8, 9, 10, 11, 8, 9, 10, 11}));
  EXPECT_EQ(tensor({true, false, true}).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(zeros({0, 3}).to_vector<float>(), std::vector<float>{});
  EXPECT_EQ(scalar_tensor(4).to_vector<int64_t>(), std::vector<int64_t>{4});
  // int64 values beyond 2^53 survive when read as integers.
  int64_t big = (int64_t{1} << 60) + 1;
  EXPECT_EQ(tensor(std::vector<int64_t>{big}).to_vector<int64_t>()[0], big);
}

TEST(Access, AtTakesOneIndexPerDimCountingFromTheEnd) {
  Tensor m = arange(12).reshape({3, 4});
  EXPECT_EQ(m.at<int64_t>({1, 2}), 6);
  EXPECT_EQ(m.at<int64_t>({-1, -1}), 11);
  EXPECT_EQ(m.t().at<int64_t>({3, 0}), 3);
  EXPECT_EQ(m.narrow(0, 1, 2).at<double>({1, 0}), 8.0);
  EXPECT_EQ(scalar_tensor(1.5).at<double>({}), 1.5);
  EXPECT_EQ(error_of([&] { m.at<int64_t>({1}); }), "at: expected 2 indices for shape [3, 4], got 1");
  EXPECT_EQ(error_of([&] { m.at<int64_t>({3, 0}); }), "at: index 3 is out of range for dim 0 of size 3");
  EXPECT_EQ(error_of([&] { m.at<int64_t>({0, -5}); }), "at: index -5 is out of range for dim 1 of size 4");
}

TEST(Access, OperatorIndexSelectsAlongTheFirstDim) {
  Tensor m = arange(6).reshape({2, 3});
  EXPECT_EQ(m[1].to_vector<int64_t>(), (std::vector<int64_t>{3, 4, 5}));
  EXPECT_EQ(m[-1][0].item<int64_t>(), 3);
  EXPECT_EQ(m[1].storage(), m.storage());
}
