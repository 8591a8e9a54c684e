#pragma once
// Small synthetic classification sets for examples and tests. Each is deterministic given its seed and
// returns a TensorDataset of inputs (N, dims) in `dtype` and int64 labels, ordered by class.
#include <cstdint>
#include <vector>

#include "graft/data/dataset.h"

namespace graft::data {

/// Two interleaved spirals in the plane, n_per_class points each. A point of class k at angle
/// t = turns * 2 * pi * sqrt(u), u ~ U(0, 1), lies at radius r = t / (turns * 2 * pi) in direction t + k * pi,
/// plus Gaussian noise of standard deviation `noise` in each coordinate (so |x| <= 1 before noise).
TensorDataset make_spirals(int64_t n_per_class, double noise = 0.0, uint64_t seed = 0, double turns = 1.5,
                           DType dtype = kFloat32);

/// Gaussian blobs with a chosen class balance: counts[k] points of class k, drawn around center k with
/// standard deviation cluster_std in each of `dims` coordinates; the centers are uniform in
/// [-center_box, center_box]^dims (as sklearn's make_blobs). E.g. counts {900, 90, 10} is a 90:9:1 imbalance.
TensorDataset make_blobs(const std::vector<int64_t>& counts, int64_t dims = 2, double cluster_std = 1.0,
                         double center_box = 10.0, uint64_t seed = 0, DType dtype = kFloat32);

}  // namespace graft::data
