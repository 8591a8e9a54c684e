// Printing, following PyTorch's torch/_tensor_str.py: fixed 4-digit or scientific notation chosen from the
// range of the values, integers printed as "1.", columns padded to one width, rows wrapped at 80
// characters, tensors of more than 1000 elements summarised with "...".
#include <cmath>
#include <ostream>

#include "graft/graph/node.h"
#include "graft/graph/tensor.h"

namespace graft {

namespace {

constexpr int kLineWidth = 80;
constexpr int64_t kThreshold = 1000;
constexpr int64_t kEdgeItems = 3;

struct Formatter {
  DType dtype;
  bool int_mode = true;
  bool sci_mode = false;
  size_t width = 1;

  explicit Formatter(const Tensor& t, const std::vector<double>& values) : dtype(t.dtype()) {
    if (is_floating(dtype)) {
      double lo = INFINITY, hi = 0;
      bool any = false;
      for (double v : values) {
        if (!std::isfinite(v)) continue;
        if (v != std::ceil(v)) int_mode = false;
        if (v == 0) continue;
        any = true;
        lo = std::min(lo, std::abs(v));
        hi = std::max(hi, std::abs(v));
      }
      if (any) {
        if (int_mode) sci_mode = hi > 1e8;
        else sci_mode = hi / lo > 1000.0 || hi > 1e8 || lo < 1e-4;
      }
    }
    for (double v : values) width = std::max(width, raw(v).size());
  }

  std::string raw(double v) const {
    switch (dtype) {
      case DType::Bool: return v != 0 ? "True" : "False";
      case DType::Int64: return fmt::format("{}", static_cast<int64_t>(v));
      default: break;
    }
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    if (sci_mode) return fmt::format("{:.4e}", v);
    if (int_mode) return fmt::format("{:.0f}.", v);
    return fmt::format("{:.4f}", v);
  }
  std::string operator()(double v) const {
    std::string s = raw(v);
    return std::string(width - std::min(width, s.size()), ' ') + s;
  }
};

// Values in logical order; for summarised tensors only the edge items are read.
class Printer {
 public:
  Printer(const Tensor& t, bool summarize) : t_(t), summarize_(summarize) {}

  // Indexes of dim d that are shown (-1 marks the "..." gap).
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

  void collect(int64_t dim, int64_t offset, std::vector<double>& out) const {
    if (dim == t_.dim()) {
      out.push_back(read(offset));
      return;
    }
    for (int64_t i : shown(t_.shape()[dim]))
      if (i >= 0) collect(dim + 1, offset + i * t_.strides()[dim], out);
  }

  double read(int64_t offset) const {
    const char* p = static_cast<const char*>(t_.data_ptr()) + offset * static_cast<int64_t>(t_.element_size());
    return detail::read_as_double(p, t_.dtype());
  }

  std::string format(int64_t dim, int64_t offset, size_t indent, const Formatter& f) const {
    if (dim == t_.dim()) return f(read(offset));
    const int64_t size = t_.shape()[dim];
    std::vector<int64_t> idx = shown(size);
    if (dim == t_.dim() - 1) {
      // The innermost dim: as many elements per line as fit.
      size_t per_line = std::max<size_t>(1, (kLineWidth - indent) / (f.width + 2));
      std::string s = "[";
      size_t on_line = 0;
      for (size_t k = 0; k < idx.size(); ++k) {
        if (k > 0) {
          s += ",";
          if (++on_line >= per_line) {
            s += "\n" + std::string(indent + 1, ' ');
            on_line = 0;
          } else {
            s += " ";
          }
        }
        s += idx[k] < 0 ? "..." : f(read(offset + idx[k] * t_.strides()[dim]));
      }
      return s + "]";
    }
    std::string sep = "," + std::string(static_cast<size_t>(t_.dim() - dim - 1), '\n') + std::string(indent + 1, ' ');
    std::string s = "[";
    for (size_t k = 0; k < idx.size(); ++k) {
      if (k > 0) s += sep;
      s += idx[k] < 0 ? "..." : format(dim + 1, offset + idx[k] * t_.strides()[dim], indent + 1, f);
    }
    return s + "]";
  }

 private:
  const Tensor& t_;
  bool summarize_;
};

}  // namespace

std::string Tensor::to_string() const {
  if (!defined()) return "[ undefined tensor ]";
  const std::string prefix = "tensor(";
  std::vector<std::string> suffixes;
  std::string body;
  if (numel() == 0) {
    body = "[]";
    if (dim() != 1) {
      std::string sz = "size=(";
      for (int64_t d = 0; d < dim(); ++d) sz += fmt::format("{}{}", d ? ", " : "", shape()[d]);
      suffixes.push_back(sz + (dim() == 1 ? ",)" : ")"));
    }
    if (dtype() != kFloat32) suffixes.push_back(fmt::format("dtype={}", dtype_name(dtype())));
  } else {
    Printer printer(*this, numel() > kThreshold);
    std::vector<double> values;
    printer.collect(0, 0, values);
    Formatter f(*this, values);
    body = printer.format(0, 0, prefix.size(), f);
    if (dtype() == kFloat64) suffixes.push_back("dtype=float64");
  }
  if (grad_fn()) suffixes.push_back(fmt::format("grad_fn=<{}>", grad_fn()->name()));
  else if (requires_grad()) suffixes.push_back("requires_grad=True");
  std::string s = prefix + body;
  for (const std::string& suffix : suffixes) s += ", " + suffix;
  return s + ")";
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.to_string(); }

}  // namespace graft
