#pragma once
// Learning-rate schedulers (torch.optim.lr_scheduler, PyTorch 1.13). They write each group's lr into the
// optimizer's options. As in PyTorch, constructing one performs an initial step (last_epoch becomes 0),
// step() advances with the recursive ("chainable") formulas, which read the group's current lr, and
// step(epoch) jumps to an epoch with the closed form where the scheduler has one. The first scheduler
// attached records each group's initial_lr; base_lrs come from it.
//
// Call optimizer.step() before scheduler.step(), as in PyTorch (graft does not warn about the order).
// state_dict() saves the progress (last_epoch, step count, base_lrs, last lrs) and the scheduler's
// hyperparameters; load it into a scheduler built over the same optimizer.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "graft/optim/checkpoint.h"
#include "graft/optim/optimizer.h"

namespace graft::optim {

class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  virtual const char* name() const = 0;
  /// Advances one epoch (or iteration) and sets every group's lr.
  virtual void step();
  /// Sets last_epoch to `epoch` and the lrs from the closed form (the chainable form when there is none);
  /// deprecated in PyTorch, kept for SequentialLR and for jumping.
  void step(int64_t epoch);
  /// The lrs set by the last step, one per group.
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  int64_t last_epoch() const { return last_epoch_; }
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  Optimizer& optimizer() const { return *optimizer_; }

  virtual Checkpoint state_dict() const;
  /// Restores what state_dict saved. Everything is checked before anything changes.
  /// @throws graft::Error naming the entry for: metadata that is not a JSON object of state_dict's layout;
  /// another scheduler; another number of groups; a last_epoch below -1 or a negative step count, or either
  /// not an integer; hyperparameters that are missing, of the wrong count, not integers where the scheduler
  /// keeps integers, or outside what its constructor accepts.
  virtual void load_state_dict(const Checkpoint& dict);

 protected:
  /// _LRScheduler.__init__: records initial_lr (last_epoch == -1) or requires it (resuming). The derived
  /// constructor finishes with initial_step().
  LRScheduler(Optimizer& optimizer, int64_t last_epoch);
  struct NoInit {};
  LRScheduler(Optimizer& optimizer, NoInit) : optimizer_(&optimizer) {}
  void initial_step();
  /// The lrs for last_epoch from the current ones (the chainable form).
  virtual std::vector<double> get_lr() = 0;
  /// The lrs for last_epoch from base_lrs, when the scheduler has a closed form.
  virtual std::optional<std::vector<double>> closed_form_lr() const { return std::nullopt; }
  /// The scheduler's own hyperparameters, which state_dict saves by name and load_state_dict restores: the
  /// derived constructor registers its members (schedulers are neither copied nor moved). A list registered
  /// with fixed_size must be restored with as many values as it has.
  void register_hyperparameter(const char* name, double* value);
  void register_hyperparameter(const char* name, int64_t* value);
  void register_hyperparameter(const char* name, std::vector<int64_t>* values, bool fixed_size = false);
  std::map<std::string, std::vector<double>> hyperparameters() const;
  /// Checks a state dict's hyperparameters (present, of the right counts, integral where the member is) and
  /// then check_hyperparameters; sets them only when all pass.
  void set_hyperparameters(const std::map<std::string, std::vector<double>>& values);
  /// What the scheduler's constructor requires of its hyperparameters, for values about to be loaded.
  virtual void check_hyperparameters(const std::map<std::string, std::vector<double>>& values) const {}
  /// The progress a state dict holds, parsed and checked against this scheduler (changes nothing).
  struct SavedProgress {
    int64_t last_epoch = -1, step_count = 0;
    std::vector<double> base_lrs, last_lr;
    std::map<std::string, std::vector<double>> hyperparameters;
  };
  SavedProgress parse_state(const Checkpoint& dict) const;
  void apply_state(const SavedProgress& progress);
  /// The lrs of the optimizer's groups, and those times `factor`.
  std::vector<double> group_lrs() const;
  std::vector<double> scaled_group_lrs(double factor) const;
  /// f(base_lr) for each group.
  template <class F>
  std::vector<double> from_base_lrs(F f) const {
    std::vector<double> lrs;
    for (double base : base_lrs_) lrs.push_back(f(base));
    return lrs;
  }
  void apply(const std::vector<double>& lrs);

  Optimizer* optimizer_;
  std::vector<double> base_lrs_;
  int64_t last_epoch_ = -1;
  int64_t step_count_ = 0;
  std::vector<double> last_lr_;

 private:
  struct Hyperparameter {
    const char* name;
    std::variant<double*, int64_t*, std::vector<int64_t>*> value;
    bool fixed_size;
  };
  std::vector<Hyperparameter> hyperparameters_;

  friend class SequentialLR;
};

/// lr = lr * gamma every step_size epochs.
class StepLR final : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1, int64_t last_epoch = -1);
  const char* name() const override { return "StepLR"; }

 protected:
  void check_hyperparameters(const std::map<std::string, std::vector<double>>& values) const override;
  std::vector<double> get_lr() override;
  std::optional<std::vector<double>> closed_form_lr() const override;

 private:
  int64_t step_size_;
  double gamma_;
};

/// lr = lr * gamma at each milestone (a milestone listed k times multiplies by gamma^k).
class MultiStepLR final : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma = 0.1, int64_t last_epoch = -1);
  const char* name() const override { return "MultiStepLR"; }

 protected:
  void check_hyperparameters(const std::map<std::string, std::vector<double>>& values) const override;
  std::vector<double> get_lr() override;
  std::optional<std::vector<double>> closed_form_lr() const override;

 private:
  std::vector<int64_t> milestones_;  // sorted
  double gamma_;
};

/// lr = lr * gamma every epoch.
class ExponentialLR final : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma, int64_t last_epoch = -1);
  const char* name() const override { return "ExponentialLR"; }

 protected:
  std::vector<double> get_lr() override;
  std::optional<std::vector<double>> closed_form_lr() const override;

 private:
  double gamma_;
};

/// Multiplies the lr by a factor going linearly from start_factor to end_factor over total_iters epochs.
/// PyTorch 1.13 accepts start_factor = 0 and then divides by zero on the second step; graft requires
/// 0 < start_factor <= 1 and total_iters > 0.
class LinearLR final : public LRScheduler {
 public:
  LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0, int64_t total_iters = 5,
           int64_t last_epoch = -1);
  const char* name() const override { return "LinearLR"; }

 protected:
  void check_hyperparameters(const std::map<std::string, std::vector<double>>& values) const override;
  std::vector<double> get_lr() override;
  std::optional<std::vector<double>> closed_form_lr() const override;

 private:
  double start_factor_, end_factor_;
  int64_t total_iters_;
};

/// lr_t = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2, computed recursively from the
/// previous lr as PyTorch does (so it composes with other changes of the lr); past T_max it rises again.
class CosineAnnealingLR final : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0.0, int64_t last_epoch = -1);
  const char* name() const override { return "CosineAnnealingLR"; }

 protected:
  void check_hyperparameters(const std::map<std::string, std::vector<double>>& values) const override;
  std::vector<double> get_lr() override;
  std::optional<std::vector<double>> closed_form_lr() const override;

 private:
  int64_t T_max_;
  double eta_min_;
};

/// Runs schedulers[0] until milestones[0], then schedulers[1] (started with step(0)), and so on, with
/// PyTorch 1.13's semantics (construction resets the lrs to initial_lr and restarts schedulers[0]).
class SequentialLR : public LRScheduler {
 public:
  SequentialLR(Optimizer& optimizer, std::vector<std::shared_ptr<LRScheduler>> schedulers,
               std::vector<int64_t> milestones, int64_t last_epoch = -1);
  const char* name() const override { return "SequentialLR"; }
  void step() override;
  Checkpoint state_dict() const override;
  void load_state_dict(const Checkpoint& dict) override;
  const std::vector<std::shared_ptr<LRScheduler>>& schedulers() const { return schedulers_; }

 protected:
  std::vector<double> get_lr() override;

 private:
  std::vector<std::shared_ptr<LRScheduler>> schedulers_;
  std::vector<int64_t> milestones_;
};

/// Linear warm-up followed by cosine decay: there is no such class in PyTorch 1.13; this is exactly
/// SequentialLR(optimizer, [LinearLR(optimizer, start_factor, 1.0, warmup_iters),
///                          CosineAnnealingLR(optimizer, total_iters - warmup_iters, eta_min)],
///              milestones=[warmup_iters]).
/// The lr climbs from start_factor * lr to lr over warmup_iters steps, then decays to eta_min at
/// total_iters.
class LinearWarmupCosineLR final : public SequentialLR {
 public:
  LinearWarmupCosineLR(Optimizer& optimizer, int64_t warmup_iters, int64_t total_iters, double start_factor = 1.0 / 3,
                       double eta_min = 0.0);
  const char* name() const override { return "LinearWarmupCosineLR"; }
};

}  // namespace graft::optim
