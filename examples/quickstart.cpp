// graft in one page: a tiny model, its gradients, a numerical check of them, and a picture of the graph.
//   build/examples/quickstart [graph.svg]
#include <graft/graft.h>

#include <iostream>

using namespace graft;
namespace F = graft::nn::functional;

int main(int argc, char** argv) {
  manual_seed(0);
  Tensor x = randn({4, 3}), target = randn({4, 2});
  Tensor w = randn({3, 2}, requires_grad()), b = zeros({2}, requires_grad());

  Tensor y = F::relu(matmul(x, w) + b);  // the model
  Tensor loss = F::mse_loss(y, target);
  loss.backward();
  std::cout << "loss = " << loss << "\ndloss/dw = " << w.grad() << "\ndloss/db = " << b.grad() << "\n";

  // The same model in float64, its gradients checked against central differences.
  auto model = [&](const TensorList& in) { return F::mse_loss(F::relu(matmul(x.to(kFloat64), in[0]) + in[1]), target.to(kFloat64)); };
  bool ok = autograd::gradcheck(model, {w.detach().to(kFloat64).requires_grad_(), b.detach().to(kFloat64).requires_grad_()});
  std::cout << "gradcheck: " << (ok ? "passed" : "FAILED") << "\n";

  std::string svg = argc > 1 ? argv[1] : "graph.svg";  // the autograd graph, drawn by Graphviz
  render_dot(to_dot({loss}, {{"w", w}, {"b", b}}), svg);
  std::cout << "graph: " << svg << "\n";
  return ok ? 0 : 1;
}
