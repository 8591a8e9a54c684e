// Anomaly detection (torch.autograd.detect_anomaly): with it on, the first NaN or infinity a backward node
// returns raises, naming the node and the forward op (and where it was called) that created it.
#include <gtest/gtest.h>

#include "graft/autograd/anomaly_mode.h"
#include "graft/graft.h"
#include "support/errors.h"

using namespace graft;
using graft::testing::error_of;

namespace {

TEST(AnomalyMode, OffByDefaultAndANaNFlowsSilently) {
  EXPECT_FALSE(autograd::is_anomaly_enabled());
  Tensor x = zeros({2}, requires_grad());
  (x.sqrt() * 0.0).sum().backward();  // d sqrt(x)/dx at 0 is inf; times the 0 from above: NaN
  EXPECT_TRUE(std::isnan(x.grad().to_vector<float>()[0]));
}

TEST(AnomalyMode, ANaNProducedInBackwardNamesTheNodeAndTheForwardOp) {
  autograd::detect_anomaly anomaly;
  Tensor x = zeros({2}, requires_grad());
  const std::string e = error_of([&] { (x.sqrt() * 0.0).sum().backward(); });
  EXPECT_NE(e.find("detect_anomaly: Function 'SqrtBackward0' returned nan values in its 0th output"), std::string::npos)
      << e;
  EXPECT_NE(e.find("created by the forward op sqrt (ops/pointwise.cpp:"), std::string::npos) << e;
  EXPECT_NE(e.find("called from:"), std::string::npos) << e;
  EXPECT_FALSE(x.grad().defined());  // nothing reached the leaf
}

TEST(AnomalyMode, AnInfinityIsCaughtToo) {
  autograd::detect_anomaly anomaly;
  Tensor x = zeros({2}, requires_grad());
  const std::string e = error_of([&] { x.sqrt().sum().backward(); });
  EXPECT_NE(e.find("Function 'SqrtBackward0' returned inf values in its 0th output"), std::string::npos) << e;
}

TEST(AnomalyMode, ViewsAndActivationsNameThemselves) {
  autograd::detect_anomaly anomaly;
  // log(0) = -inf, relu's gradient there is 0, and log's backward divides it by 0.
  Tensor x = zeros({2, 2}, requires_grad());
  const std::string e = error_of([&] { nn::functional::relu(x.log().t()).sum().backward(); });
  EXPECT_NE(e.find("LogBackward0"), std::string::npos) << e;
  Tensor y = zeros({4}, requires_grad());
  const std::string v = error_of([&] { (y.view({2, 2}).sqrt()).sum().backward(); });
  EXPECT_NE(v.find("forward op sqrt"), std::string::npos) << v;
}

TEST(AnomalyMode, TheScopeRestoresThePreviousStateAndTheFlagIsGlobal) {
  {
    autograd::detect_anomaly outer;
    EXPECT_TRUE(autograd::is_anomaly_enabled());
    EXPECT_TRUE(autograd::is_anomaly_check_nan_enabled());
    {
      autograd::detect_anomaly inner(/*check_nan=*/false);
      EXPECT_FALSE(autograd::is_anomaly_check_nan_enabled());
    }
    EXPECT_TRUE(autograd::is_anomaly_check_nan_enabled());
  }
  EXPECT_FALSE(autograd::is_anomaly_enabled());
  autograd::set_detect_anomaly(true);
  EXPECT_TRUE(autograd::is_anomaly_enabled());
  autograd::set_detect_anomaly(false);
  EXPECT_FALSE(autograd::is_anomaly_enabled());
}

TEST(AnomalyMode, WithoutCheckNanNothingIsChecked) {
  autograd::detect_anomaly anomaly(/*check_nan=*/false);
  Tensor x = zeros({2}, requires_grad());
  x.sqrt().sum().backward();
  EXPECT_TRUE(std::isinf(x.grad().to_vector<float>()[0]));
}

TEST(AnomalyMode, AGraphRecordedBeforeTheModeHasNoTrace) {
  Tensor x = zeros({2}, requires_grad());
  Tensor y = x.sqrt().sum();
  autograd::detect_anomaly anomaly;
  const std::string e = error_of([&] { y.backward(); });
  EXPECT_NE(e.find("SqrtBackward0"), std::string::npos) << e;
  EXPECT_NE(e.find("before anomaly detection was turned on"), std::string::npos) << e;
}

TEST(AnomalyMode, ClipGradNormRefusesANonFiniteNormWhenAsked) {
  Tensor w = ones({2}, requires_grad());
  (w * std::numeric_limits<float>::quiet_NaN()).sum().backward();
  EXPECT_NO_THROW(nn::utils::clip_grad_norm_({w}, 1.0));
  const std::string e = error_of([&] { nn::utils::clip_grad_norm_({w}, 1.0, 2.0, /*error_if_nonfinite=*/true); });
  EXPECT_NE(e.find("non-finite"), std::string::npos) << e;
}

}  // namespace
