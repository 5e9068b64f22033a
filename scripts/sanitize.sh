#!/usr/bin/env bash
# The ASan + UBSan build (CMakePresets.json, preset `asan`, into build-asan/) and its tests: the
# .npy, reference-math, sensitivity and CLI suites, the CPU backend, the corpus, the dynamics, the
# fault-injection script, and each libFuzzer target over its committed seeds plus
# LOWRANK_FUZZ_SECONDS (default 60) seconds; then the block pipeline's tests under ThreadSanitizer.
# Every sanitizer report is fatal (the test fails).
# Called by scripts/test.sh after the Release suite; runs alone too (after scripts/setup.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
cmake --preset asan -DLOWRANK_FUZZ_SECONDS="${LOWRANK_FUZZ_SECONDS:-60}" >/dev/null
cmake --build build-asan -j "$(nproc)" 2>&1 | grep -E "error|warning: .*\[-W" || true
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$here/tests/fuzz/lsan.supp"
cd build-asan
ctest --output-on-failure -j "$(nproc)" --timeout 900 -L "reference|cpu|corpus|faults|fuzz|dynamics|proofs"

# ThreadSanitizer on the one threaded piece of host code, the streaming pipeline's reader thread
# (core/block_pipeline.hpp), through its fake-device-queue tests; a data race is fatal.
tsan="$here/build-asan/tsan"
mkdir -p "$tsan"
clang++ -std=c++17 -g -O1 -fsanitize=thread -I "$here/core/include" -isystem /usr/include/eigen3 \
  "$here/tests/reference/block_pipeline_test.cpp" "$here/core/src/random.cpp" "$here/core/src/error.cpp" \
  -lgtest -lgtest_main -lpthread -o "$tsan/block_pipeline_tsan"
TSAN_OPTIONS="halt_on_error=1" "$tsan/block_pipeline_tsan" --gtest_repeat=5 --gtest_brief=1
echo "sanitize: block_pipeline under ThreadSanitizer: no data race in 5 repetitions"
