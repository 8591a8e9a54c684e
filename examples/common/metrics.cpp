#include "metrics.h"

#include <graft/ops/pointwise.h>
#include <graft/ops/reduction.h>

namespace graft::examples {

ConfusionMatrix::ConfusionMatrix(int64_t num_classes)
    : classes_(num_classes), counts_(static_cast<size_t>(num_classes * num_classes), 0) {
  GRAFT_CHECK(num_classes > 0, "ConfusionMatrix: num_classes must be positive, got {}", num_classes);
}

void ConfusionMatrix::add(int64_t predicted, int64_t target) {
  GRAFT_CHECK(predicted >= 0 && predicted < classes_ && target >= 0 && target < classes_,
              "ConfusionMatrix::add: classes must lie in [0, {}), got predicted {} and target {}", classes_, predicted,
              target);
  ++counts_[static_cast<size_t>(target * classes_ + predicted)];
}

void ConfusionMatrix::add(const Tensor& predicted, const Tensor& target) {
  GRAFT_CHECK(predicted.shape() == target.shape(), "ConfusionMatrix::add: predicted and target shapes differ");
  const std::vector<int64_t> p = predicted.to_vector<int64_t>(), t = target.to_vector<int64_t>();
  for (size_t i = 0; i < p.size(); ++i) add(p[i], t[i]);
}

int64_t ConfusionMatrix::total() const {
  int64_t n = 0;
  for (int64_t c : counts_) n += c;
  return n;
}

double ConfusionMatrix::accuracy() const {
  int64_t right = 0;
  for (int64_t c = 0; c < classes_; ++c) right += count(c, c);
  const int64_t n = total();
  return n ? static_cast<double>(right) / static_cast<double>(n) : 0.0;
}

double ConfusionMatrix::recall(int64_t c) const {
  int64_t row = 0;
  for (int64_t p = 0; p < classes_; ++p) row += count(c, p);
  return row ? static_cast<double>(count(c, c)) / static_cast<double>(row) : 0.0;
}

double ConfusionMatrix::precision(int64_t c) const {
  int64_t col = 0;
  for (int64_t t = 0; t < classes_; ++t) col += count(t, c);
  return col ? static_cast<double>(count(c, c)) / static_cast<double>(col) : 0.0;
}

double ConfusionMatrix::f1(int64_t c) const {
  const double p = precision(c), r = recall(c);
  return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
}

double ConfusionMatrix::macro_f1() const {
  double s = 0;
  for (int64_t c = 0; c < classes_; ++c) s += f1(c);
  return s / static_cast<double>(classes_);
}

int64_t count_correct(const Tensor& logits, const Tensor& target) {
  return sum(eq(argmax(logits, 1), target)).item<int64_t>();
}

}  // namespace graft::examples
