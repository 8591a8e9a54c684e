#include "common/char_text.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <graft/graft.h>

#include "common/metrics.h"

namespace graft::examples {

namespace F = graft::nn::functional;

std::string read_text(const std::string& path) {
  GRAFT_CHECK(std::filesystem::is_regular_file(path),
              "--text: there is no file at {} (the default, the GPL v3, comes with Debian's base-files package; "
              "pass any text file with --text)",
              path);
  std::ifstream in(path, std::ios::binary);
  GRAFT_CHECK(in.good(), "--text: cannot open {}", path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

CharVocab::CharVocab(const std::string& text) {
  id_.fill(-1);
  for (const char c : text) id_[static_cast<unsigned char>(c)] = 0;
  for (int b = 0; b < 256; ++b)
    if (id_[b] == 0) {
      id_[b] = static_cast<int64_t>(chars_.size());
      chars_.push_back(static_cast<char>(b));
    }
}

std::vector<int64_t> CharVocab::encode(const std::string& text, const char* what) const {
  std::vector<int64_t> ids;
  ids.reserve(text.size());
  for (const char c : text) {
    const int64_t id = id_[static_cast<unsigned char>(c)];
    GRAFT_CHECK(id >= 0, "{}: the character {:?} (byte {}) never occurs in the training text", what, std::string(1, c),
                static_cast<int>(static_cast<unsigned char>(c)));
    ids.push_back(id);
  }
  return ids;
}

std::string CharVocab::decode(const std::vector<int64_t>& ids) const {
  std::string out;
  for (const int64_t id : ids) out += chars_.at(static_cast<size_t>(id));
  return out;
}

nlohmann::json CharVocab::to_json() const {
  nlohmann::json bytes = nlohmann::json::array();
  for (const char c : chars_) bytes.push_back(static_cast<int>(static_cast<unsigned char>(c)));
  return bytes;
}

CharCorpus CharCorpus::load(const std::string& path, int64_t context) {
  const std::string text = read_text(path);
  CharCorpus corpus{path, CharVocab(text), {}, {}};
  const std::vector<int64_t> ids = corpus.vocab.encode(text, "--text");
  const auto split = static_cast<std::ptrdiff_t>(0.9 * static_cast<double>(ids.size()));
  corpus.train.assign(ids.begin(), ids.begin() + split);
  corpus.val.assign(ids.begin() + split, ids.end());
  GRAFT_CHECK(static_cast<int64_t>(corpus.val.size()) > context + 1,
              "--text: {} has {} characters; its last 10% ({}) must be longer than a window of --context + 1 = {}",
              path, ids.size(), corpus.val.size(), context + 1);
  GRAFT_CHECK(static_cast<int64_t>(corpus.train.size()) > context + 1,
              "--text: {} has {} characters; its first 90% ({}) must be longer than a window of --context + 1 = {}",
              path, ids.size(), corpus.train.size(), context + 1);
  return corpus;
}

double CharCorpus::unigram_entropy() const {
  std::vector<double> counts(static_cast<size_t>(vocab.size()), 0.0);
  for (const int64_t id : train) counts[static_cast<size_t>(id)] += 1;
  double h = 0;
  for (const double c : counts)
    if (c > 0) {
      const double p = c / static_cast<double>(train.size());
      h -= p * std::log(p);
    }
  return h;
}

CharBatch windows(const std::vector<int64_t>& ids, const std::vector<int64_t>& starts, int64_t context) {
  std::vector<int64_t> x, y;
  x.reserve(starts.size() * static_cast<size_t>(context));
  y.reserve(x.capacity());
  for (const int64_t s : starts) {
    x.insert(x.end(), ids.begin() + s, ids.begin() + s + context);
    y.insert(y.end(), ids.begin() + s + 1, ids.begin() + s + context + 1);
  }
  const auto batch = static_cast<int64_t>(starts.size());
  return {tensor(x, {batch, context}, dtype(kInt64)), tensor(y, {batch, context}, dtype(kInt64))};
}

std::vector<int64_t> random_starts(const std::vector<int64_t>& ids, int64_t count, int64_t context, Generator& gen) {
  std::vector<int64_t> starts;
  const auto span = static_cast<uint64_t>(static_cast<int64_t>(ids.size()) - context);
  for (int64_t i = 0; i < count; ++i) starts.push_back(static_cast<int64_t>(gen.below(span)));
  return starts;
}

std::vector<int64_t> covering_starts(const std::vector<int64_t>& ids, int64_t context) {
  const int64_t last = static_cast<int64_t>(ids.size()) - context - 1;
  std::vector<int64_t> starts;
  for (int64_t s = 0; s < last; s += context) starts.push_back(s);
  starts.push_back(last);
  return starts;
}

Tensor next_char_loss(const Tensor& logits, const Tensor& targets) {
  const int64_t n = targets.numel();
  return F::cross_entropy(logits.reshape({n, logits.size(-1)}), targets.reshape({n}));
}

CharEvaluation evaluate_windows(const std::function<Tensor(const Tensor&)>& logits_of, const std::vector<int64_t>& ids,
                                const std::vector<int64_t>& starts, int64_t context, int64_t batch) {
  NoGradGuard no_grad;
  double loss_sum = 0;
  int64_t correct = 0, count = 0;
  for (size_t from = 0; from < starts.size(); from += static_cast<size_t>(batch)) {
    const size_t to = std::min(starts.size(), from + static_cast<size_t>(batch));
    const std::vector<int64_t> part(starts.begin() + static_cast<std::ptrdiff_t>(from),
                                    starts.begin() + static_cast<std::ptrdiff_t>(to));
    const CharBatch b = windows(ids, part, context);
    const Tensor logits = logits_of(b.x);
    const int64_t n = b.y.numel();
    loss_sum += next_char_loss(logits, b.y).item<double>() * static_cast<double>(n);
    correct += count_correct(logits.reshape({n, logits.size(-1)}), b.y.reshape({n}));
    count += n;
  }
  return {loss_sum / static_cast<double>(count), static_cast<double>(correct) / static_cast<double>(count)};
}

}  // namespace graft::examples
