#include "graft/optim/zero/step_time.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "graft/autograd/chrome_trace.h"
#include "graft/graph/atomic_file.h"
#include "graft/graph/error.h"
#include "graft/nn/module.h"
#include "graft/nn/modules/embedding.h"

namespace graft::optim::zero {

int64_t ModelDescription::parameters() const {
  int64_t n = 0;
  for (const ModelLayer& l : layers) n += l.parameters;
  return n;
}

double ModelDescription::forward_flops_per_sample() const {
  double f = 0;
  for (const ModelLayer& l : layers) f += l.forward_flops_per_sample;
  return f;
}

ModelDescription ModelDescription::from_module(nn::Module& module, int64_t micro_batch, int64_t tokens_per_sample) {
  GRAFT_CHECK(micro_batch >= 1, "ModelDescription.from_module: micro_batch must be at least 1, got {}", micro_batch);
  GRAFT_CHECK(tokens_per_sample >= 1, "ModelDescription.from_module: tokens_per_sample must be at least 1, got {}",
              tokens_per_sample);
  ModelDescription d;
  d.name = module.type_name();
  d.micro_batch = micro_batch;
  for (const auto& [name, m] : module.named_modules()) {
    const TensorList own = m->parameters(/*recurse=*/false);
    if (own.empty()) continue;
    ModelLayer layer;
    layer.name = name.empty() ? m->type_name() : name;
    const bool lookup = dynamic_cast<const nn::Embedding*>(m.get()) != nullptr;
    for (const Tensor& p : own) {
      layer.parameters += p.numel();
      if (!lookup && p.dim() >= 2) layer.forward_flops_per_sample += 2.0 * static_cast<double>(p.numel() * tokens_per_sample);
    }
    d.layers.push_back(std::move(layer));
  }
  GRAFT_CHECK(!d.layers.empty(), "ModelDescription.from_module: the module '{}' has no parameters", module.type_name());
  return d;
}

ModelDescription ModelDescription::transformer(const TransformerShape& s, int64_t micro_batch, const std::string& name) {
  const char* op = "ModelDescription.transformer";
  for (const auto& [field, value] : {std::pair{"layers", s.layers}, std::pair{"d_model", s.d_model},
                                     std::pair{"heads", s.heads}, std::pair{"vocab", s.vocab},
                                     std::pair{"sequence", s.sequence}, std::pair{"micro_batch", micro_batch}})
    GRAFT_CHECK(value >= 1, "{}: {} must be at least 1, got {}", op, field, value);
  GRAFT_CHECK(s.kv_heads >= 0 && s.ffn_hidden >= 0, "{}: kv_heads and ffn_hidden must not be negative, got {} and {}", op,
              s.kv_heads, s.ffn_hidden);
  GRAFT_CHECK(s.d_model % s.heads == 0, "{}: heads ({}) must divide d_model ({})", op, s.heads, s.d_model);
  const int64_t kv_heads = s.kv_heads == 0 ? s.heads : s.kv_heads;
  GRAFT_CHECK(s.heads % kv_heads == 0, "{}: kv_heads ({}) must divide heads ({})", op, kv_heads, s.heads);
  const int64_t d = s.d_model, head_dim = d / s.heads, T = s.sequence;
  const int64_t ffn = s.ffn_hidden == 0 ? 4 * d : s.ffn_hidden;
  const int64_t kv = kv_heads * head_dim;
  ModelDescription m;
  m.name = name;
  m.micro_batch = micro_batch;
  m.layers.push_back({"embedding", s.vocab * d, 0.0});
  // One unit per module, as graft's TransformerBlock registers them (stage 3 gathers each on its own).
  auto matrix = [&](const std::string& unit, int64_t in, int64_t out, double extra_flops) {
    m.layers.push_back({unit, in * out, 2.0 * static_cast<double>(in * out * T) + extra_flops});
  };
  const double attention = 4.0 * static_cast<double>(T) * static_cast<double>(T) * static_cast<double>(d);
  for (int64_t l = 0; l < s.layers; ++l) {
    const std::string block = "block " + std::to_string(l) + " ";
    m.layers.push_back({block + "attention norm", d, 0.0});
    matrix(block + "q", d, d, 0);
    matrix(block + "k", d, kv, 0);
    matrix(block + "v", d, kv, 0);
    matrix(block + "o", d, d, attention);  // scores and the weighted values, between v and o
    m.layers.push_back({block + "ffn norm", d, 0.0});
    matrix(block + "ffn up", d, ffn, 0);
    if (s.swiglu) matrix(block + "ffn gate", d, ffn, 0);
    matrix(block + "ffn down", ffn, d, 0);
  }
  const int64_t head = s.tie_embeddings ? 0 : s.vocab * d;
  m.layers.push_back({"final norm", d, 0.0});
  m.layers.push_back({"head", head, 2.0 * static_cast<double>(s.vocab * d * T)});
  const double block_activations = static_cast<double>(T) * (34.0 * static_cast<double>(d) + 5.0 * static_cast<double>(s.heads * T));
  m.recompute = s.activation_checkpointing;
  m.activation_bytes_per_sample = s.activation_checkpointing
                                      ? static_cast<double>(s.layers) * 2.0 * static_cast<double>(T * d) + block_activations
                                      : static_cast<double>(s.layers) * block_activations;
  return m;
}

namespace {

void check_settings(const char* op, const ZeroSettings& z) {
  GRAFT_CHECK(z.stage >= 0 && z.stage <= 3, "{}: stage must be 0, 1, 2 or 3, got {}", op, z.stage);
  GRAFT_CHECK(z.world_size >= 1, "{}: world_size must be at least 1, got {}", op, z.world_size);
  GRAFT_CHECK(z.reduce_bucket_size >= 1, "{}: reduce_bucket_size must be at least 1 element, got {}", op,
              z.reduce_bucket_size);
  GRAFT_CHECK(z.prefetch_bucket_size >= 0, "{}: prefetch_bucket_size must not be negative, got {}", op,
              z.prefetch_bucket_size);
}

void check_machine(const char* op, const Machine& m, int world_size) {
  GRAFT_CHECK(m.flops_per_second > 0, "{}: machine '{}': flops_per_second must be positive, got {}", op, m.name,
              m.flops_per_second);
  GRAFT_CHECK(m.optimizer_seconds_per_element >= 0, "{}: machine '{}': optimizer_seconds_per_element must not be negative, got {}",
              op, m.name, m.optimizer_seconds_per_element);
  GRAFT_CHECK(m.reduction_bytes_per_second >= 0, "{}: machine '{}': reduction_bytes_per_second must not be negative, got {}",
              op, m.name, m.reduction_bytes_per_second);
  GRAFT_CHECK(m.memory_bytes >= 0, "{}: machine '{}': memory_bytes must not be negative, got {}", op, m.name, m.memory_bytes);
  GRAFT_CHECK(m.ranks_per_node >= 1, "{}: machine '{}': ranks_per_node must be at least 1, got {}", op, m.name,
              m.ranks_per_node);
  GRAFT_CHECK(m.overlap_efficiency > 0 && m.overlap_efficiency <= 1,
              "{}: machine '{}': overlap_efficiency must be in (0, 1], got {}", op, m.name, m.overlap_efficiency);
  if (world_size > 1) {
    const bool nodes = world_size > m.ranks_per_node;
    const Link& link = nodes ? m.inter_node : m.intra_node;
    GRAFT_CHECK(link.bytes_per_second > 0 && link.alpha_seconds >= 0,
                "{}: machine '{}': {}.bytes_per_second must be positive and alpha_seconds not negative, got {} and {}",
                op, m.name, nodes ? "inter_node" : "intra_node", link.bytes_per_second, link.alpha_seconds);
    if (nodes)
      GRAFT_CHECK(m.intra_node.bytes_per_second > 0, "{}: machine '{}': intra_node.bytes_per_second must be positive, got {}",
                  op, m.name, m.intra_node.bytes_per_second);
  }
}

// The ring's slowest link: latency and seconds per byte.
std::pair<double, double> ring_link(int world_size, const Machine& m) {
  if (world_size <= m.ranks_per_node) return {m.intra_node.alpha_seconds, 1.0 / m.intra_node.bytes_per_second};
  return {std::max(m.intra_node.alpha_seconds, m.inter_node.alpha_seconds),
          std::max(1.0 / m.intra_node.bytes_per_second, 1.0 / m.inter_node.bytes_per_second)};
}

double reduce_seconds(double bytes, const Machine& m) {
  return m.reduction_bytes_per_second > 0 ? bytes / m.reduction_bytes_per_second : 0.0;
}

// Bytes one rank sends in the collective (the ring's count).
double bytes_sent(const std::string& collective, double bytes, int W) {
  const double share = static_cast<double>(W - 1) / W * bytes;
  return collective == "all_reduce" ? 2 * share : share;
}

// collective_seconds on arguments already checked (the simulation checks the machine once, not per collective).
double checked_collective_seconds(const std::string& collective, double bytes, int world_size, const Machine& machine) {
  if (world_size == 1) return 0;
  const auto [alpha, beta] = ring_link(world_size, machine);
  const double W = world_size, steps = W - 1, chunk = bytes / W;
  const double gather = steps * (alpha + chunk * beta);
  const double scatter = gather + reduce_seconds(steps * chunk, machine);
  if (collective == "all_gather") return gather;
  if (collective == "reduce_scatter") return scatter;
  if (machine.algorithm == CollectiveAlgorithm::Tree) {
    const double depth = std::ceil(std::log2(W));
    return 2 * depth * (alpha + bytes * beta) + reduce_seconds(depth * bytes, machine);
  }
  return scatter + gather;
}

}  // namespace

double collective_seconds(const std::string& collective, double bytes, int world_size, const Machine& machine) {
  const char* op = "collective_seconds";
  GRAFT_CHECK(collective == "all_gather" || collective == "reduce_scatter" || collective == "all_reduce",
              "{}: collective must be all_gather, reduce_scatter or all_reduce, got '{}'", op, collective);
  GRAFT_CHECK(world_size >= 1, "{}: world_size must be at least 1, got {}", op, world_size);
  GRAFT_CHECK(bytes >= 0, "{}: bytes must not be negative, got {}", op, bytes);
  if (world_size > 1) check_machine(op, machine, world_size);
  return checked_collective_seconds(collective, bytes, world_size, machine);
}

StepTimePrediction predict_memory(const ModelDescription& model, const ZeroSettings& settings) {
  check_settings("predict_memory", settings);
  GRAFT_CHECK(model.micro_batch >= 1, "predict_memory: micro_batch must be at least 1, got {}", model.micro_batch);
  StepTimePrediction p;
  const double psi = static_cast<double>(model.parameters());
  p.model_state = zero_model_state_bytes(settings.stage, psi, settings.world_size, model.optimizer_state_bytes,
                                         model.param_bytes, model.grad_bytes);
  p.activation_bytes = model.activation_bytes_per_sample * static_cast<double>(model.micro_batch);
  if (settings.stage == 3) {  // the gathered parameters in use and prefetched
    int64_t largest = 0;
    for (const ModelLayer& l : model.layers) largest = std::max(largest, l.parameters);
    p.activation_bytes += static_cast<double>(largest + settings.prefetch_bucket_size) * model.param_bytes;
  }
  return p;
}

namespace {

// The step as two streams; see the header.
class StepSimulation {
 public:
  explicit StepSimulation(double overlap_efficiency) : eta_(overlap_efficiency) {}

  int task(std::string name, double seconds, double bytes) {
    tasks_.push_back({std::move(name), seconds, bytes});
    return static_cast<int>(tasks_.size()) - 1;
  }
  // A compute segment: `release` starts those collectives when the segment is next (a pre-hook), `wait`
  // must have completed before it runs, `after` starts when it ends (a gradient hook).
  void segment(std::string name, double seconds, std::vector<int> release, std::vector<int> wait,
               std::vector<int> after = {}) {
    segments_.push_back({std::move(name), seconds, std::move(release), std::move(wait), std::move(after)});
  }

  void run(StepTimePrediction& p) {
    double t = 0;
    size_t next = 0;
    bool running = false, waiting = false;
    double remaining = 0, began = 0, wait_began = 0;
    std::vector<int> queue;
    size_t head = 0;
    auto release = [&](const std::vector<int>& ids) {
      for (int id : ids) queue.push_back(id);
    };
    auto complete = [&](const std::vector<int>& ids) {
      return std::all_of(ids.begin(), ids.end(), [&](int id) { return tasks_[static_cast<size_t>(id)].done; });
    };
    while (true) {
      if (!running && next < segments_.size()) {
        Segment& s = segments_[next];
        if (!waiting && !s.released) {
          release(s.release);
          s.released = true;
        }
        if (complete(s.wait)) {
          if (waiting) {
            p.timeline.push_back({"wait", "compute", wait_began, t - wait_began, 0});
            p.exposed_seconds += t - wait_began;
            waiting = false;
          }
          running = true;
          remaining = s.seconds;
          began = t;
        } else if (!waiting) {
          waiting = true;
          wait_began = t;
        }
      }
      while (head < queue.size() && tasks_[static_cast<size_t>(queue[head])].done) ++head;
      Task* active = head < queue.size() ? &tasks_[static_cast<size_t>(queue[head])] : nullptr;
      if (!running && !active) break;
      const double rate = running ? eta_ : 1.0;
      const double inf = std::numeric_limits<double>::infinity();
      const double dt_compute = running ? remaining : inf;
      const double dt_comm = active ? active->remaining / rate : inf;
      const double dt = std::min(dt_compute, dt_comm);
      if (active) {
        if (active->start < 0) active->start = t;
        active->remaining -= dt * rate;
        if (dt == dt_comm) {
          active->done = true;
          p.timeline.push_back({active->name, "communication", active->start, t + dt - active->start, active->bytes});
        }
      }
      t += dt;
      if (running) {
        remaining -= dt;
        if (dt == dt_compute) {
          Segment& s = segments_[next];
          if (s.seconds > 0) p.timeline.push_back({s.name, "compute", began, t - began, 0});
          release(s.after);
          running = false;
          ++next;
        }
      }
    }
    GRAFT_CHECK(next == segments_.size(), "predict_step_time: internal error: the simulated step stalls at '{}'",
                segments_[std::min(next, segments_.size() - 1)].name);
    p.step_seconds = t;
    for (const Task& task : tasks_) p.communication_seconds += task.seconds;
  }

 private:
  struct Task {
    std::string name;
    double seconds, bytes;
    double remaining = seconds, start = -1;
    bool done = false;
  };
  struct Segment {
    std::string name;
    double seconds;
    std::vector<int> release, wait, after;
    bool released = false;
  };
  double eta_;
  std::vector<Task> tasks_;
  std::vector<Segment> segments_;
};

}  // namespace

StepTimePrediction predict_step_time(const ModelDescription& model, const ZeroSettings& z, const Machine& machine) {
  const char* op = "predict_step_time";
  check_settings(op, z);
  check_machine(op, machine, z.world_size);
  GRAFT_CHECK(!model.layers.empty(), "{}: the model '{}' has no layers", op, model.name);
  StepTimePrediction p = predict_memory(model, z);
  if (machine.memory_bytes > 0)
    GRAFT_CHECK(p.memory_bytes() <= machine.memory_bytes,
                "{}: model '{}' does not fit a rank's memory at stage {} on {} ranks: it needs {:.3g} GB (model states "
                "{:.3g} GB, activations and buffers {:.3g} GB), machine '{}' has memory_bytes = {:.3g} GB",
                op, model.name, z.stage, z.world_size, p.memory_bytes() / 1e9, p.model_state.total() / 1e9,
                p.activation_bytes / 1e9, machine.name, machine.memory_bytes / 1e9);
  const int W = z.world_size;
  const size_t L = model.layers.size();
  const double B = static_cast<double>(model.micro_batch);
  StepSimulation sim(machine.overlap_efficiency);
  // A collective's task id, or -1 where there is nothing to move.
  auto collective = [&](const std::string& c, double bytes) {
    if (W == 1 || bytes == 0) return -1;
    const double sent = bytes_sent(c, bytes, W);
    p.communication_bytes += sent;
    return sim.task(c, checked_collective_seconds(c, bytes, W, machine), sent);
  };
  auto some = [](int id) { return id < 0 ? std::vector<int>{} : std::vector<int>{id}; };

  // Forward; at stage 3 each layer waits for its gathered parameters, prefetched by earlier pre-hooks.
  std::vector<std::vector<int>> release(L);
  std::vector<int> gathers(L, -1);
  if (z.stage == 3) {
    for (size_t l = 0; l < L; ++l) gathers[l] = collective("all_gather", model.layers[l].parameters * model.param_bytes);
    const bool prefetch = z.prefetch_bucket_size > 0;
    size_t issued = 0;  // layers [0, issued) have been started
    int64_t in_flight = 0;
    auto start = [&](size_t at, size_t layer) {
      if (gathers[layer] >= 0) release[at].push_back(gathers[layer]);
    };
    for (size_t l = 0; l < L; ++l) {
      if (issued <= l) {
        start(l, l);
        issued = l + 1;
      } else {
        in_flight -= model.layers[l].parameters;
      }
      while (prefetch && issued < L && in_flight + model.layers[issued].parameters <= z.prefetch_bucket_size) {
        in_flight += model.layers[issued].parameters;
        start(l, issued++);
      }
    }
  }
  for (size_t l = 0; l < L; ++l) {
    const double seconds = model.layers[l].forward_flops_per_sample * B / machine.flops_per_second;
    p.forward_seconds += seconds;
    sim.segment("forward " + model.layers[l].name, seconds, release[l], some(gathers[l]));
  }
  // Reduce buckets, from the last layer backwards; each closes once it holds reduce_bucket_size elements.
  std::vector<std::vector<int>> after(L);
  std::vector<int> reductions, gathers_after;
  int64_t bucket = 0;
  for (size_t l = L; l-- > 0;) {
    bucket += model.layers[l].parameters;
    if (bucket < z.reduce_bucket_size && l > 0) continue;
    const double bytes = static_cast<double>(bucket) * model.grad_bytes;
    const int rs = collective("reduce_scatter", bytes);
    if (rs >= 0) {
      reductions.push_back(rs);
      if (z.overlap_comm) after[l].push_back(rs);
      if (z.stage == 0) gathers_after.push_back(collective("all_gather", bytes));  // all_reduce's second half
    }
    bucket = 0;
  }
  for (size_t l = L; l-- > 0;) {
    const double seconds = (model.recompute ? 3 : 2) * model.layers[l].forward_flops_per_sample * B / machine.flops_per_second;
    p.backward_seconds += seconds;
    const int gather = z.stage == 3 ? collective("all_gather", model.layers[l].parameters * model.param_bytes) : -1;
    sim.segment("backward " + model.layers[l].name, seconds, some(gather), some(gather), after[l]);
  }
  std::vector<int> end_of_backward = z.overlap_comm ? std::vector<int>{} : reductions;
  end_of_backward.insert(end_of_backward.end(), gathers_after.begin(), gathers_after.end());
  std::vector<int> all = reductions;
  all.insert(all.end(), gathers_after.begin(), gathers_after.end());
  sim.segment("reduce_gradients", 0, end_of_backward, all);
  const double psi = static_cast<double>(model.parameters());
  const double updated = z.stage == 0 ? psi : std::ceil(psi / W);
  p.optimizer_seconds = updated * machine.optimizer_seconds_per_element;
  const int step_gather = (z.stage == 1 || z.stage == 2) ? collective("all_gather", psi * model.param_bytes) : -1;
  sim.segment("optimizer.step", p.optimizer_seconds, {}, {}, some(step_gather));
  sim.segment("end of step", 0, {}, some(step_gather));
  sim.run(p);
  p.samples_per_second = W * B / p.step_seconds;
  p.model_flops_per_second = 3 * model.forward_flops_per_sample() * B / p.step_seconds;
  return p;
}

std::string predicted_chrome_trace(const StepTimePrediction& prediction, int pid, const std::string& process_name,
                                   double offset_us) {
  autograd::profiler::ChromeTrace trace(pid, process_name);
  trace.name_thread(1, "compute");
  trace.name_thread(2, "communication");
  for (const PredictedEvent& e : prediction.timeline) {
    const bool compute = e.track == "compute";
    std::vector<std::pair<std::string, int64_t>> figures;
    if (e.bytes > 0) figures.emplace_back("bytes", std::llround(e.bytes));  // whole bytes, as measured traces give
    trace.add_event(e.name, compute ? (e.name == "wait" ? "wait" : "compute") : "collective", compute ? 1 : 2,
                    e.start_seconds * 1e6 + offset_us, e.duration_seconds * 1e6, figures);
  }
  return trace.dump();
}

void export_predicted_chrome_trace(const StepTimePrediction& prediction, const std::string& path) {
  AtomicFileWriter out(path, "export_predicted_chrome_trace");
  out.write(predicted_chrome_trace(prediction, 0, "predicted step"));
  out.commit();
}

std::string machine_to_json(const Machine& m) {
  auto link = [](const Link& l) { return nlohmann::ordered_json{{"alpha_seconds", l.alpha_seconds}, {"bytes_per_second", l.bytes_per_second}}; };
  nlohmann::ordered_json j{{"name", m.name},
                           {"flops_per_second", m.flops_per_second},
                           {"optimizer_seconds_per_element", m.optimizer_seconds_per_element},
                           {"reduction_bytes_per_second", m.reduction_bytes_per_second},
                           {"memory_bytes", m.memory_bytes},
                           {"ranks_per_node", m.ranks_per_node},
                           {"intra_node", link(m.intra_node)},
                           {"inter_node", link(m.inter_node)},
                           {"algorithm", m.algorithm == CollectiveAlgorithm::Ring ? "ring" : "tree"},
                           {"overlap_efficiency", m.overlap_efficiency}};
  return j.dump(2) + "\n";
}

Machine machine_from_json(const std::string& text) {
  const char* op = "machine_from_json";
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  GRAFT_CHECK(j.is_object(), "{}: the text is not a JSON object", op);
  auto number = [&](const nlohmann::json& o, const std::string& key, const std::string& where) {
    GRAFT_CHECK(o.contains(key) && o.at(key).is_number(), "{}: '{}{}' is missing or not a number", op, where, key);
    return o.at(key).get<double>();
  };
  auto link = [&](const std::string& key) {
    GRAFT_CHECK(j.contains(key) && j.at(key).is_object(), "{}: '{}' is missing or not an object", op, key);
    return Link{number(j.at(key), "alpha_seconds", key + "."), number(j.at(key), "bytes_per_second", key + ".")};
  };
  Machine m;
  GRAFT_CHECK(j.contains("name") && j.at("name").is_string(), "{}: 'name' is missing or not a string", op);
  m.name = j.at("name").get<std::string>();
  m.flops_per_second = number(j, "flops_per_second", "");
  m.optimizer_seconds_per_element = number(j, "optimizer_seconds_per_element", "");
  m.reduction_bytes_per_second = number(j, "reduction_bytes_per_second", "");
  m.memory_bytes = number(j, "memory_bytes", "");
  const double ranks = number(j, "ranks_per_node", "");
  GRAFT_CHECK(ranks >= 1 && ranks <= 1e9 && ranks == std::floor(ranks), "{}: 'ranks_per_node' must be a positive integer, got {}",
              op, ranks);
  m.ranks_per_node = static_cast<int>(ranks);
  m.intra_node = link("intra_node");
  m.inter_node = link("inter_node");
  GRAFT_CHECK(j.contains("algorithm") && j.at("algorithm").is_string() &&
                  (j.at("algorithm") == "ring" || j.at("algorithm") == "tree"),
              "{}: 'algorithm' must be \"ring\" or \"tree\"", op);
  m.algorithm = j.at("algorithm") == "ring" ? CollectiveAlgorithm::Ring : CollectiveAlgorithm::Tree;
  m.overlap_efficiency = number(j, "overlap_efficiency", "");
  return m;
}

}  // namespace graft::optim::zero
