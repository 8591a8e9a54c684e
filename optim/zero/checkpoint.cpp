#include "graft/optim/zero/checkpoint.h"

#include <algorithm>
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

DType dtype_from_name(const std::string& name) {
  for (DType d : {kFloat32, kFloat64})
    if (name == dtype_name(d)) return d;
  GRAFT_FAIL("ZeRO checkpoint: unsupported dtype '{}'", name);
}

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

const Tensor& find_tensor(const Checkpoint& c, const std::string& key, int rank) {
  for (const auto& [name, t] : c.tensors)
    if (name == key) return t;
  GRAFT_FAIL("ZeRO checkpoint: the shard of rank {} has no tensor '{}'", rank, key);
}

json zero_metadata(const Checkpoint& c, size_t index) {
  json meta;
  try {
    meta = json::parse(c.metadata);
  } catch (const json::exception& e) {
    GRAFT_FAIL("ZeRO checkpoint: shard {} has metadata that is not JSON ({})", index, e.what());
  }
  GRAFT_CHECK(meta.is_object() && meta.contains("zero") && meta["zero"].value("format", "") == kFormat,
              "ZeRO checkpoint: file {} of the checkpoint is not a ZeRO shard (no 'zero' metadata)", index);
  GRAFT_CHECK(meta["zero"].value("version", 0) == kVersion, "ZeRO checkpoint: shard {} has format version {}, expected {}",
              index, meta["zero"].value("version", 0), kVersion);
  return meta["zero"];
}

ShardSet parse_shards(const std::vector<Checkpoint>& shards) {
  GRAFT_CHECK(!shards.empty(), "ZeRO checkpoint: no shards");
  ShardSet set;
  try {
    std::vector<json> metas;
    for (size_t k = 0; k < shards.size(); ++k) metas.push_back(zero_metadata(shards[k], k));
    const json& first = metas[0];
    set.world_size = first.at("world_size").get<int>();
    set.stage = first.at("stage").get<int>();
    set.optimizer = first.at("optimizer").get<std::string>();
    GRAFT_CHECK(static_cast<int>(shards.size()) == set.world_size,
                "ZeRO checkpoint: it was saved by {} ranks but {} shards were given", set.world_size, shards.size());
    for (size_t k = 0; k < metas.size(); ++k) {
      const json& m = metas[k];
      GRAFT_CHECK(m.at("rank").get<int>() == static_cast<int>(k), "ZeRO checkpoint: shard {} holds rank {}'s state", k,
                  m.at("rank").get<int>());
      GRAFT_CHECK(m.at("world_size") == first.at("world_size") && m.at("stage") == first.at("stage") &&
                      m.at("optimizer") == first.at("optimizer") && m.at("groups").size() == first.at("groups").size(),
                  "ZeRO checkpoint: shard {} belongs to another checkpoint than shard 0", k);
      for (size_t g = 0; g < first.at("groups").size(); ++g)
        GRAFT_CHECK(m["groups"][g].at("buckets").size() == first["groups"][g].at("buckets").size(),
                    "ZeRO checkpoint: shard {} belongs to another checkpoint than shard 0", k);
      GRAFT_CHECK(m.at("params").size() == first.at("params").size(),
                  "ZeRO checkpoint: shard {} belongs to another checkpoint than shard 0", k);
    }
    for (const json& p : first.at("params")) {
      ShardSet::Param param;
      param.name = p.at("name").get<std::string>();
      const std::vector<int64_t> shape = p.at("shape").get<std::vector<int64_t>>();
      param.shape = Shape(shape.begin(), shape.end());
      param.dtype = dtype_from_name(p.at("dtype").get<std::string>());
      param.requires_grad = p.at("requires_grad").get<bool>();
      param.has_grad = p.at("has_grad").get<bool>();
      set.params.push_back(param);
    }
    for (const json& m : metas)
      for (size_t i = 0; i < set.params.size(); ++i)
        set.params[i].step = std::max(set.params[i].step, m["params"][i].at("step").get<int64_t>());
    for (size_t g = 0; g < first.at("groups").size(); ++g) {
      const json& group = first["groups"][g];
      set.groups.push_back({{"options", group.at("options")}, {"initial_lr", group.at("initial_lr")}});
      for (size_t b = 0; b < group.at("buckets").size(); ++b) {
        const json& jb = group["buckets"][b];
        ShardSet::Bucket bucket;
        bucket.group = g;
        bucket.index = b;
        bucket.layout.dtype = dtype_from_name(jb.at("dtype").get<std::string>());
        bucket.layout.numel = jb.at("numel").get<int64_t>();
        bucket.layout.slice = jb.at("slice").get<int64_t>();
        bucket.layout.world_size = set.world_size;
        bucket.params = jb.at("members").get<std::vector<size_t>>();
        const std::vector<int64_t> offsets = jb.at("offsets").get<std::vector<int64_t>>();
        GRAFT_CHECK(offsets.size() == bucket.params.size(), "ZeRO checkpoint: bucket {} of group {} is malformed", b, g);
        for (size_t m = 0; m < offsets.size(); ++m) {
          GRAFT_CHECK(bucket.params[m] < set.params.size(), "ZeRO checkpoint: bucket {} of group {} is malformed", b, g);
          int64_t numel = 1;
          for (int64_t d : set.params[bucket.params[m]].shape) numel *= d;
          bucket.layout.slots.push_back(FlatSlot{offsets[m], numel});
          bucket.layout.members.push_back(m);
        }
        const int64_t padded = bucket.layout.padded();
        bucket.values = zeros({padded}, bucket.layout.dtype);
        std::set<std::string> state_names;
        for (const json& m : metas)
          for (const json& name : m["groups"][g]["buckets"][b].at("states")) state_names.insert(name.get<std::string>());
        for (const std::string& name : state_names) bucket.states[name] = zeros({padded}, bucket.layout.dtype);
        for (int r = 0; r < set.world_size; ++r) {
          const json& mine = metas[static_cast<size_t>(r)]["groups"][g]["buckets"][b];
          GRAFT_CHECK(mine.at("numel") == jb.at("numel") && mine.at("slice") == jb.at("slice") &&
                          mine.at("members") == jb.at("members") && mine.at("offsets") == jb.at("offsets"),
                      "ZeRO checkpoint: shard {} lays bucket {} of group {} out differently from shard 0", r, b, g);
          const Checkpoint& shard = shards[static_cast<size_t>(r)];
          auto place = [&](const Tensor& full, const std::string& key) {
            const Tensor& part = find_tensor(shard, key, r);
            GRAFT_CHECK(part.numel() == bucket.layout.slice && part.dtype() == bucket.layout.dtype,
                        "ZeRO checkpoint: '{}' of rank {} has {} elements of {}, expected {} of {}", key, r, part.numel(),
                        dtype_name(part.dtype()), bucket.layout.slice, dtype_name(bucket.layout.dtype));
            span(full, bucket.layout.slice * r, bucket.layout.slice).copy_(part.reshape({part.numel()}));
          };
          NoGradGuard no_grad;
          place(bucket.values, tensor_key(g, b, "params"));
          for (const json& name : mine.at("states"))
            place(bucket.states[name.get<std::string>()], tensor_key(g, b, "state." + name.get<std::string>()));
        }
        set.buckets.push_back(std::move(bucket));
      }
    }
    const std::string head = "model.";
    for (const auto& [name, t] : shards[0].tensors)
      if (name.rfind(head, 0) == 0) set.replicated.emplace_back(name.substr(head.size()), t);
  } catch (const json::exception& e) {
    GRAFT_FAIL("ZeRO checkpoint: the metadata is malformed ({})", e.what());
  }
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
        Tensor part = zeros({aligned}, b.layout.dtype);
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
  std::set<int> worlds;
  std::set<int> ranks;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::smatch match;
    const std::string name = entry.path().filename().string();
    if (!std::regex_match(name, match, pattern)) continue;
    worlds.insert(std::stoi(match[2].str()));
    ranks.insert(std::stoi(match[1].str()));
  }
  GRAFT_CHECK(!worlds.empty(), "ZeRO checkpoint: '{}' holds no shard files (zero_rank<r>_of_<W>.safetensors)", dir);
  GRAFT_CHECK(worlds.size() == 1, "ZeRO checkpoint: '{}' holds shards of {} different world sizes", dir, worlds.size());
  const int W = *worlds.begin();
  std::vector<Checkpoint> shards;
  for (int r = 0; r < W; ++r) {
    GRAFT_CHECK(ranks.count(r), "ZeRO checkpoint: '{}' lacks the shard of rank {} (of {})", dir, r, W);
    shards.push_back(load_checkpoint(shard_path(dir, r, W)));
  }
  return shards;
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
  size_t base = 0;
  for (size_t g = 0; g < set.groups.size(); ++g) {
    json packed = set.groups[g]["options"];
    if (!set.groups[g]["initial_lr"].is_null()) packed["initial_lr"] = set.groups[g]["initial_lr"];
    std::vector<size_t> ids;
    for (const ShardSet::Bucket& b : set.buckets)
      if (b.group == g) ids.insert(ids.end(), b.params.begin(), b.params.end());
    std::sort(ids.begin(), ids.end());
    packed["params"] = ids;
    meta["param_groups"].push_back(packed);
    base += ids.size();
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
    if (b.inner) {
      for (const auto& [name, buffer] : b.inner->states()) Tensor(buffer).zero_();
      for (const auto& [name, full] : saved.states)
        Tensor(b.inner->state(name)).copy_(span(full, b.range.begin, length));
      for (size_t j = 0; j < b.inner->size(); ++j)
        b.inner->steps()[j] = std::max<int64_t>(0, set.params[b.params[b.piece_members[j]]].step);
    }
    if (stage_ <= 1) b.local.zero_();
    else b.reduced.zero_();
  }
  for (size_t i = 0; i < params_.size(); ++i) params_[i].has_grad = set.params[i].has_grad;
  if (!set.replicated.empty()) {
    nn::StateDict own = model_.state_dict();
    for (const auto& [name, value] : set.replicated) {
      auto it = std::find_if(own.begin(), own.end(), [&](const auto& e) { return e.first == name; });
      GRAFT_CHECK(it != own.end(), "ShardedOptimizer.load: the checkpoint holds model state '{}' that the model lacks",
                  name);
      GRAFT_CHECK(it->second.shape() == value.shape(), "ShardedOptimizer.load: '{}' has shape {} in the checkpoint but {} "
                  "in the model", name, shape_str(value.shape()), shape_str(it->second.shape()));
      it->second.copy_(value);
    }
  }
  if (partition_) partition_->bump_versions();
  micro_ = 0;
}

void ShardedOptimizer::save(const std::string& dir) const {
  std::filesystem::create_directories(dir);
  save_checkpoint(shard_checkpoint(), shard_path(dir, comm_.rank(), comm_.world_size()));
  comm_.barrier();  // every shard is on disk when save returns on any rank
}

void ShardedOptimizer::load(const std::string& dir) { load_shards(read_shards(dir)); }

}  // namespace graft::optim::zero
