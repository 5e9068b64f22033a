// lowrank gen: (re)generates the case corpus from its seeds (data/corpus.hpp).
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "lowrank/core/error.hpp"
#include "lowrank/core/npy.hpp"
#include "lowrank/data/corpus.hpp"

namespace lowrank::cli {
namespace {

struct GenArgs {
  std::string out, only;
  bool large = false, list = false, quiet = false;
  int bits = 256;
};

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) v.push_back(item);
  return v;
}

void run_gen(const GenArgs& a) {
  using namespace lowrank::data;
  if (a.list) {
    for (const auto& c : corpus_cases()) {
      std::string tags;
      for (const auto& t : c.tags) tags += (tags.empty() ? "" : ",") + t;
      std::printf("%-34s %-6s W %4ld x %-4ld X %5ld x %-4ld r %-3ld mu %-8.1e %-8s %s\n", c.name.c_str(),
                  c.large ? "large" : (c.valid() ? "small" : "inval"), long(c.w.rows), long(c.w.cols), long(c.x.rows),
                  long(c.x.cols), long(c.rank), c.mu, dtype_name(c.dtype()), tags.c_str());
    }
    return;
  }
  const std::string out = a.out.empty() ? (a.large ? std::string("corpus-large") : default_corpus_dir()) : a.out;
  const auto only = split_commas(a.only);
  for (const auto& name : only) find_case(name);  // unknown names are an error before any work
  std::filesystem::create_directories(out);
  nlohmann::json manifest;
  manifest["version"] = 1;
  manifest["ratio_version"] = kRatioVersion;
  manifest["generated_by"] = std::string("lowrank gen") + (a.large ? " --large" : "");
  manifest["bits"] = a.bits;
  manifest["orientation"] = "W.npy m x n (out x in); X.npy N x n, one row per token";
  manifest["cases"] = nlohmann::json::array();
  manifest["not_here"] = nlohmann::json::array();
  int made = 0;
  for (const auto& c : corpus_cases()) {
    nlohmann::json entry = case_json(c);
    entry["path"] = c.name;
    if (c.large != a.large) {
      // Listed with its seed so that every case of the corpus is named in every manifest.
      manifest["not_here"].push_back({{"name", c.name}, {"large", c.large}, {"seed", c.seed},
                                      {"regenerate", c.large ? "lowrank gen --large" : "lowrank gen"}});
      continue;
    }
    if (only.empty() || std::find(only.begin(), only.end(), c.name) != only.end()) {
      if (!a.quiet) std::cerr << "gen: " << c.name << " ..." << std::flush;
      write_case(c, out + "/" + c.name, a.bits);
      ++made;
      if (!a.quiet) std::cerr << " done\n";
    }
    // The manifest lists the cases present in `out` (generated now or earlier); the others by seed.
    if (std::filesystem::exists(out + "/" + c.name + "/case.json"))
      manifest["cases"].push_back(entry);
    else
      manifest["not_here"].push_back({{"name", c.name}, {"large", c.large}, {"seed", c.seed},
                                      {"regenerate", std::string(c.large ? "lowrank gen --large" : "lowrank gen") + " --only " + c.name}});
  }
  write_file_atomic(out + "/manifest.json", manifest.dump(1) + "\n");
  if (!a.quiet) std::cerr << "gen: wrote " << made << " case(s) and manifest.json under " << out << "\n";
}

void add_gen(CLI::App& app) {
  auto a = std::make_shared<GenArgs>();
  CLI::App* sub = app.add_subcommand(
      "gen", "Regenerate the case corpus from its seeds (inputs, reference results at --bits, manifest.json)");
  sub->add_option("--out,-o", a->out, "output folder (default: the committed corpus, data/corpus; corpus-large with --large)");
  sub->add_flag("--large", a->large, "generate the large cases (not committed) instead of the small ones");
  sub->add_option("--only", a->only, "comma-separated case names to (re)generate; the manifest lists all");
  sub->add_option("--bits", a->bits, "reference precision in bits")->capture_default_str();
  sub->add_flag("--list", a->list, "list every case and exit");
  sub->add_flag("--quiet,-q", a->quiet, "no progress output");
  sub->callback([a]() { run_gen(*a); });
}
const RegisterCommand registered(40, add_gen);

}  // namespace
}  // namespace lowrank::cli
