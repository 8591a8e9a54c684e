// graft in one page: a tiny model, its gradients, a numerical check of them, and a picture of the graph.
//   build/examples/quickstart [graph.svg]
#include <graft/autograd/gradcheck.h>
#include <graft/graft.h>

#include <iostream>

using namespace graft;

int main(int argc, char** argv) {
  manual_seed(0);
  Tensor x = randn({4, 3});
  Tensor w = randn({3, 2}, requires_grad());
  Tensor b = zeros({2}, requires_grad());

  Tensor y = tanh(matmul(x, w) + b);  // the model
  Tensor loss = y.pow(2).mean();
  loss.backward();
  std::cout << "loss = " << loss << "\n\ndloss/dw = " << w.grad() << "\n\ndloss/db = " << b.grad() << "\n\n";

  // The same model in float64, checked against central differences.
  auto model = [](const TensorList& in) { return tanh(matmul(in[0], in[1]) + in[2]).pow(2).mean(); };
  bool ok = autograd::gradcheck(model, {x.to(kFloat64), w.detach().to(kFloat64).requires_grad_(),
                                        b.detach().to(kFloat64).requires_grad_()});
  std::cout << "gradcheck: " << (ok ? "passed" : "FAILED") << "\n";

  // TODO(dot): graph export goes here once graft::to_dot / graft::render_dot (graph/dot.h) land:
  //   std::string svg = argc > 1 ? argv[1] : "graph.svg";
  //   render_dot(to_dot({loss}, {{"w", w}, {"b", b}}), svg);
  //   std::cout << "graph: " << svg << "\n";
  (void)argc, (void)argv;
  return ok ? 0 : 1;
}
