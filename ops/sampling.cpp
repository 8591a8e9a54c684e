#include "graft/ops/sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <numeric>
#include <vector>

#include "graft/autograd/profiler.h"
#include "graft/ops/detail/op_helpers.h"

namespace graft {

using namespace detail;

namespace {

void check_distribution(const double* p, int64_t categories, int64_t row, int64_t num_samples, bool replacement) {
  double total = 0;
  int64_t nonzero = 0;
  for (int64_t c = 0; c < categories; ++c) {
    GRAFT_CHECK(std::isfinite(p[c]) && p[c] >= 0,
                "multinomial: probability tensor contains either inf, nan or element < 0 (row {}, category {}: {})", row, c, p[c]);
    total += p[c];
    nonzero += p[c] > 0;
  }
  GRAFT_CHECK(total > 0, "multinomial: invalid distribution in row {} (sum of probabilities <= 0)", row);
  GRAFT_CHECK(replacement || nonzero >= num_samples,
              "multinomial: row {} has only {} categories of nonzero probability; cannot draw {} samples without replacement",
              row, nonzero, num_samples);
}

// Inverse-CDF sampling: the first category whose cumulative weight exceeds u * total.
void draw_with_replacement(const double* p, int64_t categories, int64_t num_samples, Generator& gen, int64_t* out) {
  std::vector<double> cdf(static_cast<size_t>(categories));
  std::partial_sum(p, p + categories, cdf.begin());
  const double total = cdf.back();
  int64_t last_nonzero = categories - 1;
  while (p[last_nonzero] == 0) --last_nonzero;
  for (int64_t s = 0; s < num_samples; ++s) {
    const double u = gen.uniform() * total;
    const int64_t c = std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin();
    out[s] = std::min(c, last_nonzero);  // u * total may round up to total
  }
}

// The exponential race: category c finishes at E_c / p_c with E_c ~ Exp(1); the first num_samples to finish are
// distributed as successive draws without replacement, in that order.
void draw_without_replacement(const double* p, int64_t categories, int64_t num_samples, Generator& gen, int64_t* out) {
  std::vector<double> finish(static_cast<size_t>(categories));
  for (int64_t c = 0; c < categories; ++c) {
    const double e = -std::log1p(-gen.uniform());  // 1 - u is in (0, 1]
    finish[static_cast<size_t>(c)] = p[c] > 0 ? e / p[c] : std::numeric_limits<double>::infinity();
  }
  std::vector<int64_t> order(static_cast<size_t>(categories));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::partial_sort(order.begin(), order.begin() + num_samples, order.end(), [&](int64_t a, int64_t b) {
    const double fa = finish[static_cast<size_t>(a)], fb = finish[static_cast<size_t>(b)];
    return fa < fb || (fa == fb && a < b);
  });
  std::copy(order.begin(), order.begin() + num_samples, out);
}

}  // namespace

Tensor multinomial(const Tensor& input, int64_t num_samples, bool replacement, Generator* generator) {
  GRAFT_RECORD_FUNCTION("multinomial", input);
  check_defined("multinomial", "input", input);
  GRAFT_CHECK(input.dim() == 1 || input.dim() == 2, "multinomial: prob_dist must be 1 or 2 dim, got shape {}",
              shape_str(input.shape()));
  GRAFT_CHECK(is_floating(input.dtype()), "multinomial: only floating-point probabilities are supported, got {}",
              dtype_name(input.dtype()));
  const int64_t categories = input.shape().back(), rows = input.dim() == 2 ? input.shape()[0] : 1;
  GRAFT_CHECK(categories > 0, "multinomial: the distribution has no categories (shape {})", shape_str(input.shape()));
  GRAFT_CHECK(num_samples > 0, "multinomial: cannot sample num_samples <= 0 samples, got {}", num_samples);
  GRAFT_CHECK(replacement || num_samples <= categories,
              "multinomial: cannot sample num_samples ({}) > prob_dist.size(-1) ({}) samples without replacement",
              num_samples, categories);
  const std::vector<double> p = input.to_vector<double>();
  for (int64_t r = 0; r < rows; ++r) check_distribution(p.data() + r * categories, categories, r, num_samples, replacement);

  Tensor out = input.dim() == 2 ? empty({rows, num_samples}, kInt64) : empty({num_samples}, kInt64);
  int64_t* op = out.data_ptr<int64_t>();
  Generator& gen = generator ? *generator : default_generator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  for (int64_t r = 0; r < rows; ++r) {
    const double* row = p.data() + r * categories;
    if (replacement) draw_with_replacement(row, categories, num_samples, gen, op + r * num_samples);
    else draw_without_replacement(row, categories, num_samples, gen, op + r * num_samples);
  }
  return out;
}

}  // namespace graft
