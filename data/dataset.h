#pragma once
// Datasets (torch.utils.data.Dataset / TensorDataset): indexable collections of (input, target) examples.
#include <cstdint>
#include <vector>

#include "graft/graph/tensor.h"

namespace graft::data {

/// One example, or a batch of them stacked along a new first dim. Binds as `auto [input, target]`.
struct Example {
  Tensor input;
  Tensor target;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  /// Example `index` (negative indices count from the end).
  virtual Example get(int64_t index) const = 0;
  /// The examples at `indices`, inputs and targets each stacked along a new first dim. The default
  /// stacks get(i); datasets that hold whole tensors override it with a gather.
  virtual Example get_batch(const std::vector<int64_t>& indices) const;

 protected:
  /// `index` wrapped into [0, size()), or an error naming `who`.
  int64_t checked_index(const char* who, int64_t index) const;
};

/// Inputs and targets held as two tensors whose first dim indexes the examples (PyTorch's TensorDataset
/// with two tensors). get(i) is (inputs[i], targets[i]); get_batch gathers rows with index_select.
class TensorDataset : public Dataset {
 public:
  TensorDataset(Tensor inputs, Tensor targets);
  int64_t size() const override { return inputs_.size(0); }
  Example get(int64_t index) const override;
  Example get_batch(const std::vector<int64_t>& indices) const override;
  const Tensor& inputs() const { return inputs_; }
  const Tensor& targets() const { return targets_; }

 private:
  Tensor inputs_;
  Tensor targets_;
};

}  // namespace graft::data
