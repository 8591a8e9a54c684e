// read_idx checks what an IDX file claims against what it holds before allocating anything for it, and reads
// gzip streams to their CRC-checked end.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "graft/graft.h"
#include "support/errors.h"
#include "support/temp_dir.h"

using namespace graft;
using graft::testing::expect_error;
using namespace graft::data;
namespace fs = std::filesystem;

namespace {

class IdxValidation : public ::testing::Test {
 protected:
  graft::testing::TempDir temp_;
  const fs::path dir{temp_.path()};

  static std::string header(const std::vector<uint32_t>& dims) {
    std::string out = {0, 0, 8, static_cast<char>(dims.size())};
    for (uint32_t d : dims)
      for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<char>(d >> shift));
    return out;
  }
  std::string plain(const std::string& name, const std::string& bytes) {
    std::ofstream(dir / name, std::ios::binary) << bytes;
    return (dir / name).string();
  }
  std::string gz(const std::string& name, const std::string& bytes) {
    const std::string path = (dir / name).string();
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
    return path;
  }
  static std::string read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
};

TEST_F(IdxValidation, AClaimOfATerabyteInATinyFileIsAnErrorNotAnAllocation) {
  // 2^20 x 2^20 bytes claimed by a 112-byte file: checked before any memory is reserved for it.
  const std::string claim = header({1u << 20, 1u << 20}) + std::string(100, '\1');
  expect_error([&] { read_idx(plain("tera", claim)); }, {"tera", "truncated", "[1048576, 1048576]"});
  expect_error([&] { read_idx(gz("tera.gz", claim)); }, {"tera.gz", "truncated"});
}

TEST_F(IdxValidation, DimsWhoseProductOverflowsAreAnError) {
  // 2^20 * 2^20 * 2^24 = 2^64 wraps to 0 in unchecked 64-bit arithmetic: an "empty" file of 2^64 elements.
  expect_error([&] { read_idx(gz("wrap.gz", header({1u << 20, 1u << 20, 1u << 24}))); },
               {"wrap.gz", "[1048576, 1048576, 16777216]", "more elements than any tensor can have"});
  expect_error([&] { read_mnist_images(plain("wrap", header({1u << 20, 1u << 20, 1u << 24}))); }, {"wrap"});
}

TEST_F(IdxValidation, AGzipStreamWithoutItsCrcTrailerIsTruncated) {
  const std::string path = gz("notrailer.gz", header({3}) + "abc");
  std::string bytes = read(path);
  plain("notrailer.gz", bytes.substr(0, bytes.size() - 8));  // the CRC-32 and length trailer cut off
  expect_error([&] { read_idx(path); }, {"notrailer.gz", "truncated", "trailer"});
  plain("halftrailer.gz", bytes.substr(0, bytes.size() - 3));
  expect_error([&] { read_idx((dir / "halftrailer.gz").string()); }, {"truncated"});
}

TEST_F(IdxValidation, AGzipStreamWithAWrongCrcIsCorrupt) {
  const std::string path = gz("crc.gz", header({3}) + "abc");
  std::string bytes = read(path);
  bytes[bytes.size() - 8] ^= 0x55;  // the first byte of the CRC-32
  plain("crc.gz", bytes);
  expect_error([&] { read_idx(path); }, {"crc.gz", "corrupt", "incorrect data check"});
}

TEST_F(IdxValidation, BytesAfterTheGzipDataAreAnError) {
  const std::string path = gz("junk.gz", header({3}) + "abc");
  plain("junk.gz", read(path) + "JUNK");
  expect_error([&] { read_idx(path); }, {"junk.gz", "4 bytes that are not gzip data"});
}

TEST_F(IdxValidation, ConcatenatedGzipMembersAreOneStream) {
  const std::string a = read(gz("a.gz", header({5}) + "ab")), b = read(gz("b.gz", "cde"));
  IdxArray got = read_idx(plain("two.gz", a + b));
  EXPECT_EQ(got.shape, std::vector<int64_t>{5});
  EXPECT_EQ(std::string(got.bytes.begin(), got.bytes.end()), "abcde");
}

TEST_F(IdxValidation, AnEmptyArrayIsFine) {
  IdxArray got = read_idx(gz("empty.gz", header({0, 28, 28})));
  EXPECT_EQ(got.shape, (std::vector<int64_t>{0, 28, 28}));
  EXPECT_TRUE(got.bytes.empty());
  EXPECT_EQ(read_mnist_images((dir / "empty.gz").string()).shape(), (Shape{0, 784}));
}

TEST_F(IdxValidation, ADirectoryOrAFifoIsNotAFile) {
  expect_error([&] { read_idx(dir.string()); }, {"is not a regular file"});
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  expect_error([&] { read_idx((dir / "fifo").string()); }, {"is not a regular file"});  // and no hang
}

}  // namespace
