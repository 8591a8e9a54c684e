# graft's entry points. Each target installs missing Debian packages first (quick when all are present).
#   make demo    build and run the main example
#   make test    build and run the whole test suite: Release, Doxygen (no warnings), ASan+UBSan with the fuzz targets, TSan, the installed-package consumer, MPI
#   make fuzz    build the sanitizer tree's libFuzzer targets and run only them, each for FUZZ_RUNS executions
#   make bench   build and run the benchmarks (JSON lines)
#   make bench-zero  ZeRO's overlap_comm over MPI ranks: how much of the gradient reduction it hides (JSON lines)
#   make bench-zero-model  the ZeRO step-time model calibrated here against real steps: W = 2, 3, 4, both MPI transports
JOBS        ?= 2
BUILD       ?= build
ASAN_BUILD  ?= build-asan
TSAN_BUILD  ?= build-tsan
FUZZ_RUNS   ?= 100000
CMAKE_FLAGS ?=
# The sanitizer build is the slowest step of make test: -O1 and line tables only (-g1, enough for the
# sanitizers' stack traces) compile a third faster than RelWithDebInfo's -O2 -g.
ASAN_OPT_FLAGS ?= -O1 -g1 -DNDEBUG
# What both clang sanitizer trees (ASan+UBSan, TSan) are configured with; the library compiles in unity batches.
CLANG_SANITIZER_CMAKE = -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$(ASAN_OPT_FLAGS)" -DGRAFT_UNITY_LIBRARY=ON -DGRAFT_BUILD_BENCH=OFF

.PHONY: all deps configure build demo test test-release asan-configure test-asan test-tsan test-consumer test-docs docs fuzz bench bench-zero bench-zero-model clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

configure: deps $(BUILD)/CMakeCache.txt

build: configure
	cmake --build $(BUILD) -j$(JOBS)

# The demo builds only what it runs: the library and two examples.
demo: configure
	cmake --build $(BUILD) -j$(JOBS) --target quickstart mlp_fashion_mnist
	scripts/run-demo.sh $(BUILD)

test: test-release test-docs test-asan test-tsan test-consumer

test-release: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

# The sanitizer tree is built by clang, which has libFuzzer: the library carries the fuzzer's coverage
# instrumentation, so one build serves the whole suite under ASan+UBSan (clang's UBSan also checks float -> int
# conversions) and the four fuzz programs, which ctest runs for FUZZ_RUNS executions each from their committed
# corpora (tests/fuzz/<target>/{seeds,regressions}). The MPI tests and the examples (each in its --quick
# mode, zero_checkpoint's tool included) run under the sanitizers too. Its OpenMP is LLVM's libomp
# (cmake/GraftDependencies.cmake).
asan-configure: deps
	@scripts/install-deps.sh clang libomp-dev
	cmake -S . -B $(ASAN_BUILD) $(CLANG_SANITIZER_CMAKE) -DGRAFT_SANITIZE=ON -DGRAFT_FUZZ=ON \
	  -DGRAFT_FUZZ_RUNS=$(FUZZ_RUNS) -DGRAFT_BUILD_EXAMPLES=ON $(CMAKE_FLAGS)

test-asan: asan-configure
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j$(JOBS)

# ThreadSanitizer over the suites whose code runs on threads of its own: ZeRO's in-process ranks (zero),
# the DataLoader's workers (data) and partitioned checkpoints' ranks (utils). Only the library and those
# three programs are built.
TSAN_SUITES ?= zero data utils
test-tsan: deps
	@scripts/install-deps.sh clang libomp-dev
	cmake -S . -B $(TSAN_BUILD) $(CLANG_SANITIZER_CMAKE) -DGRAFT_TSAN=ON -DGRAFT_BUILD_EXAMPLES=OFF $(CMAKE_FLAGS)
	cmake --build $(TSAN_BUILD) -j$(JOBS) --target $(addsuffix _tests,$(TSAN_SUITES))
	cd $(TSAN_BUILD) && ctest --output-on-failure -j$(JOBS) -R '^($(subst $() ,|,$(strip $(TSAN_SUITES))))$$'

# Only the fuzz programs of the sanitizer tree, each for FUZZ_RUNS executions (FUZZ_RUNS=1000000 make fuzz).
fuzz: asan-configure
	cmake --build $(ASAN_BUILD) -j$(JOBS) --target fuzz_targets
	cd $(ASAN_BUILD) && ctest --output-on-failure -L fuzz

test-consumer: build
	scripts/test-consumer.sh $(BUILD)

# The API reference (Doxygen) of the public headers, in $(BUILD)/docs/html; test-docs fails on any warning.
docs: deps
	mkdir -p $(BUILD)/docs
	GRAFT_DOCS_OUT=$(BUILD)/docs GRAFT_DOCS_WARN_AS_ERROR=NO doxygen docs/Doxyfile
	@echo "API reference: $(BUILD)/docs/html/index.html"

test-docs: deps
	mkdir -p $(BUILD)/docs
	GRAFT_DOCS_OUT=$(BUILD)/docs GRAFT_DOCS_WARN_AS_ERROR=FAIL_ON_WARNINGS doxygen docs/Doxyfile

bench: build
	$(BUILD)/bench/graft_bench

# As root mpirun needs --allow-run-as-root; --oversubscribe runs more ranks than cores.
bench-zero: build
	for np in 2 4; do mpirun --allow-run-as-root --oversubscribe -np $$np $(BUILD)/bench/zero_overlap || exit 1; done

# Shared memory (vader) and TCP loopback, each W and model: one calibration line and four stage lines per run.
bench-zero-model: build
	for transport in vader:shm tcp:tcp; do for np in 2 3 4; do for model in mlp gpt; do \
	  mpirun --allow-run-as-root --oversubscribe --mca btl $${transport%%:*},self -np $$np \
	    $(BUILD)/bench/zero_step_time --model $$model --transport $${transport##*:} || exit 1; \
	done; done; done

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)
