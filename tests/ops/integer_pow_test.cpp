// pow on integers follows PyTorch: exact (wrapping around on overflow, like any integer product), a negative
// scalar exponent is an error, and negative tensor exponents give integer division's 1 / a^|b|.
#include <gtest/gtest.h>

#include "graft/graft.h"
#include "support/errors.h"

using namespace graft;
using graft::testing::expect_error;

namespace {

TEST(IntegerPow, ANegativeScalarExponentIsAnErrorAsInPyTorch) {
  Tensor x = tensor(std::vector<int64_t>{2, 3, -1, 1, 0}, {5});
  expect_error([&] { pow(x, -1); }, {"pow: Integers to negative integer powers are not allowed"});
  expect_error([&] { x.pow(-2); }, {"Integers to negative integer powers are not allowed"});
  EXPECT_EQ(pow(x, 0.5).dtype(), kFloat32);  // a float exponent promotes
}

TEST(IntegerPow, NegativeTensorExponentsGiveIntegerDivisionsResult) {
  // torch.pow(tensor([2, 3, -1, 1, 0]), tensor([-1, -2, -3, -2, 2])) == tensor([0, 0, -1, 1, 0])
  Tensor x = tensor(std::vector<int64_t>{2, 3, -1, 1, 0}, {5});
  Tensor e = tensor(std::vector<int64_t>{-1, -2, -3, -2, 2}, {5});
  EXPECT_EQ(pow(x, e).to_vector<int64_t>(), (std::vector<int64_t>{0, 0, -1, 1, 0}));
  // torch.pow(2, tensor([-1, 2])) == tensor([0, 4])
  EXPECT_EQ(pow(Scalar(2), tensor(std::vector<int64_t>{-1, 2}, {2})).to_vector<int64_t>(), (std::vector<int64_t>{0, 4}));
}

TEST(IntegerPow, LargeResultsAreExact) {
  // 3^39 = 4052555153018976267 needs 62 bits; a double has 53 (torch gives the exact value).
  EXPECT_EQ(pow(tensor(std::vector<int64_t>{3}, {1}), 39).item<int64_t>(), 4052555153018976267);
  // 3^41 wraps around as in PyTorch (-420491770248316829).
  EXPECT_EQ(pow(tensor(std::vector<int64_t>{3}, {1}), 41).item<int64_t>(), -420491770248316829);
  EXPECT_EQ(pow(tensor(std::vector<int64_t>{3}, {1}), tensor(std::vector<int64_t>{39}, {1})).item<int64_t>(),
            4052555153018976267);
}

}  // namespace
