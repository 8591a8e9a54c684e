// A small CNN on Fashion-MNIST, the LibTorch anchor's cnn_fmnist network: Conv2d(1, 32, 3, padding 1) ReLU
// MaxPool2d(2) Conv2d(32, 64, 3, padding 1) ReLU MaxPool2d(2) Flatten Linear(3136, 128) ReLU Linear(128, 10),
// PyTorch's default initialisation, trained with Adam(1e-3), batch 128, cross-entropy and a cosine schedule.
// Per-epoch checkpoints, --resume bit for bit, curves and the graph picture: common/fashion_mnist_training.h.
//
//   build/examples/cnn_fashion_mnist [--epochs 10] [--lr 1e-3] [--batch-size 128] [--out-dir DIR] [--resume]
//   build/examples/cnn_fashion_mnist --quick    # 1 epoch on 1000 training images (what the tests run)
#include <graft/graft.h>

#include "common/fashion_mnist_training.h"

using namespace graft;

int main(int argc, char** argv) {
  examples::FashionMnistExample example;
  example.description = "A small CNN (two 3x3 convolutions, max pooling, two linear layers) trained on Fashion-MNIST with "
                        "Adam, with per-epoch checkpoints and --resume.";
  example.flatten_images = false;  // (N, 1, 28, 28)
  example.make_model = [] {
    // Braces: the layers are built (and drawn from the generator) left to right, as in Python.
    nn::Sequential cnn{nn::Conv2d(1, 32, 3, 1, 1), nn::ReLU(), nn::MaxPool2d(2),
                       nn::Conv2d(32, 64, 3, 1, 1), nn::ReLU(), nn::MaxPool2d(2),
                       nn::Flatten(),               nn::Linear(64 * 7 * 7, 128), nn::ReLU(),
                       nn::Linear(128, 10)};
    return std::make_shared<nn::Sequential>(std::move(cnn));
  };
  example.epochs = 10;
  example.quick_epochs = 1;
  example.quick_limit_train = 1000;
  example.quick_limit_test = 500;
  return examples::run_fashion_mnist_example(argc, argv, example);
}
