#include "graft/graph/generator.h"

#include <cmath>
#include <numbers>
#include <sstream>

#include "graft/graph/error.h"

namespace graft {

void Generator::manual_seed(uint64_t seed) {
  seed_ = seed;
  engine_.seed(seed);
}

void Generator::normal_pair(double& a, double& b) {
  double u1 = uniform();
  double u2 = uniform();
  double r = std::sqrt(-2.0 * std::log1p(-u1));  // 1 - u1 is in (0, 1]: log never sees 0
  a = r * std::cos(2.0 * std::numbers::pi * u2);
  b = r * std::sin(2.0 * std::numbers::pi * u2);
}

uint64_t Generator::below(uint64_t n) {
  GRAFT_CHECK(n > 0, "Generator::below: empty range");
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = engine_();
  while (x >= limit);
  return x % n;
}

std::string Generator::get_state() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::ostringstream os;
  os << seed_ << ' ' << engine_;
  return os.str();
}

void Generator::set_state(const std::string& state) {
  std::istringstream is(state);
  uint64_t seed;
  std::mt19937_64 engine;
  is >> seed >> engine;
  GRAFT_CHECK(!is.fail(), "Generator::set_state: not a generator state");
  std::lock_guard<std::mutex> lock(mutex_);
  seed_ = seed;
  engine_ = engine;
}

namespace {
thread_local Generator* thread_generator = nullptr;  // set by ThreadGeneratorGuard
}  // namespace

Generator& default_generator() {
  static Generator global;
  return thread_generator != nullptr ? *thread_generator : global;
}

ThreadGeneratorGuard::ThreadGeneratorGuard(Generator& generator) : previous_(thread_generator) {
  thread_generator = &generator;
}

ThreadGeneratorGuard::~ThreadGeneratorGuard() { thread_generator = previous_; }

ScopedThreadGenerator::ScopedThreadGenerator(const std::string& state) : guard_(generator_) {
  generator_.set_state(state);
}

void manual_seed(uint64_t seed) {
  std::lock_guard<std::mutex> lock(default_generator().mutex());
  default_generator().manual_seed(seed);
}

}  // namespace graft
