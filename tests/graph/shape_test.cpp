// Shapes, strides and the rules relating them (graph/shape.h).
#include <gtest/gtest.h>

#include "graft/graft.h"
#include "support/errors.h"

using namespace graft;
using graft::testing::error_of;

TEST(Shape, StrNumelAndContiguousStrides) {
  EXPECT_EQ(shape_str({}), "[]");
  EXPECT_EQ(shape_str({4, 3}), "[4, 3]");
  EXPECT_EQ(numel_of({}), 1);
  EXPECT_EQ(numel_of({2, 3, 4}), 24);
  EXPECT_EQ(numel_of({2, 0, 4}), 0);
  EXPECT_EQ(contiguous_strides({2, 3, 4}), (Shape{12, 4, 1}));
  EXPECT_EQ(contiguous_strides({}), Shape{});
  // A zero-size dim does not zero the strides before it (PyTorch uses max(size, 1)).
  EXPECT_EQ(contiguous_strides({2, 0, 3}), (Shape{3, 3, 1}));
}

TEST(Shape, ContiguityIgnoresSizeOneDimsAndEmptyTensors) {
  EXPECT_TRUE(is_contiguous_layout({2, 3}, {3, 1}));
  EXPECT_FALSE(is_contiguous_layout({2, 3}, {1, 2}));
  EXPECT_TRUE(is_contiguous_layout({2, 1, 3}, {3, 99, 1}));
  EXPECT_TRUE(is_contiguous_layout({0, 3}, {7, 5}));
  EXPECT_FALSE(is_contiguous_layout({3, 2}, {0, 1}));  // expanded
  EXPECT_TRUE(is_contiguous_layout({}, {}));
}

TEST(Shape, WrapDim) {
  EXPECT_EQ(wrap_dim("op", -1, 3), 2);
  EXPECT_EQ(wrap_dim("op", 0, 3), 0);
  EXPECT_EQ(wrap_dim("op", -1, 0), 0);  // a 0-dim tensor accepts 0 and -1
  EXPECT_EQ(wrap_dim("op", 0, 0), 0);
  EXPECT_EQ(error_of([] { wrap_dim("sum", 3, 3); }),
            "sum: dim 3 is out of range for a tensor of 3 dims (expected in [-3, 2])");
  EXPECT_EQ(error_of([] { wrap_dim("sum", -4, 3); }),
            "sum: dim -4 is out of range for a tensor of 3 dims (expected in [-3, 2])");
}

TEST(Shape, BroadcastFollowsNumPy) {
  EXPECT_EQ(broadcast_shapes("add", {3, 1}, {1, 4}), (Shape{3, 4}));
  EXPECT_EQ(broadcast_shapes("add", {2, 3, 4}, {4}), (Shape{2, 3, 4}));
  EXPECT_EQ(broadcast_shapes("add", {}, {2, 2}), (Shape{2, 2}));
  EXPECT_EQ(broadcast_shapes("add", {0, 1}, {1, 5}), (Shape{0, 5}));
  EXPECT_EQ(error_of([] { broadcast_shapes("add", {2, 3}, {4}); }),
            "add: shapes [2, 3] and [4] cannot be broadcast together (dim -1: 3 vs 4)");
  EXPECT_TRUE(is_expandable_to({3, 1}, {2, 3, 4}));
  EXPECT_TRUE(is_expandable_to({}, {2}));
  EXPECT_FALSE(is_expandable_to({3, 2}, {3, 4}));
  EXPECT_FALSE(is_expandable_to({1, 1, 1}, {1, 1}));
}

TEST(Shape, ViewStridesFollowComputeStride) {
  Shape out;
  // Contiguous: any regrouping works.
  ASSERT_TRUE(view_strides({2, 3, 4}, {12, 4, 1}, {6, 4}, out));
  EXPECT_EQ(out, (Shape{4, 1}));
  // Transposed: splitting a dim works, merging the two swapped dims does not.
  ASSERT_TRUE(view_strides({6, 4}, {1, 6}, {2, 3, 4}, out));
  EXPECT_EQ(out, (Shape{3, 1, 6}));
  EXPECT_FALSE(view_strides({4, 6}, {1, 4}, {24}, out));
  // Size-1 dims can be inserted anywhere.
  ASSERT_TRUE(view_strides({3, 4}, {1, 3}, {3, 1, 4}, out));
  // 0-dim and empty tensors view as anything of the same numel.
  ASSERT_TRUE(view_strides({}, {}, {1, 1}, out));
  ASSERT_TRUE(view_strides({0, 3}, {3, 1}, {3, 0}, out));
}

TEST(Shape, InferShape) {
  EXPECT_EQ(infer_shape("view", {-1, 4}, 24), (Shape{6, 4}));
  EXPECT_EQ(infer_shape("view", {2, 3, 4}, 24), (Shape{2, 3, 4}));
  EXPECT_EQ(error_of([] { infer_shape("view", {-1, -1}, 24); }), "view: only one dimension can be -1, got shape [-1, -1]");
  EXPECT_EQ(error_of([] { infer_shape("view", {5, -1}, 24); }), "view: shape [5, -1] is invalid for input of size 24");
  EXPECT_EQ(error_of([] { infer_shape("reshape", {5, 5}, 24); }), "reshape: shape [5, 5] is invalid for input of size 24");
  EXPECT_EQ(error_of([] { infer_shape("view", {-2, 12}, 24); }), "view: invalid size -2 in shape [-2, 12]");
  EXPECT_EQ(error_of([] { infer_shape("view", {0, -1}, 0); }), "view: shape [0, -1] is invalid for input of size 0");
}

TEST(Shape, TensorLayoutAccessors) {
  Tensor t = zeros({2, 3, 4});
  EXPECT_EQ(t.dim(), 3);
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_EQ(t.stride(0), 12);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.storage_offset(), 0);
  EXPECT_EQ(t.storage()->nbytes(), 24u * 4u);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(error_of([&] { t.size(3); }), "size: dim 3 is out of range for a tensor of 3 dims (expected in [-3, 2])");
  EXPECT_EQ(error_of([&] { t.stride(-4); }), "stride: dim -4 is out of range for a tensor of 3 dims (expected in [-3, 2])");
  Tensor undefined;
  EXPECT_FALSE(undefined.defined());
  EXPECT_FALSE(undefined.requires_grad());
  EXPECT_EQ(error_of([&] { (void)undefined.shape(); }), "tensor is undefined (default-constructed)");
  EXPECT_THROW(empty({2, -1}), Error);
}
