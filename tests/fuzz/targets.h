#pragma once
// The fuzz targets: each takes one input (arbitrary bytes), feeds it to a reader of a file format graft
// reads, and returns 0. Bad input must end in graft::Error (which a target catches); anything else -- a crash,
// a sanitizer report, another exception, or fail() when a loaded input is inconsistent -- is a bug.
// libfuzzer_main.cpp wraps one as a libFuzzer program (make fuzz); corpus_replay_test.cpp runs the committed
// corpora through all of them in the ordinary test suite (make test).
#include <cstddef>
#include <cstdint>

namespace graft::fuzz {

int safetensors_input(const uint8_t* data, size_t size);      // nn::load_safetensors, then save and reload
int optimizer_state_input(const uint8_t* data, size_t size);  // optim::load_checkpoint, optimizers, schedulers
int zero_shards_input(const uint8_t* data, size_t size);      // ZeRO shards: read, describe, consolidate, reshard
int idx_input(const uint8_t* data, size_t size);              // data::read_idx and the MNIST readers

// Reports a bug the sanitizers cannot see (an input that loaded but is inconsistent) and aborts.
[[noreturn]] void fail(const char* what);

}  // namespace graft::fuzz
