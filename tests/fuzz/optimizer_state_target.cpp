// Fuzz target optimizer_state (targets.h): a training checkpoint (optim::load_checkpoint) whose "optimizer" and "scheduler" parts
// are loaded into SGD, Adam and AdamW over a small model and into the schedulers, which then take steps. A
// part either loads -- and the optimizer or scheduler works on -- or raises graft::Error, leaving it as it
// was.
#include "graft/graft.h"
#include "fuzz_input.h"
#include "targets.h"


namespace graft::fuzz {
namespace {

std::vector<Tensor> parameters() {
  Tensor w = full({3, 2}, 0.5, requires_grad()), b = full({2}, -0.25, requires_grad());
  Tensor v = full({2}, 1.0, TensorOptions(kFloat64).requires_grad(true));
  for (Tensor* p : {&w, &b, &v}) p->set_grad(full(p->shape(), 0.1, p->dtype()));
  return {w, b, v};
}

}  // namespace

int optimizer_state_input(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_input(data, size, "input.checkpoint");
  optim::Checkpoint checkpoint;
  try {
    checkpoint = optim::load_checkpoint(path);
  } catch (const Error&) {
    return 0;
  }
  optim::Checkpoint opt_state, sched_state;
  bool has_opt = false, has_sched = false;
  try {
    opt_state = checkpoint.at("optimizer");
    has_opt = true;
  } catch (const Error&) {
  }
  try {
    sched_state = checkpoint.at("scheduler");
    has_sched = true;
  } catch (const Error&) {
  }
  auto exercise = [&](optim::Optimizer& opt) {
    if (has_opt) {
      try {
        opt.load_state_dict(opt_state);
      } catch (const Error&) {
      }
    }
    opt.step();
    (void)opt.state_dict();
    if (!has_sched) return;
    std::vector<std::unique_ptr<optim::LRScheduler>> schedulers;
    schedulers.push_back(std::make_unique<optim::StepLR>(opt, 2));
    schedulers.push_back(std::make_unique<optim::MultiStepLR>(opt, std::vector<int64_t>{1, 3}));
    schedulers.push_back(std::make_unique<optim::CosineAnnealingLR>(opt, 4));
    schedulers.push_back(std::make_unique<optim::LinearWarmupCosineLR>(opt, 2, 6));
    for (auto& s : schedulers) {
      try {
        s->load_state_dict(sched_state);
      } catch (const Error&) {
      }
      for (int i = 0; i < 3; ++i) s->step();
      (void)s->state_dict();
    }
  };
  optim::SGD sgd(parameters(), optim::SGDOptions(0.1).momentum(0.9));
  exercise(sgd);
  optim::Adam adam(parameters(), optim::AdamOptions(1e-3).amsgrad(true));
  exercise(adam);
  optim::AdamW adamw(parameters(), optim::AdamWOptions(1e-3));
  exercise(adamw);
  return 0;
}

}  // namespace graft::fuzz
