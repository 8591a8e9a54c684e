#include "graft/nn/serialization.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <climits>
#include <cstring>
#include <nlohmann/json.hpp>
#include <span>

#include "graft/graph/atomic_file.h"
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
  GRAFT_FAIL("load_safetensors: '{}': tensor '{}' has dtype '{}', which graft does not support (F32, F64, BF16, F16, "
             "I64, BOOL)",
             path, name, s);
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
  AtomicFileWriter out(path, "save_safetensors");
  const uint64_t header_len = text.size();
  out.write(&header_len, 8);
  out.write(text);
  for (const Tensor& t : payload) out.write(t.data_ptr(), static_cast<size_t>(t.numel()) * t.element_size());
  out.commit();
}

namespace {

// One tensor of a safetensors file, validated: its bytes are [begin, end) of the data section.
struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

// The header of a safetensors file, checked completely before anything sized by it is allocated: every
// entry's dtype, shape (sizes that fit in int64 elements and bytes), and data offsets, which must tile the
// data section exactly, as the reference reader requires. Entries come back in file-offset order.
std::vector<Entry> parse_header(const nlohmann::json& header, uint64_t data_size, const std::string& path,
                                std::map<std::string, std::string>* metadata) {
  GRAFT_CHECK(header.is_object(), "load_safetensors: '{}' has a header that is not a JSON object", path);
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& e = it.value();
    if (name == "__metadata__") {
      GRAFT_CHECK(e.is_object(), "load_safetensors: '{}' has __metadata__ that is not a JSON object", path);
      for (auto m = e.begin(); m != e.end(); ++m) {
        GRAFT_CHECK(m->is_string(), "load_safetensors: '{}' has metadata '{}' that is not a string", path, m.key());
        if (metadata) (*metadata)[m.key()] = m->get<std::string>();
      }
      continue;
    }
    auto fail = [&](const std::string& what) {
      GRAFT_FAIL("load_safetensors: '{}' is corrupt: tensor '{}' {}", path, name, what);
    };
    if (!e.is_object() || e.size() != 3 || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
      fail("is not an object of exactly dtype, shape and data_offsets");
    if (!e["dtype"].is_string()) fail("has a dtype that is not a string");
    Entry entry{name, parse_dtype(e["dtype"].get<std::string>(), name, path), {}, 0, 0};
    if (!e["shape"].is_array()) fail("has a shape that is not an array");
    for (const nlohmann::json& d : e["shape"]) {
      if (!d.is_number_integer() || (d.is_number_unsigned() ? d.get<uint64_t>() > uint64_t(INT64_MAX) : d.get<int64_t>() < 0))
        fail(fmt::format("has an invalid size {} in its shape {}", d.dump(), e["shape"].dump()));
      entry.shape.push_back(d.get<int64_t>());
    }
    const nlohmann::json& offs = e["data_offsets"];
    if (!offs.is_array() || offs.size() != 2 || !offs[0].is_number_unsigned() || !offs[1].is_number_unsigned())
      fail(fmt::format("has data_offsets {}, not two non-negative integers", offs.dump()));
    entry.begin = offs[0].get<uint64_t>();
    entry.end = offs[1].get<uint64_t>();
    if (entry.begin > entry.end || entry.end > data_size)
      fail(fmt::format("has data offsets [{}, {}] outside the file's {} data bytes (truncated?)", entry.begin, entry.end,
                       data_size));
    int64_t expect = 0;
    try {
      expect = nbytes_of(entry.shape, element_size(entry.dtype), "load_safetensors");
    } catch (const Error&) {
      fail(fmt::format("has shape {}, too large for any tensor", shape_str(entry.shape)));
    }
    if (entry.end - entry.begin != static_cast<uint64_t>(expect))
      fail(fmt::format("has {} data bytes, but its shape {} of {} needs {}", entry.end - entry.begin,
                       shape_str(entry.shape), dtype_name(entry.dtype), expect));
    entries.push_back(std::move(entry));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    GRAFT_CHECK(entries[i].begin >= covered, "load_safetensors: '{}' is corrupt: tensors '{}' and '{}' overlap", path,
                entries[i - 1].name, entries[i].name);
    GRAFT_CHECK(entries[i].begin == covered, "load_safetensors: '{}' is corrupt: bytes [{}, {}) of the data belong to "
                "no tensor (before '{}')", path, covered, entries[i].begin, entries[i].name);
    covered = entries[i].end;
  }
  GRAFT_CHECK(covered == data_size, "load_safetensors: '{}' is corrupt: its last {} data bytes belong to no tensor", path,
              data_size - covered);
  return entries;
}

// An open file, closed on every path.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void read_exactly(int fd, void* out, uint64_t n, uint64_t at, const std::string& path) {
  char* p = static_cast<char*>(out);
  while (n > 0) {
    const ssize_t got = ::pread(fd, p, std::min<uint64_t>(n, uint64_t{1} << 30), static_cast<off_t>(at));
    if (got < 0 && errno == EINTR) continue;
    GRAFT_CHECK(got > 0, "load_safetensors: cannot read '{}': {}", path, got < 0 ? std::strerror(errno) : "it is shorter than it was");
    p += got;
    at += static_cast<uint64_t>(got);
    n -= static_cast<uint64_t>(got);
  }
}

}  // namespace

StateDict load_safetensors(const std::string& path, std::map<std::string, std::string>* metadata) {
  struct stat st {};
  GRAFT_CHECK(::stat(path.c_str(), &st) == 0, "load_safetensors: cannot open '{}': {}", path, std::strerror(errno));
  GRAFT_CHECK(S_ISREG(st.st_mode), "load_safetensors: '{}' is not a regular file", path);
  Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  GRAFT_CHECK(file.fd >= 0, "load_safetensors: cannot open '{}': {}", path, std::strerror(errno));
  GRAFT_CHECK(::fstat(file.fd, &st) == 0 && S_ISREG(st.st_mode), "load_safetensors: '{}' is not a regular file", path);
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  GRAFT_CHECK(file_size >= 8, "load_safetensors: '{}' is truncated ({} bytes, no header length)", path, file_size);
  uint64_t header_len = 0;
  read_exactly(file.fd, &header_len, 8, 0, path);
  GRAFT_CHECK(header_len <= file_size - 8, "load_safetensors: '{}' is truncated or corrupt: header of {} bytes, file of {}",
              path, header_len, file_size);
  std::string text(header_len, '\0');
  read_exactly(file.fd, text.data(), header_len, 8, path);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    GRAFT_FAIL("load_safetensors: '{}' has a corrupt header: {}", path, e.what());
  }
  const uint64_t data_start = 8 + header_len;
  std::map<std::string, std::string> meta;
  const std::vector<Entry> entries = parse_header(header, file_size - data_start, path, &meta);
  StateDict out;
  for (const Entry& e : entries) {
    Tensor t = empty(e.shape, e.dtype);
    read_exactly(file.fd, t.data_ptr(), e.end - e.begin, data_start + e.begin, path);
    if (e.dtype == kBool)
      for (bool& b : std::span(static_cast<bool*>(t.data_ptr()), static_cast<size_t>(t.numel())))
        b = reinterpret_cast<const unsigned char&>(b) != 0;
    out.emplace_back(e.name, t);
  }
  if (metadata)
    for (auto& [k, v] : meta) (*metadata)[k] = std::move(v);
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
