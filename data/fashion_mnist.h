#pragma once
// Fashion-MNIST (torchvision.datasets.FashionMNIST): 60000 training and 10000 test images of 28x28
// clothing items in 10 classes, read from the IDX files of Debian's dataset-fashion-mnist package
// (/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz). Images are float32
// pixel / 255 (what torchvision's ToTensor gives), (N, 784) when flatten, else (N, 1, 28, 28); labels are
// int64 in [0, 10). A missing or corrupt file is a graft::Error that says how to install the package.
#include <string>
#include <vector>

#include "graft/data/dataset.h"

namespace graft::data {

class FashionMNIST : public TensorDataset {
 public:
  static constexpr const char* kDefaultRoot = "/usr/share/datasets/fashion-mnist";
  explicit FashionMNIST(const std::string& root = kDefaultRoot, bool train = true, bool flatten = true);
  /// The class names, by label.
  static const std::vector<std::string>& classes();
};

}  // namespace graft::data
