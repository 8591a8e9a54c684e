#include "graft/graph/type_name.h"

#include <cxxabi.h>

#include <cstdlib>

namespace graft {

std::string short_type_name(const std::type_info& type) {
  int status = 0;
  char* demangled = abi::__cxa_demangle(type.name(), nullptr, nullptr, &status);
  std::string name = status == 0 && demangled ? demangled : type.name();
  std::free(demangled);
  // Drop the namespaces, but not a template's arguments: "graft::nn::Child<graft::nn::Linear>" stays whole
  // after the last "::" that precedes any '<'.
  const size_t open = name.find('<');
  const size_t colon = name.rfind("::", open == std::string::npos ? std::string::npos : open);
  return colon == std::string::npos ? name : name.substr(colon + 2);
}

}  // namespace graft
