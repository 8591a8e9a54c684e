#pragma once
// How long a ZeRO training step takes: a model of one rank's step from a description of the model, the ZeRO
// settings and the machine, and the timeline it predicts.
//
// The step is simulated as two streams that run side by side, as on a GPU with a communication engine (or a
// CPU whose MPI moves data between calls):
//   compute         the forward layer by layer, the backward layer by layer in reverse (twice the forward's
//                   FLOPs), the optimizer step over the elements this rank updates;
//   communication   the collectives ShardedOptimizer issues, first in, first out, each started no earlier
//                   than the moment graft's hooks start it (a reduce bucket once its last gradient is
//                   accumulated, a stage-3 gather when a forward pre-hook prefetches it or when its layer
//                   needs it).
// A collective in flight while the compute stream works progresses at `overlap_efficiency` of its speed (on a
// CPU both compete for the same cores and memory); while compute waits for it, at full speed. Compute waits
// only where graft waits: a stage-3 layer for its gathered parameters, the end of backward for the reduce
// buckets, stages 1-2's step for the all-gather of the updated parameters.
//
// A collective of n bytes over W ranks, ring algorithm: W-1 steps, each moving n/W bytes over the slowest
// link in the ring (the inter-node link once W exceeds ranks_per_node):
//   all-gather      (W-1) (alpha + n/W / bandwidth)
//   reduce-scatter  the same, plus the additions: (W-1) n/W bytes at reduction_bytes_per_second
//   all-reduce      a reduce-scatter and then an all-gather (graft's stage 0)
// Tree algorithm (all-reduce only; latency-bound small messages): 2 ceil(log2 W) (alpha + n / bandwidth).
// graft's MPI back end moves the same bytes per rank as the ring (MPI_Ialltoallv, MPI_Iallgatherv).
//
// Per step and rank ZeRO moves 2 Psi (stages 0-2: reduce-scatter and all-gather) or 3 Psi elements (stage 3:
// all-gather in forward and in backward, reduce-scatter), the paper's section 7.
#include <cstdint>
#include <string>
#include <vector>

#include "graft/optim/zero/memory.h"

namespace graft::nn {
class Module;
}

namespace graft::optim::zero {

/// A link between ranks: a message's latency and the bandwidth one rank gets.
struct Link {
  double alpha_seconds = 0;     ///< latency per message
  double bytes_per_second = 0;  ///< bandwidth per rank and direction
};

/// How collectives move data.
enum class CollectiveAlgorithm { Ring, Tree };

/// What a rank of a machine can do. Every rate is per rank.
struct Machine {
  std::string name;
  /// Achieved FLOP/s of training arithmetic (forward and backward), with every rank of a node busy.
  double flops_per_second = 0;
  /// Time of the optimizer step per parameter element the rank updates (Adam reads and writes its moments).
  double optimizer_seconds_per_element = 0;
  /// Bytes a collective's additions reduce per second (0: free, as when fused into the transfer).
  double reduction_bytes_per_second = 0;
  /// Memory of one rank in bytes (0: unlimited).
  double memory_bytes = 0;
  int ranks_per_node = 1;
  Link intra_node;  ///< between ranks of one node
  Link inter_node;  ///< between nodes
  CollectiveAlgorithm algorithm = CollectiveAlgorithm::Ring;
  /// The share of its speed a collective keeps while the rank computes (1: a separate engine moves data).
  double overlap_efficiency = 1;
};

/// A unit of the model: what ZeRO gathers as one (stage 3 gathers a module's parameters together) and what
/// the compute stream runs as one.
struct ModelLayer {
  std::string name;
  int64_t parameters = 0;
  double forward_flops_per_sample = 0;
};

/// The shape of a decoder-only transformer, GPT/Llama style: `layers` blocks of attention (query heads of
/// d_model / heads, kv_heads key/value heads) and an FFN of ffn_hidden (SwiGLU: three matrices; else two), each
/// block with two norms of d_model weights; token embedding, final norm, and an LM head unless tied.
struct TransformerShape {
  int64_t layers = 0, d_model = 0, heads = 0, kv_heads = 0;  ///< kv_heads 0: heads
  int64_t ffn_hidden = 0;                                    ///< 0: 4 d_model
  bool swiglu = false;
  int64_t vocab = 0, sequence = 0;
  bool tie_embeddings = false;
  /// Keep only each block's input for backward and recompute the block (torch.utils.checkpoint per block).
  bool activation_checkpointing = false;
};

/// What the model of a step needs to know of a model.
struct ModelDescription {
  std::string name;
  std::vector<ModelLayer> layers;  ///< in forward order (stage 3 gathers them in this order)
  int64_t micro_batch = 1;         ///< samples per rank and step
  /// Bytes of activations kept for backward per sample (memory only).
  double activation_bytes_per_sample = 0;
  /// Backward recomputes the forward first (activation checkpointing): 3 forwards' FLOPs instead of 2.
  bool recompute = false;
  /// Bytes per parameter element, gradient element and of optimizer state per element (the paper's K).
  /// float32 Adam: 4, 4, 8; the paper's mixed precision: 2, 2, 12.
  double param_bytes = 4, grad_bytes = 4, optimizer_state_bytes = 8;

  int64_t parameters() const;
  /// Forward FLOPs per sample.
  double forward_flops_per_sample() const;

  /// The units of `module`: each module that owns parameters directly, in registration order, with 2 FLOPs
  /// per element of its matrices (parameters of 2 or more dimensions) per token; an nn::Embedding looks
  /// up rather than multiplies (0 FLOPs). `tokens_per_sample` is 1 for an MLP, the sequence length for a
  /// language model. Computation without parameters (attention's scores) is not counted.
  /// @throws graft::Error if micro_batch or tokens_per_sample is below 1, or the module has no parameters.
  static ModelDescription from_module(nn::Module& module, int64_t micro_batch, int64_t tokens_per_sample = 1);
  /// A transformer of `shape`, one unit per module as graft's TransformerLM registers them: the embedding; per
  /// block its norms and its q, k, v, o and FFN matrices (2 FLOPs per element and token; o also carries
  /// attention's 4 sequence^2 d_model per sample for scores and values); the final norm and the LM head (with
  /// no parameters of its own when tied, but its FLOPs). Activations per sample, 16-bit (Korthikanti et al.'s count): (34 d_model + 5 heads sequence)
  /// sequence bytes per block; with activation_checkpointing, 2 sequence d_model bytes per block (its input)
  /// plus one block's full activations, and `recompute` set.
  /// @throws graft::Error naming the field if a size is below 1 or heads does not divide d_model.
  static ModelDescription transformer(const TransformerShape& shape, int64_t micro_batch, const std::string& name = "transformer");
};

/// ShardedOptimizer's settings that change the step's time (same names and defaults).
struct ZeroSettings {
  int stage = 0;
  int world_size = 1;
  bool overlap_comm = true;
  int64_t reduce_bucket_size = 500'000'000;
  int64_t prefetch_bucket_size = 50'000'000;
};

/// One interval of the predicted timeline.
struct PredictedEvent {
  std::string name;  ///< "forward fc1", "all_gather", "wait", ...
  std::string track; ///< "compute" or "communication"
  double start_seconds = 0, duration_seconds = 0;
  double bytes = 0;  ///< a collective's bytes sent by the rank
};

/// One rank's predicted step.
struct StepTimePrediction {
  double forward_seconds = 0, backward_seconds = 0, optimizer_seconds = 0;  ///< compute alone
  double communication_seconds = 0;  ///< the collectives' time at full speed
  double exposed_seconds = 0;        ///< time the compute stream waits for collectives
  double step_seconds = 0;           ///< the whole step
  double communication_bytes = 0;    ///< sent per rank and step
  ModelStateBytes model_state;       ///< parameters, gradients, optimizer state on the rank
  double activation_bytes = 0;
  double memory_bytes() const { return model_state.total() + activation_bytes; }
  double samples_per_second = 0;        ///< the whole job's: world_size * micro_batch / step
  double model_flops_per_second = 0;    ///< per rank: 3 forward FLOPs of its micro-batch / step
  std::vector<PredictedEvent> timeline; ///< both streams, from 0 to step_seconds
};

/// Time of one collective ("all_gather", "reduce_scatter" or "all_reduce") of `bytes` (the whole buffer) over
/// `world_size` ranks on `machine`. 0 for one rank.
/// @throws graft::Error for an unknown collective or a machine without bandwidth.
double collective_seconds(const std::string& collective, double bytes, int world_size, const Machine& machine);

/// Model-state and activation memory of one rank (no timing).
/// @throws graft::Error for a stage outside 0-3 or world_size below 1.
StepTimePrediction predict_memory(const ModelDescription& model, const ZeroSettings& settings);

/// One rank's step of `model` trained with `settings` on `machine`.
/// @throws graft::Error naming the setting: a stage outside 0-3, world_size or a bucket size below 1
///   (prefetch_bucket_size below 0), a machine rate that is not positive, overlap_efficiency outside (0, 1],
///   or a model that does not fit `machine.memory_bytes` (the bytes needed and available in the message).
StepTimePrediction predict_step_time(const ModelDescription& model, const ZeroSettings& settings, const Machine& machine);

/// The prediction as a Chrome trace (the format of graft's profiler: process `pid` named `process_name`, one
/// thread per stream, times in microseconds from `offset_us`), to open beside a measured trace in Perfetto.
std::string predicted_chrome_trace(const StepTimePrediction& prediction, int pid, const std::string& process_name,
                                   double offset_us = 0);
/// predicted_chrome_trace written to `path` (atomically).
/// @throws graft::Error if the file cannot be written.
void export_predicted_chrome_trace(const StepTimePrediction& prediction, const std::string& path);

/// A machine as JSON text and back (the file the calibration writes).
std::string machine_to_json(const Machine& machine);
/// @throws graft::Error naming the field that is missing or of the wrong type.
Machine machine_from_json(const std::string& text);

}  // namespace graft::optim::zero
