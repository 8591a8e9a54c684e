// Writing your own differentiable ops with autograd::Function<T> (torch.autograd.Function in C++), and
// checking them the way graft checks its own: gradcheck (first derivatives) and gradgradcheck (second).
//
//   1. Softplus, log(1 + exp(x)), as ONE fused kernel (a loop over the elements) with a hand-written backward
//      in graft ops: it passes gradcheck and gradgradcheck, and trains a small model like F::softplus does.
//   2. SwiGLU, silu(a) * b, with its own backward: two inputs, one output.
//   3. The same softplus with a deliberately wrong backward: gradcheck catches it and says where.
//
//   build/examples/custom_op [--out-dir DIR]
#include <graft/graft.h>
#include <graft/graph/loops.h>

#include <cmath>
#include <iostream>

#include "common/cli.h"

using namespace graft;
using autograd::AutogradContext;
namespace F = graft::nn::functional;

// ---- 1. a fused softplus ----
struct FusedSoftplus : autograd::Function<FusedSoftplus> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x) {
    GRAFT_CHECK(is_floating(x.dtype()), "FusedSoftplus: expected a floating-point input, got {}", dtype_name(x.dtype()));
    Tensor y = empty(x.shape(), dtype(x.dtype()));
    dispatch_floating(x.dtype(), "FusedSoftplus", [&]<class T>() {
      // max(x, 0) + log1p(exp(-|x|)): one pass, no overflow for large x.
      loops::map1<T, T>(y, x, [](T v) { return std::max(v, T(0)) + std::log1p(std::exp(-std::abs(v))); });
    });
    ctx->save_for_backward({x});
    return y;
  }
  // d/dx softplus(x) = sigmoid(x), written with ops: differentiable again, so gradgradcheck passes.
  static TensorList backward(AutogradContext* ctx, TensorList grad_outputs) {
    Tensor x = ctx->get_saved_variables()[0];
    return {grad_outputs[0] * sigmoid(x)};
  }
};

// ---- 2. SwiGLU's gate with its own backward ----
struct SwiGLU : autograd::Function<SwiGLU> {
  static Tensor forward(AutogradContext* ctx, const Tensor& a, const Tensor& b) {
    ctx->save_for_backward({a, b});
    return F::silu(a) * b;
  }
  static TensorList backward(AutogradContext* ctx, TensorList g) {
    TensorList saved = ctx->get_saved_variables();
    Tensor a = saved[0], b = saved[1];
    Tensor s = sigmoid(a);
    Tensor dsilu = s * (1 + a * (1 - s));  // d/da a sigmoid(a)
    return {g[0] * b * dsilu, g[0] * a * s};
  }
};

// ---- 3. a bug gradcheck must catch ----
struct WrongSoftplus : autograd::Function<WrongSoftplus> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x) {
    ctx->save_for_backward({x});
    return log(1 + exp(x));
  }
  static TensorList backward(AutogradContext* ctx, TensorList grad_outputs) {
    Tensor x = ctx->get_saved_variables()[0];
    return {grad_outputs[0] * sigmoid(x) * 2.0};  // twice the true derivative
  }
};

int main(int argc, char** argv) {
  examples::TrainingFlags flags;
  CLI::App app{"Your own differentiable ops (autograd::Function), checked with gradcheck and gradgradcheck"};
  app.add_option("--out-dir", flags.out_dir, "where the graph picture goes; created if missing")->capture_default_str();
  app.add_option("--seed", flags.seed, "seed of the random inputs")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return examples::run_guarded([&] {
    examples::prepare(flags);
    manual_seed(flags.seed);
    bool all_ok = true;
    auto report = [&](const std::string& what, bool ok) {
      std::cout << (ok ? "passed  " : "FAILED  ") << what << "\n";
      all_ok &= ok;
    };

    // 1. The fused softplus: same values as F::softplus, first and second derivatives checked numerically.
    Tensor x = randn({3, 4}, dtype(kFloat64)).requires_grad_();
    report("FusedSoftplus equals F::softplus", allclose(FusedSoftplus::apply(x), F::softplus(x), 1e-12, 1e-12));
    auto softplus = [](const TensorList& in) { return FusedSoftplus::apply(in[0]); };
    report("FusedSoftplus: gradcheck", autograd::gradcheck(softplus, {x}));
    report("FusedSoftplus: gradgradcheck", autograd::gradgradcheck(softplus, {x}));

    // 2. SwiGLU.
    Tensor a = randn({2, 5}, dtype(kFloat64)).requires_grad_(), b = randn({2, 5}, dtype(kFloat64)).requires_grad_();
    auto swiglu = [](const TensorList& in) { return SwiGLU::apply(in[0], in[1]); };
    report("SwiGLU: gradcheck", autograd::gradcheck(swiglu, {a, b}));
    report("SwiGLU: gradgradcheck", autograd::gradgradcheck(swiglu, {a, b}));

    // The custom op inside a model, trained like any other: its graph shows the custom node.
    auto model = std::make_shared<nn::Sequential>(nn::Linear(4, 8), nn::Linear(8, 1));
    Tensor input = randn({32, 4}), target = randn({32, 1});
    optim::Adam opt(model->parameters(), 1e-2);
    double first = 0, last = 0;
    Tensor loss;
    for (int step = 0; step < 50; ++step) {
      Tensor h = FusedSoftplus::apply((*(*model)[0])(input));
      loss = F::mse_loss((*(*model)[1])(h), target);
      opt.zero_grad();
      loss.backward();
      opt.step();
      (step == 0 ? first : last) = loss.item<double>();
    }
    std::cout << "training with FusedSoftplus: loss " << first << " -> " << last << "\n";
    report("training lowers the loss", last < first);
    const std::string picture = examples::output_path(flags, "custom_op_graph.svg");
    const auto named = model->named_parameters();
    render_dot(to_dot({loss}, std::map<std::string, Tensor>(named.begin(), named.end())), picture);
    std::cout << "graph: " << picture << "\n";

    // 3. The wrong backward: gradcheck raises graft::Error with the first mismatch it finds.
    Tensor z = tensor({0.5, -1.0}, {2}, kFloat64).requires_grad_();
    try {
      autograd::gradcheck([](const TensorList& in) { return WrongSoftplus::apply(in[0]); }, {z});
      report("gradcheck catches WrongSoftplus", false);
    } catch (const Error& e) {
      std::cout << "gradcheck on WrongSoftplus (a deliberate bug) says:\n  " << e.what() << "\n";
      report("gradcheck catches WrongSoftplus", true);
    }
    std::cout << (all_ok ? "all checks passed" : "SOME CHECKS FAILED") << "\n";
    return all_ok ? 0 : 1;
  });
}
