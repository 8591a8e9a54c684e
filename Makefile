# graft's entry points. Each target installs missing Debian packages first (quick when all are present).
#   make demo    build and run the main example
#   make test    build and run the whole test suite: Release (GCC), the ASan+UBSan build (clang) with the
#                examples, MPI and the fuzz targets, the ThreadSanitizer build of the threaded suites, and the
#                installed-package consumer
#   make bench   build and run the benchmarks (JSON lines)
JOBS        ?= 2
BUILD       ?= build
ASAN_BUILD  ?= build-asan
TSAN_BUILD  ?= build-tsan
CMAKE_FLAGS ?=
FUZZ_RUNS   ?= 100000
# The sanitizer builds: clang (libFuzzer comes with it), optimised enough for the suites to run fast, with
# line tables for the reports and nothing more (compile time is what CI pays for).
SANITIZER_CMAKE = -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" -DGRAFT_BUILD_BENCH=OFF

.PHONY: all deps configure build demo test test-release test-asan test-tsan test-consumer bench clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

configure: deps $(BUILD)/CMakeCache.txt

build: configure
	cmake --build $(BUILD) -j$(JOBS)

demo: build
	scripts/run-demo.sh $(BUILD)

test: test-release test-asan test-tsan test-consumer

test-release: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

# Every suite, the examples, MPI and the fuzz targets (GRAFT_FUZZ: the library carries libFuzzer's
# instrumentation, so the fuzzers link against this same build), each fuzzer for FUZZ_RUNS executions.
test-asan: deps
	cmake -S . -B $(ASAN_BUILD) $(SANITIZER_CMAKE) -DGRAFT_SANITIZE=ON -DGRAFT_FUZZ=ON \
	  -DGRAFT_FUZZ_RUNS=$(FUZZ_RUNS) $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j$(JOBS)

# ThreadSanitizer over the threaded code: the library and the two suites that run threads (the in-process
# ZeRO ranks, the DataLoader); nothing else is built.
test-tsan: deps
	cmake -S . -B $(TSAN_BUILD) $(SANITIZER_CMAKE) -DGRAFT_TSAN=ON -DGRAFT_TEST_SUITES="zero;data" \
	  -DGRAFT_BUILD_EXAMPLES=OFF $(CMAKE_FLAGS)
	cmake --build $(TSAN_BUILD) -j$(JOBS) --target zero_tests data_tests
	cd $(TSAN_BUILD) && ctest --output-on-failure -j$(JOBS) -R '^(zero|data)$$'

test-consumer: build
	scripts/test-consumer.sh $(BUILD)

bench: build
	$(BUILD)/bench/graft_bench

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)
