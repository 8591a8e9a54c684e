// Fuzz target zero_shards (targets.h): a ZeRO checkpoint directory (fuzz_input.h packs its shard files into one input) read,
// described, consolidated and resharded. Every shard is checked before anything is used, so the result is a
// consistent checkpoint or graft::Error.
#include "graft/graft.h"
#include "fuzz_input.h"
#include "targets.h"

namespace zero = graft::optim::zero;

namespace graft::fuzz {

int zero_shards_input(const uint8_t* data, size_t size) {
  const std::vector<std::string> files = fuzz::unpack_files(data, size);
  if (files.empty()) return 0;
  const std::filesystem::path dir = fuzz::scratch() / "shards";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  for (size_t r = 0; r < files.size(); ++r)
    fuzz::write_file(zero::shard_path(dir.string(), static_cast<int>(r), static_cast<int>(files.size())),
                     reinterpret_cast<const uint8_t*>(files[r].data()), files[r].size());
  try {
    const std::vector<optim::Checkpoint> shards = zero::read_shards(dir.string());
    const zero::CheckpointInfo info = zero::describe_shards(shards);
    const optim::Checkpoint full = zero::consolidate_shards(shards);
    (void)full.at("model");
    // Resharding to another world size and back consolidates to the same state.
    const int other = static_cast<int>(size % 3) + 1;
    const optim::Checkpoint again = zero::consolidate_shards(zero::reshard(shards, other));
    if (again.tensors.size() != full.tensors.size() || info.world_size != static_cast<int>(files.size()))
      fail("zero_shards: resharding changed the consolidated checkpoint");
    for (size_t i = 0; i < full.tensors.size(); ++i) {
      const Tensor &a = full.tensors[i].second, &b = again.tensors[i].second;
      if (a.shape() != b.shape() || std::memcmp(a.contiguous().data_ptr(), b.contiguous().data_ptr(),
                                                static_cast<size_t>(a.numel()) * a.element_size()) != 0)
        fail("zero_shards: resharding changed the consolidated checkpoint");
    }
  } catch (const Error&) {
  }
  return 0;
}

}  // namespace graft::fuzz
