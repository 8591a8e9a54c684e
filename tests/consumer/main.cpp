// Uses graft as an installed package: builds a tiny model, runs backward, and checks the gradient of
// every parameter against central differences. Exits non-zero on any failure.
#include <cmath>
#include <cstdio>
#include <exception>
#include <functional>
#include <vector>

#include <graft/autograd/gradcheck.h>
#include <graft/graft.h>

using graft::Tensor;

namespace {

// loss = mean(tanh(x @ w + b)^2)
Tensor model_loss(const Tensor& x, const Tensor& w, const Tensor& b) {
  return graft::tanh(graft::matmul(x, w) + b).pow(2).mean();
}

// Compares param.grad() with (loss(p + eps) - loss(p - eps)) / 2 eps, element by element; returns the
// number of mismatching elements.
int check_numerically(const char* name, Tensor& param, const std::function<double()>& loss) {
  const double eps = 1e-6;
  const std::vector<double> analytic = param.grad().to_vector<double>();
  double* p = param.data_ptr<double>();  // the parameters are contiguous float64 leaves
  int bad = 0;
  for (int64_t i = 0; i < param.numel(); ++i) {
    const double saved = p[i];
    p[i] = saved + eps;
    const double up = loss();
    p[i] = saved - eps;
    const double down = loss();
    p[i] = saved;
    const double numeric = (up - down) / (2 * eps);
    if (std::abs(numeric - analytic[i]) > 1e-6 + 1e-4 * std::abs(numeric)) {
      std::fprintf(stderr, "consumer: d loss / d %s[%lld]: backward gave %.10g, central differences %.10g\n", name,
                   static_cast<long long>(i), analytic[i], numeric);
      ++bad;
    }
  }
  return bad;
}

}  // namespace

int main() {
  try {
    graft::manual_seed(0);
    const auto f64 = graft::dtype(graft::kFloat64);
    Tensor x = graft::randn({5, 3}, f64);
    Tensor w = graft::randn({3, 4}, f64.requires_grad());
    Tensor b = graft::randn({4}, f64.requires_grad());

    Tensor loss = model_loss(x, w, b);
    loss.backward();
    if (!w.grad().defined() || !b.grad().defined() || w.grad().shape() != w.shape() || b.grad().shape() != b.shape()) {
      std::fprintf(stderr, "consumer: backward did not fill the parameters' gradients\n");
      return 1;
    }

    auto loss_value = [&] {
      graft::NoGradGuard no_grad;
      return model_loss(x, w, b).item<double>();
    };
    int bad = check_numerically("w", w, loss_value) + check_numerically("b", b, loss_value);

    // The public gradcheck agrees too (it raises graft::Error on a mismatch).
    graft::autograd::gradcheck([](const graft::TensorList& in) { return model_loss(in[0], in[1], in[2]); },
                               {x, w.detach().requires_grad_(), b.detach().requires_grad_()});

    std::printf("consumer: loss %.6f, %lld gradient elements checked, %d mismatches\n", loss.item<double>(),
                static_cast<long long>(w.numel() + b.numel()), bad);
    return bad == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer: %s\n", e.what());
    return 1;
  }
}
