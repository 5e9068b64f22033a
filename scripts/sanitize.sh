#!/usr/bin/env bash
# The ASan + UBSan build (CMakePresets.json, preset `asan`, into build-asan/) and its tests: the
# .npy, reference-math, sensitivity and CLI suites, the CPU backend, the corpus, the dynamics, the
# fault-injection script, and each libFuzzer target over its committed seeds plus
# LOWRANK_FUZZ_SECONDS (default 60) seconds. Every sanitizer report is fatal (the test fails).
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
