#include "graft/nn/modules/repr_format.h"

#include <cmath>

#include <fmt/format.h>

namespace graft::nn::repr_format {

std::string py_float(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  // fmt's shortest round-trip form is Python's repr, except that Python marks integral floats with ".0".
  std::string s = fmt::format("{}", value);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string py_float(std::optional<double> value) { return value ? py_float(*value) : "None"; }

std::string py_number(double value) {
  if (std::isfinite(value) && value == std::trunc(value) && std::abs(value) < 1e15)
    return fmt::format("{}", static_cast<long long>(value));
  return py_float(value);
}

std::string py_bool(bool value) { return value ? "True" : "False"; }

std::string py_str(const std::string& value) { return "'" + value + "'"; }

std::string py_tuple(IntList values) {
  if (values.size() == 1) return fmt::format("({},)", values[0]);
  return fmt::format("({})", fmt::join(values.begin(), values.end(), ", "));
}

}  // namespace graft::nn::repr_format
