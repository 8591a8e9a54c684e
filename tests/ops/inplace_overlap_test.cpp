// In-place writes never read what they have already overwritten: as in PyTorch, a destination in which
// several elements are one memory location, or a source that overlaps the destination only partly, is an
// error; memory shared in layouts too irregular to classify is read through a copy.
#include <gtest/gtest.h>

#include "graft/graft.h"
#include "graft/graph/overlap.h"
#include "support/errors.h"

using namespace graft;
using graft::testing::expect_error;

namespace {

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

const std::string kInternal =
    "unsupported operation: more than one element of the written-to tensor refers to a single memory location. "
    "Please clone() the tensor before performing the operation.";
const std::string kPartial =
    "unsupported operation: some elements of the input tensor and the written-to tensor refer to a single memory "
    "location. Please clone() the tensor before performing the operation.";

Tensor square() { return arange(9, kFloat64).reshape({3, 3}); }

TEST(InPlaceOverlap, WritingIntoAnExpandedTensorIsAnError) {
  Tensor base = zeros({1});
  Tensor expanded = base.expand({5});
  expect_error([&] { expanded.add_(ones({5})); }, {"add_: ", kInternal});
  expect_error([&] { expanded.mul_(2.0); }, {"mul_: ", kInternal});
  expect_error([&] { expanded.sub_(ones({5})); }, {"sub_: "});
  expect_error([&] { expanded.div_(ones({5})); }, {"div_: "});
  expect_error([&] { expanded.clamp_(0.0, 1.0); }, {"clamp_: "});
  expect_error([&] { expanded.copy_(arange(5, kFloat32)); }, {"copy_: ", kInternal});
  EXPECT_EQ(values(base), std::vector<double>{0});
}

TEST(InPlaceOverlap, FillingAnExpandedTensorIsFineAsInPyTorch) {
  Tensor base = zeros({1});
  base.expand({5}).fill_(3.0);
  EXPECT_EQ(values(base), std::vector<double>{3});
  base.expand({5}).zero_();
  EXPECT_EQ(values(base), std::vector<double>{0});
  base.expand({5}).masked_fill_(ones({5}, kBool), 7.0);
  EXPECT_EQ(values(base), std::vector<double>{7});
}

TEST(InPlaceOverlap, ASourceThatPartlyOverlapsTheDestinationIsAnError) {
  Tensor x = square();
  expect_error([&] { x.copy_(x.t()); }, {"copy_: ", kPartial});
  expect_error([&] { x.add_(x.t()); }, {"add_: ", kPartial});
  Tensor v = arange(6, kFloat64);
  expect_error([&] { v.narrow(0, 1, 5).add_(v.narrow(0, 0, 5)); }, {"add_: ", kPartial});
  expect_error([&] { v.narrow(0, 1, 5).copy_(v.narrow(0, 0, 5)); }, {"copy_: ", kPartial});
  EXPECT_EQ(values(x), values(square()));
  EXPECT_EQ(values(v), values(arange(6, kFloat64)));
}

TEST(InPlaceOverlap, TheSameMemoryInTheSameLayoutIsFine) {
  Tensor x = square();
  x.add_(x);
  EXPECT_EQ(values(x), values(square() * 2));
  x.copy_(x);
  EXPECT_EQ(values(x), values(square() * 2));
  x.mul_(x.view({3, 3}));
  EXPECT_EQ(values(x), values(square() * square() * 4));
}

TEST(InPlaceOverlap, IrregularlySharedMemoryIsReadThroughACopy) {
  // Every other element of x, written from the run x[1:5] that interleaves with it: PyTorch cannot classify
  // this overlap and computes with values it has already overwritten; graft reads the source first.
  Tensor x = arange(8, kFloat64);
  x.slice(0, 0, 8, 2).copy_(x.narrow(0, 1, 4));
  EXPECT_EQ(values(x), (std::vector<double>{1, 1, 2, 3, 3, 5, 4, 7}));
  Tensor y = arange(8, kFloat64);
  y.slice(0, 0, 8, 2).add_(y.narrow(0, 1, 4));
  EXPECT_EQ(values(y), (std::vector<double>{1, 1, 4, 3, 7, 5, 10, 7}));
}

TEST(InPlaceOverlap, TheOverlapClassificationFollowsPyTorch) {
  Tensor x = square();
  EXPECT_EQ(has_internal_overlap(x), MemOverlap::No);
  EXPECT_EQ(has_internal_overlap(x.t()), MemOverlap::No);
  EXPECT_EQ(has_internal_overlap(zeros({1}).expand({4})), MemOverlap::Yes);
  EXPECT_EQ(has_internal_overlap(x.slice(1, 0, 3, 2)), MemOverlap::TooHard);
  EXPECT_EQ(get_overlap_status(x, x), MemOverlapStatus::Full);
  EXPECT_EQ(get_overlap_status(x, x.view({9}).view({3, 3})), MemOverlapStatus::Full);
  EXPECT_EQ(get_overlap_status(x, x.t()), MemOverlapStatus::Partial);
  EXPECT_EQ(get_overlap_status(x[0], x[1]), MemOverlapStatus::No);
  EXPECT_EQ(get_overlap_status(x, square()), MemOverlapStatus::No);
  EXPECT_EQ(get_overlap_status(x.slice(1, 0, 3, 2), x), MemOverlapStatus::TooHard);
}

}  // namespace
