// The fuzz targets' committed corpora, replayed in the ordinary test suite: every seed (valid files as graft
// writes them) and every input the fuzzers found worth keeping goes through its target, which must end in a
// result or a graft::Error -- never another exception or a crash. make fuzz mutates these same inputs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/targets.h"

namespace fs = std::filesystem;

namespace {

const fs::path kFuzzDir = fs::path(GRAFT_SOURCE_DIR) / "tests" / "fuzz";

std::vector<fs::path> inputs(const std::string& target) {
  std::vector<fs::path> files;
  for (const char* sub : {"seeds", "regressions"}) {
    const fs::path dir = kFuzzDir / target / sub;
    if (!fs::is_directory(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.is_regular_file()) files.push_back(entry.path());
  }
  return files;
}

void replay(const std::string& target, int (*one_input)(const uint8_t*, size_t), size_t min_inputs) {
  const std::vector<fs::path> files = inputs(target);
  EXPECT_GE(files.size(), min_inputs) << "the corpus of " << target << " is missing";
  for (const fs::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    try {
      one_input(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      // Prefixes too: a truncated file is the most common corruption.
      for (size_t cut : {bytes.size() / 2, bytes.size() / 3, size_t{9}, size_t{0}}) {
        if (cut < bytes.size()) one_input(reinterpret_cast<const uint8_t*>(bytes.data()), cut);
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << file << ": " << e.what();
    }
  }
}

}  // namespace

TEST(FuzzCorpus, SafetensorsFilesLoadOrRaiseGraftError) { replay("safetensors", graft::fuzz::safetensors_input, 2); }
TEST(FuzzCorpus, OptimizerAndSchedulerStatesLoadOrRaiseGraftError) {
  replay("optimizer_state", graft::fuzz::optimizer_state_input, 4);
}
TEST(FuzzCorpus, ZeroShardDirectoriesLoadOrRaiseGraftError) { replay("zero_shards", graft::fuzz::zero_shards_input, 6); }
TEST(FuzzCorpus, IdxFilesLoadOrRaiseGraftError) { replay("idx", graft::fuzz::idx_input, 4); }
