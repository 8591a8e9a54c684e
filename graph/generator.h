#pragma once
// The random number generator behind rand/randn/randint/dropout/multinomial. One global generator,
// seeded with graft::manual_seed, makes runs reproducible; its state can be saved and restored so that a
// resumed training run draws the same numbers as an uninterrupted one.
#include <cstdint>
#include <mutex>
#include <random>
#include <string>

namespace graft {

class Generator {
 public:
  static constexpr uint64_t kDefaultSeed = 67280421310721ULL;  // PyTorch's default seed
  explicit Generator(uint64_t seed = kDefaultSeed) { manual_seed(seed); }

  void manual_seed(uint64_t seed);
  uint64_t initial_seed() const { return seed_; }
  /// Bits, uniform in [0, 1), and standard normal numbers (Box-Muller, pairs drawn together).
  uint64_t next_u64() { return engine_(); }
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  float uniform_float() { return static_cast<float>(engine_() >> 40) * 0x1.0p-24f; }
  void normal_pair(double& a, double& b);
  /// An integer uniform in [0, n) without modulo bias.
  uint64_t below(uint64_t n);

  /// The seed and the engine's position, as text; set_state restores them. Both take mutex() themselves:
  /// a caller must not hold it. @throws graft::Error when `state` is not a generator state.
  std::string get_state() const;
  void set_state(const std::string& state);

  /// Callers hold this while drawing, so threads sharing the generator get whole, unmixed sequences.
  std::mutex& mutex() { return mutex_; }

 private:
  std::mt19937_64 engine_;
  uint64_t seed_ = kDefaultSeed;
  mutable std::mutex mutex_;
};

/// The generator this thread's random ops draw from: the global one (seeded by manual_seed), unless a
/// ThreadGeneratorGuard on this thread installed another.
Generator& default_generator();

/// Makes `generator` default_generator() on this thread for the guard's lifetime; other threads keep drawing
/// from theirs, and the guard restores the previous one when it ends (guards nest). `generator` must outlive
/// the guard. graft-specific (PyTorch has one CPU generator per process): graft runs ZeRO's in-process ranks
/// as threads, and utils::checkpoint replays a forward's random draws through a guard, so a recomputation
/// neither moves the global generator nor sees other threads' draws in between.
class ThreadGeneratorGuard {
 public:
  explicit ThreadGeneratorGuard(Generator& generator);
  ~ThreadGeneratorGuard();
  ThreadGeneratorGuard(const ThreadGeneratorGuard&) = delete;
  ThreadGeneratorGuard& operator=(const ThreadGeneratorGuard&) = delete;

 private:
  Generator* previous_;
};

/// A generator of the calling thread's own, started at `state` (a Generator::get_state() string), that is
/// default_generator() on this thread while the object lives: a ThreadGeneratorGuard owning its generator.
/// utils::checkpoint replays a forward's draws through one; run_in_process gives each rank one.
/// @throws graft::Error when `state` is not a generator state (as Generator::set_state).
class ScopedThreadGenerator {
 public:
  explicit ScopedThreadGenerator(const std::string& state);
  ScopedThreadGenerator(const ScopedThreadGenerator&) = delete;
  ScopedThreadGenerator& operator=(const ScopedThreadGenerator&) = delete;

  Generator& generator() { return generator_; }

 private:
  Generator generator_;
  ThreadGeneratorGuard guard_;
};

/// torch.manual_seed: reseeds the global generator.
void manual_seed(uint64_t seed);

}  // namespace graft
