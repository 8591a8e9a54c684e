// Gradient descent, the first exercise of every deep-learning course, twice:
//  1. Solve x - 2 = 0 by minimising f(x) = 1/2 (x - 2)^2. Its gradient f'(x) = x - 2 is written by hand
//     in plain doubles, and graft's autograd computes it from the expression; both runs take the same steps,
//     x <- x - lr f'(x), and their trajectories are printed side by side. They are equal bit for bit (the
//     program fails otherwise).
//  2. Minimise g(x) = x^2 + x + 1 with autograd and optim::SGD: x converges to -1/2, where g = 3/4.
// Pictures: curves.svg (x and the loss per step) and the two autograd graphs (graph_*.dot / .svg).
//
//   build/examples/gradient_descent [--lr 0.1] [--steps 25] [--x0 0] [--out-dir DIR] [--quick]
#include <graft/graft.h>

#include <cmath>
#include <iostream>

#include <fmt/format.h>

#include "common/cli.h"
#include "graft/utils/graph_picture.h"
#include "graft/utils/plot.h"
#include "graft/utils/progress.h"

using namespace graft;
using namespace graft::examples;
using namespace graft::utils;

namespace {

struct Trajectory {
  std::vector<double> x, grad, loss;
};

// f(x) = 1/2 (x - 2)^2 with f'(x) = x - 2 written by hand.
Trajectory half_square_by_hand(double x, double lr, int64_t steps) {
  Trajectory t;
  for (int64_t i = 0; i <= steps; ++i) {
    const double grad = x - 2;
    t.x.push_back(x);
    t.grad.push_back(grad);
    t.loss.push_back(0.5 * (x - 2) * (x - 2));
    if (i < steps) x -= lr * grad;
  }
  return t;
}

// The same with the gradient from autograd. The step is written as by hand, x - (lr * grad) with two
// roundings, so the only difference between the runs is where the gradient comes from. (optim::SGD's fused
// loop may use a fused multiply-add, one rounding, and then drifts from the hand-written run in the last
// bit after some twenty steps; part 2 uses it.) `graph` receives the last loss, whose graph is drawn.
Trajectory half_square_autograd(double x0, double lr, int64_t steps, Tensor& graph, Tensor& parameter) {
  Tensor x = scalar_tensor(x0, dtype(kFloat64).requires_grad());
  Trajectory t;
  for (int64_t i = 0; i <= steps; ++i) {
    Tensor loss = 0.5 * pow(x - 2, 2);
    loss.backward();
    t.x.push_back(x.item<double>());
    t.grad.push_back(x.grad().item<double>());
    t.loss.push_back(loss.item<double>());
    if (i < steps) {
      NoGradGuard no_grad;
      x -= lr * x.grad();
      x.mutable_grad().zero_();
    }
    graph = loss;
  }
  parameter = x;
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  TrainingFlags flags;
  flags.lr = 0.1;
  int64_t steps = 25, quadratic_steps = 120;
  double x0 = 0.0, quadratic_x0 = 2.0;
  CLI::App app{"Gradient descent by hand and with autograd: x - 2 = 0 through 1/2 (x - 2)^2, and the minimum of x^2 + x + 1."};
  app.add_option("--lr", flags.lr, "step size")->check(examples::Positive)->capture_default_str();
  app.add_option("--steps", steps, "steps on 1/2 (x - 2)^2")->check(examples::Positive)->capture_default_str();
  app.add_option("--quadratic-steps", quadratic_steps, "steps on x^2 + x + 1")->check(examples::Positive)->capture_default_str();
  app.add_option("--x0", x0, "starting point on 1/2 (x - 2)^2")->capture_default_str();
  app.add_option("--quadratic-x0", quadratic_x0, "starting point on x^2 + x + 1")->capture_default_str();
  app.add_option("--out-dir", flags.out_dir, "where the pictures go; created if missing")->capture_default_str();
  app.add_flag("--quick", flags.quick, "fewer steps (what the tests run)");
  CLI11_PARSE(app, argc, argv);

  return run_guarded([&] {
    prepare(flags);
    if (flags.quick) steps = std::min<int64_t>(steps, 10), quadratic_steps = std::min<int64_t>(quadratic_steps, 80);

    // ---- 1. x - 2 = 0 ----
    fmt::print("1. Solving x - 2 = 0 by minimising f(x) = 1/2 (x - 2)^2: x <- x - {} f'(x), from x = {}\n\n", flags.lr, x0);
    const Trajectory hand = half_square_by_hand(x0, flags.lr, steps);
    Tensor half_square_loss, half_square_x;
    const Trajectory autograd = half_square_autograd(x0, flags.lr, steps, half_square_loss, half_square_x);
    fmt::print("{:>4}  {:>20}  {:>20}    {:>20}  {:>20}\n", "step", "x (f' by hand)", "f'(x) = x - 2", "x (autograd)",
               "f'(x) from backward()");
    bool identical = true;
    for (size_t i = 0; i < hand.x.size(); ++i) {
      const bool same = hand.x[i] == autograd.x[i] && hand.grad[i] == autograd.grad[i];
      identical = identical && same;
      fmt::print("{:>4}  {:>20.15f}  {:>20.15f}    {:>20.15f}  {:>20.15f}{}\n", i, hand.x[i], hand.grad[i], autograd.x[i],
                 autograd.grad[i], same ? "" : "   <- differs");
    }
    fmt::print("\nTrajectories {}; x = {:.15f} after {} steps (the root is 2).\n\n",
               identical ? "identical, bit for bit" : "DIFFER", autograd.x.back(), steps);

    // ---- 2. x^2 + x + 1 ----
    fmt::print("2. Minimising g(x) = x^2 + x + 1 with autograd and optim::SGD(lr={}), from x = {}\n", flags.lr, quadratic_x0);
    Tensor x = scalar_tensor(quadratic_x0, dtype(kFloat64).requires_grad());
    optim::SGD sgd({x}, optim::SGDOptions(flags.lr));
    Trajectory quad;
    Tensor quadratic_loss;
    ProgressBar bar("x^2 + x + 1", quadratic_steps, std::cout, std::nullopt, "steps");
    for (int64_t i = 0; i <= quadratic_steps; ++i) {
      sgd.zero_grad();
      Tensor loss = x * x + x + 1;
      loss.backward();
      quad.x.push_back(x.item<double>());
      quad.grad.push_back(x.grad().item<double>());
      quad.loss.push_back(loss.item<double>());
      quadratic_loss = loss;
      if (i == quadratic_steps) break;
      sgd.step();
      bar.update(1, loss.item<double>());
    }
    bar.finish(fmt::format("x = {:.12f}", quad.x.back()));
    const size_t last = quad.x.size() - 1, every = std::max<size_t>(1, last / 8);
    for (size_t i = 0; i <= last; i += (i + every > last && i != last) ? last - i : every)
      fmt::print("  step {:>4}: x = {:>18.12f}  g(x) = {:.12f}  g'(x) = {:>15.12f}\n", i, quad.x[i], quad.loss[i], quad.grad[i]);
    const bool converged = std::abs(quad.x.back() + 0.5) < 1e-6;
    fmt::print("x -> {:.12f} (the minimum is at -0.5, where g = 0.75): {}\n\n", quad.x.back(),
               converged ? "converged" : "NOT converged");

    // ---- pictures ----
    auto steps_of = [](size_t n) {
      std::vector<double> s(n);
      for (size_t i = 0; i < n; ++i) s[i] = static_cast<double>(i);
      return s;
    };
    const std::vector<double> s1 = steps_of(hand.x.size()), s2 = steps_of(quad.x.size());
    const std::string curves = output_path(flags, "curves.svg");
    write_text_file(curves_svg({{"1/2 (x - 2)^2: x per step", "step", "x",
                                 {{"f' by hand", s1, hand.x}, {"autograd", s1, autograd.x}}},
                                {"1/2 (x - 2)^2: loss per step", "step", "f(x)",
                                 {{"f' by hand", s1, hand.loss}, {"autograd", s1, autograd.loss}}},
                                {"x^2 + x + 1", "step", "value", {{"x", s2, quad.x}, {"g(x)", s2, quad.loss}}}}),
                    curves);
    write_graph({half_square_loss}, {{"x", half_square_x}}, output_path(flags, "graph_half_square"));
    write_graph({quadratic_loss}, {{"x", x}}, output_path(flags, "graph_quadratic"));
    fmt::print("pictures: {}, {}.{{dot,svg}}, {}.{{dot,svg}}\n", curves, output_path(flags, "graph_half_square"),
               output_path(flags, "graph_quadratic"));
    return identical && converged ? 0 : 1;
  });
}
