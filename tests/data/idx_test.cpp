// IDX (MNIST-format) files, gzip-compressed or plain, and Fashion-MNIST from Debian's package.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "graft/graft.h"
#include "support/errors.h"

using namespace graft;
using graft::testing::error_of;
using namespace graft::data;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir() {
  fs::path dir = fs::temp_directory_path() / ("graft_data_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

std::vector<uint8_t> idx_bytes(uint8_t type, const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<uint8_t>(d >> shift));
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

void write_plain(const fs::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void write_gz(const fs::path& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(f);
}

// Three 2x2 images with pixels 0, 10, ..., 110 and labels 7, 0, 9.
std::vector<uint8_t> pixels() {
  std::vector<uint8_t> p;
  for (int i = 0; i < 12; ++i) p.push_back(static_cast<uint8_t>(10 * i));
  p[11] = 255;
  return p;
}

TEST(Idx, ReadsGzippedImagesAsFloatsOver255) {
  const fs::path path = temp_dir() / "images.gz";
  write_gz(path, idx_bytes(0x08, {3, 2, 2}, pixels()));
  IdxArray raw = read_idx(path.string());
  EXPECT_EQ(raw.shape, (std::vector<int64_t>{3, 2, 2}));
  EXPECT_EQ(raw.bytes, pixels());
  Tensor flat = read_mnist_images(path.string());
  EXPECT_EQ(flat.dtype(), kFloat32);
  EXPECT_EQ(flat.shape(), (Shape{3, 4}));
  EXPECT_EQ(flat.at<float>({1, 2}), 60.0f / 255.0f);
  EXPECT_EQ(flat.at<float>({2, 3}), 1.0f);
  Tensor nchw = read_mnist_images(path.string(), /*flatten=*/false);
  EXPECT_EQ(nchw.shape(), (Shape{3, 1, 2, 2}));
  EXPECT_EQ(nchw.at<float>({2, 0, 1, 1}), 1.0f);
}

TEST(Idx, ReadsPlainFilesAndLabels) {
  const fs::path path = temp_dir() / "labels";
  write_plain(path, idx_bytes(0x08, {3}, {7, 0, 9}));
  Tensor labels = read_mnist_labels(path.string());
  EXPECT_EQ(labels.dtype(), kInt64);
  EXPECT_EQ(labels.to_vector<int64_t>(), (std::vector<int64_t>{7, 0, 9}));
  EXPECT_NE(error_of([&] { read_mnist_images(path.string()); }).find("not (N, rows, cols)"), std::string::npos);
}

TEST(Idx, MissingAndCorruptFilesAreClearErrors) {
  const fs::path dir = temp_dir();
  EXPECT_NE(error_of([&] { read_idx((dir / "nope.gz").string()); }).find("cannot open"), std::string::npos);

  write_gz(dir / "magic.gz", {1, 2, 8, 1, 0, 0, 0, 1, 5});
  EXPECT_NE(error_of([&] { read_idx((dir / "magic.gz").string()); }).find("bad magic"), std::string::npos);

  write_gz(dir / "type.gz", idx_bytes(0x0D, {1}, {0, 0, 0, 0}));
  EXPECT_NE(error_of([&] { read_idx((dir / "type.gz").string()); }).find("element type 0x0d"), std::string::npos);

  std::vector<uint8_t> short_data = pixels();
  short_data.resize(7);
  write_gz(dir / "short.gz", idx_bytes(0x08, {3, 2, 2}, short_data));
  EXPECT_NE(error_of([&] { read_idx((dir / "short.gz").string()); }).find("truncated"), std::string::npos);

  write_gz(dir / "header.gz", {0, 0, 8, 3, 0, 0});
  EXPECT_NE(error_of([&] { read_idx((dir / "header.gz").string()); }).find("truncated"), std::string::npos);

  std::vector<uint8_t> long_data = pixels();
  long_data.push_back(1);
  write_gz(dir / "long.gz", idx_bytes(0x08, {3, 2, 2}, long_data));
  EXPECT_NE(error_of([&] { read_idx((dir / "long.gz").string()); }).find("size mismatch"), std::string::npos);

  // A gzip stream cut in the middle, and one whose compressed bytes are damaged.
  std::vector<uint8_t> big(5000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>((i * 7919) % 251);
  write_gz(dir / "cut.gz", idx_bytes(0x08, {50, 10, 10}, big));
  fs::resize_file(dir / "cut.gz", fs::file_size(dir / "cut.gz") / 2);
  EXPECT_NE(error_of([&] { read_idx((dir / "cut.gz").string()); }).find("read_idx"), std::string::npos);
  write_gz(dir / "bad.gz", idx_bytes(0x08, {50, 10, 10}, big));
  {
    std::fstream f(dir / "bad.gz", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(30);
    const char junk[16] = {'\xff', '\x00', '\x13', '\x37', '\xde', '\xad', '\xbe', '\xef',
                           '\xff', '\xff', '\xff', '\xff', '\x01', '\x02', '\x03', '\x04'};
    f.write(junk, sizeof junk);
  }
  EXPECT_NE(error_of([&] { read_idx((dir / "bad.gz").string()); }).find("read_idx"), std::string::npos);
}

TEST(FashionMNIST, AMissingOrCorruptFileSaysHowToInstallThePackage) {
  const fs::path dir = temp_dir() / "fmnist";
  fs::create_directories(dir);
  std::string missing = error_of([&] { FashionMNIST(dir.string(), true); });
  EXPECT_NE(missing.find("apt-get install dataset-fashion-mnist"), std::string::npos) << missing;
  EXPECT_NE(missing.find("train-images-idx3-ubyte.gz"), std::string::npos) << missing;
  write_gz(dir / "t10k-images-idx3-ubyte.gz", idx_bytes(0x08, {1, 28, 28}, std::vector<uint8_t>(784, 3)));
  write_gz(dir / "t10k-labels-idx1-ubyte.gz", idx_bytes(0x08, {2}, {1, 2}));  // 2 labels for 1 image
  std::string mismatch = error_of([&] { FashionMNIST(dir.string(), false); });
  EXPECT_NE(mismatch.find("1 images but 2 labels"), std::string::npos) << mismatch;
  EXPECT_NE(mismatch.find("apt-get install dataset-fashion-mnist"), std::string::npos) << mismatch;
  write_gz(dir / "t10k-labels-idx1-ubyte.gz", idx_bytes(0x08, {1}, {10}));  // label out of range
  EXPECT_NE(error_of([&] { FashionMNIST(dir.string(), false); }).find("not [0, 10)"), std::string::npos);
  write_gz(dir / "t10k-labels-idx1-ubyte.gz", idx_bytes(0x08, {1}, {4}));
  FashionMNIST tiny(dir.string(), false);
  EXPECT_EQ(tiny.size(), 1);
  EXPECT_EQ(tiny.get(0).target.item<int64_t>(), 4);
}

TEST(FashionMNIST, ReadsDebiansFiles) {
  FashionMNIST train;  // /usr/share/datasets/fashion-mnist, from the dataset-fashion-mnist package
  FashionMNIST test(FashionMNIST::kDefaultRoot, /*train=*/false, /*flatten=*/false);
  EXPECT_EQ(train.size(), 60000);
  EXPECT_EQ(test.size(), 10000);
  EXPECT_EQ(train.inputs().shape(), (Shape{60000, 784}));
  EXPECT_EQ(test.inputs().shape(), (Shape{10000, 1, 28, 28}));
  EXPECT_EQ(train.inputs().dtype(), kFloat32);
  EXPECT_EQ(train.targets().dtype(), kInt64);
  for (const FashionMNIST* d : {&train, &test}) {
    EXPECT_EQ(d->targets().min().item<int64_t>(), 0);
    EXPECT_EQ(d->targets().max().item<int64_t>(), 9);
    EXPECT_EQ(d->inputs().min().item<float>(), 0.0f);
    EXPECT_EQ(d->inputs().max().item<float>(), 1.0f);
  }
  // Fashion-MNIST is balanced: 6000 training and 1000 test images per class.
  std::vector<int64_t> per_class(10, 0);
  for (int64_t y : train.targets().to_vector<int64_t>()) ++per_class[static_cast<size_t>(y)];
  EXPECT_EQ(per_class, std::vector<int64_t>(10, 6000));
  EXPECT_EQ(FashionMNIST::classes().size(), 10u);
  EXPECT_EQ(FashionMNIST::classes()[9], "Ankle boot");
}

}  // namespace
