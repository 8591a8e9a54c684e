// clip_grad_norm_ and clip_grad_value_ give PyTorch 1.13's totals and clipped gradients.
#include <gtest/gtest.h>

#include "optim/reference.h"

using namespace graft;
using graft::testing::expect_close;
using graft::testing::json_number;
using graft::testing::optim_reference;
using nlohmann::json;

namespace {

std::vector<Tensor> params_with_grads(DType dtype) {
  const json& clip = optim_reference()["clip"];
  std::vector<Tensor> params;
  for (size_t i = 0; i < clip["grads"].size(); ++i) {
    auto shape = clip["shapes"][i].get<std::vector<int64_t>>();
    Tensor p = zeros(shape, dtype).requires_grad_();
    p.set_grad(tensor(clip["grads"][i].get<std::vector<double>>(), shape, dtype));
    params.push_back(p);
  }
  return params;
}

TEST(ClipGrad, MatchesPyTorch) {
  for (const json& c : optim_reference()["clip"]["cases"]) {
    const DType dtype = c["dtype"] == "float64" ? kFloat64 : kFloat32;
    const double rtol = dtype == kFloat64 ? 1e-13 : 1e-6;
    std::vector<Tensor> params = params_with_grads(dtype);
    std::string what = c.dump().substr(0, 80);
    if (c["kind"] == "norm") {
      double total = nn::utils::clip_grad_norm_(params, c["max_norm"], json_number(c["norm_type"]));
      EXPECT_NEAR(total, c["total_norm"].get<double>(), rtol * c["total_norm"].get<double>()) << what;
    } else {
      nn::utils::clip_grad_value_(params, c["clip_value"]);
    }
    for (size_t i = 0; i < params.size(); ++i)
      expect_close(params[i].grad().to_vector<double>(), c["clipped"][i].get<std::vector<double>>(), rtol, 0, what);
  }
}

TEST(ClipGrad, SkipsParametersWithoutGradientAndReturnsZeroWhenThereAreNone) {
  Tensor a = ones({2}, kFloat64).requires_grad_();
  Tensor b = ones({2}, kFloat64).requires_grad_();
  EXPECT_EQ(nn::utils::clip_grad_norm_({a, b}, 1.0), 0.0);
  a.set_grad(full({2}, 3.0, kFloat64));
  double total = nn::utils::clip_grad_norm_({a, b}, 1.0);
  EXPECT_DOUBLE_EQ(total, std::sqrt(18.0));
  EXPECT_FALSE(b.grad().defined());
  EXPECT_NEAR(a.grad().to_vector<double>()[0], 3.0 / (std::sqrt(18.0) + 1e-6), 1e-15);
  nn::utils::clip_grad_value_(a, 0.1);
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{0.1, 0.1}));
}

TEST(ClipGrad, NonFiniteNormIsAnErrorOnlyWhenAsked) {
  Tensor a = ones({2}, kFloat64).requires_grad_();
  a.set_grad(tensor(std::vector<double>{1.0, INFINITY}, {2}, kFloat64));
  EXPECT_THROW(nn::utils::clip_grad_norm_({a}, 1.0, 2.0, /*error_if_nonfinite=*/true), Error);
  EXPECT_TRUE(std::isinf(nn::utils::clip_grad_norm_({a}, 1.0)));
  a.set_grad(tensor(std::vector<double>{1.0, NAN}, {2}, kFloat64));
  EXPECT_TRUE(std::isnan(nn::utils::clip_grad_norm_({a}, 1.0)));
  EXPECT_TRUE(std::isnan(a.grad().to_vector<double>()[0]));  // scaled by the NaN coefficient, as in PyTorch
}

}  // namespace
