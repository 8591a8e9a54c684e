// graft in one page: a tiny model, its gradients, a numerical check of them, and a picture of the graph.
//   build/examples/quickstart [--out-dir DIR]      (writes DIR/graph.svg; DIR defaults to ".")
#include <graft/graft.h>

#include <filesystem>
#include <iostream>
#include <string>

using namespace graft;
namespace F = graft::nn::functional;

int main(int argc, char** argv) {
  std::string out_dir = ".";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << "graft's quickstart: a ReLU model, its gradients, gradcheck, and the graph as SVG\n"
                   "usage: quickstart [--out-dir DIR]   (writes DIR/graph.svg; DIR is created if missing)\n";
      return 0;
    }
    if (arg == "--out-dir" && i + 1 < argc) {
      out_dir = argv[++i];
      continue;
    }
    std::cerr << "quickstart: unknown argument '" << arg << "' (try --help)\n";
    return 2;
  }
  try {
    manual_seed(0);
    Tensor x = randn({4, 3}), target = randn({4, 2});
    Tensor w = randn({3, 2}, requires_grad()), b = zeros({2}, requires_grad());

    Tensor y = F::relu(matmul(x, w) + b);  // the model
    Tensor loss = F::mse_loss(y, target);
    loss.backward();
    std::cout << "loss = " << loss << "\ndloss/dw = " << w.grad() << "\ndloss/db = " << b.grad() << "\n";

    // The same model in float64, its gradients checked against central differences.
    auto model = [&](const TensorList& in) {
      return F::mse_loss(F::relu(matmul(x.to(kFloat64), in[0]) + in[1]), target.to(kFloat64));
    };
    bool ok = autograd::gradcheck(model, {w.detach().to(kFloat64).requires_grad_(), b.detach().to(kFloat64).requires_grad_()});
    std::cout << "gradcheck: " << (ok ? "passed" : "FAILED") << "\n";

    std::filesystem::create_directories(out_dir);
    const std::string svg = (std::filesystem::path(out_dir) / "graph.svg").string();
    render_dot(to_dot({loss}, {{"w", w}, {"b", b}}), svg);  // the autograd graph, drawn by Graphviz
    std::cout << "graph: " << svg << "\n";
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
