#include "graft/utils/partitioned_checkpoint.h"

#include <cstring>
#include <any>

#include "graft/graph/error.h"
#include "graft/graph/factory.h"
#include "graft/graph/grad_mode.h"

namespace graft::utils {

using optim::zero::Communicator;

namespace {

// FNV-1a over the input's shape, dtype and bytes: equal inputs hash equal on every rank.
int64_t fingerprint(const Tensor& t) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  };
  const int64_t dtype = static_cast<int64_t>(t.dtype());
  mix(&dtype, sizeof dtype);
  for (int64_t d : t.shape()) mix(&d, sizeof d);
  const Tensor c = t.contiguous();
  mix(c.data_ptr(), static_cast<size_t>(c.numel()) * element_size(c.dtype()));
  int64_t out = 0;
  std::memcpy(&out, &h, sizeof out);
  return out;
}

void check_replicated(Communicator& comm, const TensorList& inputs) {
  const int W = comm.world_size();
  // Each 64-bit hash as two 32-bit halves, exact in float64 (the collectives move floating-point data).
  std::vector<double> mine;
  for (const Tensor& t : inputs) {
    const auto h = static_cast<uint64_t>(fingerprint(t));
    mine.push_back(static_cast<double>(h >> 32));
    mine.push_back(static_cast<double>(h & 0xffffffffu));
  }
  if (W == 1 || mine.empty()) return;
  const auto n = static_cast<int64_t>(mine.size());
  Tensor all = zeros({n * W}, kFloat64);
  comm.all_gather(tensor(mine, {n}, kFloat64), all);
  const double* h = all.data_ptr<double>();
  for (int64_t i = 0; i < n / 2; ++i) {
    std::vector<int> differing;
    for (int r = 1; r < W; ++r)
      if (h[r * n + 2 * i] != h[2 * i] || h[r * n + 2 * i + 1] != h[2 * i + 1]) differing.push_back(r);
    GRAFT_CHECK(differing.empty(),
                "partitioned_checkpoint: input {} differs between ranks (rank {} holds other values, shape or dtype than "
                "rank 0); partitioned checkpoints need the same input on every rank of the group, as in model parallelism",
                i, differing.front());
  }
}

}  // namespace

TensorList partitioned_checkpoint(Communicator& comm, const std::function<TensorList(const TensorList&)>& function,
                                  const TensorList& inputs, const CheckpointOptions& options) {
  for (size_t i = 0; i < inputs.size(); ++i)
    GRAFT_CHECK(inputs[i].defined(), "partitioned_checkpoint: input {} is undefined", i);
  GRAFT_CHECK(!options.pack_input && !options.unpack_input,
              "partitioned_checkpoint: pack_input and unpack_input are its own; leave them unset");
  check_replicated(comm, inputs);
  CheckpointOptions partitioned = options;
  Communicator* group = &comm;
  // What a rank keeps of an input: its share of the elements (a copy, so the input's memory can go), and the
  // input's shape to gather the whole back into.
  struct Share {
    Shape shape;
    int64_t numel;
    Tensor elements;
  };
  partitioned.pack_input = [group](const Tensor& input) -> std::any {
    NoGradGuard no_grad;
    // Indices and masks are kept whole, as is everything on one rank (nothing to split, no copy to make).
    if (!is_floating(input.dtype()) || group->world_size() == 1) return input.detach();
    const int r = group->rank();
    const std::vector<int64_t> counts = group->balanced_counts(input.numel());
    int64_t offset = 0;
    for (int s = 0; s < r; ++s) offset += counts[static_cast<size_t>(s)];
    return Share{input.shape(), input.numel(),
                 input.detach().reshape({-1}).narrow(0, offset, counts[static_cast<size_t>(r)]).clone()};
  };
  partitioned.unpack_input = [group](const std::any& kept) {
    NoGradGuard no_grad;
    if (const Tensor* whole = std::any_cast<Tensor>(&kept)) return *whole;
    const Share& share = std::any_cast<const Share&>(kept);
    Tensor whole = empty({share.numel}, share.elements.dtype());
    group->all_gather(share.elements, whole, group->balanced_counts(share.numel));
    return whole.reshape(IntList(share.shape.data(), share.shape.size()));
  };
  return checkpoint(function, inputs, partitioned);
}

}  // namespace graft::utils
