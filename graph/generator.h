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

  std::string get_state() const;
  void set_state(const std::string& state);

  /// Callers hold this while drawing, so threads sharing the generator get whole, unmixed sequences.
  std::mutex& mutex() { return mutex_; }

 private:
  std::mt19937_64 engine_;
  uint64_t seed_ = kDefaultSeed;
  std::mutex mutex_;
};

Generator& default_generator();
/// torch.manual_seed: reseeds the global generator.
void manual_seed(uint64_t seed);

}  // namespace graft
