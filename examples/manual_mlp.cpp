// A two-layer MLP written twice: once "by hand", NumPy style, with its forward and backward spelled out in
// tensor ops (matmul, softmax, the chain rule layer by layer), and once through autograd
// (F::relu, F::cross_entropy, loss.backward()). Both copies start from the same float64 weights, see the
// same mini-batches and take the same SGD steps; at every step their gradients must agree to 1e-12.
//
//   logits = relu(x W1 + b1) W2 + b2,  loss = cross_entropy(logits, y)   on two interleaved spirals
//
// Pictures: curves.svg (loss and accuracy of both copies per epoch), graph.dot / graph.svg (the autograd
// copy's graph).
//   build/examples/manual_mlp [--epochs 150] [--hidden 64] [--lr 0.5] [--batch-size 32] [--out-dir DIR] [--quick]
#include <graft/graft.h>

#include <cmath>
#include <iostream>

#include <fmt/format.h>

#include "common/cli.h"
#include "graft/utils/graph_picture.h"
#include "common/metrics.h"
#include "common/profiling.h"
#include "graft/utils/plot.h"
#include "graft/utils/progress.h"

using namespace graft;
using namespace graft::examples;
using namespace graft::utils;
namespace F = graft::nn::functional;

namespace {

struct Params {
  Tensor W1, b1, W2, b2;  // W1 (in, hidden), W2 (hidden, classes): x W, as in the NumPy exercise
  std::vector<Tensor> list() const { return {W1, b1, W2, b2}; }
};
const char* const kNames[] = {"W1", "b1", "W2", "b2"};

struct Step {
  double loss;
  int64_t correct;
  std::vector<Tensor> grads;  // in Params order
};

// The forward and backward by hand. Nothing here records a graph: the tensors do not require grad.
Step manual_step(const Params& p, const Tensor& x, const Tensor& y, int64_t classes) {
  const auto n = static_cast<double>(x.size(0));
  // forward
  Tensor z1 = matmul(x, p.W1) + p.b1;                    // (N, H)
  Tensor h = where(z1 > 0, z1, 0.0);                     // relu
  Tensor logits = matmul(h, p.W2) + p.b2;                // (N, C)
  Tensor shifted = logits - amax(logits, {1}, true);     // log-softmax without overflow
  Tensor log_probs = shifted - log(sum(exp(shifted), {1}, true));
  Tensor onehot = F::one_hot(y, classes).to(kFloat64);
  const double loss = -sum(log_probs * onehot).item<double>() / n;
  // backward: d loss / d logits of the mean cross-entropy is (softmax - onehot) / N
  Tensor dlogits = (exp(log_probs) - onehot) / n;
  Tensor dW2 = matmul(h.t(), dlogits);
  Tensor db2 = sum(dlogits, {0});
  Tensor dh = matmul(dlogits, p.W2.t());
  Tensor dz1 = where(z1 > 0, dh, 0.0);                   // relu passes the gradient where it was positive
  Tensor dW1 = matmul(x.t(), dz1);
  Tensor db1 = sum(dz1, {0});
  return {loss, count_correct(logits, y), {dW1, db1, dW2, db2}};
}

// The same model through autograd; `graph` receives the loss (for the picture).
Step autograd_step(const Params& p, const Tensor& x, const Tensor& y, Tensor* graph = nullptr) {
  for (Tensor t : p.list()) t.mutable_grad() = Tensor();
  Tensor logits = matmul(F::relu(matmul(x, p.W1) + p.b1), p.W2) + p.b2;
  Tensor loss = F::cross_entropy(logits, y);
  loss.backward();
  if (graph) *graph = loss;
  std::vector<Tensor> grads;
  for (const Tensor& t : p.list()) grads.push_back(t.grad());
  return {loss.item<double>(), count_correct(logits.detach(), y), grads};
}

double max_abs_diff(const Tensor& a, const Tensor& b) { return amax(abs(a - b), {0, 1}).item<double>(); }
double max_abs(const Tensor& a) { return amax(abs(a), {0, 1}).item<double>(); }
// Vectors as (n, 1) so that every parameter reduces over two dims.
Tensor as_matrix(const Tensor& t) { return t.dim() == 1 ? t.unsqueeze(1) : t; }

// p <- p - lr * grad, written the same way for both copies.
void sgd_step(const Params& p, const std::vector<Tensor>& grads, double lr) {
  NoGradGuard no_grad;
  const std::vector<Tensor> list = p.list();
  for (size_t i = 0; i < list.size(); ++i) {
    Tensor param = list[i];
    param -= lr * grads[i];
  }
}

double accuracy_of(const Params& p, const Tensor& x, const Tensor& y) {
  NoGradGuard no_grad;
  Tensor logits = matmul(F::relu(matmul(x, p.W1) + p.b1), p.W2) + p.b2;
  return static_cast<double>(count_correct(logits, y)) / static_cast<double>(x.size(0));
}

}  // namespace

int main(int argc, char** argv) {
  TrainingFlags flags;
  flags.epochs = 150;
  flags.batch_size = 32;
  flags.lr = 0.5;
  int64_t hidden = 64, points = 300;
  double tolerance = 1e-12;
  CLI::App app{"A two-layer MLP with its backward written by hand next to the same model through autograd (float64)."};
  add_training_flags(app, flags);
  app.add_option("--hidden", hidden, "hidden units")->check(examples::Positive)->capture_default_str();
  app.add_option("--points", points, "training points per spiral arm")->check(examples::Positive)->capture_default_str();
  app.add_option("--tolerance", tolerance, "largest allowed |manual - autograd| gradient difference")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  return run_guarded([&] {
    prepare(flags);
    if (flags.quick) flags.epochs = std::min<int64_t>(flags.epochs, 5), points = std::min<int64_t>(points, 100);
    constexpr int64_t kClasses = 2;
    data::TensorDataset train = data::make_spirals(points, 0.05, flags.seed, 1.5, kFloat64);
    data::TensorDataset test = data::make_spirals(points, 0.05, flags.seed + 1, 1.5, kFloat64);

    // He initialisation, the same numbers for both copies.
    manual_seed(flags.seed);
    Params manual{randn({2, hidden}, kFloat64) * std::sqrt(2.0 / 2), zeros({hidden}, kFloat64),
                  randn({hidden, kClasses}, kFloat64) * std::sqrt(2.0 / static_cast<double>(hidden)),
                  zeros({kClasses}, kFloat64)};
    Params autograd;
    {
      std::vector<Tensor> copies;
      for (const Tensor& t : manual.list()) copies.push_back(t.clone().requires_grad_());
      autograd = {copies[0], copies[1], copies[2], copies[3]};
    }

    // The gradients on the whole training set, side by side, before any training.
    const Step m0 = manual_step(manual, train.inputs(), train.targets(), kClasses);
    Tensor graph_loss;
    const Step a0 = autograd_step(autograd, train.inputs(), train.targets(), &graph_loss);
    fmt::print("Two-layer MLP 2-{}-{} on {} spiral points, float64. Gradients at initialisation:\n", hidden, kClasses,
               train.size());
    fmt::print("  {:<4} {:>10} {:>16} {:>16} {:>24}\n", "", "shape", "max |by hand|", "max |autograd|", "max |by hand - autograd|");
    double worst = std::abs(m0.loss - a0.loss) > tolerance ? INFINITY : 0.0;
    for (size_t i = 0; i < 4; ++i) {
      const Tensor g = as_matrix(m0.grads[i]), ga = as_matrix(a0.grads[i]);
      const double d = max_abs_diff(g, ga);
      worst = std::max(worst, d);
      fmt::print("  {:<4} {:>10} {:>16.6e} {:>16.6e} {:>24.3e}\n", kNames[i],
                 fmt::format("[{}]", fmt::join(m0.grads[i].shape(), ", ")), max_abs(g), max_abs(ga), d);
    }
    fmt::print("  loss by hand {:.17g}, through autograd {:.17g}\n\n", m0.loss, a0.loss);

    // Training: both copies in lockstep on the same batches.
    data::DataLoader loader(train, data::DataLoaderOptions(flags.batch_size).shuffle(true).seed(flags.seed));
    std::vector<double> epochs, manual_loss, autograd_loss, manual_acc, autograd_acc;
    RunProfile run_profile(flags.profile);
    for (int64_t epoch = 1; epoch <= flags.epochs; ++epoch) {
      ProgressBar bar(fmt::format("epoch {}/{}", epoch, flags.epochs), loader.size());
      double autograd_loss_sum = 0;
      for (const auto& [x, y] : loader) {
        const Step m = manual_step(manual, x, y, kClasses);
        const Step a = autograd_step(autograd, x, y);
        for (size_t i = 0; i < 4; ++i) worst = std::max(worst, max_abs_diff(as_matrix(m.grads[i]), as_matrix(a.grads[i])));
        sgd_step(manual, m.grads, flags.lr);
        sgd_step(autograd, a.grads, flags.lr);
        autograd_loss_sum += a.loss;
        bar.update(x.size(0), m.loss, m.correct);
      }
      epochs.push_back(static_cast<double>(epoch));
      manual_loss.push_back(bar.mean_loss());
      autograd_loss.push_back(autograd_loss_sum / static_cast<double>(loader.size()));
      manual_acc.push_back(100 * accuracy_of(manual, test.inputs(), test.targets()));
      autograd_acc.push_back(100 * accuracy_of(autograd, test.inputs(), test.targets()));
      if (flags.quick || epoch % 10 == 0 || epoch == 1 || epoch == flags.epochs)
        bar.finish(fmt::format("held-out acc {:.1f}% (autograd copy {:.1f}%)  max grad diff so far {:.1e}",
                               manual_acc.back(), autograd_acc.back(), worst));
    }
    run_profile.finish();
    double param_diff = 0;
    for (size_t i = 0; i < 4; ++i)
      param_diff = std::max(param_diff, max_abs_diff(as_matrix(manual.list()[i]), as_matrix(autograd.list()[i].detach())));

    const bool ok = worst <= tolerance;
    fmt::print("\nLargest |by hand - autograd| gradient difference over {} steps: {:.3e} ({} {:.0e})\n",
               flags.epochs * loader.size() + 1, worst, ok ? "within" : "EXCEEDS", tolerance);
    fmt::print("Largest weight difference after training: {:.3e}; held-out accuracy {:.1f}% by hand, {:.1f}% autograd\n",
               param_diff, manual_acc.back(), autograd_acc.back());

    const std::string curves = output_path(flags, "curves.svg"), graph = output_path(flags, "graph");
    write_text_file(curves_svg({{"training loss", "epoch", "cross-entropy",
                                 {{"by hand", epochs, manual_loss}, {"autograd", epochs, autograd_loss}}},
                                {"held-out accuracy", "epoch", "accuracy (%)",
                                 {{"by hand", epochs, manual_acc}, {"autograd", epochs, autograd_acc}}}}),
                    curves);
    write_graph({graph_loss}, {{"W1", autograd.W1}, {"b1", autograd.b1}, {"W2", autograd.W2}, {"b2", autograd.b2}}, graph);
    fmt::print("pictures: {}, {}.{{dot,svg}}\n", curves, graph);
    return ok ? 0 : 1;
  });
}
