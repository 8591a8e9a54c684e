// Views share memory with their base: the layouts (shape, strides, offset) of view chains match PyTorch
// (tests/reference/tensors.py), writes go through, and reshape/contiguous copy only when they must.
#include <gtest/gtest.h>

#include "graft/graft.h"
#include "support/errors.h"
#include "support/reference_json.h"

using namespace graft;
using namespace graft::testing;
using nlohmann::json;

namespace {

Tensor apply_op(const Tensor& t, const json& op) {
  const std::string name = op[0];
  auto arg = [&](size_t i) { return op[i].get<int64_t>(); };
  auto rest = [&](size_t from) {
    std::vector<int64_t> v;
    for (size_t i = from; i < op.size(); ++i) v.push_back(op[i].get<int64_t>());
    return v;
  };
  if (name == "transpose") return t.transpose(arg(1), arg(2));
  if (name == "t") return t.t();
  if (name == "mT") return t.mT();
  if (name == "permute") return t.permute(rest(1));
  if (name == "narrow") return t.narrow(arg(1), arg(2), arg(3));
  if (name == "slice") {
    auto opt = [&](size_t i) { return op[i].is_null() ? std::nullopt : std::optional<int64_t>(arg(i)); };
    return t.slice(arg(1), opt(2), opt(3), arg(4));
  }
  if (name == "select") return t.select(arg(1), arg(2));
  if (name == "expand") return t.expand(rest(1));
  if (name == "unsqueeze") return t.unsqueeze(arg(1));
  if (name == "squeeze") return op.size() == 1 ? t.squeeze() : t.squeeze(arg(1));
  if (name == "view") return t.view(rest(1));
  if (name == "reshape") return t.reshape(rest(1));
  if (name == "flatten") return op.size() == 1 ? t.flatten() : t.flatten(arg(1));
  if (name == "contiguous") return t.contiguous();
  if (name == "chunk") return t.chunk(arg(1), arg(2))[static_cast<size_t>(arg(3))];
  if (name == "split") return t.split(arg(1), arg(2))[static_cast<size_t>(arg(3))];
  throw std::runtime_error("unknown op " + name);
}

}  // namespace

TEST(Views, LayoutsMatchPyTorch) {
  const json& cases = reference_json("tensors.json")["views"];
  ASSERT_GE(cases.size(), 30u);
  for (const json& c : cases) {
    SCOPED_TRACE(c["name"].get<std::string>());
    Shape base_shape = shape_from_json(c["base_shape"]);
    Tensor base = (arange(numel_of(base_shape), kFloat32) + 1).reshape(base_shape);
    Tensor t = base;
    if (c.contains("error")) {
      try {
        for (const json& op : c["ops"]) t = apply_op(t, op);
        ADD_FAILURE() << "PyTorch raised: " << c["error"];
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("without a copy; use reshape"), std::string::npos) << e.what();
      }
      continue;
    }
    for (const json& op : c["ops"]) t = apply_op(t, op);
    EXPECT_EQ(t.shape(), shape_from_json(c["shape"]));
    EXPECT_EQ(t.strides(), shape_from_json(c["strides"]));
    EXPECT_EQ(t.storage_offset(), c["offset"].get<int64_t>());
    EXPECT_EQ(t.is_contiguous(), c["contiguous"].get<bool>());
    EXPECT_EQ(t.storage() == base.storage(), c["shares_storage"].get<bool>());
    EXPECT_EQ(t.to_vector<double>(), c["values"].get<std::vector<double>>());
  }
}

TEST(Views, WritesThroughAViewReachTheBaseAndBumpTheSharedVersion) {
  Tensor base = zeros({3, 4});
  Tensor col = base.select(1, 2);
  Tensor block = base.narrow(0, 1, 2).narrow(1, 0, 2);
  uint32_t v0 = base.version();
  col.fill_(7.0);
  EXPECT_EQ(base.version(), v0 + 1);  // one counter per storage
  EXPECT_EQ(block.version(), base.version());
  block.add_(1.0);
  EXPECT_EQ(base.to_vector<float>(), (std::vector<float>{0, 0, 7, 0, 1, 1, 7, 0, 1, 1, 7, 0}));
  Tensor tr = base.t();
  tr.narrow(0, 3, 1).fill_(-1.0);  // column 3 of base
  EXPECT_EQ(base.at<float>({2, 3}), -1.0f);
  // Writing into the base shows through every view.
  base.zero_();
  EXPECT_EQ(col.to_vector<float>(), (std::vector<float>{0, 0, 0}));
}

TEST(Views, ExpandHasZeroStridesAndSqueezeUnsqueezeRoundTrip) {
  Tensor x = tensor({1.0, 2.0, 3.0});
  Tensor e = x.unsqueeze(0).expand({4, 3});
  EXPECT_EQ(e.strides(), (Shape{0, 1}));
  EXPECT_EQ(e.storage(), x.storage());
  EXPECT_EQ(e.sum().item<double>(), 24.0);
  EXPECT_EQ(x.unsqueeze(1).squeeze(1).shape(), x.shape());
  EXPECT_EQ(x.expand_as(zeros({2, 3})).shape(), (Shape{2, 3}));
  EXPECT_THROW(x.expand({2, 4}), Error);
  EXPECT_THROW(x.expand({3, 1}), Error);
}

TEST(Views, ContiguousCloneAndTo) {
  Tensor a = arange(6, kFloat64).reshape({2, 3});
  // contiguous() of a contiguous tensor is the tensor itself; of a view, a contiguous copy.
  EXPECT_TRUE(a.contiguous().is_same(a));
  Tensor t = a.t();
  Tensor c = t.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_NE(c.storage(), a.storage());
  EXPECT_EQ(c.to_vector<double>(), t.to_vector<double>());
  EXPECT_EQ(c.strides(), (Shape{2, 1}));
  // clone() always copies (and keeps values for any layout).
  Tensor k = t.clone();
  EXPECT_NE(k.storage(), a.storage());
  EXPECT_EQ(k.to_vector<double>(), t.to_vector<double>());
  a.fill_(0.0);
  EXPECT_EQ(k.to_vector<double>(), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  // to(dtype) converts (truncating toward zero for integers), and returns the tensor itself when the dtype
  // is already right.
  Tensor f = tensor({-1.7, 0.2, 2.9}, {3}, kFloat64);
  EXPECT_TRUE(f.to(kFloat64).is_same(f));
  EXPECT_EQ(f.to(kInt64).to_vector<int64_t>(), (std::vector<int64_t>{-1, 0, 2}));
  EXPECT_EQ(f.to(kBool).to_vector<bool>(), (std::vector<bool>{true, true, true}));
  EXPECT_EQ(f.to(kFloat32).dtype(), kFloat32);
  EXPECT_EQ(tensor({true, false}).to(kFloat32).to_vector<float>(), (std::vector<float>{1, 0}));
}

TEST(Views, BadArgumentsRaiseNamingTheOp) {
  Tensor x = zeros({2, 3});
  EXPECT_EQ(error_of([&] { x.transpose(0, 2); }).rfind("transpose:", 0), 0u);
  EXPECT_EQ(error_of([&] { x.permute({0, 0}); }).rfind("permute:", 0), 0u);
  EXPECT_EQ(error_of([&] { x.permute({0}); }).rfind("permute:", 0), 0u);
  EXPECT_EQ(error_of([&] { x.narrow(1, 2, 2); }).rfind("narrow:", 0), 0u);
  EXPECT_EQ(error_of([&] { x.select(0, 2); }).rfind("select:", 0), 0u);
  EXPECT_EQ(error_of([&] { x.select(0, -3); }).rfind("select:", 0), 0u);
  EXPECT_EQ(error_of([&] { x.slice(1, 0, 3, 0); }).rfind("slice:", 0), 0u);
  EXPECT_EQ(error_of([&] { x.view({4}); }).rfind("view:", 0), 0u);
  EXPECT_EQ(error_of([&] { x.reshape({-1, -1}); }).rfind("reshape:", 0), 0u);
  EXPECT_EQ(error_of([&] { x.unsqueeze(3); }).rfind("unsqueeze:", 0), 0u);
  EXPECT_EQ(error_of([&] { x.squeeze(2); }).rfind("squeeze:", 0), 0u);
  EXPECT_EQ(error_of([&] { zeros({2, 3, 4}).t(); }).rfind("t:", 0), 0u);
}
