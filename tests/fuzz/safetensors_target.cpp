// Fuzz target safetensors (targets.h): load_safetensors on arbitrary bytes. A file either loads -- and then every element is
// readable and saving and loading it again gives the same bytes -- or raises graft::Error; anything else
// (a crash, a sanitizer report, another exception) is a bug.
#include "graft/graft.h"
#include "fuzz_input.h"
#include "targets.h"


namespace graft::fuzz {

int safetensors_input(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_input(data, size, "input.safetensors");
  try {
    std::map<std::string, std::string> metadata;
    const nn::StateDict dict = nn::load_safetensors(path, &metadata);
    for (const auto& [name, t] : dict) (void)t.to_vector<double>();
    const std::string again = (fuzz::scratch() / "again.safetensors").string();
    nn::save_safetensors(dict, again, metadata);
    const nn::StateDict reread = nn::load_safetensors(again);
    if (reread.size() != dict.size()) fail("safetensors: a loaded input did not survive the round trip");
    for (size_t i = 0; i < dict.size(); ++i) {
      const Tensor &a = dict[i].second, &b = reread[i].second;
      if (dict[i].first != reread[i].first || a.shape() != b.shape() || a.dtype() != b.dtype() ||
          (a.numel() > 0 &&  // an empty tensor has no data pointer
           std::memcmp(a.data_ptr(), b.data_ptr(), static_cast<size_t>(a.numel()) * a.element_size()) != 0))
        fail("safetensors: a loaded input did not survive the round trip");
    }
  } catch (const Error&) {
  }
  return 0;
}

}  // namespace graft::fuzz
