// libFuzzer target: a corpus case folder's descriptions, case.json and reference.json, as
// `lowrank check --case` and `lowrank corpus` load them (data::load_case). The input is split at
// the first "\n--reference--\n": before it case.json, after it reference.json (absent when the
// separator is). The folder also holds a small valid case's W.npy, X.npy and reference factors
// (the committed well_conditioned_16, copied once), so the fuzzer reaches every field.
// Contract checked: load_case returns or throws lowrank::Error; nothing else.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "lowrank/core/error.hpp"
#include "lowrank/data/corpus.hpp"

#ifndef LOWRANK_FUZZ_SEED_CASE
#error "LOWRANK_FUZZ_SEED_CASE: the committed case folder to copy the arrays from"
#endif

namespace fs = std::filesystem;

namespace {

const std::string& work_dir() {
  static const std::string dir = [] {
    const fs::path d = fs::temp_directory_path() / ("lowrank-case-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(d);
    for (const auto& e : fs::directory_iterator(LOWRANK_FUZZ_SEED_CASE))
      if (e.path().extension() == ".npy") fs::copy_file(e.path(), d / e.path().filename(), fs::copy_options::overwrite_existing);
    return d.string();
  }();
  return dir;
}

void put(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  const std::string sep = "\n--reference--\n";
  const auto cut = in.find(sep);
  const std::string& dir = work_dir();
  put(dir + "/case.json", in.substr(0, cut));
  if (cut == std::string::npos) fs::remove(dir + "/reference.json");
  else put(dir + "/reference.json", in.substr(cut + sep.size()));
  try {
    lowrank::data::load_case(dir);
  } catch (const lowrank::Error&) {
  }
  return 0;
}
