#pragma once
// Saving and loading weights in the safetensors format (8-byte little-endian header length, a JSON
// header {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {...}},
// then the raw little-endian data), so weights move between graft and PyTorch both ways.
//
// Saving writes a temporary file next to the target and renames it into place: a failed save leaves any
// existing file untouched. Loading validates the whole file (header length, JSON, dtypes, shapes, offsets
// in bounds and non-overlapping, sizes consistent) and raises graft::Error naming the problem.
#include <map>
#include <string>

#include "graft/nn/module.h"

namespace graft::nn {

void save_safetensors(const StateDict& tensors, const std::string& path,
                      const std::map<std::string, std::string>& metadata = {});
StateDict load_safetensors(const std::string& path, std::map<std::string, std::string>* metadata = nullptr);

/// A module's state dict to and from a safetensors file.
void save(const Module& module, const std::string& path);
void load(Module& module, const std::string& path, bool strict = true);

}  // namespace graft::nn
