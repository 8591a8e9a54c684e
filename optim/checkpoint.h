#pragma once
// Checkpoint: named tensors plus JSON metadata, the in-memory form of everything a training run saves.
// Optimizer::state_dict() and LRScheduler::state_dict() return one; a training loop gathers the parts
// (model state, optimizer, scheduler, epoch, generator states) into one with insert() and writes it with
// save_checkpoint. The file is a safetensors file (nn/serialization.h) whose metadata holds the JSON
// under the key "graft.checkpoint", so it is written atomically (a failed save leaves any earlier file
// intact) and its tensors can be read by any safetensors reader.
#include <string>

#include "graft/nn/module.h"

namespace graft::optim {

struct Checkpoint {
  nn::StateDict tensors;      // (name, tensor) pairs, names unique
  std::string metadata = "{}";  // a JSON object, as text

  /// Stores `part` under `prefix`: its tensors as "<prefix>.<name>" and its metadata as metadata[prefix].
  void insert(const std::string& prefix, const Checkpoint& part);
  /// Stores a module's state dict under `prefix` (with empty metadata).
  void insert(const std::string& prefix, const nn::StateDict& state);
  /// The part stored under `prefix` by insert; an error when there is none.
  Checkpoint at(const std::string& prefix) const;
  bool contains(const std::string& prefix) const;
  /// The tensor called `name`; an error when there is none.
  const Tensor& tensor(const std::string& name) const;
};

void save_checkpoint(const Checkpoint& checkpoint, const std::string& path);
/// Reads a file written by save_checkpoint (or any safetensors file: its metadata is then "{}").
Checkpoint load_checkpoint(const std::string& path);

}  // namespace graft::optim
