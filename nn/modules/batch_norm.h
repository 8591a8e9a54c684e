#pragma once
// nn::BatchNorm1d and nn::BatchNorm2d(num_features, eps=1e-5, momentum=0.1, affine=true,
// track_running_stats=true), as torch.nn.BatchNorm1d over inputs (N, C) or (N, C, L) and torch.nn.BatchNorm2d
// over (N, C, H, W):
// - parameters weight (ones) and bias (zeros) of shape (C) when affine;
// - buffers running_mean (zeros), running_var (ones) and num_batches_tracked (an int64 scalar) when
//   track_running_stats, so PyTorch's state dicts load.
// Training normalises with the batch's statistics and, when tracking, updates the running ones:
//   running = (1 - factor) * running + factor * batch_stat   (the variance unbiased)
// with factor = momentum, or, for momentum = None, 1 / num_batches_tracked (a cumulative average of all
// batches seen), num_batches_tracked counting the training batches. Eval mode normalises with the running
// statistics; without them (track_running_stats=false) it uses the batch's, as PyTorch does.
// Unlike PyTorch, num_batches_tracked is only counted when the forward succeeds (PyTorch counts a batch
// of one sample that then fails), and momentum outside [0, 1] is rejected (PyTorch does not check it).
#include <optional>

#include "graft/nn/module.h"

namespace graft::nn {

/// What BatchNorm1d and BatchNorm2d share (PyTorch's _BatchNorm): everything but the input dims they accept.
class BatchNorm : public Module {
 public:
  /// The layer applied to `input` (see the class comment for the shapes it takes).
  /// @throws graft::Error for an input of the wrong rank, channel count or size, naming the op and the shape.
  Tensor forward(const Tensor& input) override;
  /// Resets running_mean to zeros, running_var to ones and num_batches_tracked to 0.
  void reset_running_stats();
  /// Reinitialises the parameters as PyTorch does.
  void reset_parameters();  // running stats too, as PyTorch's
  /// The arguments as PyTorch's repr prints them.
  std::string extra_repr() const override;

  int64_t num_features;
  double eps;
  std::optional<double> momentum;
  bool affine, track_running_stats;
  Tensor weight, bias;                                   // (C), or undefined without affine
  Tensor running_mean, running_var, num_batches_tracked;  // undefined without track_running_stats

 protected:
  BatchNorm(std::string name, std::string accepted_dims, int64_t num_features, double eps,
            std::optional<double> momentum, bool affine, bool track_running_stats, DType dtype);
  /// Whether the module takes an input of `dims` dims.
  virtual bool accepts_dims(int64_t dims) const = 0;

 private:
  std::string accepted_dims_;  // for the error message: "2D or 3D", "4D"
};

/// nn.BatchNorm1d: inputs (N, C) or (N, C, L).
class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(int64_t num_features, double eps = 1e-5, std::optional<double> momentum = 0.1,
                       bool affine = true, bool track_running_stats = true, DType dtype = kFloat32);

 protected:
  bool accepts_dims(int64_t dims) const override { return dims == 2 || dims == 3; }
};

/// nn.BatchNorm2d: inputs (N, C, H, W), statistics per channel over N, H and W.
class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5, std::optional<double> momentum = 0.1,
                       bool affine = true, bool track_running_stats = true, DType dtype = kFloat32);

 protected:
  bool accepts_dims(int64_t dims) const override { return dims == 4; }
};

}  // namespace graft::nn
