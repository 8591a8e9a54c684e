#include "graft/nn/serialization.h"

#include <unistd.h>

#include <bit>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "graft/graph/copy.h"
#include "graft/graph/factory.h"

namespace graft::nn {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

namespace {

using ordered_json = nlohmann::ordered_json;

const char* safetensors_dtype(DType t) {
  switch (t) {
    case DType::Float32: return "F32";
    case DType::Float64: return "F64";
    case DType::Int64: return "I64";
    case DType::Bool: return "BOOL";
    case DType::BFloat16: return "BF16";
    case DType::Float16: return "F16";
  }
  return "?";
}

DType parse_dtype(const std::string& s, const std::string& name, const std::string& path) {
  if (s == "F32") return kFloat32;
  if (s == "F64") return kFloat64;
  if (s == "I64") return kInt64;
  if (s == "BOOL") return kBool;
  if (s == "BF16") return kBFloat16;
  if (s == "F16") return kFloat16;
  GRAFT_FAIL("load_safetensors: tensor '{}' in {} has dtype '{}', which graft does not support (F32, F64, BF16, F16, "
             "I64, BOOL)",
             name, path, s);
}

// Writes `bytes` to a temporary file in the target's directory and renames it over `path`.
void write_atomically(const std::string& path, const std::string& header, const std::vector<Tensor>& payload) {
  namespace fs = std::filesystem;
  fs::path target(path);
  fs::path tmp = target;
  tmp += fmt::format(".tmp-{}", ::getpid());
  FILE* f = std::fopen(tmp.c_str(), "wb");
  GRAFT_CHECK(f, "save_safetensors: cannot create {}: {}", tmp.string(), std::strerror(errno));
  bool ok = true;
  auto put = [&](const void* p, size_t n) { ok = ok && (n == 0 || std::fwrite(p, 1, n, f) == n); };
  const uint64_t header_len = header.size();
  put(&header_len, 8);
  put(header.data(), header.size());
  for (const Tensor& t : payload) put(t.data_ptr(), static_cast<size_t>(t.numel()) * t.element_size());
  ok = std::fflush(f) == 0 && ok;
  ok = ::fsync(::fileno(f)) == 0 && ok;
  ok = std::fclose(f) == 0 && ok;
  if (!ok) {
    std::error_code ec;
    fs::remove(tmp, ec);
    GRAFT_FAIL("save_safetensors: writing {} failed: {}", path, std::strerror(errno));
  }
  std::error_code ec;
  fs::rename(tmp, target, ec);
  if (ec) {
    fs::remove(tmp, ec);
    GRAFT_FAIL("save_safetensors: cannot move the new file into place at {}: {}", path, ec.message());
  }
}

}  // namespace

void save_safetensors(const StateDict& tensors, const std::string& path, const std::map<std::string, std::string>& metadata) {
  ordered_json header = ordered_json::object();
  if (!metadata.empty()) {
    ordered_json meta = ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = meta;
  }
  std::vector<Tensor> payload;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    GRAFT_CHECK(t.defined(), "save_safetensors: tensor '{}' is undefined", name);
    GRAFT_CHECK(name != "__metadata__" && !header.contains(name), "save_safetensors: duplicate or reserved name '{}'", name);
    Tensor c = loops::contiguous_data(t);
    const uint64_t n = static_cast<uint64_t>(c.numel()) * c.element_size();
    header[name] = {{"dtype", safetensors_dtype(c.dtype())},
                    {"shape", std::vector<int64_t>(c.shape().begin(), c.shape().end())},
                    {"data_offsets", {offset, offset + n}}};
    offset += n;
    payload.push_back(c);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned, as the reference writer does
  write_atomically(path, text, payload);
}

StateDict load_safetensors(const std::string& path, std::map<std::string, std::string>* metadata) {
  std::ifstream in(path, std::ios::binary);
  GRAFT_CHECK(in.good(), "load_safetensors: cannot open {}", path);
  in.seekg(0, std::ios::end);
  const uint64_t file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  GRAFT_CHECK(file_size >= 8, "load_safetensors: {} is truncated ({} bytes, no header length)", path, file_size);
  uint64_t header_len = 0;
  in.read(reinterpret_cast<char*>(&header_len), 8);
  GRAFT_CHECK(header_len <= file_size - 8, "load_safetensors: {} is truncated or corrupt: header of {} bytes, file of {}",
              path, header_len, file_size);
  std::string text(header_len, '\0');
  in.read(text.data(), static_cast<std::streamsize>(header_len));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    GRAFT_FAIL("load_safetensors: {} has a corrupt header: {}", path, e.what());
  }
  GRAFT_CHECK(header.is_object(), "load_safetensors: {} has a header that is not a JSON object", path);
  const uint64_t data_size = file_size - 8 - header_len;
  std::vector<char> data(data_size);
  in.read(data.data(), static_cast<std::streamsize>(data_size));
  GRAFT_CHECK(in.good() || data_size == 0, "load_safetensors: cannot read the data of {}", path);

  // The header's order is not significant; entries are returned in file-offset order.
  struct Entry {
    std::string name;
    DType dtype;
    Shape shape;
    uint64_t begin, end;
  };
  std::vector<Entry> entries;
  try {
    for (auto it = header.begin(); it != header.end(); ++it) {
      if (it.key() == "__metadata__") {
        if (metadata)
          for (auto m = it->begin(); m != it->end(); ++m) (*metadata)[m.key()] = m->get<std::string>();
        continue;
      }
      const auto& e = it.value();
      Entry entry{it.key(), parse_dtype(e.at("dtype").get<std::string>(), it.key(), path), {}, 0, 0};
      for (int64_t d : e.at("shape").get<std::vector<int64_t>>()) {
        GRAFT_CHECK(d >= 0, "load_safetensors: tensor '{}' in {} has a negative dim", it.key(), path);
        entry.shape.push_back(d);
      }
      auto offs = e.at("data_offsets").get<std::vector<uint64_t>>();
      GRAFT_CHECK(offs.size() == 2 && offs[0] <= offs[1] && offs[1] <= data_size,
                  "load_safetensors: tensor '{}' in {} has data offsets outside the file's {} data bytes (truncated?)",
                  it.key(), path, data_size);
      entry.begin = offs[0];
      entry.end = offs[1];
      const uint64_t expect = static_cast<uint64_t>(numel_of(entry.shape)) * element_size(entry.dtype);
      GRAFT_CHECK(entry.end - entry.begin == expect, "load_safetensors: tensor '{}' in {} has {} data bytes, its shape {} needs {}",
                  it.key(), path, entry.end - entry.begin, shape_str(entry.shape), expect);
      entries.push_back(std::move(entry));
    }
  } catch (const nlohmann::json::exception& e) {
    GRAFT_FAIL("load_safetensors: {} has a malformed header entry: {}", path, e.what());
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < entries.size(); ++i)
    GRAFT_CHECK(entries[i].begin >= entries[i - 1].end, "load_safetensors: tensors '{}' and '{}' in {} overlap",
                entries[i - 1].name, entries[i].name, path);
  StateDict out;
  for (const Entry& e : entries) {
    Tensor t = empty(e.shape, e.dtype);
    if (e.end > e.begin) std::memcpy(t.data_ptr(), data.data() + e.begin, e.end - e.begin);
    if (e.dtype == kBool)
      for (bool& b : std::span(static_cast<bool*>(t.data_ptr()), static_cast<size_t>(t.numel())))
        b = reinterpret_cast<const unsigned char&>(b) != 0;
    out.emplace_back(e.name, t);
  }
  return out;
}

void save(const Module& module, const std::string& path) { save_safetensors(module.state_dict(), path); }

void load(Module& module, const std::string& path, LoadOptions options) {
  StateDict state = load_safetensors(path);
  if (!options.convert_dtype) {
    std::vector<std::string> differ;
    const StateDict own = module.state_dict();
    for (const auto& [name, t] : state)
      for (const auto& [own_name, target] : own)
        if (own_name == name && target.dtype() != t.dtype())
          differ.push_back(fmt::format("'{}' is {} in the file and {} in the model", name, dtype_name(t.dtype()),
                                       dtype_name(target.dtype())));
    GRAFT_CHECK(differ.empty(),
                "load: {} does not match the model's dtypes: {}; pass {{.convert_dtype = true}} to convert (as "
                "load_state_dict does)",
                path, fmt::join(differ, ", "));
  }
  module.load_state_dict(state, options.strict);
}

void load(Module& module, const std::string& path, bool strict) { load(module, path, LoadOptions{.strict = strict}); }

}  // namespace graft::nn
