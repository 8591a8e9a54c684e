#include "graft/data/synthetic.h"

#include <cmath>
#include <numbers>

#include "graft/graph/factory.h"
#include "graft/graph/generator.h"

namespace graft::data {

namespace {

// Draws standard normal numbers one at a time from Box-Muller pairs.
class Normal {
 public:
  explicit Normal(Generator& gen) : gen_(gen) {}
  double operator()() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double a;
    gen_.normal_pair(a, spare_);
    has_spare_ = true;
    return a;
  }

 private:
  Generator& gen_;
  double spare_ = 0;
  bool has_spare_ = false;
};

}  // namespace

TensorDataset make_spirals(int64_t n_per_class, double noise, uint64_t seed, double turns, DType dtype) {
  GRAFT_CHECK(n_per_class >= 0, "make_spirals: n_per_class must be non-negative, got {}", n_per_class);
  GRAFT_CHECK(noise >= 0, "make_spirals: noise must be non-negative, got {}", noise);
  GRAFT_CHECK(turns > 0, "make_spirals: turns must be positive, got {}", turns);
  GRAFT_CHECK(is_floating(dtype), "make_spirals: dtype must be floating, got {}", dtype_name(dtype));
  Generator gen(seed);
  Normal normal(gen);
  const double span = turns * 2 * std::numbers::pi;
  std::vector<double> xy;
  std::vector<int64_t> labels;
  for (int64_t k = 0; k < 2; ++k) {
    for (int64_t i = 0; i < n_per_class; ++i) {
      const double t = span * std::sqrt(gen.uniform());
      const double r = t / span;
      xy.push_back(r * std::cos(t + static_cast<double>(k) * std::numbers::pi) + noise * normal());
      xy.push_back(r * std::sin(t + static_cast<double>(k) * std::numbers::pi) + noise * normal());
      labels.push_back(k);
    }
  }
  const int64_t n = 2 * n_per_class;
  return TensorDataset(tensor(xy, {n, 2}, dtype), tensor(labels, {n}, kInt64));
}

TensorDataset make_blobs(const std::vector<int64_t>& counts, int64_t dims, double cluster_std, double center_box,
                         uint64_t seed, DType dtype) {
  GRAFT_CHECK(!counts.empty(), "make_blobs: counts must list at least one class");
  for (int64_t c : counts) GRAFT_CHECK(c >= 0, "make_blobs: class counts must be non-negative, got {}", c);
  GRAFT_CHECK(dims >= 1, "make_blobs: dims must be positive, got {}", dims);
  GRAFT_CHECK(cluster_std >= 0, "make_blobs: cluster_std must be non-negative, got {}", cluster_std);
  GRAFT_CHECK(is_floating(dtype), "make_blobs: dtype must be floating, got {}", dtype_name(dtype));
  Generator gen(seed);
  Normal normal(gen);
  std::vector<double> centers;
  for (size_t k = 0; k < counts.size() * static_cast<size_t>(dims); ++k)
    centers.push_back(-center_box + 2 * center_box * gen.uniform());
  std::vector<double> x;
  std::vector<int64_t> labels;
  for (size_t k = 0; k < counts.size(); ++k) {
    for (int64_t i = 0; i < counts[k]; ++i) {
      for (int64_t d = 0; d < dims; ++d)
        x.push_back(centers[k * static_cast<size_t>(dims) + static_cast<size_t>(d)] + cluster_std * normal());
      labels.push_back(static_cast<int64_t>(k));
    }
  }
  const int64_t n = static_cast<int64_t>(labels.size());
  return TensorDataset(tensor(x, {n, dims}, dtype), tensor(labels, {n}, kInt64));
}

}  // namespace graft::data
