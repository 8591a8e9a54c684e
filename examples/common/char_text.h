#pragma once
// Character-level language modelling on a text file, shared by tiny_gpt (a transformer) and char_lstm (an
// LSTM) so that their losses are measured on the same split, the same windows and in the same unit (nats
// per character): the vocabulary of a text's bytes, the train/validation split, windows of characters and
// the evaluation of a model over them.
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <graft/graph/generator.h>
#include <graft/graph/tensor.h>

namespace graft::examples {

// The bytes of the file at `path`; raises (naming --text) when there is none.
std::string read_text(const std::string& path);

// The distinct bytes of a text, in increasing order; a byte's id is its rank. A "character" is a byte, so
// UTF-8 text trains too, one byte per token.
class CharVocab {
 public:
  explicit CharVocab(const std::string& text);
  int64_t size() const { return static_cast<int64_t>(chars_.size()); }
  // The ids of `text`; `what` names the text in the error raised for a byte the vocabulary lacks.
  std::vector<int64_t> encode(const std::string& text, const char* what) const;
  std::string decode(const std::vector<int64_t>& ids) const;
  // The bytes as numbers (JSON strings must be UTF-8, a byte of a multi-byte character is not).
  nlohmann::json to_json() const;

 private:
  std::array<int64_t, 256> id_;
  std::string chars_;
};

// A text split for training: its vocabulary, the first 90% of its ids (training), the last 10% (validation).
struct CharCorpus {
  std::string path;
  CharVocab vocab;
  std::vector<int64_t> train, val;
  // Reads and splits the text at `path`; raises when the validation part is not longer than a window of
  // `context` + 1 characters.
  static CharCorpus load(const std::string& path, int64_t context);
  // The entropy (nats/char) of the training text's character frequencies: the loss of the best model that
  // ignores context.
  double unigram_entropy() const;
};

// Inputs (B, T) and targets (B, T) of int64 ids, the targets shifted one character ahead.
struct CharBatch {
  Tensor x, y;
};

// The windows of `context` + 1 characters of `ids` starting at `starts`.
CharBatch windows(const std::vector<int64_t>& ids, const std::vector<int64_t>& starts, int64_t context);
// `count` window offsets uniform over `ids` (each window, context + 1 characters, fits), drawn from `gen`.
std::vector<int64_t> random_starts(const std::vector<int64_t>& ids, int64_t count, int64_t context, Generator& gen);
// Windows covering `ids` end to end, each predicting `context` new characters (the last one ends at the end
// of the text and may overlap its neighbour).
std::vector<int64_t> covering_starts(const std::vector<int64_t>& ids, int64_t context);

// Mean cross-entropy (nats per character) of the next-character predictions `logits` (B, T, V).
Tensor next_char_loss(const Tensor& logits, const Tensor& targets);

struct CharEvaluation {
  double loss, accuracy;
};

// The mean loss and next-character accuracy of `logits_of` (ids (B, T) -> logits (B, T, V)) over the
// windows at `starts`, `batch` windows at a time, without gradients. The caller puts the model in eval mode.
CharEvaluation evaluate_windows(const std::function<Tensor(const Tensor&)>& logits_of, const std::vector<int64_t>& ids,
                                const std::vector<int64_t>& starts, int64_t context, int64_t batch);

}  // namespace graft::examples
