#pragma once
// ShardedOptimizer: ZeRO (Rajbhandari et al., SC20) stages 0-3 around graft's SGD, Adam and AdamW, one
// instance per rank, all ranks running the same code over a Communicator (in-process threads or MPI).
//
//   stage 0  plain data parallelism: every rank keeps all parameters, gradients and optimizer state; the
//            gradients are all-reduced and every rank updates everything.
//   stage 1  optimizer state partitioned: gradients are reduce-scattered, each rank updates its slice of
//            the parameters with its slice of the state, and the updated slices are all-gathered.
//   stage 2  gradients partitioned too: the full gradients of a micro-batch are freed once reduced; a rank
//            keeps only the reduced gradient of its slice.
//   stage 3  parameters partitioned too: a rank keeps only its slice of the parameters. A module's
//            parameters are all-gathered just before its forward and released after it, gathered again when
//            backward first needs them (graph/storage.h: the saved tensors restore them) and released once
//            their gradients have arrived; after step() everything is partitioned again.
//
// The flat layout (optim/zero/layout.h) pads each bucket to world_size equal slices; rank r owns slice r.
// The rank's optimizer is an ordinary graft optimizer built by the factory over the pieces of the
// parameters inside its slice, and updates them in place in the ZeRO buffers (FlatBucket::adopt_buffers).
//
// Training loop, on every rank (the DeepSpeed engine's shape):
//   for each micro-batch of this rank:  zero.backward(loss_of(micro_batch));
//   zero.clip_grad_norm_(1.0);          // optional
//   zero.step();
//
// Gradients. backward() runs loss.backward() into zeroed local buffers and then reduces the micro-batch's
// gradient across ranks: the owner of each element sums the ranks' contributions in rank order onto the
// running sum of the step (reduce-scatter, or all-reduce at stage 0). With global micro-batch j given to rank
// j % W in round j / W, a step's gradient is therefore the same left-to-right sum over j for every world size
// and every stage, and equals, bit for bit, what single-process training with gradient accumulation over the
// same micro-batches computes. Gradients are summed, not averaged (DDP and DeepSpeed divide by W): scale each
// micro-batch's loss by its share of the global batch. The reduction runs in reduce buckets of consecutive
// parameters, each started (non-blocking) as soon as backward has accumulated its gradients, so that it
// overlaps the rest of backward (set_overlap_comm, set_reduce_bucket_size); stage 3 also gathers the next
// modules' parameters ahead of their forward (set_prefetch_bucket_size). Neither changes a result.
//
// Mixed precision (the paper's setting). Parameters in bfloat16 or float16 train with float32 master weights:
// the model's parameters and gradients stay 16-bit (2 + 2 bytes per parameter; the gradients are reduced,
// and summed across micro-batches, in 16 bits as DeepSpeed does), and each rank's optimizer updates a float32
// copy of its slice, which is the optimizer state together with Adam's moments (K = 12 bytes, partitioned
// from stage 1). step() converts the rank's reduced gradient to float32 (released again when the step
// ends), updates the master copy, rounds it into the 16-bit parameters, and all-gathers those in 16 bits.
// clip_grad_norm_ and unscale_ work on the float32 gradients, as DeepSpeed clips its fp32 partitions. For
// float16, scale the loss with an optim::GradScaler and step with step(scaler): a step is skipped on every
// rank when any rank's gradients overflowed. A step is, bit for bit, what one process computes with
// 16-bit gradients accumulated over the same micro-batches, float32 copies of them, and the optimizer
// (and GradScaler/clip_grad_norm_) on float32 master weights rounded back into the model after each step.
// Write the parameters through load()/load_shards(), not into the model: the next step rounds the master
// weights into the parameters again.
//
// Differences from PyTorch/DeepSpeed, all deliberate:
// - step() starts a new accumulation: the next backward() begins from zero gradients whether or not
//   zero_grad() was called (DeepSpeed's engine does the same). zero_grad() discards the micro-batches of the
//   step so far; with set_to_none it also forgets which parameters had a gradient.
// - With several micro-batches per step, every micro-batch is reduced (as DeepSpeed does at stages 2-3 and
//   DDP without no_sync): stages 0 and 1 then move 2 x n per micro-batch and hold a second full gradient
//   buffer while a micro-batch after the first is reduced.
// - A parameter is updated in a step when it has had a gradient since it joined (or since
//   zero_grad(set_to_none=true)), as with torch.optim and zero_grad(set_to_none=False). All ranks must agree.
// - After the reduction a parameter's .grad holds the reduced gradient at stage 0, the reduced gradient of
//   this rank's slice only at stage 1, and is undefined at stages 2 and 3.
// - Stage 3 needs every module to use only its own parameters and its children's (through their forward):
//   the forward pre-hook of a module gathers the parameters registered on it. Parameters outside every
//   group are not partitioned.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "graft/nn/module.h"
#include "graft/optim/checkpoint.h"
#include "graft/optim/grad_scaler.h"
#include "graft/optim/optimizer.h"
#include "graft/optim/zero/communicator.h"
#include "graft/optim/zero/layout.h"
#include "graft/optim/zero/memory.h"

namespace graft::optim::zero {

/// Builds the rank's optimizer over the pieces of its slice; the groups mirror the ones given to
/// ShardedOptimizer (same order and options, fewer or no parameters).
using OptimizerFactory =
    std::function<std::unique_ptr<Optimizer>(const std::vector<OptimizerParamGroup>& groups)>;

/// A factory for optimizer type Opt (SGD, Adam, AdamW) with default options `defaults`.
template <class Opt, class Options>
OptimizerFactory optimizer_factory(const Options& defaults) {
  return [defaults](const std::vector<OptimizerParamGroup>& groups) -> std::unique_ptr<Optimizer> {
    return std::make_unique<Opt>(groups, defaults);
  };
}

namespace detail {
struct ZeroParam;
struct ZeroBucket;
struct ReduceBucket;
class Stage3Partition;
}  // namespace detail

class ShardedOptimizer {
 public:
  /// Partitions the parameters of `groups` (each one a parameter of `model`) for the communicator's world.
  /// Every rank takes rank 0's parameter values (a broadcast, as DDP does). Collective.
  ShardedOptimizer(nn::Module& model, const std::vector<OptimizerParamGroup>& groups, OptimizerFactory factory,
                   Communicator& comm, int stage);
  /// All of the model's parameters that require grad, as one group.
  ShardedOptimizer(nn::Module& model, OptimizerFactory factory, Communicator& comm, int stage);
  ~ShardedOptimizer();
  ShardedOptimizer(const ShardedOptimizer&) = delete;
  ShardedOptimizer& operator=(const ShardedOptimizer&) = delete;

  int stage() const { return stage_; }
  Communicator& communicator() const { return comm_; }
  nn::Module& model() const { return model_; }
  /// The rank's optimizer over its slice. Its param_groups() mirror the groups given here: attach learning
  /// rate schedulers to it (on every rank).
  Optimizer& optimizer() { return *inner_; }
  const Optimizer& optimizer() const { return *inner_; }

  /// One micro-batch: loss.backward() into zeroed local gradients, then their reduction (collective).
  void backward(const Tensor& loss);
  /// torch.nn.utils.clip_grad_norm_ over the reduced gradients of the parameters that have one, in the
  /// optimizer's order; the same arithmetic as nn::utils::clip_grad_norm_ on the full gradients, so every stage
  /// and world size computes the norm of single-process training bit for bit. Collective at stages 1-3 (the
  /// sums run from rank to rank). Returns the total norm.
  double clip_grad_norm_(double max_norm, double norm_type = 2.0, bool error_if_nonfinite = false);
  /// Updates this rank's slice and, at stages 1-2, all-gathers the updated parameters (collective).
  /// @throws graft::Error on every rank, changing nothing, when the model has float16 parameters, or a float16
  ///         autocast scope ran since the last step, and a gradient on any rank is inf or NaN (use
  ///         step(GradScaler&)); the check is one more all_reduce.
  void step();
  /// GradScaler.unscale_ (float16 training; call it before clip_grad_norm_): divides the gradients the
  /// optimizer will see by the scale and records whether any rank found an inf or NaN. Collective at stages
  /// 1-3 (an all_reduce of one element); at stage 0 every rank holds every gradient.
  /// @throws graft::Error as GradScaler::unscale_ does.
  void unscale_(GradScaler& scaler);
  /// GradScaler.step: unscales unless unscale_ was called, then steps when no rank found an inf or NaN. A
  /// skipped step changes no parameter and no optimizer state, and still ends the accumulation as step() does.
  /// Collective. Returns whether the optimizer stepped; call scaler.update() after it, on every rank.
  bool step(GradScaler& scaler);
  void zero_grad(bool set_to_none = false);

  /// DeepSpeed's overlap_comm: each reduce bucket's reduction starts (non-blocking) as soon as backward has
  /// accumulated all of its gradients, so that it runs while backward computes the rest, and backward()
  /// waits for them at its end. Off, the buckets are reduced one after another once backward has finished.
  /// The results are the same bit for bit. Default on (DeepSpeed's default is off for stages 1-2). Set it alike
  /// on every rank, outside backward().
  /// @throws graft::Error inside backward().
  void set_overlap_comm(bool overlap);
  bool overlap_comm() const { return overlap_comm_; }
  /// DeepSpeed's reduce_bucket_size: gradients are reduced in buckets of consecutive parameters of at least
  /// this many elements (a parameter is never split; the first parameters of a group may form a smaller
  /// bucket), formed from the group's last parameter backwards since backward produces gradients roughly in
  /// reverse order. Default 500,000,000 (DeepSpeed's): one bucket per group and dtype for small models. Set it
  /// alike on every rank, outside backward().
  /// @throws graft::Error when elements < 1, or inside backward().
  void set_reduce_bucket_size(int64_t elements);
  int64_t reduce_bucket_size() const { return reduce_bucket_size_; }
  /// How many reduce buckets the gradients are reduced in (each one a collective per micro-batch).
  size_t num_reduce_buckets() const;
  /// DeepSpeed's stage3_prefetch_bucket_size (stage 3 only): the forward order of the modules is recorded until
  /// the first backward; after that, each module's forward also starts the non-blocking all-gathers of the
  /// modules that follow it in that order, with at most this many parameter elements in flight, and the
  /// next module waits for its parameters only when its forward begins. A forward that departs from the
  /// recorded order warns once and is recorded again. The results are the same bit for bit; prefetched
  /// parameters are resident earlier (and ones the forward does not use until backward begins). Default
  /// 50,000,000 (DeepSpeed's); 0 turns prefetching off. Set it alike on every rank, outside forward and backward.
  /// @throws graft::Error when elements < 0.
  void set_prefetch_bucket_size(int64_t elements);
  int64_t prefetch_bucket_size() const { return prefetch_bucket_size_; }

  /// Model-state memory held by this rank right now, measured from the buffers (optim/zero/memory.h).
  ModelStateMemory memory() const;
  /// Parameters in the optimizer (the paper's Psi) and their padded count (the flat buffers' length).
  int64_t num_parameters() const;
  int64_t num_padded_parameters() const;
  /// The flat layout of each group.
  const std::vector<ZeroGroupLayout>& layout() const { return layouts_; }

  /// The model's full state dict (parameters gathered at stage 3, then buffers), as copies. Collective.
  nn::StateDict gathered_state_dict();

  /// Checkpoints (optim/zero/checkpoint.h). A shard is this rank's slice of every flat buffer (parameters and
  /// optimizer state) with the metadata to put it back; rank 0's also holds the model state that is not
  /// partitioned (buffers, parameters outside the groups). The shard format does not depend on the stage.
  Checkpoint shard_checkpoint() const;
  /// Restores the state saved in `shards` (every rank's shard of one checkpoint, in rank order). Raises when
  /// they were saved by another world size (reshard them first), or for other parameters or another optimizer.
  void load_shards(const std::vector<Checkpoint>& shards);
  /// shard_checkpoint() written to shard_path(dir, rank, world_size) (the directory is created if needed),
  /// and the whole checkpoint in `dir` read back with load_shards.
  void save(const std::string& dir) const;
  void load(const std::string& dir);

 private:
  void setup(const std::vector<OptimizerParamGroup>& groups, OptimizerFactory factory);
  void build_inner(const std::vector<OptimizerParamGroup>& groups, OptimizerFactory factory);
  void point_grads_at(size_t bucket, const Tensor& buffer);
  void build_reduce_buckets();
  void gradient_arrived(size_t param);
  void gradient_accumulated(size_t param);
  void start_ready_reductions();
  void start_reduction(detail::ReduceBucket& rb);
  void finish_reductions();
  void prepare_master_grads();
  void release_master_grads();
  bool any_nonfinite_gradient();  // on any rank (collective at stages 1-3)
  bool unscale_gradients(double inv_scale);
  void update();
  void end_step();

  nn::Module& model_;
  Communicator& comm_;
  int stage_;
  std::vector<ZeroGroupLayout> layouts_;
  std::vector<detail::ZeroParam> params_;
  std::vector<detail::ZeroBucket> buckets_;
  std::unique_ptr<Optimizer> inner_;
  std::unique_ptr<detail::Stage3Partition> partition_;
  std::vector<detail::ReduceBucket> reduce_buckets_;  // in the order their reductions start
  size_t next_reduction_ = 0;                         // the next reduce bucket to start in this backward
  bool overlap_comm_ = true;
  int64_t reduce_bucket_size_ = 500'000'000;
  int64_t prefetch_bucket_size_ = 50'000'000;
  int micro_ = 0;  // micro-batches reduced since the last step()
  bool in_backward_ = false;
  bool master_grads_ = false;  // the 16-bit buckets' master_grad are current
  uint64_t float16_scopes_seen_ = 0;  // graft::detail::float16_autocast_scopes() at the last step()
};

}  // namespace graft::optim::zero
