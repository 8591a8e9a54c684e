#pragma once
// The training run the Fashion-MNIST examples share (mlp_fashion_mnist, cnn_fashion_mnist): a model trained
// with Adam, batch 128, cross-entropy, the learning rate annealed per epoch along a cosine (or constant).
// Every epoch prints its time, training loss and accuracy, and the test loss and accuracy, and saves a
// checkpoint (weights, Adam's state, the scheduler's, the epoch, the generators, the history) atomically;
// --resume continues from it and ends with the same weights, bit for bit, as a run that was never
// interrupted. The settings that shape the run must be the same when resuming; with a constant learning
// rate, --epochs may grow (training on from the last checkpoint).
//
// Output in --out-dir: checkpoint.safetensors, model.safetensors (the final weights), curves.svg (loss
// and accuracy per epoch), graph.dot / graph.svg (the model's autograd graph).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <graft/graft.h>

namespace graft::examples {

struct FashionMnistExample {
  std::string description;  // the --help text's first line
  // Images as (N, 784) rows (an MLP) or (N, 1, 28, 28) (a CNN).
  bool flatten_images = true;
  // Builds the model (after the seed is set): logits (N, 10) from a batch of images.
  std::function<nn::ModulePtr()> make_model;
  int64_t epochs = 10;
  // --quick: this many epochs on the first images of each set (what the tests run).
  int64_t quick_epochs = 2, quick_limit_train = 2000, quick_limit_test = 1000;
};

// Parses the flags (--epochs --batch-size --lr --seed --out-dir --quick --threads --profile --resume
// --limit-train --limit-test --schedule --stop-after-epoch --amp --data-dir) and runs the training; returns the exit status
// (0, 1 on an error, which is printed).
int run_fashion_mnist_example(int argc, char** argv, const FashionMnistExample& example);

}  // namespace graft::examples
