// Sizes that cannot exist are errors, never wrapped-around numbers: every element count, byte count and
// memory extent graft derives from a shape goes through the checked arithmetic of graph/shape.h.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <vector>

#include "graft/graft.h"
#include "support/errors.h"

using namespace graft;
using graft::testing::error_of;
using graft::testing::expect_error;

namespace {

constexpr int64_t k2to32 = int64_t{1} << 32;
constexpr int64_t k2to62 = int64_t{1} << 62;
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

TEST(CheckedSizes, NumelOfAShapeWhoseProductOverflowsIsAnErrorNamingTheShape) {
  EXPECT_EQ(numel_of({k2to32, (int64_t{1} << 31) - 1}), k2to32 * ((int64_t{1} << 31) - 1));
  EXPECT_EQ(numel_of({kMax}), kMax);
  expect_error([] { numel_of({k2to32, k2to32}); }, {"[4294967296, 4294967296]", "overflow"});
  expect_error([] { numel_of({3, k2to62}); }, {"[3, 4611686018427387904]"});
  expect_error([] { numel_of({-1, 3}); }, {"negative", "[-1, 3]"});
  // A zero anywhere makes the tensor empty, whatever the other sizes.
  EXPECT_EQ(numel_of({0, k2to62, k2to62}), 0);
}

TEST(CheckedSizes, ByteCountsAndStridesAreChecked) {
  EXPECT_EQ(nbytes_of({2, 3}, 8), 48);
  expect_error([] { nbytes_of({k2to62}, 4); }, {"[4611686018427387904]", "bytes"});
  expect_error([] { contiguous_strides({2, k2to62, 4}); }, {"[2, 4611686018427387904, 4]"});
}

TEST(CheckedSizes, FactoriesRefuseImpossibleShapes) {
  // 2^64 elements: the product wraps to 0 without the check, and the tensor claims elements it has no memory for.
  expect_error([] { zeros({k2to32, k2to32}); }, {"[4294967296, 4294967296]"});
  expect_error([] { empty({k2to32, k2to32, 2}); }, {"[4294967296, 4294967296, 2]"});
  expect_error([] { ones({2, k2to62}, kFloat64); }, {"[2, 4611686018427387904]"});
  // 2^62 float32 elements are 2^64 bytes.
  expect_error([] { empty({k2to62}); }, {"[4611686018427387904]", "bytes"});
}

TEST(CheckedSizes, ExpandingToAnImpossibleShapeIsAnError) {
  Tensor one = ones({1});
  expect_error([&] { one.expand({k2to32, k2to32}); }, {"expand", "[4294967296, 4294967296]"});
  expect_error([&] { one.expand({k2to32, k2to32}).contiguous(); }, {"[4294967296, 4294967296]"});
  // A large but possible view is fine (no memory is needed until it is materialised).
  EXPECT_EQ(one.expand({k2to32, 4}).numel(), k2to32 * 4);
}

TEST(CheckedSizes, ViewsMustStayInsideTheirStorage) {
  Tensor base = zeros({4});
  EXPECT_EQ(make_view(base, {2, 2}, {2, 1}, 0).numel(), 4);
  EXPECT_EQ(make_view(base, {0, 9}, {9, 1}, 4).numel(), 0);  // empty: no element is read
  expect_error([&] { make_view(base, {5}, {1}, 0); }, {"[5]", "4 elements"});
  expect_error([&] { make_view(base, {2}, {1}, 3); }, {"offset 3"});
  expect_error([&] { make_view(base, {2}, {k2to62}, 0); }, {"[4611686018427387904]"});
  expect_error([&] { make_view(base, {1}, {1}, -1); }, {"offset -1"});
  expect_error([&] { make_view(base, {2}, {-1}, 1); }, {"stride"});
}

TEST(CheckedSizes, ViewAndReshapeCheckTheProductOfTheRequestedShape) {
  Tensor x = zeros({4});
  // 2^32 * 2^32 * 4 wraps to 0 * ... without the check.
  expect_error([&] { x.view({k2to32, k2to32, 0}).numel(); }, {"shape"});
  expect_error([&] { x.reshape({k2to32, k2to32, -1}); }, {"[4294967296, 4294967296, -1]"});
}

TEST(CheckedSizes, FromBlobChecksTheExtentOfItsLayout) {
  std::vector<float> data(4);
  expect_error([&] { from_blob(data.data(), {k2to62, 4}, {k2to62, 1}); }, {"from_blob"});
}

TEST(CheckedSizes, AnAllocationThatCannotBeMadeIsAGraftError) {
  // 2^58 bytes: a size the machine cannot provide; std::bad_alloc would escape without the check.
  expect_error([] { empty({int64_t{1} << 56}, kFloat32); }, {"[72057594037927936]", "allocate"});
}

}  // namespace
