#pragma once
// StateDict: named tensors plus JSON metadata, the in-memory form of everything a training run saves
// (optimizer and scheduler state, parameters, generator states); save/load write it to a file and back.
// The file is a small binary format (magic, JSON header, raw little-endian tensor data); torch.save's
// pickle format is not used.
#include <map>
#include <string>

#include "graft/graph/tensor.h"

namespace graft {

struct StateDict {
  std::map<std::string, Tensor> tensors;
  std::string metadata = "{}";  // a JSON object, as text

  // Stores `part` under `prefix`: its tensors as "<prefix>.<name>" and its metadata as metadata[prefix].
  void insert(const std::string& prefix, const StateDict& part);
  // The part stored under `prefix` by insert; an error when there is none.
  StateDict at(const std::string& prefix) const;
  bool contains(const std::string& prefix) const;
};

// Writes `dict` to `path` through a temporary file in the same directory that is renamed over `path`
// once complete, so a save that fails part-way leaves any earlier file intact. Tensors are written
// contiguously with their dtype and shape.
void save(const StateDict& dict, const std::string& path);
// Reads a file written by save; a missing, truncated or corrupt file is a graft::Error.
StateDict load(const std::string& path);

}  // namespace graft
