// dtypes: sizes, names, categories, and PyTorch's promotion rules (tests/reference/tensors.py).
#include <gtest/gtest.h>

#include "graft/graft.h"
#include "support/errors.h"
#include "support/reference_json.h"

using namespace graft;
using namespace graft::testing;

namespace {
Tensor sample(DType dt, bool zero_dim) {
  Tensor t = ones({1}, dt);
  return zero_dim ? t.reshape({}) : t;
}
}  // namespace

TEST(DType, SizesNamesAndCategories) {
  EXPECT_EQ(element_size(kFloat32), 4u);
  EXPECT_EQ(element_size(kFloat64), 8u);
  EXPECT_EQ(element_size(kInt64), 8u);
  EXPECT_EQ(element_size(kBool), 1u);
  EXPECT_STREQ(dtype_name(kFloat32), "float32");
  EXPECT_STREQ(dtype_name(kFloat64), "float64");
  EXPECT_STREQ(dtype_name(kInt64), "int64");
  EXPECT_STREQ(dtype_name(kBool), "bool");
  EXPECT_STREQ(dtype_name(kBFloat16), "bfloat16");
  EXPECT_STREQ(dtype_name(kFloat16), "float16");
  EXPECT_EQ(element_size(kBFloat16), 2u);
  EXPECT_EQ(element_size(kHalf), 2u);
  EXPECT_TRUE(is_floating(kBFloat16) && is_floating(kFloat16));
  EXPECT_TRUE(is_reduced_floating(kBFloat16) && is_reduced_floating(kFloat16) && !is_reduced_floating(kFloat32));
  EXPECT_EQ(opmath_dtype(kBFloat16), kFloat32);
  EXPECT_EQ(opmath_dtype(kFloat64), kFloat64);
  EXPECT_EQ(dtype_v<BFloat16>, kBFloat16);
  EXPECT_EQ(dtype_v<Half>, kFloat16);
  EXPECT_TRUE(is_floating(kFloat32) && is_floating(kFloat64));
  EXPECT_FALSE(is_floating(kInt64) || is_floating(kBool));
  // PyTorch's aliases and the C++ type mapping.
  EXPECT_EQ(kFloat, kFloat32);
  EXPECT_EQ(kDouble, kFloat64);
  EXPECT_EQ(kLong, kInt64);
  EXPECT_EQ(dtype_v<float>, kFloat32);
  EXPECT_EQ(dtype_v<double>, kFloat64);
  EXPECT_EQ(dtype_v<int64_t>, kInt64);
  EXPECT_EQ(dtype_v<bool>, kBool);
  // The default dtype is float32, as in PyTorch.
  EXPECT_EQ(zeros({2}).dtype(), kFloat32);
  EXPECT_EQ(Tensor(zeros({2}, kFloat64)).element_size(), 8u);
}

TEST(DType, PromotionMatchesPyTorch) {
  const auto& cases = reference_json("tensors.json")["promotion"];
  ASSERT_EQ(cases.size(), 36u);  // bool, int64, bfloat16, float16, float32, float64 against each other
  for (const auto& c : cases) {
    DType a = dtype_from_name(c["a"]), b = dtype_from_name(c["b"]);
    SCOPED_TRACE(fmt::format("{} with {}", dtype_name(a), dtype_name(b)));
    EXPECT_EQ(promote_types(a, b), dtype_from_name(c["promote_types"]));
    // result_type: a 0-dim operand only lifts a dimensioned one to a higher category.
    EXPECT_EQ(result_type(sample(a, false), sample(b, false)), dtype_from_name(c["result_type_nn"]));
    EXPECT_EQ(result_type(sample(a, false), sample(b, true)), dtype_from_name(c["result_type_n0"]));
    EXPECT_EQ(result_type(sample(a, true), sample(b, false)), dtype_from_name(c["result_type_0n"]));
    EXPECT_EQ(result_type(sample(a, true), sample(b, true)), dtype_from_name(c["result_type_00"]));
    // The ops use it: the dtype of a + b is the result type (bool + bool stays bool in PyTorch's add too).
    EXPECT_EQ((sample(a, false) * sample(b, true)).dtype(), dtype_from_name(c["result_type_n0"]));
  }
}

TEST(DType, ScalarPromotionMatchesPyTorch) {
  for (const auto& c : reference_json("tensors.json")["scalar_promotion"]) {
    DType t = dtype_from_name(c["tensor"]);
    std::string kind = c["scalar"];
    Scalar s = kind == "bool" ? Scalar(true) : kind == "int" ? Scalar(2) : Scalar(2.5);
    SCOPED_TRACE(fmt::format("{} with a {} scalar", dtype_name(t), kind));
    EXPECT_EQ(result_type(t, s.kind()), dtype_from_name(c["result_type"]));
    EXPECT_EQ((ones({2}, t) * s).dtype(), dtype_from_name(c["result_type"]));
  }
}

TEST(DType, DispatchRaisesNamingTheOpAndDtype) {
  try {
    dispatch_floating(kInt64, "myop", []<class T>() { return 0; });
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "myop: expected a floating-point tensor (float32 or float64), got int64");
  }
  EXPECT_THROW(dispatch_numeric(kBool, "myop", []<class T>() { return 0; }), Error);
  // Kernels written for float32 and float64 only say so when a 16-bit tensor reaches them.
  EXPECT_EQ(error_of([] { dispatch_floating(kBFloat16, "myop", []<class T>() { return 0; }); }),
            "myop: expected a floating-point tensor (float32 or float64), got bfloat16 (this kernel has no 16-bit version)");
  EXPECT_EQ(error_of([] { dispatch_non_half(kFloat16, "myop", []<class T>() { return 0; }); }),
            "myop: this kernel has no float16 version (expected float32, float64, int64 or bool)");
  EXPECT_EQ(dispatch_floating_and_half(kFloat16, "x", []<class T>() { return sizeof(T); }), 2u);
  EXPECT_EQ(dispatch_all(kBool, []<class T>() { return sizeof(T); }), sizeof(bool));
  EXPECT_EQ(dispatch_numeric(kInt64, "x", []<class T>() { return sizeof(T); }), 8u);
}

TEST(DType, DataPtrChecksTheType) {
  Tensor t = zeros({2}, kFloat64);
  EXPECT_NO_THROW(t.data_ptr<double>());
  try {
    t.data_ptr<float>();
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "data_ptr: tensor is float64, not float32");
  }
}
