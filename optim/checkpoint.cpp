#include "graft/optim/checkpoint.h"

#include <nlohmann/json.hpp>
#include <set>

#include "graft/nn/serialization.h"

namespace graft::optim {

namespace {

using nlohmann::json;

constexpr const char* kMetadataKey = "graft.checkpoint";

json parse_object(const std::string& text, const char* what) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    GRAFT_FAIL("{}: the metadata is not valid JSON ({})", what, e.what());
  }
  GRAFT_CHECK(j.is_object(), "{}: the metadata must be a JSON object, got {}", what, j.type_name());
  return j;
}

}  // namespace

void Checkpoint::insert(const std::string& prefix, const Checkpoint& part) {
  GRAFT_CHECK(!prefix.empty() && prefix.find('.') == std::string::npos,
              "Checkpoint::insert: the prefix must be a non-empty name without '.', got '{}'", prefix);
  json meta = parse_object(metadata, "Checkpoint::insert");
  GRAFT_CHECK(!meta.contains(prefix), "Checkpoint::insert: there is already a part named '{}'", prefix);
  meta[prefix] = parse_object(part.metadata, "Checkpoint::insert");
  std::set<std::string> names;
  for (const auto& [name, t] : tensors) names.insert(name);
  for (const auto& [name, t] : part.tensors) {
    std::string key = prefix + "." + name;
    GRAFT_CHECK(!names.count(key), "Checkpoint::insert: a tensor named '{}' is already present", key);
    tensors.emplace_back(std::move(key), t);
  }
  metadata = meta.dump();
}

void Checkpoint::insert(const std::string& prefix, const nn::StateDict& state) {
  Checkpoint part;
  part.tensors = state;
  insert(prefix, part);
}

bool Checkpoint::contains(const std::string& prefix) const {
  return parse_object(metadata, "Checkpoint::contains").contains(prefix);
}

Checkpoint Checkpoint::at(const std::string& prefix) const {
  json meta = parse_object(metadata, "Checkpoint::at");
  GRAFT_CHECK(meta.contains(prefix), "Checkpoint::at: there is no part named '{}'", prefix);
  Checkpoint part;
  part.metadata = meta[prefix].dump();
  const std::string head = prefix + ".";
  for (const auto& [name, t] : tensors)
    if (name.compare(0, head.size(), head) == 0) part.tensors.emplace_back(name.substr(head.size()), t);
  return part;
}

const Tensor& Checkpoint::tensor(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  GRAFT_FAIL("Checkpoint: there is no tensor named '{}'", name);
}

void save_checkpoint(const Checkpoint& checkpoint, const std::string& path) {
  const json meta = parse_object(checkpoint.metadata, "save_checkpoint");
  nn::save_safetensors(checkpoint.tensors, path, {{kMetadataKey, meta.dump()}});
}

Checkpoint load_checkpoint(const std::string& path) {
  std::map<std::string, std::string> metadata;
  Checkpoint checkpoint;
  checkpoint.tensors = nn::load_safetensors(path, &metadata);
  auto it = metadata.find(kMetadataKey);
  if (it != metadata.end()) {
    parse_object(it->second, "load_checkpoint");
    checkpoint.metadata = it->second;
  }
  return checkpoint;
}

}  // namespace graft::optim
