// Printing, following PyTorch 1.13's torch/_tensor_str.py line by line: the _Formatter picks fixed
// 4-digit, integer ("1.") or scientific notation from the nonzero finite values and pads every element to
// one width; rows wrap at 80 characters; tensors of more than 1000 elements are summarised with "..."
// (3 edge items per dim); the dtype, requires_grad and grad_fn suffixes wrap onto a new line when the
// last line would pass 80 characters. graft writes dtypes as "dtype=float64" (PyTorch: torch.float64).
// bfloat16 and float16 elements print their exact values, as PyTorch formats them through Python floats.
#include <cmath>
#include <ostream>

#include "graft/graph/node.h"
#include "graft/graph/tensor.h"

namespace graft {

namespace {

constexpr int64_t kLineWidth = 80;
constexpr int64_t kThreshold = 1000;
constexpr int64_t kEdgeItems = 3;

// torch._tensor_str._Formatter.
class Formatter {
 public:
  Formatter(DType dtype, const std::vector<const char*>& elements) : dtype_(dtype) {
    if (!is_floating(dtype_)) {
      for (const char* p : elements) width_ = std::max(width_, plain(p).size());
      return;
    }
    std::vector<double> nonzero_finite;
    for (const char* p : elements) {
      double v = detail::read_as_double(p, dtype_);
      if (std::isfinite(v) && v != 0) nonzero_finite.push_back(v);
    }
    if (nonzero_finite.empty()) return;
    double lo = INFINITY, hi = 0;
    for (double v : nonzero_finite) {
      lo = std::min(lo, std::abs(v));
      hi = std::max(hi, std::abs(v));
      if (v != std::ceil(v)) int_mode_ = false;
    }
    if (int_mode_) sci_mode_ = hi / lo > 1000.0 || hi > 1e8;
    else sci_mode_ = hi / lo > 1000.0 || hi > 1e8 || lo < 1e-4;
    for (double v : nonzero_finite)
      width_ = std::max(width_, sci_mode_ ? sci(v).size() : int_mode_ ? fmt::format("{:.0f}", v).size() + 1
                                                                      : fixed(v).size());
  }

  size_t width() const { return width_; }

  std::string operator()(const char* p) const {
    std::string s;
    if (!is_floating(dtype_)) {
      s = plain(p);
    } else {
      double v = detail::read_as_double(p, dtype_);
      if (std::isnan(v)) s = "nan";  // Python never prints "-nan"
      else if (sci_mode_) s = sci(v);
      else if (int_mode_) s = fmt::format("{:.0f}", v) + (std::isinf(v) ? "" : ".");
      else s = fixed(v);
    }
    return std::string(width_ - std::min(width_, s.size()), ' ') + s;
  }

 private:
  std::string plain(const char* p) const {
    if (dtype_ == DType::Bool) return detail::read_as_int(p, dtype_) ? "True" : "False";
    return fmt::format("{}", detail::read_as_int(p, dtype_));
  }
  static std::string sci(double v) { return std::isnan(v) ? "nan" : fmt::format("{:.4e}", v); }
  static std::string fixed(double v) { return std::isnan(v) ? "nan" : fmt::format("{:.4f}", v); }

  DType dtype_;
  bool int_mode_ = true;
  bool sci_mode_ = false;
  size_t width_ = 1;
};

class Printer {
 public:
  Printer(const Tensor& t, bool summarize) : t_(t), summarize_(summarize) {}

  // Indexes of a dim of `size` that are shown; -1 marks the "..." gap.
  std::vector<int64_t> shown(int64_t size) const {
    std::vector<int64_t> out;
    if (summarize_ && size > 2 * kEdgeItems) {
      for (int64_t i = 0; i < kEdgeItems; ++i) out.push_back(i);
      out.push_back(-1);
      for (int64_t i = size - kEdgeItems; i < size; ++i) out.push_back(i);
    } else {
      for (int64_t i = 0; i < size; ++i) out.push_back(i);
    }
    return out;
  }

  // The elements the formatter measures (get_summarized_data): only the shown ones.
  void collect(int64_t dim, int64_t offset, std::vector<const char*>& out) const {
    if (dim == t_.dim()) {
      out.push_back(at(offset));
      return;
    }
    for (int64_t i : shown(t_.shape()[dim]))
      if (i >= 0) collect(dim + 1, offset + i * t_.strides()[dim], out);
  }

  // _tensor_str_with_formatter (recursion depth is the tensor's dim count, not its size).
  std::string format(int64_t dim, int64_t offset, int64_t indent, const Formatter& f) const {
    if (dim == t_.dim()) return f(at(offset));
    if (dim == t_.dim() - 1) return vector(offset, indent, f);
    std::string sep = "," + std::string(static_cast<size_t>(t_.dim() - dim - 1), '\n') +
                      std::string(static_cast<size_t>(indent + 1), ' ');
    std::vector<int64_t> idx = shown(t_.shape()[dim]);
    std::string s = "[";
    for (size_t k = 0; k < idx.size(); ++k) {
      if (k > 0) s += sep;
      s += idx[k] < 0 ? "..." : format(dim + 1, offset + idx[k] * t_.strides()[dim], indent + 1, f);
    }
    return s + "]";
  }

 private:
  // _vector_str: as many elements per line as fit in 80 characters; the gap is " ..." as in PyTorch.
  std::string vector(int64_t offset, int64_t indent, const Formatter& f) const {
    const int64_t dim = t_.dim() - 1;
    const int64_t element_length = static_cast<int64_t>(f.width()) + 2;
    const size_t per_line = static_cast<size_t>(std::max<int64_t>(
        1, static_cast<int64_t>(std::floor(static_cast<double>(kLineWidth - indent) / static_cast<double>(element_length)))));
    std::string s = "[";
    std::vector<int64_t> idx = shown(t_.shape()[dim]);
    for (size_t k = 0; k < idx.size(); ++k) {
      if (k > 0) s += k % per_line == 0 ? ",\n" + std::string(static_cast<size_t>(indent + 1), ' ') : ", ";
      s += idx[k] < 0 ? " ..." : f(at(offset + idx[k] * t_.strides()[dim]));
    }
    return s + "]";
  }

  const char* at(int64_t offset) const {
    return static_cast<const char*>(t_.data_ptr()) + offset * static_cast<int64_t>(t_.element_size());
  }

  const Tensor& t_;
  bool summarize_;
};

// _add_suffixes: ", suffix" while the line stays within 80 characters, else ",\n" + indent + suffix.
std::string add_suffixes(std::string s, const std::vector<std::string>& suffixes, size_t indent) {
  // PyTorch's own arithmetic, off by two on the first line: len(s) - s.rfind('\n') + 1.
  const size_t newline = s.rfind('\n');
  int64_t last_line_len = static_cast<int64_t>(s.size()) -
                          (newline == std::string::npos ? -1 : static_cast<int64_t>(newline)) + 1;
  for (const std::string& suffix : suffixes) {
    const int64_t len = static_cast<int64_t>(suffix.size());
    if (last_line_len + len + 2 > kLineWidth) {
      s += ",\n" + std::string(indent, ' ') + suffix;
      last_line_len = static_cast<int64_t>(indent) + len;
    } else {
      s += ", " + suffix;
      last_line_len += len + 2;
    }
  }
  return s + ")";
}

}  // namespace

std::string Tensor::to_string() const {
  if (!defined()) return "[ undefined tensor ]";
  const std::string prefix = "tensor(";
  std::vector<std::string> suffixes;
  std::string body;
  if (numel() == 0) {
    body = "[]";
    if (dim() != 1) suffixes.push_back(fmt::format("size=({})", fmt::join(shape().begin(), shape().end(), ", ")));
    if (dtype() != kFloat32) suffixes.push_back(fmt::format("dtype={}", dtype_name(dtype())));
  } else {
    // float32 (the default), int64 and bool go without a dtype suffix, as in PyTorch.
    if (dtype() != kFloat32 && dtype() != kInt64 && dtype() != kBool)
      suffixes.push_back(fmt::format("dtype={}", dtype_name(dtype())));
    Printer printer(*this, numel() > kThreshold);
    std::vector<const char*> elements;
    printer.collect(0, 0, elements);
    Formatter f(dtype(), elements);
    body = printer.format(0, 0, static_cast<int64_t>(prefix.size()), f);
  }
  if (grad_fn()) suffixes.push_back(fmt::format("grad_fn=<{}>", grad_fn()->name()));
  else if (requires_grad()) suffixes.push_back("requires_grad=True");
  return add_suffixes(prefix + body, suffixes, prefix.size());
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.to_string(); }

}  // namespace graft
