#include "graft/data/dataset.h"

#include "graft/graph/factory.h"
#include "graft/ops/indexing.h"
#include "graft/ops/shape.h"

namespace graft::data {

int64_t Dataset::checked_index(const char* who, int64_t index) const {
  const int64_t n = size();
  GRAFT_CHECK(index >= -n && index < n, "{}: index {} is out of range for a dataset of {} examples", who, index, n);
  return index < 0 ? index + n : index;
}

Example Dataset::get_batch(const std::vector<int64_t>& indices) const {
  GRAFT_CHECK(!indices.empty(), "Dataset::get_batch: no indices");
  std::vector<Tensor> inputs, targets;
  inputs.reserve(indices.size());
  targets.reserve(indices.size());
  for (int64_t i : indices) {
    Example e = get(i);
    inputs.push_back(std::move(e.input));
    targets.push_back(std::move(e.target));
  }
  return {stack(inputs), stack(targets)};
}

TensorDataset::TensorDataset(Tensor inputs, Tensor targets) : inputs_(std::move(inputs)), targets_(std::move(targets)) {
  GRAFT_CHECK(inputs_.defined() && targets_.defined(), "TensorDataset: inputs and targets must be defined tensors");
  GRAFT_CHECK(inputs_.dim() >= 1 && targets_.dim() >= 1,
              "TensorDataset: inputs and targets need a first dim indexing the examples, got shapes {} and {}",
              shape_str(inputs_.shape()), shape_str(targets_.shape()));
  GRAFT_CHECK(inputs_.size(0) == targets_.size(0), "TensorDataset: Size mismatch between tensors: inputs {} and targets {}",
              shape_str(inputs_.shape()), shape_str(targets_.shape()));
}

Example TensorDataset::get(int64_t index) const {
  const int64_t i = checked_index("TensorDataset::get", index);
  return {inputs_.select(0, i), targets_.select(0, i)};
}

Example TensorDataset::get_batch(const std::vector<int64_t>& indices) const {
  std::vector<int64_t> wrapped(indices.size());
  for (size_t k = 0; k < indices.size(); ++k) wrapped[k] = checked_index("TensorDataset::get_batch", indices[k]);
  Tensor index = tensor(wrapped, {static_cast<int64_t>(wrapped.size())}, kInt64);
  return {index_select(inputs_, 0, index), index_select(targets_, 0, index)};
}

}  // namespace graft::data
