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

/// Writes `tensors` (each in its own dtype: F32, F64, BF16, F16, I64, BOOL) and `metadata` to a safetensors
/// file at `path`, atomically (a temporary file renamed into place).
/// @throws graft::Error when the file cannot be written, or a name repeats.
void save_safetensors(const StateDict& tensors, const std::string& path,
                      const std::map<std::string, std::string>& metadata = {});
/// Reads every tensor of a safetensors file (F32, F64, BF16, F16, I64, BOOL, bit for bit) and, when
/// `metadata` is given, its metadata.
/// @return the tensors in the file's data order.
/// @throws graft::Error for an unreadable, truncated or malformed file, or an unsupported dtype.
StateDict load_safetensors(const std::string& path, std::map<std::string, std::string>* metadata = nullptr);

/// How `load` reads a file into a module.
struct LoadOptions {
  /// Missing and unexpected keys are errors (as load_state_dict's `strict`).
  bool strict = true;
  /// A tensor stored in another dtype than the module's (a float16 or bfloat16 checkpoint into a float32
  /// model, ...) is converted to the module's dtype, as PyTorch's load_state_dict does; when false (the
  /// default) it is an error naming every such key.
  bool convert_dtype = false;
};

/// Writes a module's state dict to a safetensors file (each tensor in its own dtype: F32, F64, BF16, F16,
/// I64, BOOL).
void save(const Module& module, const std::string& path);
/// Reads a safetensors file into a module's parameters and buffers, which keep their dtypes.
/// @throws graft::Error for an unreadable or corrupt file, missing or unexpected keys (strict), a shape
///         mismatch, or a dtype mismatch without options.convert_dtype (naming the keys and both dtypes).
void load(Module& module, const std::string& path, LoadOptions options);
/// load(module, path, {.strict = strict}).
void load(Module& module, const std::string& path, bool strict = true);

}  // namespace graft::nn
