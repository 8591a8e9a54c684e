#include "graft/graph/serialize.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

namespace graft {

namespace {

using nlohmann::json;

constexpr char kMagic[8] = {'G', 'R', 'A', 'F', 'T', 'S', 'D', '1'};
constexpr uint64_t kAlign = 64;

json parse_metadata(const std::string& text, const char* what) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    GRAFT_FAIL("{}: the metadata is not valid JSON ({})", what, e.what());
  }
  GRAFT_CHECK(j.is_object(), "{}: the metadata must be a JSON object, got {}", what, j.type_name());
  return j;
}

DType dtype_from_name(const std::string& name, const std::string& path) {
  for (DType d : {kFloat32, kFloat64, kInt64, kBool})
    if (name == dtype_name(d)) return d;
  GRAFT_FAIL("load: '{}' is corrupt: unknown dtype '{}'", path, name);
}

// The tensor's elements in row-major order, as raw bytes.
void append_bytes(std::vector<char>& out, const Tensor& t) {
  const size_t es = t.element_size();
  if (t.is_contiguous()) {
    const char* p = static_cast<const char*>(t.data_ptr());
    out.insert(out.end(), p, p + t.numel() * static_cast<int64_t>(es));
    return;
  }
  detail::for_each_element(*t.impl(), [&](const char* p) { out.insert(out.end(), p, p + es); });
}

std::string describe_errno() { return std::strerror(errno); }

}  // namespace

void StateDict::insert(const std::string& prefix, const StateDict& part) {
  GRAFT_CHECK(!prefix.empty() && prefix.find('.') == std::string::npos,
              "StateDict::insert: the prefix must be a non-empty name without '.', got '{}'", prefix);
  json meta = parse_metadata(metadata, "StateDict::insert");
  GRAFT_CHECK(!meta.contains(prefix), "StateDict::insert: the metadata already has an entry '{}'", prefix);
  meta[prefix] = parse_metadata(part.metadata, "StateDict::insert");
  for (const auto& [name, t] : part.tensors) {
    std::string key = prefix + "." + name;
    GRAFT_CHECK(!tensors.count(key), "StateDict::insert: a tensor named '{}' is already present", key);
    tensors[key] = t;
  }
  metadata = meta.dump();
}

bool StateDict::contains(const std::string& prefix) const {
  return parse_metadata(metadata, "StateDict::contains").contains(prefix);
}

StateDict StateDict::at(const std::string& prefix) const {
  json meta = parse_metadata(metadata, "StateDict::at");
  GRAFT_CHECK(meta.contains(prefix), "StateDict::at: there is no part named '{}'", prefix);
  StateDict part;
  part.metadata = meta[prefix].dump();
  const std::string head = prefix + ".";
  for (auto it = tensors.lower_bound(head); it != tensors.end() && it->first.compare(0, head.size(), head) == 0; ++it)
    part.tensors[it->first.substr(head.size())] = it->second;
  return part;
}

void save(const StateDict& dict, const std::string& path) {
  json header;
  header["metadata"] = parse_metadata(dict.metadata, "save");
  header["tensors"] = json::array();
  std::vector<char> blob;
  for (const auto& [name, t] : dict.tensors) {
    GRAFT_CHECK(t.defined(), "save: tensor '{}' is undefined", name);
    blob.resize((blob.size() + kAlign - 1) / kAlign * kAlign, 0);
    const uint64_t offset = blob.size();
    append_bytes(blob, t);
    header["tensors"].push_back({{"name", name},
                                 {"dtype", dtype_name(t.dtype())},
                                 {"shape", std::vector<int64_t>(t.shape().begin(), t.shape().end())},
                                 {"offset", offset},
                                 {"nbytes", blob.size() - offset}});
  }
  const std::string text = header.dump();
  const uint64_t header_len = text.size();

  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path tmp = target.parent_path() / (target.filename().string() + ".tmp." + std::to_string(::getpid()));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  GRAFT_CHECK(fd >= 0, "save: cannot create '{}': {}", tmp.string(), describe_errno());
  auto write_all = [&](const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      ssize_t w = ::write(fd, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      p += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  };
  bool ok = write_all(kMagic, sizeof kMagic) && write_all(&header_len, sizeof header_len) &&
            write_all(text.data(), text.size()) && write_all(blob.data(), blob.size()) && ::fsync(fd) == 0;
  std::string err = ok ? "" : describe_errno();
  ok = (::close(fd) == 0) && ok;
  if (ok && std::rename(tmp.c_str(), target.c_str()) != 0) {
    ok = false;
    err = describe_errno();
  }
  if (!ok) {
    std::error_code ec;
    fs::remove(tmp, ec);
    GRAFT_FAIL("save: writing '{}' failed: {}; any earlier file there is unchanged", path, err);
  }
}

StateDict load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  GRAFT_CHECK(in.good(), "load: cannot open '{}': {}", path, describe_errno());
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t fixed = sizeof kMagic + sizeof(uint64_t);
  GRAFT_CHECK(bytes.size() >= fixed && std::memcmp(bytes.data(), kMagic, sizeof kMagic) == 0,
              "load: '{}' is not a graft state file (bad magic)", path);
  uint64_t header_len;
  std::memcpy(&header_len, bytes.data() + sizeof kMagic, sizeof header_len);
  GRAFT_CHECK(header_len <= bytes.size() - fixed, "load: '{}' is truncated (header of {} bytes, file of {} bytes)", path,
              header_len, bytes.size());
  json header;
  try {
    header = json::parse(bytes.begin() + static_cast<std::ptrdiff_t>(fixed),
                         bytes.begin() + static_cast<std::ptrdiff_t>(fixed + header_len));
  } catch (const json::exception& e) {
    GRAFT_FAIL("load: '{}' is corrupt: the header is not valid JSON ({})", path, e.what());
  }
  const char* blob = bytes.data() + fixed + header_len;
  const uint64_t blob_size = bytes.size() - fixed - header_len;
  StateDict dict;
  try {
    dict.metadata = header.at("metadata").dump();
    for (const json& entry : header.at("tensors")) {
      const std::string name = entry.at("name").get<std::string>();
      const DType dtype = dtype_from_name(entry.at("dtype").get<std::string>(), path);
      const std::vector<int64_t> shape = entry.at("shape").get<std::vector<int64_t>>();
      const uint64_t offset = entry.at("offset").get<uint64_t>(), nbytes = entry.at("nbytes").get<uint64_t>();
      for (int64_t s : shape) GRAFT_CHECK(s >= 0, "load: '{}' is corrupt: tensor '{}' has a negative size", path, name);
      GRAFT_CHECK(nbytes == static_cast<uint64_t>(numel_of(shape)) * element_size(dtype),
                  "load: '{}' is corrupt: tensor '{}' of shape {} has {} bytes", path, name, shape_str(shape), nbytes);
      GRAFT_CHECK(offset <= blob_size && nbytes <= blob_size - offset,
                  "load: '{}' is truncated: tensor '{}' needs bytes [{}, {}) of {}", path, name, offset, offset + nbytes,
                  blob_size);
      Tensor t = empty_tensor(shape, dtype);
      if (nbytes > 0) std::memcpy(t.data_ptr(), blob + offset, nbytes);
      dict.tensors[name] = t;
    }
  } catch (const json::exception& e) {
    GRAFT_FAIL("load: '{}' is corrupt: {}", path, e.what());
  }
  return dict;
}

}  // namespace graft
