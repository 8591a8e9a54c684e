#pragma once
// Classification metrics from predicted and true class indices: accuracy, per-class precision, recall and
// F1, and macro-F1 (the unweighted mean of the per-class F1, as sklearn's f1_score(average="macro")).
#include <cstdint>
#include <string>
#include <vector>

#include <graft/graph/tensor.h>

namespace graft::examples {

class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int64_t num_classes);
  // Counts int64 predictions against int64 targets of the same shape.
  void add(const Tensor& predicted, const Tensor& target);
  void add(int64_t predicted, int64_t target);

  int64_t num_classes() const { return classes_; }
  int64_t count(int64_t target, int64_t predicted) const { return counts_[static_cast<size_t>(target * classes_ + predicted)]; }
  int64_t total() const;
  double accuracy() const;
  // A class with no true (recall) or no predicted (precision) examples scores 0, as sklearn's
  // zero_division=0; F1 is 0 when precision + recall is 0.
  double recall(int64_t c) const;
  double precision(int64_t c) const;
  double f1(int64_t c) const;
  double macro_f1() const;

 private:
  int64_t classes_;
  std::vector<int64_t> counts_;  // row = true class, column = predicted class
};

// The number of rows of `logits` (N, C) whose argmax equals `target` (N).
int64_t count_correct(const Tensor& logits, const Tensor& target);

}  // namespace graft::examples
