#include "graft/optim/zero/checkpoint.h"

#include <algorithm>
#include <charconv>
#include <climits>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "graft/graph/grad_mode.h"
#include "graft/graph/factory.h"
#include "graft/ops/shape.h"
#include "graft/optim/zero/detail/stage3_partition.h"
#include "graft/optim/zero/detail/zero_state.h"
#include "graft/optim/zero/sharded_optimizer.h"

namespace graft::optim::zero {

using nlohmann::json;
using detail::ZeroBucket;
using detail::ZeroParam;
using detail::span;

namespace {

constexpr const char* kFormat = "graft.zero.shard";
constexpr int kVersion = 1;
// The float32 master weights of a 16-bit bucket travel as one more state buffer under this name.
constexpr const char* kMasterState = "master";

// The dtype of a bucket's optimizer state: float32 for 16-bit parameters (mixed precision), else theirs.
DType state_dtype(DType params) { return is_reduced_floating(params) ? kFloat32 : params; }

std::string tensor_key(size_t group, size_t bucket, const std::string& what) {
  return fmt::format("g{}.b{}.{}", group, bucket, what);
}

// A checkpoint's shards, parsed, checked against each other, and put back together into full flat buffers.
struct ShardSet {
  struct Param {
    std::string name;
    Shape shape;
    DType dtype = kFloat32;
    bool requires_grad = false, has_grad = false;
    int64_t step = -1;
  };
  struct Bucket {
    size_t group = 0;
    size_t index = 0;  // within the group
    ZeroBucketLayout layout;
    std::vector<size_t> params;               // Param index of each member
    Tensor values;                            // numel elements
    std::map<std::string, Tensor> states;     // numel elements each
  };
  int world_size = 0;
  int stage = 0;
  std::string optimizer;
  std::vector<Param> params;
  std::vector<json> groups;  // "options", "initial_lr"
  std::vector<Bucket> buckets;
  nn::StateDict replicated;  // rank 0's model state outside the groups
};

// Reading one shard's metadata: every value is checked for its type and range, and a problem is a
// graft::Error naming the shard's file, the entry and what is wrong.
class ShardReader {
 public:
  ShardReader(size_t rank, size_t shards) : file_(fmt::format("zero_rank{}_of_{}.safetensors", rank, shards)) {}

  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    GRAFT_FAIL("ZeRO checkpoint: {} is corrupt or not part of this checkpoint: {}: {}", file_, where, what);
  }
  const json& member(const json& object, const char* key, const std::string& where) const {
    if (!object.is_object()) fail(where, "is not a JSON object");
    auto it = object.find(key);
    if (it == object.end()) fail(where, fmt::format("has no '{}'", key));
    return *it;
  }
  int64_t integer(const json& object, const char* key, const std::string& where, int64_t lo, int64_t hi) const {
    const json& v = member(object, key, where);
    if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi)) ||
        v.get<int64_t>() < lo || v.get<int64_t>() > hi)
      fail(where, fmt::format("'{}' is {}, not an integer in [{}, {}]", key, v.dump(), lo, hi));
    return v.get<int64_t>();
  }
  const json& array(const json& object, const char* key, const std::string& where) const {
    const json& v = member(object, key, where);
    if (!v.is_array()) fail(where, fmt::format("'{}' is {}, not an array", key, v.dump()));
    return v;
  }
  std::string string(const json& object, const char* key, const std::string& where) const {
    const json& v = member(object, key, where);
    if (!v.is_string()) fail(where, fmt::format("'{}' is {}, not a string", key, v.dump()));
    return v.get<std::string>();
  }
  bool boolean(const json& object, const char* key, const std::string& where) const {
    const json& v = member(object, key, where);
    if (!v.is_boolean()) fail(where, fmt::format("'{}' is {}, not true or false", key, v.dump()));
    return v.get<bool>();
  }
  DType dtype(const json& object, const std::string& where) const {
    const std::string name = string(object, "dtype", where);
    for (DType d : {kFloat32, kFloat64, kBFloat16, kFloat16})
      if (name == dtype_name(d)) return d;
    fail(where, fmt::format("dtype '{}' is not float32, float64, bfloat16 or float16", name));
  }
  Shape shape(const json& object, const std::string& where) const {
    Shape out;
    for (const json& d : array(object, "shape", where)) {
      if (!d.is_number_integer() || (!d.is_number_unsigned() && d.get<int64_t>() < 0) ||
          (d.is_number_unsigned() && d.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)))
        fail(where, fmt::format("the shape {} holds {}, not a size", member(object, "shape", where).dump(), d.dump()));
      out.push_back(d.get<int64_t>());
    }
    try {
      numel_of(out);
    } catch (const Error&) {
      fail(where, fmt::format("the shape {} has more elements than any tensor can have", shape_str(out)));
    }
    return out;
  }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

json zero_metadata(const Checkpoint& c, const ShardReader& reader) {
  json meta;
  try {
    meta = json::parse(c.metadata);
  } catch (const json::exception& e) {
    reader.fail("its metadata", fmt::format("not JSON ({})", e.what()));
  }
  if (!meta.is_object() || !meta.contains("zero") || !meta["zero"].is_object() ||
      meta["zero"].value("format", json()) != json(kFormat))
    GRAFT_FAIL("ZeRO checkpoint: {} is not a ZeRO shard (no 'zero' metadata of format {})", reader.file(), kFormat);
  reader.integer(meta["zero"], "version", "its metadata", kVersion, kVersion);
  return meta["zero"];
}

ShardSet::Param parse_param(const json& p, const ShardReader& reader, const std::string& where) {
  ShardSet::Param param;
  param.name = reader.string(p, "name", where);
  param.shape = reader.shape(p, where);
  param.dtype = reader.dtype(p, where);
  param.requires_grad = reader.boolean(p, "requires_grad", where);
  param.has_grad = reader.boolean(p, "has_grad", where);
  param.step = reader.integer(p, "step", where, -1, INT64_MAX);
  return param;
}

// One rank's slice of a bucket buffer: present, of `dtype` and `slice` elements.
const Tensor& slice_tensor(const Checkpoint& shard, const std::string& key, const ShardReader& reader,
                           const ZeroBucketLayout& layout, DType dtype) {
  for (const auto& [name, t] : shard.tensors) {
    if (name != key) continue;
    if (t.dtype() != dtype || t.numel() != layout.slice)
      reader.fail(fmt::format("tensor '{}'", key), fmt::format("{} elements of {}, expected {} of {}", t.numel(),
                                                                dtype_name(t.dtype()), layout.slice,
                                                                dtype_name(dtype)));
    return t;
  }
  reader.fail(fmt::format("tensor '{}'", key), "missing");
}

// Everything is checked before any buffer sized by the metadata is allocated: each shard's metadata is
// complete and well-typed; all shards agree on the world size, stage, optimizer, parameters, groups and
// layout; every bucket's layout is exactly the one its parameters give (so no offset or size can point
// outside a buffer); every parameter sits in exactly one bucket; and each shard holds exactly the tensors its
// metadata lists, each of its bucket's dtype and slice length.
ShardSet parse_shards(const std::vector<Checkpoint>& shards) {
  GRAFT_CHECK(!shards.empty(), "ZeRO checkpoint: no shards");
  const size_t W = shards.size();
  ShardSet set;
  std::vector<ShardReader> readers;
  std::vector<json> metas;
  for (size_t k = 0; k < W; ++k) {
    readers.emplace_back(k, W);
    metas.push_back(zero_metadata(shards[k], readers[k]));
  }
  const json& first = metas[0];
  set.world_size = static_cast<int>(readers[0].integer(first, "world_size", "its metadata", 1, INT_MAX));
  GRAFT_CHECK(static_cast<size_t>(set.world_size) == W,
              "ZeRO checkpoint: it was saved by {} ranks but {} shards were given", set.world_size, W);
  set.stage = static_cast<int>(readers[0].integer(first, "stage", "its metadata", 0, 3));
  set.optimizer = readers[0].string(first, "optimizer", "its metadata");
  const size_t n_params = readers[0].array(first, "params", "its metadata").size();
  for (const json& p : first["params"]) set.params.push_back(parse_param(p, readers[0], fmt::format("parameter {}", set.params.size())));
  const json& groups = readers[0].array(first, "groups", "its metadata");

  for (size_t k = 0; k < W; ++k) {
    const json& m = metas[k];
    const ShardReader& reader = readers[k];
    if (reader.integer(m, "rank", "its metadata", 0, INT_MAX) != static_cast<int64_t>(k))
      reader.fail("its metadata", fmt::format("it holds the state of rank {}", m["rank"].dump()));
    if (reader.integer(m, "world_size", "its metadata", 1, INT_MAX) != set.world_size ||
        reader.integer(m, "stage", "its metadata", 0, 3) != set.stage ||
        reader.string(m, "optimizer", "its metadata") != set.optimizer)
      reader.fail("its metadata", "its world size, stage or optimizer differs from rank 0's");
    const json& params = reader.array(m, "params", "its metadata");
    if (params.size() != n_params)
      reader.fail("its metadata", fmt::format("{} parameters, rank 0 has {}", params.size(), n_params));
    for (size_t i = 0; i < n_params; ++i) {
      const ShardSet::Param p = parse_param(params[i], reader, fmt::format("parameter {}", i));
      ShardSet::Param& mine = set.params[i];
      if (p.name != mine.name || p.shape != mine.shape || p.dtype != mine.dtype || p.requires_grad != mine.requires_grad)
        reader.fail(fmt::format("parameter {}", i), fmt::format("'{}' {} {} differs from rank 0's '{}' {} {}", p.name,
                                                                 dtype_name(p.dtype), shape_str(p.shape), mine.name,
                                                                 dtype_name(mine.dtype), shape_str(mine.shape)));
      mine.step = std::max(mine.step, p.step);
    }
    const json& my_groups = reader.array(m, "groups", "its metadata");
    if (my_groups.size() != groups.size())
      reader.fail("its metadata", fmt::format("{} parameter groups, rank 0 has {}", my_groups.size(), groups.size()));
    for (size_t g = 0; g < groups.size(); ++g) {
      const std::string where = fmt::format("group {}", g);
      const json& options = reader.member(my_groups[g], "options", where);
      if (!options.is_object()) reader.fail(where, "'options' is not a JSON object");
      for (auto it = options.begin(); it != options.end(); ++it)
        if (!it->is_number()) reader.fail(where, fmt::format("option '{}' is {}, not a number", it.key(), it->dump()));
      const json& lr = reader.member(my_groups[g], "initial_lr", where);
      if (!lr.is_null() && !lr.is_number()) reader.fail(where, fmt::format("'initial_lr' is {}, not a number", lr.dump()));
      if (options != groups[g]["options"] || lr != groups[g]["initial_lr"])
        reader.fail(where, "its options differ from rank 0's");
      if (reader.array(my_groups[g], "buckets", where).size() != reader.array(groups[g], "buckets", where).size())
        reader.fail(where, "its buckets differ from rank 0's");
    }
  }

  // The layout: every group's buckets must be exactly what make_zero_layout gives its parameters.
  std::vector<int> bucket_of(n_params, -1);
  size_t next_param = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    set.groups.push_back({{"options", groups[g]["options"]}, {"initial_lr", groups[g]["initial_lr"]}});
    const json& jbuckets = groups[g]["buckets"];
    // The group's parameters: the members of its buckets, which must be the next parameters in order.
    std::vector<size_t> ids;
    for (size_t b = 0; b < jbuckets.size(); ++b) {
      const std::string where = fmt::format("bucket {} of group {}", b, g);
      for (const json& id : readers[0].array(jbuckets[b], "members", where)) {
        if (!id.is_number_unsigned() || id.get<uint64_t>() >= n_params)
          readers[0].fail(where, fmt::format("member {} is not one of the {} parameters", id.dump(), n_params));
        const size_t i = id.get<size_t>();
        if (bucket_of[i] >= 0) readers[0].fail(where, fmt::format("parameter {} sits in a second bucket", i));
        bucket_of[i] = static_cast<int>(set.buckets.size() + b);
        ids.push_back(i);
      }
    }
    std::sort(ids.begin(), ids.end());
    for (size_t j = 0; j < ids.size(); ++j)
      if (ids[j] != next_param + j)
        readers[0].fail(fmt::format("group {}", g), fmt::format("its parameters are not the {} after parameter {}",
                                                                 ids.size(), next_param));
    std::vector<std::pair<DType, int64_t>> sizes;
    for (size_t i : ids) sizes.emplace_back(set.params[i].dtype, numel_of(set.params[i].shape));
    ZeroGroupLayout expected;
    try {
      expected = make_zero_layout(sizes, set.world_size);
    } catch (const Error& e) {
      readers[0].fail(fmt::format("group {}", g), e.what());
    }
    if (expected.buckets.size() != jbuckets.size())
      readers[0].fail(fmt::format("group {}", g), fmt::format("{} buckets, its parameters make {}", jbuckets.size(),
                                                               expected.buckets.size()));
    for (size_t b = 0; b < jbuckets.size(); ++b) {
      const std::string where = fmt::format("bucket {} of group {}", b, g);
      const json& jb = jbuckets[b];
      const ZeroBucketLayout& want = expected.buckets[b];
      std::vector<size_t> members;
      std::vector<int64_t> offsets;
      for (size_t m : want.members) members.push_back(next_param + m);
      for (const FlatSlot& slot : want.slots) offsets.push_back(slot.offset);
      const ShardReader& r = readers[0];
      if (r.dtype(jb, where) != want.dtype || r.integer(jb, "numel", where, 0, INT64_MAX) != want.numel ||
          r.integer(jb, "slice", where, 0, INT64_MAX) != want.slice || jb["members"] != json(members) ||
          r.array(jb, "offsets", where) != json(offsets))
        r.fail(where, fmt::format("its layout (dtype, numel, slice, members, offsets) is not the one its parameters "
                                  "give: {} {} elements, slice {}, members {}, offsets {}",
                                  dtype_name(want.dtype), want.numel, want.slice, json(members).dump(),
                                  json(offsets).dump()));
      for (size_t k = 1; k < W; ++k) {
        const json& mine = metas[k]["groups"][g]["buckets"][b];
        for (const char* key : {"dtype", "numel", "slice", "members", "offsets"})
          if (readers[k].member(mine, key, where) != jb[key])
            readers[k].fail(where, fmt::format("'{}' is {}, rank 0 has {}", key, mine[key].dump(), jb[key].dump()));
      }
      ShardSet::Bucket bucket;
      bucket.group = g;
      bucket.index = b;
      bucket.layout = want;
      bucket.params = members;
      set.buckets.push_back(std::move(bucket));
    }
    next_param += ids.size();
  }
  for (size_t i = 0; i < n_params; ++i)
    if (bucket_of[i] < 0) readers[0].fail(fmt::format("parameter {}", i), "it belongs to no bucket");

  // The tensors: each shard holds exactly its slices (and rank 0 the replicated model state).
  std::vector<std::vector<std::vector<std::string>>> states(W);  // [rank][bucket] -> state names
  for (size_t k = 0; k < W; ++k) {
    std::set<std::string> expected_keys;
    for (const ShardSet::Bucket& b : set.buckets) {
      const std::string where = fmt::format("bucket {} of group {}", b.index, b.group);
      std::vector<std::string> names;
      for (const json& name : readers[k].array(metas[k]["groups"][b.group]["buckets"][b.index], "states", where)) {
        if (!name.is_string() || name.get<std::string>().empty() ||
            std::find(names.begin(), names.end(), name.get<std::string>()) != names.end())
          readers[k].fail(where, fmt::format("state name {} is not a new, non-empty string", name.dump()));
        names.push_back(name.get<std::string>());
        expected_keys.insert(tensor_key(b.group, b.index, "state." + names.back()));
        slice_tensor(shards[k], tensor_key(b.group, b.index, "state." + names.back()), readers[k], b.layout,
                     state_dtype(b.layout.dtype));
      }
      const bool has_master = std::find(names.begin(), names.end(), kMasterState) != names.end();
      if (is_reduced_floating(b.layout.dtype) && !has_master)
        readers[k].fail(where, fmt::format("its {} parameters come without their float32 master weights (state '{}')",
                                           dtype_name(b.layout.dtype), kMasterState));
      if (!is_reduced_floating(b.layout.dtype) && has_master)
        readers[k].fail(where, fmt::format("state '{}' belongs to 16-bit parameters, these are {}", kMasterState,
                                           dtype_name(b.layout.dtype)));
      expected_keys.insert(tensor_key(b.group, b.index, "params"));
      slice_tensor(shards[k], tensor_key(b.group, b.index, "params"), readers[k], b.layout, b.layout.dtype);
      states[k].push_back(std::move(names));
    }
    for (const auto& [name, t] : shards[k].tensors)
      if (!expected_keys.count(name) && !(k == 0 && name.rfind("model.", 0) == 0))
        readers[k].fail(fmt::format("tensor '{}'", name), "not listed by its metadata");
  }

  // Only now: the full buffers, from the slices just checked.
  NoGradGuard no_grad;
  for (size_t bi = 0; bi < set.buckets.size(); ++bi) {
    ShardSet::Bucket& bucket = set.buckets[bi];
    const int64_t padded = bucket.layout.padded();
    bucket.values = zeros({padded}, bucket.layout.dtype);
    for (size_t k = 0; k < W; ++k)
      for (const std::string& name : states[k][bi])
        if (!bucket.states.count(name)) bucket.states[name] = zeros({padded}, state_dtype(bucket.layout.dtype));
    for (size_t k = 0; k < W; ++k) {
      auto place = [&](const Tensor& full, const std::string& key) {
        const Tensor& part = slice_tensor(shards[k], key, readers[k], bucket.layout, full.dtype());
        span(full, bucket.layout.slice * static_cast<int64_t>(k), bucket.layout.slice).copy_(part.reshape({part.numel()}));
      };
      place(bucket.values, tensor_key(bucket.group, bucket.index, "params"));
      for (const std::string& name : states[k][bi])
        place(bucket.states[name], tensor_key(bucket.group, bucket.index, "state." + name));
    }
  }
  const std::string head = "model.";
  for (const auto& [name, t] : shards[0].tensors)
    if (name.rfind(head, 0) == 0) set.replicated.emplace_back(name.substr(head.size()), t);
  return set;
}

// Member m of a bucket as a tensor shaped like its parameter (a copy).
Tensor member_copy(const ShardSet& set, const ShardSet::Bucket& b, const Tensor& buffer, size_t m) {
  const ShardSet::Param& p = set.params[b.params[m]];
  return graft::clone(make_view(buffer, p.shape, contiguous_strides(p.shape), b.layout.slots[m].offset));
}

Checkpoint make_shard(const ShardSet& set, int world_size, int rank) {
  json z;
  z["format"] = kFormat;
  z["version"] = kVersion;
  z["stage"] = set.stage;
  z["world_size"] = world_size;
  z["rank"] = rank;
  z["optimizer"] = set.optimizer;
  z["params"] = json::array();
  for (const ShardSet::Param& p : set.params)
    z["params"].push_back({{"name", p.name},
                           {"shape", std::vector<int64_t>(p.shape.begin(), p.shape.end())},
                           {"dtype", dtype_name(p.dtype)},
                           {"requires_grad", p.requires_grad},
                           {"has_grad", p.has_grad},
                           {"step", p.step}});
  z["groups"] = json::array();
  Checkpoint shard;
  for (size_t g = 0; g < set.groups.size(); ++g) {
    json group = set.groups[g];
    group["buckets"] = json::array();
    for (const ShardSet::Bucket& b : set.buckets) {
      if (b.group != g) continue;
      const int64_t numel = b.layout.numel;
      const int64_t slice = (numel + world_size - 1) / world_size;
      const int64_t aligned = (slice + kSlotAlignment - 1) / kSlotAlignment * kSlotAlignment;
      std::vector<int64_t> offsets;
      for (const FlatSlot& s : b.layout.slots) offsets.push_back(s.offset);
      json jb = {{"dtype", dtype_name(b.layout.dtype)}, {"numel", numel},      {"slice", aligned},
                 {"members", b.params},                {"offsets", offsets}, {"states", json::array()}};
      auto cut = [&](const Tensor& full) {
        Tensor part = zeros({aligned}, full.dtype());
        const int64_t begin = aligned * rank, end = std::min(aligned * (rank + 1), numel);
        NoGradGuard no_grad;
        if (end > begin) span(part, 0, end - begin).copy_(span(full, begin, end - begin));
        return part;
      };
      shard.tensors.emplace_back(tensor_key(g, b.index, "params"), cut(b.values));
      for (const auto& [name, buffer] : b.states) {
        jb["states"].push_back(name);
        shard.tensors.emplace_back(tensor_key(g, b.index, "state." + name), cut(buffer));
      }
      group["buckets"].push_back(jb);
    }
    z["groups"].push_back(group);
  }
  if (rank == 0)
    for (const auto& [name, t] : set.replicated) shard.tensors.emplace_back("model." + name, t);
  shard.metadata = json{{"zero", z}}.dump();
  return shard;
}

}  // namespace

std::string shard_path(const std::string& dir, int rank, int world_size) {
  return (std::filesystem::path(dir) / fmt::format("zero_rank{}_of_{}.safetensors", rank, world_size)).string();
}

std::vector<Checkpoint> read_shards(const std::string& dir) {
  GRAFT_CHECK(std::filesystem::is_directory(dir), "ZeRO checkpoint: '{}' is not a directory", dir);
  static const std::regex pattern(R"(zero_rank(\d+)_of_(\d+)\.safetensors)");
  std::map<int, std::set<int>> ranks_by_world;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::smatch match;
    const std::string name = entry.path().filename().string();
    if (!std::regex_match(name, match, pattern)) continue;
    auto number = [&](const std::string& digits) {
      int value = 0;
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
      GRAFT_CHECK(ec == std::errc() && end == digits.data() + digits.size(),
                  "ZeRO checkpoint: '{}' holds '{}', whose rank or world size is out of range", dir, name);
      return value;
    };
    const int rank = number(match[1].str()), world = number(match[2].str());
    GRAFT_CHECK(world >= 1 && rank < world, "ZeRO checkpoint: '{}' holds '{}': rank {} of a world of {} ranks", dir, name,
                rank, world);
    ranks_by_world[world].insert(rank);
  }
  GRAFT_CHECK(!ranks_by_world.empty(), "ZeRO checkpoint: '{}' holds no shard files (zero_rank<r>_of_<W>.safetensors)",
              dir);
  GRAFT_CHECK(ranks_by_world.size() == 1, "ZeRO checkpoint: '{}' holds shards of {} different world sizes", dir,
              ranks_by_world.size());
  const auto& [W, ranks] = *ranks_by_world.begin();
  std::vector<Checkpoint> shards;
  for (int r = 0; r < W; ++r) {
    GRAFT_CHECK(ranks.count(r), "ZeRO checkpoint: '{}' lacks the shard of rank {} (of {})", dir, r, W);
    shards.push_back(load_checkpoint(shard_path(dir, r, W)));
  }
  return shards;
}

CheckpointInfo describe_shards(const std::vector<Checkpoint>& shards) {
  const ShardSet set = parse_shards(shards);
  CheckpointInfo info;
  info.world_size = set.world_size;
  info.stage = set.stage;
  info.optimizer = set.optimizer;
  for (const ShardSet::Param& p : set.params) info.params.push_back({p.name, p.dtype, p.shape, p.step});
  return info;
}

void write_shards(const std::vector<Checkpoint>& shards, const std::string& dir) {
  std::filesystem::create_directories(dir);
  for (size_t r = 0; r < shards.size(); ++r)
    save_checkpoint(shards[r], shard_path(dir, static_cast<int>(r), static_cast<int>(shards.size())));
}

Checkpoint consolidate_shards(const std::vector<Checkpoint>& shards) {
  const ShardSet set = parse_shards(shards);
  nn::StateDict model;
  std::map<size_t, std::pair<const ShardSet::Bucket*, size_t>> where;
  for (const ShardSet::Bucket& b : set.buckets)
    for (size_t m = 0; m < b.params.size(); ++m) where[b.params[m]] = {&b, m};
  for (size_t i = 0; i < set.params.size(); ++i) {
    auto [b, m] = where.at(i);
    model.emplace_back(set.params[i].name, member_copy(set, *b, b->values, m));
  }
  for (const auto& entry : set.replicated) model.push_back(entry);

  Checkpoint optimizer;
  json meta;
  meta["optimizer"] = set.optimizer;
  meta["param_groups"] = json::array();
  meta["state"] = json::object();
  for (size_t g = 0; g < set.groups.size(); ++g) {
    json packed = set.groups[g]["options"];
    if (!set.groups[g]["initial_lr"].is_null()) packed["initial_lr"] = set.groups[g]["initial_lr"];
    std::vector<size_t> ids;
    for (const ShardSet::Bucket& b : set.buckets)
      if (b.group == g) ids.insert(ids.end(), b.params.begin(), b.params.end());
    std::sort(ids.begin(), ids.end());
    packed["params"] = ids;
    meta["param_groups"].push_back(packed);
  }
  for (size_t i = 0; i < set.params.size(); ++i) {
    if (set.params[i].step <= 0) continue;
    const std::string key = std::to_string(i);
    meta["state"][key] = {{"step", set.params[i].step}};
    auto [b, m] = where.at(i);
    for (const auto& [name, buffer] : b->states)
      optimizer.tensors.emplace_back("state." + key + "." + name, member_copy(set, *b, buffer, m));
  }
  optimizer.metadata = meta.dump();
  Checkpoint out;
  out.insert("model", model);
  out.insert("optimizer", optimizer);
  return out;
}

std::vector<Checkpoint> reshard(const std::vector<Checkpoint>& shards, int world_size) {
  GRAFT_CHECK(world_size >= 1, "reshard: the world size must be at least 1, got {}", world_size);
  const ShardSet set = parse_shards(shards);
  std::vector<Checkpoint> out;
  for (int r = 0; r < world_size; ++r) out.push_back(make_shard(set, world_size, r));
  return out;
}

// ---------------------------------------------------------------- ShardedOptimizer's side

Checkpoint ShardedOptimizer::shard_checkpoint() const {
  NoGradGuard no_grad;
  const int W = comm_.world_size(), rank = comm_.rank();
  std::vector<int64_t> steps(params_.size(), -1);
  for (const ZeroBucket& b : buckets_)
    if (b.inner)
      for (size_t j = 0; j < b.inner->size(); ++j) steps[b.params[b.piece_members[j]]] = b.inner->steps()[j];
  json z;
  z["format"] = kFormat;
  z["version"] = kVersion;
  z["stage"] = stage_;
  z["world_size"] = W;
  z["rank"] = rank;
  z["optimizer"] = inner_->name();
  z["params"] = json::array();
  for (size_t i = 0; i < params_.size(); ++i) {
    const ZeroParam& p = params_[i];
    z["params"].push_back({{"name", p.name},
                           {"shape", std::vector<int64_t>(p.tensor.shape().begin(), p.tensor.shape().end())},
                           {"dtype", dtype_name(p.tensor.dtype())},
                           {"requires_grad", p.tensor.requires_grad()},
                           {"has_grad", p.has_grad},
                           {"step", steps[i]}});
  }
  Checkpoint shard;
  z["groups"] = json::array();
  for (size_t g = 0; g < inner_->param_groups().size(); ++g) {
    const OptimizerParamGroup& group = inner_->param_groups()[g];
    json jg = {{"options", json(group.options().to_map())},
               {"initial_lr", group.initial_lr() ? json(*group.initial_lr()) : json(nullptr)},
               {"buckets", json::array()}};
    size_t index = 0;
    for (const ZeroBucket& b : buckets_) {
      if (b.group != g) continue;
      const ZeroBucketLayout& l = b.layout;
      std::vector<int64_t> offsets;
      for (const FlatSlot& s : l.slots) offsets.push_back(s.offset);
      json jb = {{"dtype", dtype_name(l.dtype)}, {"numel", l.numel},      {"slice", l.slice},
                 {"members", b.params},         {"offsets", offsets}, {"states", json::array()}};
      // This rank's slice of each buffer, whatever the stage holds (stage 0 holds them whole).
      const int64_t skip = l.slice * rank - b.range.begin;
      shard.tensors.emplace_back(tensor_key(g, index, "params"), graft::clone(span(b.slice, skip, l.slice)));
      if (b.inner) {
        for (const auto& [name, buffer] : b.inner->states()) {
          jb["states"].push_back(name);
          shard.tensors.emplace_back(tensor_key(g, index, "state." + name), graft::clone(span(buffer, skip, l.slice)));
        }
      }
      if (b.mixed()) {
        jb["states"].push_back(kMasterState);
        shard.tensors.emplace_back(tensor_key(g, index, std::string("state.") + kMasterState),
                                   graft::clone(span(b.master, skip, l.slice)));
      }
      jg["buckets"].push_back(jb);
      ++index;
    }
    z["groups"].push_back(jg);
  }
  if (rank == 0) {
    for (const auto& [name, t] : model_.state_dict()) {
      // The state dict detaches: recognise the parameters by their memory.
      bool is_partitioned = false;
      for (const ZeroParam& p : params_)
        if (t.storage() == p.tensor.storage() && t.storage_offset() == p.tensor.storage_offset() &&
            t.shape() == p.tensor.shape())
          is_partitioned = true;
      if (!is_partitioned) shard.tensors.emplace_back("model." + name, graft::clone(t));
    }
  }
  shard.metadata = json{{"zero", z}}.dump();
  return shard;
}

void ShardedOptimizer::load_shards(const std::vector<Checkpoint>& shards) {
  GRAFT_CHECK(!in_backward_, "ShardedOptimizer.load: called while a backward is running");
  const ShardSet set = parse_shards(shards);
  const int W = comm_.world_size();
  GRAFT_CHECK(set.world_size == W,
              "ShardedOptimizer.load: the checkpoint was saved by {} ranks but this run has {}; reshard it first "
              "(zero::reshard, or `zero_checkpoint reshard <dir> <new dir> {}`)",
              set.world_size, W, W);
  GRAFT_CHECK(set.optimizer == inner_->name(), "ShardedOptimizer.load: the checkpoint was saved by {}, not {}",
              set.optimizer, inner_->name());
  GRAFT_CHECK(set.params.size() == params_.size(), "ShardedOptimizer.load: the checkpoint has {} parameters, this "
              "optimizer {}", set.params.size(), params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    const ShardSet::Param& saved = set.params[i];
    const Tensor& p = params_[i].tensor;
    GRAFT_CHECK(saved.name == params_[i].name && saved.shape == p.shape() && saved.dtype == p.dtype(),
                "ShardedOptimizer.load: parameter {} is '{}' {} {} in the checkpoint but '{}' {} {} here", i, saved.name,
                dtype_name(saved.dtype), shape_str(saved.shape), params_[i].name, dtype_name(p.dtype()),
                shape_str(p.shape()));
  }
  GRAFT_CHECK(set.buckets.size() == buckets_.size() && set.groups.size() == inner_->param_groups().size(),
              "ShardedOptimizer.load: the checkpoint groups its parameters differently");
  for (size_t k = 0; k < buckets_.size(); ++k)
    GRAFT_CHECK(set.buckets[k].group == buckets_[k].group && set.buckets[k].params == buckets_[k].params &&
                    set.buckets[k].layout.numel == buckets_[k].layout.numel,
                "ShardedOptimizer.load: the checkpoint groups its parameters differently");
  // Options first: from_map fails on a missing hyperparameter before anything changed.
  std::vector<std::unique_ptr<OptimizerOptions>> options;
  for (size_t g = 0; g < set.groups.size(); ++g) {
    options.push_back(inner_->param_groups()[g].options().clone());
    options.back()->from_map(set.groups[g]["options"].get<std::map<std::string, double>>());
  }

  NoGradGuard no_grad;
  for (size_t g = 0; g < set.groups.size(); ++g) {
    OptimizerParamGroup& group = inner_->param_groups()[g];
    group.set_options(std::move(options[g]));
    const json& lr = set.groups[g]["initial_lr"];
    group.set_initial_lr(lr.is_null() ? std::nullopt : std::optional<double>(lr.get<double>()));
  }
  for (size_t k = 0; k < buckets_.size(); ++k) {
    ZeroBucket& b = buckets_[k];
    const ShardSet::Bucket& saved = set.buckets[k];
    const int64_t length = b.range.end - b.range.begin;
    b.slice.copy_(span(saved.values, b.range.begin, length));
    if (stage_ < 3) b.flat.copy_(saved.values);
    if (b.mixed()) b.master.copy_(span(saved.states.at(kMasterState), b.range.begin, length));
    if (b.inner) {
      for (const auto& [name, buffer] : b.inner->states()) Tensor(buffer).zero_();
      for (const auto& [name, full] : saved.states)
        if (name != kMasterState) Tensor(b.inner->state(name)).copy_(span(full, b.range.begin, length));
      for (size_t j = 0; j < b.inner->size(); ++j)
        b.inner->steps()[j] = std::max<int64_t>(0, set.params[b.params[b.piece_members[j]]].step);
    }
    if (stage_ <= 1) b.local.zero_();
    else b.reduced.zero_();
  }
  for (size_t i = 0; i < params_.size(); ++i) params_[i].has_grad = set.params[i].has_grad;
  if (!set.replicated.empty()) {
    nn::StateDict own = model_.state_dict();
    for (const auto& entry : set.replicated) {
      const std::string& name = entry.first;
      const Tensor& value = entry.second;
      auto it = std::find_if(own.begin(), own.end(), [&](const auto& e) { return e.first == name; });
      GRAFT_CHECK(it != own.end(), "ShardedOptimizer.load: the checkpoint holds model state '{}' that the model lacks",
                  name);
      GRAFT_CHECK(it->second.shape() == value.shape(), "ShardedOptimizer.load: '{}' has shape {} in the checkpoint but {} "
                  "in the model", name, shape_str(value.shape()), shape_str(it->second.shape()));
      it->second.copy_(value);
    }
  }
  if (partition_) partition_->bump_versions();
  release_master_grads();
  micro_ = 0;
}

void ShardedOptimizer::save(const std::string& dir) const {
  std::filesystem::create_directories(dir);
  save_checkpoint(shard_checkpoint(), shard_path(dir, comm_.rank(), comm_.world_size()));
  comm_.barrier();  // every shard is on disk when save returns on any rank
}

void ShardedOptimizer::load(const std::string& dir) { load_shards(read_shards(dir)); }

}  // namespace graft::optim::zero
