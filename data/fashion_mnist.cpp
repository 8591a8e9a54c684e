#include "graft/data/fashion_mnist.h"

#include "graft/data/idx.h"
#include "graft/ops/reduction.h"

namespace graft::data {

namespace {

constexpr const char* kInstallHint =
    "Fashion-MNIST comes from Debian's dataset-fashion-mnist package: install it with `apt-get install "
    "dataset-fashion-mnist`";

TensorDataset load(const std::string& root, bool train, bool flatten) {
  const std::string prefix = root + "/" + (train ? "train" : "t10k");
  try {
    Tensor images = read_mnist_images(prefix + "-images-idx3-ubyte.gz", flatten);
    Tensor labels = read_mnist_labels(prefix + "-labels-idx1-ubyte.gz");
    GRAFT_CHECK(images.size(0) == labels.size(0), "FashionMNIST: {} images but {} labels under '{}'", images.size(0),
                labels.size(0), root);
    GRAFT_CHECK(images.numel() == images.size(0) * 784, "FashionMNIST: the images under '{}' are not 28x28", root);
    if (labels.numel() > 0) {
      const int64_t lo = labels.min().item<int64_t>(), hi = labels.max().item<int64_t>();
      GRAFT_CHECK(lo >= 0 && hi < 10, "FashionMNIST: labels under '{}' range over [{}, {}], not [0, 10)", root, lo, hi);
    }
    return TensorDataset(images, labels);
  } catch (const Error& e) {
    GRAFT_FAIL("{}. {}", e.what(), kInstallHint);
  }
}

}  // namespace

FashionMNIST::FashionMNIST(const std::string& root, bool train, bool flatten) : TensorDataset(load(root, train, flatten)) {}

const std::vector<std::string>& FashionMNIST::classes() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

}  // namespace graft::data
