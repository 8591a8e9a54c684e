// Factories: values, dtypes inferred as PyTorch infers them (tests/reference/tensors.py), options, random
// factories seeded by graft::manual_seed, generator state save/restore, from_blob.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "graft/graft.h"
#include "support/errors.h"
#include "support/reference_json.h"

using namespace graft;
using namespace graft::testing;
using nlohmann::json;

namespace {

Scalar scalar_from_json(const json& v) {
  if (v.is_boolean()) return Scalar(v.get<bool>());
  if (v.is_number_integer()) return Scalar(v.get<int64_t>());
  return Scalar(v.get<double>());
}

std::vector<double> values_from_json(const json& values) {
  std::vector<double> out;
  for (const json& v : values) out.push_back(v.is_boolean() ? (v.get<bool>() ? 1.0 : 0.0) : v.get<double>());
  return out;
}

void expect_matches(const Tensor& t, const json& ref) {
  EXPECT_EQ(t.dtype(), dtype_from_name(ref["dtype"]));
  EXPECT_EQ(t.shape(), shape_from_json(ref["shape"]));
  EXPECT_EQ(t.to_vector<double>(), values_from_json(ref["values"]));
}

}  // namespace

TEST(Factories, ArangeMatchesPyTorch) {
  for (const json& c : reference_json("tensors.json")["arange"]) {
    SCOPED_TRACE(c["args"].dump());
    const json& a = c["args"];
    TensorOptions options = c.contains("as") ? TensorOptions(dtype_from_name(c["as"])) : TensorOptions();
    Tensor t = a.size() == 1   ? arange(scalar_from_json(a[0]), options)
               : a.size() == 2 ? arange(scalar_from_json(a[0]), scalar_from_json(a[1]), 1, options)
                               : arange(scalar_from_json(a[0]), scalar_from_json(a[1]), scalar_from_json(a[2]), options);
    expect_matches(t, c);
  }
  EXPECT_EQ(error_of([] { arange(0, 5, 0); }), "arange: step must be nonzero");
  EXPECT_THROW(arange(5, 0, 1), Error);
  EXPECT_THROW(arange(0, 5, -1), Error);
}

TEST(Factories, LinspaceMatchesPyTorch) {
  for (const json& c : reference_json("tensors.json")["linspace"]) {
    SCOPED_TRACE(c.dump());
    const int64_t steps = c["steps"];
    Tensor t = linspace(c["start"].get<double>(), c["end"].get<double>(), steps, dtype_from_name(c["dtype"]));
    if (steps < 8) {
      // Short enough for PyTorch's element-by-element loop: identical to the last bit.
      expect_matches(t, c);
    } else {
      // PyTorch's vectorised loop steps from a base within each run of lanes: equal within rounding.
      EXPECT_EQ(t.dtype(), dtype_from_name(c["dtype"]));
      std::vector<double> got = t.to_vector<double>(), want = values_from_json(c["values"]);
      ASSERT_EQ(got.size(), want.size());
      const double tol = t.dtype() == kFloat32 ? 1e-6 : 1e-14;
      for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol * (1 + std::abs(want[i]))) << i;
      EXPECT_EQ(got.front(), want.front());
      EXPECT_EQ(got.back(), want.back());
    }
  }
  EXPECT_EQ(error_of([] { linspace(0, 1, -1); }), "linspace: number of steps must be non-negative, got -1");
}

TEST(Factories, FullEyeAndTensorInferDtypesAsPyTorch) {
  const json& ref = reference_json("tensors.json");
  for (const json& c : ref["full"]) expect_matches(full({2}, scalar_from_json(c["value"])), c);
  for (const json& c : ref["eye"]) {
    SCOPED_TRACE(c.dump());
    expect_matches(c["m"].is_null() ? eye(c["n"].get<int64_t>()) : eye(c["n"].get<int64_t>(), c["m"].get<int64_t>()), c);
  }
  for (const json& c : ref["tensor"]) {
    std::string kind = c["kind"];
    Tensor t = kind == "double" ? tensor({1.0, 2.5}) : kind == "int" ? tensor({1, 2}) : tensor({true, false});
    expect_matches(t, c);
  }
  EXPECT_EQ(full({2}, 1.5, kFloat64).dtype(), kFloat64);
  EXPECT_EQ(scalar_tensor(3).dim(), 0);
  EXPECT_EQ(scalar_tensor(3).dtype(), kInt64);
  EXPECT_EQ(scalar_tensor(2.5).item<double>(), 2.5);
}

TEST(Factories, ZerosOnesEmptyAndOptions) {
  Tensor z = zeros({2, 3});
  EXPECT_EQ(z.dtype(), kFloat32);
  EXPECT_EQ(z.to_vector<float>(), std::vector<float>(6, 0.0f));
  EXPECT_EQ(ones({2}, kInt64).to_vector<int64_t>(), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(ones({2}, kBool).to_vector<bool>(), (std::vector<bool>{true, true}));
  EXPECT_EQ(empty({4, 0}).numel(), 0);
  EXPECT_EQ(zeros({}).dim(), 0);
  EXPECT_EQ(zeros({}).numel(), 1);
  Tensor p = zeros({3}, dtype(kFloat64).requires_grad());
  EXPECT_TRUE(p.requires_grad());
  EXPECT_TRUE(p.is_leaf());
  EXPECT_EQ(p.dtype(), kFloat64);
  EXPECT_TRUE(ones({2}, requires_grad()).requires_grad());
  EXPECT_EQ(error_of([] { zeros({2}, dtype(kInt64).requires_grad()); }),
            "requires_grad: only floating-point tensors can require gradients, got int64");
  EXPECT_EQ(error_of([] { zeros({2, -3}); }), "empty: negative dimension -3 in shape [2, -3]");
}

TEST(Factories, LikeVariantsKeepShapeAndDtypeUnlessTold) {
  Tensor base = arange(6, kFloat64).reshape({2, 3}).t();  // a non-contiguous input
  for (const Tensor& t : {zeros_like(base), ones_like(base), empty_like(base), full_like(base, 2), rand_like(base),
                          randn_like(base)}) {
    EXPECT_EQ(t.shape(), (Shape{3, 2}));
    EXPECT_EQ(t.dtype(), kFloat64);
    EXPECT_TRUE(t.is_contiguous());
    EXPECT_FALSE(t.requires_grad());
  }
  EXPECT_EQ(full_like(base, 2).to_vector<double>(), std::vector<double>(6, 2.0));
  EXPECT_EQ(ones_like(base, kInt64).dtype(), kInt64);
  EXPECT_TRUE(zeros_like(base, requires_grad()).requires_grad());
  EXPECT_EQ(zeros_like(base, requires_grad()).dtype(), kFloat64);
}

TEST(Factories, TensorChecksItsShape) {
  Tensor m = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3});
  EXPECT_EQ(m.shape(), (Shape{2, 3}));
  EXPECT_EQ(m.at<float>({1, 0}), 4.0f);
  EXPECT_EQ(tensor({1.0, 2.0}, {}, kFloat64).dtype(), kFloat64);
  EXPECT_EQ(tensor(std::vector<float>{1.5f}).dtype(), kFloat32);
  EXPECT_EQ(tensor({1, 2}, {2}, kFloat32).to_vector<float>(), (std::vector<float>{1, 2}));
  EXPECT_EQ(error_of([] { tensor({1.0, 2.0, 3.0}, {2, 2}); }), "tensor: 3 values do not fill shape [2, 2] (4 elements)");
  Tensor r = tensor({1.0, 2.0}, {2}, requires_grad());
  EXPECT_TRUE(r.requires_grad());
}

// ---------------------------------------------------------------- random factories

TEST(Random, ManualSeedMakesRunsReproducible) {
  manual_seed(42);
  Tensor a = rand({5}), b = randn({7}, kFloat64), c = randint(0, 10, {6}), d = randperm(8);
  manual_seed(42);
  EXPECT_TRUE(equal(rand({5}), a));
  EXPECT_TRUE(equal(randn({7}, kFloat64), b));
  EXPECT_TRUE(equal(randint(0, 10, {6}), c));
  EXPECT_TRUE(equal(randperm(8), d));
  manual_seed(43);
  EXPECT_FALSE(equal(rand({5}), a));
  EXPECT_EQ(default_generator().initial_seed(), 43u);
}

TEST(Random, GeneratorStateSavesAndRestores) {
  manual_seed(7);
  (void)randn({3});
  std::string state = default_generator().get_state();
  Tensor first = randn({100}, kFloat64);
  Tensor ints = randint(5, {10});
  default_generator().set_state(state);
  EXPECT_TRUE(equal(randn({100}, kFloat64), first));
  EXPECT_TRUE(equal(randint(5, {10}), ints));
  EXPECT_THROW(default_generator().set_state("not a state"), Error);
  // A generator of one's own is independent of the global one.
  Generator g(123), h(123);
  manual_seed(1);
  Tensor from_g = rand({4}, {}, &g);
  (void)rand({50});  // draws from the global generator only
  EXPECT_TRUE(equal(rand({4}, {}, &h), from_g));
  EXPECT_FALSE(equal(rand({4}, {}, &g), from_g));
}

TEST(Random, DistributionsHaveTheRightRangeAndMoments) {
  manual_seed(0);
  const int64_t n = 20000;
  Tensor u = rand({n}, kFloat64);
  std::vector<double> uv = u.to_vector<double>();
  EXPECT_GE(*std::min_element(uv.begin(), uv.end()), 0.0);
  EXPECT_LT(*std::max_element(uv.begin(), uv.end()), 1.0);
  EXPECT_NEAR(u.mean().item<double>(), 0.5, 0.01);
  std::vector<float> uf = rand({n}).to_vector<float>();
  EXPECT_LT(*std::max_element(uf.begin(), uf.end()), 1.0f);

  Tensor z = randn({n}, kFloat64);
  EXPECT_NEAR(z.mean().item<double>(), 0.0, 0.03);
  EXPECT_NEAR(z.std({0}).item<double>(), 1.0, 0.03);
  Tensor zf = randn({n + 1});  // odd count: the last pair is half used
  EXPECT_TRUE(std::isfinite(zf.sum().item<double>()));

  Tensor r = randint(-3, 4, {n});
  EXPECT_EQ(r.dtype(), kInt64);
  std::vector<int64_t> rv = r.to_vector<int64_t>();
  EXPECT_EQ(*std::min_element(rv.begin(), rv.end()), -3);
  EXPECT_EQ(*std::max_element(rv.begin(), rv.end()), 3);
  EXPECT_EQ(randint(3, {2}, kFloat64).dtype(), kFloat64);

  std::vector<int64_t> perm = randperm(50).to_vector<int64_t>();
  std::vector<int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> iota(50);
  std::iota(iota.begin(), iota.end(), 0);
  EXPECT_EQ(sorted, iota);
  EXPECT_NE(perm, iota);
  EXPECT_EQ(randperm(0).numel(), 0);
}

TEST(Random, BadArguments) {
  EXPECT_EQ(error_of([] { randint(3, 3, {2}); }), "randint: expected low < high, got low=3 high=3");
  EXPECT_EQ(error_of([] { rand({2}, kInt64); }), "rand: expected a floating-point tensor, got int64");
  EXPECT_EQ(error_of([] { randn({2}, kBool); }), "randn: expected a floating-point tensor, got bool");
  EXPECT_EQ(error_of([] { randperm(-1); }), "randperm: n must be non-negative, got -1");
}

// ---------------------------------------------------------------- from_blob

TEST(FromBlob, WrapsMemoryWithoutCopyingAndRunsTheDeleter) {
  std::vector<double> data{1, 2, 3, 4, 5, 6};
  int deleted = 0;
  {
    Tensor t = from_blob(data.data(), {2, 3}, kFloat64, [&](void* p) {
      EXPECT_EQ(p, data.data());
      ++deleted;
    });
    EXPECT_EQ(t.data_ptr(), data.data());
    EXPECT_EQ(t.at<double>({1, 2}), 6.0);
    data[0] = 10;  // the tensor sees writes to the memory...
    EXPECT_EQ(t.at<double>({0, 0}), 10.0);
    t.mul_(2.0);  // ...and the memory sees writes through the tensor
    EXPECT_EQ(data[5], 12.0);
    Tensor view = t.t();
    t = Tensor();
    EXPECT_EQ(deleted, 0);  // the view keeps the memory alive
    EXPECT_EQ(view.at<double>({2, 1}), 12.0);
  }
  EXPECT_EQ(deleted, 1);
}

TEST(FromBlob, StridedMemory) {
  std::vector<float> data{1, 2, 3, 4, 5, 6};
  Tensor cols = from_blob(data.data(), {3, 2}, {1, 3}, kFloat32);  // the transpose of a 2x3 row-major matrix
  EXPECT_FALSE(cols.is_contiguous());
  EXPECT_EQ(cols.to_vector<float>(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(error_of([&] { from_blob(data.data(), {3, 2}, {1}, kFloat32); }),
            "from_blob: shape [3, 2] and strides [1] differ in length");
  EXPECT_THROW(from_blob(data.data(), {3, -2}, {1, 3}, kFloat32), Error);
}
