#include "graft/nn/logits_warpers.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <iterator>
#include <limits>
#include <vector>

#include "graft/graph/factory.h"
#include "graft/nn/detail/as_doubles.h"
#include "graft/ops/pointwise.h"

namespace graft::nn {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct Rows {
  std::vector<double> values;
  int64_t count = 0, vocab = 0;
  const double* row(int64_t r) const { return values.data() + r * vocab; }
};

Rows read_rows(const char* op, const Tensor& logits) {
  GRAFT_CHECK(logits.defined(), "{}: argument 'logits' is an undefined tensor", op);
  GRAFT_CHECK(logits.is_floating_point(), "{}: logits must be float32 or float64, got {}", op, dtype_name(logits.dtype()));
  GRAFT_CHECK(logits.dim() >= 1 && logits.shape().back() > 0,
              "{}: logits must have shape (..., vocab) with vocab > 0, got {}", op, shape_str(logits.shape()));
  Rows rows;
  rows.values = detail::as_doubles(logits);
  rows.vocab = logits.shape().back();
  rows.count = logits.numel() / rows.vocab;
  for (int64_t r = 0; r < rows.count; ++r)
    for (int64_t v = 0; v < rows.vocab; ++v)
      GRAFT_CHECK(!std::isnan(rows.row(r)[v]), "{}: logits contain NaN (row {}, token {})", op, r, v);
  return rows;
}

void check_min_tokens(const char* op, int64_t min_tokens_to_keep) {
  GRAFT_CHECK(min_tokens_to_keep >= 1, "{}: min_tokens_to_keep must be at least 1, got {}", op, min_tokens_to_keep);
}

// logits with -inf wherever a token's logit is below its row's threshold(row values).
Tensor remove_below(const Tensor& logits, const Rows& rows, const std::function<double(int64_t, const double*)>& threshold) {
  std::vector<bool> remove(static_cast<size_t>(rows.count * rows.vocab));
  for (int64_t r = 0; r < rows.count; ++r) {
    const double* x = rows.row(r);
    const double t = threshold(r, x);
    for (int64_t v = 0; v < rows.vocab; ++v) remove[static_cast<size_t>(r * rows.vocab + v)] = x[v] < t;
  }
  return masked_fill(logits, tensor(remove, logits.shape(), kBool), -kInf);
}

}  // namespace

Tensor temperature_scale(const Tensor& logits, double temperature) {
  GRAFT_CHECK(logits.defined(), "temperature_scale: argument 'logits' is an undefined tensor");
  GRAFT_CHECK(logits.is_floating_point(), "temperature_scale: logits must be float32 or float64, got {}",
              dtype_name(logits.dtype()));
  GRAFT_CHECK(std::isfinite(temperature) && temperature > 0,
              "temperature_scale: temperature must be a positive finite number, got {}", temperature);
  return div(logits, temperature);
}

Tensor top_k_filter(const Tensor& logits, int64_t top_k, int64_t min_tokens_to_keep) {
  const char* op = "top_k_filter";
  GRAFT_CHECK(top_k >= 0, "{}: top_k must be non-negative (0 keeps every token), got {}", op, top_k);
  check_min_tokens(op, min_tokens_to_keep);
  const Rows rows = read_rows(op, logits);
  const int64_t k = std::min(std::max(top_k, min_tokens_to_keep), rows.vocab);
  if (top_k == 0 || k == rows.vocab) return logits;
  std::vector<double> sorted(static_cast<size_t>(rows.vocab));
  return remove_below(logits, rows, [&](int64_t, const double* x) {
    std::copy(x, x + rows.vocab, sorted.begin());
    std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end(), std::greater<>());
    return sorted[static_cast<size_t>(k - 1)];  // the k-th largest
  });
}

Tensor top_p_filter(const Tensor& logits, double top_p, int64_t min_tokens_to_keep) {
  const char* op = "top_p_filter";
  GRAFT_CHECK(top_p > 0 && top_p <= 1, "{}: top_p must be in (0, 1], got {}", op, top_p);
  check_min_tokens(op, min_tokens_to_keep);
  const Rows rows = read_rows(op, logits);
  if (top_p == 1) return logits;
  const int64_t vocab = rows.vocab;
  std::vector<double> heap;
  heap.reserve(static_cast<size_t>(vocab));
  return remove_below(logits, rows, [&](int64_t r, const double* x) {
    const double max = *std::max_element(x, x + vocab);
    GRAFT_CHECK(max != kInf, "{}: logits contain +inf (row {})", op, r);
    if (max == -kInf) return -kInf;  // no distribution to truncate
    double total = 0;
    for (int64_t v = 0; v < vocab; ++v)
      if (x[v] != -kInf) total += std::exp(x[v] - max);  // skipping removed tokens saves most of the time after top-k
    // Pop the logits from largest to smallest (a heap: the nucleus is usually a small part of the vocabulary,
    // and tokens already removed, e.g. by top-k, are left out) while the total probability before each one is
    // still short of top_p.
    heap.clear();
    std::copy_if(x, x + vocab, std::back_inserter(heap), [](double v) { return v != -kInf; });
    std::make_heap(heap.begin(), heap.end());
    auto end = heap.end();
    double cumulative = 0, last_kept = kInf;
    for (size_t i = 0; i < heap.size(); ++i) {
      if (static_cast<int64_t>(i) >= min_tokens_to_keep && cumulative >= top_p) break;
      std::pop_heap(heap.begin(), end--);
      last_kept = *end;
      cumulative += std::exp(last_kept - max) / total;
    }
    return last_kept;
  });
}

}  // namespace graft::nn
