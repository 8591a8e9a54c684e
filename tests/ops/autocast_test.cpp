// Autocast (graph/autocast_mode.h, ops/detail/autocast.h): inside an enabled scope the matrix products run
// in the scope's 16-bit dtype and the numerically sensitive ops in float32, as torch.autocast does on the
// CPU (tests/reference/autocast.py; graft's deliberate differences are named below); the casts are
// differentiable; scopes nest and are per thread; backward runs without autocast.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "graft/graft.h"
#include "support/errors.h"
#include "support/reference_json.h"

using namespace graft;
using namespace graft::testing;
namespace F = graft::nn::functional;

namespace {

struct Inputs {
  Tensor x, w, b, t, y;
  Tensor img, k, kb;  // (2, 3, 6, 6) images, (4, 3, 3, 3) kernels, (4,) bias
};

Inputs inputs(DType dt) {
  manual_seed(0);
  Inputs in;
  in.x = randn({4, 3}).to(dt);  // drawn in the order of tests/reference/autocast.py
  in.w = randn({5, 3}).to(dt);
  in.b = randn({5}).to(dt);
  in.t = randn({4, 5}).to(dt);
  in.y = tensor({0, 2, 4, 1});
  in.img = randn({2, 3, 6, 6}).to(dt);
  in.k = randn({4, 3, 3, 3}).to(dt);
  in.kb = randn({4}).to(dt);
  return in;
}

// The ops of tests/reference/autocast.py, by the same names.
std::map<std::string, Tensor> run_ops(const Inputs& in) {
  Tensor h = F::linear(in.x, in.w, in.b);
  return {{"matmul", matmul(in.x, in.w.t())},
          {"mm", mm(in.x, in.w.t())},
          {"bmm", bmm(in.x.unsqueeze(0), in.w.t().unsqueeze(0))},
          {"linear", h},
          {"relu", F::relu(h)},
          {"add", h + in.t},
          {"mul_scalar", h * 2},
          {"softmax", F::softmax(h, -1)},
          {"log_softmax", F::log_softmax(h, -1)},
          {"layer_norm", F::layer_norm(h, {5})},
          {"sum", h.sum()},
          {"mean", h.mean()},
          {"mse_loss", F::mse_loss(h, in.t)},
          {"l1_loss", F::l1_loss(h, in.t)},
          {"smooth_l1_loss", F::smooth_l1_loss(h, in.t)},
          {"binary_cross_entropy_with_logits", F::binary_cross_entropy_with_logits(h, sigmoid(in.t))},
          {"nll_loss", F::nll_loss(F::log_softmax(h.to(kFloat32), -1).to(h.dtype()), in.y)},
          {"cross_entropy", F::cross_entropy(h, in.y)},
          {"float64 matmul", matmul(in.x.to(kFloat64), in.w.to(kFloat64).t())},
          {"conv2d", F::conv2d(in.img, in.k, in.kb)},
          {"conv1d", F::conv1d(in.img.select(2, 0), in.k.select(2, 0), in.kb)},
          {"conv_transpose2d", F::conv_transpose2d(F::conv2d(in.img, in.k, in.kb), in.k)},
          {"max_pool2d", F::max_pool2d(F::conv2d(in.img, in.k, in.kb), 2)},
          {"avg_pool2d", F::avg_pool2d(F::conv2d(in.img, in.k, in.kb), 2)}};
}

// Where graft keeps float32 and PyTorch's CPU autocast (1.13) stays in bfloat16: the issue asks for
// softmax, log_softmax, the norms and the reductions in float32 (PyTorch's CUDA autocast does the same).
const std::set<std::string> kFloat32InGraftOnly = {"softmax", "log_softmax", "layer_norm", "sum", "mean"};

}  // namespace

TEST(Autocast, OpsReturnPyTorchsDtypesExceptTheDocumentedFloat32Ones) {
  const auto& ref = reference_json("autocast.json")["autocast_bfloat16"];
  for (std::string in_dtype : {"float32", "bfloat16"}) {
    SCOPED_TRACE("inputs in " + in_dtype);
    Inputs in = inputs(dtype_from_name(in_dtype));
    AutocastGuard autocast(kBFloat16);
    for (const auto& [name, out] : run_ops(in)) {
      const std::string torch_dtype = ref[in_dtype].at(name);
      const std::string want = kFloat32InGraftOnly.count(name) ? "float32" : torch_dtype;
      EXPECT_EQ(dtype_name(out.dtype()), want) << name << " (PyTorch: " << torch_dtype << ")";
    }
  }
}

TEST(Autocast, ProductsComputeOnTheRoundedInputsAndEverythingElseIsUntouchedOutsideAScope) {
  Inputs in = inputs(kFloat32);
  Tensor plain = matmul(in.x, in.w.t());
  EXPECT_EQ(plain.dtype(), kFloat32);
  Tensor lowered;
  {
    AutocastGuard autocast(kBFloat16);
    EXPECT_TRUE(is_autocast_enabled());
    EXPECT_EQ(autocast_dtype(), kBFloat16);
    lowered = matmul(in.x, in.w.t());
  }
  EXPECT_FALSE(is_autocast_enabled());
  EXPECT_TRUE(equal(lowered, matmul(in.x.to(kBFloat16), in.w.to(kBFloat16).t())));
  EXPECT_TRUE(allclose(lowered.to(kFloat32), plain, 2e-2, 2e-2));
  EXPECT_EQ(matmul(in.x, in.w.t()).dtype(), kFloat32) << "the scope is over";
}

TEST(Autocast, GradientsReachFloat32ParametersInFloat32) {
  for (DType dt : {kBFloat16, kFloat16}) {
    SCOPED_TRACE(dtype_name(dt));
    Inputs in = inputs(kFloat32);
    Tensor w = in.w.detach().requires_grad_(), b = in.b.detach().requires_grad_();
    Tensor loss;
    {
      AutocastGuard autocast(dt);
      loss = F::cross_entropy(F::linear(in.x, w, b), in.y);
    }
    EXPECT_EQ(loss.dtype(), kFloat32);
    loss.backward();
    ASSERT_TRUE(w.grad().defined() && b.grad().defined());
    EXPECT_EQ(w.grad().dtype(), kFloat32);
    // The same model without autocast, for comparison: close, at 16-bit precision.
    Tensor w32 = in.w.detach().requires_grad_(), b32 = in.b.detach().requires_grad_();
    F::cross_entropy(F::linear(in.x, w32, b32), in.y).backward();
    EXPECT_TRUE(allclose(w.grad(), w32.grad(), 3e-2, 1e-2)) << w.grad() << "\n" << w32.grad();
    EXPECT_TRUE(allclose(b.grad(), b32.grad(), 3e-2, 1e-2));
  }
}

TEST(Autocast, ScopesNestAndRestore) {
  AutocastGuard outer(kBFloat16);
  {
    AutocastGuard inner(kFloat16);
    EXPECT_EQ(autocast_dtype(), kFloat16);
    EXPECT_EQ(matmul(ones({2, 2}), ones({2, 2})).dtype(), kFloat16);
    {
      AutocastGuard off(kBFloat16, /*enabled=*/false);
      EXPECT_FALSE(is_autocast_enabled());
      EXPECT_EQ(matmul(ones({2, 2}), ones({2, 2})).dtype(), kFloat32);
    }
    EXPECT_TRUE(is_autocast_enabled());
  }
  EXPECT_EQ(autocast_dtype(), kBFloat16);
  EXPECT_EQ(matmul(ones({2, 2}), ones({2, 2})).dtype(), kBFloat16);
}

TEST(Autocast, IsPerThread) {
  AutocastGuard autocast(kBFloat16);
  bool other_enabled = true;
  DType other_dtype = kBFloat16;
  std::thread([&] {
    other_enabled = is_autocast_enabled();
    other_dtype = matmul(ones({2, 2}), ones({2, 2})).dtype();
  }).join();
  EXPECT_FALSE(other_enabled);
  EXPECT_EQ(other_dtype, kFloat32);
}

TEST(Autocast, Float64IsNeverCast) {
  AutocastGuard autocast(kBFloat16);
  Tensor a = ones({2, 2}, kFloat64);
  EXPECT_EQ(matmul(a, a).dtype(), kFloat64);
  EXPECT_EQ(F::softmax(a, -1).dtype(), kFloat64);
}

TEST(Autocast, BackwardRunsWithoutAutocast) {
  Tensor w = ones({3, 3}).requires_grad_();
  bool enabled_in_backward = true;
  Tensor y;
  {
    AutocastGuard autocast(kBFloat16);
    y = matmul(ones({2, 3}), w);
    y.register_hook([&](const Tensor&) { enabled_in_backward = is_autocast_enabled(); });
    y.to(kFloat32).sum().backward();  // backward inside the scope
  }
  EXPECT_FALSE(enabled_in_backward);
  EXPECT_EQ(w.grad().dtype(), kFloat32);
}

TEST(Autocast, CastsEachParameterOncePerScopeAndRecastsAfterAnInPlaceWrite) {
  Tensor w = ones({3, 3}).requires_grad_();
  AutocastGuard autocast(kBFloat16);
  Tensor a = matmul(ones({2, 3}), w), b = matmul(ones({2, 3}), w);
  // Both products read the same cast: their ToCopy nodes are one node.
  ASSERT_TRUE(a.grad_fn() && b.grad_fn());
  auto cast_of = [](const Tensor& t) { return t.grad_fn()->next_edge(1).node.get(); };
  EXPECT_EQ(cast_of(a), cast_of(b));
  {
    NoGradGuard no_grad;
    w.mul_(2.0);
  }
  Tensor c = matmul(ones({2, 3}), w);
  EXPECT_NE(cast_of(c), cast_of(a)) << "a write to the parameter invalidates its cast";
  EXPECT_EQ(c.to_vector<float>(), std::vector<float>(6, 6.0f));
  (a.to(kFloat32).sum() + b.to(kFloat32).sum()).backward();
  EXPECT_EQ(w.grad().to_vector<float>(), std::vector<float>(9, 4.0f));  // 2 products x 2 rows of ones
  EXPECT_FALSE(graft::detail::autocast_cache().empty());
}

TEST(Autocast, TheCacheEmptiesWhenTheOutermostScopeEnds) {
  Tensor w = ones({3, 3}).requires_grad_();
  {
    AutocastGuard outer(kBFloat16);
    {
      AutocastGuard inner(kBFloat16);
      matmul(ones({2, 3}), w);
    }
    EXPECT_EQ(graft::detail::autocast_cache().size(), 1u);
  }
  EXPECT_TRUE(graft::detail::autocast_cache().empty());
}

// A small CNN with batch norm under autocast, as PyTorch runs it: the convolutions in bfloat16, batch_norm of
// their bfloat16 output with the module's float32 parameters and statistics in float32 (PyTorch's mixed type,
// returning bfloat16), the statistics updated in float32, and float32 gradients for every parameter.
TEST(Autocast, AConvolutionalNetworkWithBatchNormTrains) {
  manual_seed(0);
  nn::Sequential net(nn::Conv2d(1, 4, 3), nn::BatchNorm2d(4), nn::ReLU(), nn::MaxPool2d(2), nn::Flatten(),
                     nn::Linear(36, 3));
  Tensor x = randn({8, 1, 8, 8}), y = tensor({0, 1, 2, 0, 1, 2, 0, 1});
  Tensor logits, loss;
  {
    AutocastGuard autocast(kBFloat16);
    logits = net.forward(x);
    loss = F::cross_entropy(logits, y);
  }
  EXPECT_EQ(logits.dtype(), kBFloat16);
  EXPECT_EQ(loss.dtype(), kFloat32);
  loss.backward();
  for (const auto& [name, p] : net.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_EQ(p.grad().dtype(), kFloat32) << name;
  }
  Tensor running_mean;
  for (const auto& [name, b] : net.named_buffers())
    if (name == "1.running_mean") running_mean = b;
  ASSERT_TRUE(running_mean.defined());
  EXPECT_EQ(running_mean.dtype(), kFloat32);
  EXPECT_GT(running_mean.abs().sum().item<double>(), 0.0) << "the statistics were updated";
}

TEST(Autocast, RejectsDtypesOtherThanTheSixteenBitOnes) {
  EXPECT_EQ(error_of([] { AutocastGuard autocast(kFloat32); }), "autocast: dtype must be bfloat16 or float16, got float32");
  EXPECT_EQ(error_of([] { AutocastGuard autocast(kFloat64); }), "autocast: dtype must be bfloat16 or float16, got float64");
  EXPECT_EQ(error_of([] { AutocastGuard autocast(kFloat64, /*enabled=*/false); }), "(no error)");
  EXPECT_FALSE(is_autocast_enabled());
}
