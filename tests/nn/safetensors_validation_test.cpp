// load_safetensors checks a whole file before allocating anything sized by it: a corrupt or hostile header is
// a graft::Error naming the file, the tensor and what is wrong, never a crash, a hang or a tensor that claims
// more elements than it has.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "graft/graft.h"
#include "support/errors.h"
#include "support/temp_dir.h"

using namespace graft;
using graft::testing::expect_error;
namespace fs = std::filesystem;

namespace {

class SafetensorsValidation : public ::testing::Test {
 protected:
  graft::testing::TempDir temp_;
  const fs::path dir{temp_.path()};
  // A file with this header text and `data_bytes` zero bytes of data.
  std::string file(const std::string& header, size_t data_bytes = 0) {
    const fs::path p = dir / fmt::format("f{}.safetensors", count++);
    std::ofstream out(p, std::ios::binary);
    const uint64_t n = header.size();
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << header << std::string(data_bytes, '\0');
    return p.string();
  }
  void expect_corrupt(const std::string& header, size_t data_bytes, const std::vector<std::string>& fragments) {
    const std::string path = file(header, data_bytes);
    std::vector<std::string> all = fragments;
    all.push_back(path);
    expect_error([&] { nn::load_safetensors(path); }, all);
  }
  int count = 0;
};

TEST_F(SafetensorsValidation, AShapeWhoseElementCountOverflowsIsAnError) {
  // 2^64 elements wrap to 0 and would match data_offsets [0, 0] without checked arithmetic.
  expect_corrupt(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0,
                 {"tensor 'w'", "[4294967296, 4294967296]", "too large"});
  expect_corrupt(R"({"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}})", 0, {"too large"});
  // 2^62 float32 elements are 2^64 bytes, which wrap to 0 as a byte count.
  expect_corrupt(R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0, {"too large"});
  expect_corrupt(R"({"w":{"dtype":"I64","shape":[9223372036854775808],"data_offsets":[0,0]}})", 0, {"invalid size"});
}

TEST_F(SafetensorsValidation, MalformedEntriesNameTheTensorAndTheProblem) {
  expect_corrupt(R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8, {"tensor 'w'", "invalid size 2.5"});
  expect_corrupt(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0, {"invalid size -1"});
  expect_corrupt(R"({"w":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})", 8, {"shape that is not an array"});
  expect_corrupt(R"({"w":{"dtype":7,"shape":[2],"data_offsets":[0,8]}})", 8, {"dtype that is not a string"});
  expect_corrupt(R"({"w":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})", 8, {"tensor 'w'", "dtype 'I32'"});
  expect_corrupt(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", 8, {"data_offsets [-8,0]"});
  expect_corrupt(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8, {"data_offsets [0]"});
  expect_corrupt(R"({"w":{"dtype":"F32","shape":[2]}})", 8, {"exactly dtype, shape and data_offsets"});
  expect_corrupt(R"({"w":[1,2]})", 8, {"tensor 'w'"});
  expect_corrupt(R"({"__metadata__":{"format":3}})", 0, {"metadata 'format' that is not a string"});
  expect_corrupt(R"([1,2])", 0, {"not a JSON object"});
  expect_corrupt(R"({"w":)", 0, {"corrupt header"});
}

TEST_F(SafetensorsValidation, DataOffsetsMustTileTheDataExactly) {
  expect_corrupt(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4, {"outside the file's 4 data bytes"});
  expect_corrupt(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4, {"has 4 data bytes", "needs 8"});
  expect_corrupt(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                 12, {"'a' and 'b' overlap"});
  expect_corrupt(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8, {"bytes [0, 4) of the data belong to no tensor"});
  expect_corrupt(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 8, {"last 4 data bytes belong to no tensor"});
  // Two names over the same bytes (the second would alias the first).
  expect_corrupt(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                 4, {"overlap"});
}

TEST_F(SafetensorsValidation, ValidFilesWithEmptyTensorsLoad) {
  const std::string path = file(R"({"e":{"dtype":"F32","shape":[0,1099511627776],"data_offsets":[0,0]},)"
                                R"("s":{"dtype":"I64","shape":[],"data_offsets":[0,8]}})", 8);
  nn::StateDict got = nn::load_safetensors(path);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].second.shape(), (Shape{0, int64_t{1} << 40}));
  EXPECT_EQ(got[1].second.item<int64_t>(), 0);
}

TEST_F(SafetensorsValidation, ADirectoryOrAFifoIsNotReadAsAFile) {
  expect_error([&] { nn::load_safetensors(dir.string()); }, {"is not a regular file"});
  const fs::path fifo = dir / "pipe";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_error([&] { nn::load_safetensors(fifo.string()); }, {"is not a regular file"});  // and no hang
}

}  // namespace
