#pragma once
// Reads the reference values that the scripts in tests/reference/ generated with PyTorch.
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "graft/graft.h"

namespace graft::testing {

inline const nlohmann::json& reference_json(const std::string& file) {
  static std::map<std::string, nlohmann::json> cache;
  auto it = cache.find(file);
  if (it == cache.end()) {
    std::ifstream in(std::string(GRAFT_SOURCE_DIR "/tests/reference/") + file);
    if (!in) throw std::runtime_error("cannot open tests/reference/" + file);
    it = cache.emplace(file, nlohmann::json::parse(in)).first;
  }
  return it->second;
}

inline DType dtype_from_name(const std::string& s) {
  if (s == "float32") return kFloat32;
  if (s == "float64") return kFloat64;
  if (s == "int64") return kInt64;
  if (s == "bool") return kBool;
  if (s == "bfloat16") return kBFloat16;
  if (s == "float16") return kFloat16;
  throw std::runtime_error("unknown dtype " + s);
}

inline Shape shape_from_json(const nlohmann::json& j) {
  Shape s;
  for (int64_t v : j) s.push_back(v);
  return s;
}

}  // namespace graft::testing
