// lowrank corpus --run "CMD": runs an external implementation over every case of the corpus and
// judges each answer with the test ratios (core/ratios.hpp).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "commands.hpp"
#include "lowrank/backends/judge.hpp"
#include "lowrank/core/error.hpp"
#include "lowrank/core/ratios.hpp"
#include "lowrank/core/results.hpp"
#include "lowrank/data/corpus.hpp"
#include "lowrank/fast/cpu_backend.hpp"

namespace lowrank::cli {
namespace {
namespace fs = std::filesystem;

struct CorpusArgs {
  std::string corpus, run, filter, work, report;
  double timeout = 600;
  int jobs = 1;
  int ratio_version = kRatioVersion;
  int achievable_samples = 5;
  bool list = false;
};

struct Row {
  std::string name, tags, verdict, reason;  // verdict: PASS, FAIL, SUSPECT, REFUSED, ERROR
  bool valid = true;
  double seconds = 0;
  nlohmann::json check;
  double obj_ratio = NAN, fwd_ratio = NAN, ach_ratio = NAN;
  bool fwd_judged = false;
};

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string substitute(std::string cmd, const std::map<std::string, std::string>& vars) {
  for (const auto& [key, value] : vars) {
    const std::string ph = "{" + key + "}";
    for (std::size_t pos = cmd.find(ph); pos != std::string::npos; pos = cmd.find(ph, pos + value.size())) cmd.replace(pos, ph.size(), value);
  }
  return cmd;
}

// Runs `cmd` with /bin/sh in its own process group, output to `log`; kills the group after
// `timeout` seconds. Returns the exit status (>= 0), or -1 on timeout, -2 if killed by a signal.
int run_command(const std::string& cmd, const std::string& log, double timeout, std::string& why) {
  const pid_t pid = fork();
  if (pid < 0) throw Error("fork failed");
  if (pid == 0) {
    setpgid(0, 0);
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(pid, pid);
  const auto t0 = std::chrono::steady_clock::now();
  int status = 0;
  while (true) {
    const pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > timeout) {
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      why = "timed out after " + std::to_string(int(timeout)) + " s";
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  why = "killed by signal " + std::to_string(WTERMSIG(status));
  return -2;
}

std::string last_line(const std::string& path) {
  std::ifstream f(path);
  std::string line, last;
  while (std::getline(f, line))
    if (!line.empty()) last = line;
  if (last.size() > 160) last = last.substr(0, 157) + "...";
  return last;
}

Row run_case(const nlohmann::json& entry, const std::string& corpus, const std::string& work, const CorpusArgs& a) {
  Row row;
  row.name = entry.at("name").get<std::string>();
  for (const auto& t : entry.at("tags")) row.tags += (row.tags.empty() ? "" : ",") + t.get<std::string>();
  row.valid = entry.at("valid").get<bool>();
  const std::string dir = corpus + "/" + entry.value("path", row.name);
  const std::string out = work + "/" + row.name;
  fs::remove_all(out);
  fs::create_directories(out);
  char mu[64];
  std::snprintf(mu, sizeof mu, "%.17g", entry.at("mu").get<double>());
  const std::string cmd = substitute(a.run, {{"W", shell_quote(dir + "/W.npy")},
                                             {"X", shell_quote(dir + "/X.npy")},
                                             {"rank", std::to_string(entry.at("rank").get<long>())},
                                             {"mu", mu},
                                             {"out", shell_quote(out)},
                                             {"name", row.name}});
  std::string why;
  const auto t0 = std::chrono::steady_clock::now();
  // The command's output goes beside {out}, not into it: {out} belongs to the implementation
  // (lowrank solve, for one, refuses to replace a folder holding files it did not write).
  const std::string log = work + "/" + row.name + ".log";
  const int rc = run_command(cmd, log, a.timeout, why);
  row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const bool wrote = fs::exists(out + "/A.npy") && fs::exists(out + "/B.npy");
  if (!row.valid) {
    if (rc != 0 || !wrote) {
      row.verdict = "REFUSED";
      row.reason = rc == 0 ? "exit 0 but no A.npy/B.npy" : (rc > 0 ? "exit " + std::to_string(rc) : why);
      const std::string l = last_line(log);
      if (!l.empty()) row.reason += ": " + l;
    } else {
      row.verdict = "FAIL";
      row.reason = "accepted an invalid input and wrote A.npy, B.npy (" + entry.value("hard", std::string()) + ")";
    }
    return row;
  }
  if (rc != 0 || !wrote) {
    row.verdict = "ERROR";
    row.reason = rc == 0 ? "exit 0 but A.npy/B.npy missing" : (rc > 0 ? "exit " + std::to_string(rc) : why);
    const std::string l = last_line(log);
    if (!l.empty()) row.reason += ": " + l;
    return row;
  }
  try {
    data::StoredCase sc = data::load_case(dir);
    const MatrixXd W = read_matrix(sc.w_path, "weights W");
    NpyRowStream X(sc.x_path, "activations X");
    const CandidateFactors cand = load_candidate(out + "/A.npy", out + "/B.npy");
    backends::JudgeOptions jopt;
    jopt.ratio_version = a.ratio_version;
    jopt.achievable_samples = a.achievable_samples;
    const CandidateCheck res = backends::judge(W, X, sc.ref, cand, jopt);
    row.check = to_json(res);
    row.verdict = verdict_name(res.verdict);
    if (res.verdict != Verdict::pass) row.reason = res.reasons.empty() ? "" : res.reasons.front();
    if (res.achievable_computed) row.ach_ratio = res.achievable_ratio;
    if (res.objective_computed) {
      row.obj_ratio = res.objective_ratio;
      row.fwd_ratio = res.forward_ratio;
      row.fwd_judged = res.forward_judged;
    }
  } catch (const Error& e) {
    row.verdict = "ERROR";
    row.reason = std::string("checker: ") + e.what();
  }
  return row;
}

void run_corpus(const CorpusArgs& a) {
  const std::string corpus = a.corpus.empty() ? data::default_corpus_dir() : a.corpus;
  const std::string mpath = corpus + "/manifest.json";
  std::ifstream mf(mpath);
  if (!mf) throw Error(mpath + ": cannot open (is --corpus a folder written by `lowrank gen`?)");
  nlohmann::json manifest;
  try {
    manifest = nlohmann::json::parse(mf);
  } catch (const nlohmann::json::exception& e) {
    throw Error(mpath + ": " + e.what());
  }
  std::vector<nlohmann::json> cases;
  for (const auto& c : manifest.at("cases")) {
    bool keep = a.filter.empty() || c.at("name").get<std::string>() == a.filter;
    for (const auto& t : c.at("tags")) keep = keep || t.get<std::string>() == a.filter;
    if (keep) cases.push_back(c);
  }
  if (a.list) {
    for (const auto& c : cases)
      std::printf("%-34s %s\n", c.at("name").get<std::string>().c_str(), c.at("hard").get<std::string>().c_str());
    return;
  }
  if (a.run.empty()) throw Error("--run \"COMMAND\" is required (placeholders {W} {X} {rank} {mu} {out})");
  if (cases.empty()) throw Error("no case matches --filter " + a.filter);
  if (a.jobs < 1) throw Error("--jobs must be >= 1");
  if (a.ratio_version != 1 && a.ratio_version != 2)
    throw Error("--ratio-version must be 1 or 2, got " + std::to_string(a.ratio_version));
  if (a.achievable_samples < 0) throw Error("--achievable-samples must be >= 0");
  if (!(a.timeout > 0)) throw Error("--timeout must be > 0");
  std::string work = a.work;
  if (work.empty()) {
    char tmpl[] = "/tmp/lowrank-corpus-XXXXXX";
    if (!mkdtemp(tmpl)) throw Error("cannot create a temporary work folder");
    work = tmpl;
  }
  fs::create_directories(work);
  // The achievable-accuracy solves run on the worker threads. Debian's OpenBLAS (pthreads build)
  // was seen spinning forever in exec_blas_async_wait when its thread pool is driven from more than
  // one application thread, even one at a time; with one OpenBLAS thread the pool is never used.
  // The solves are small (the corpus cases), so nothing is lost.
  set_cpu_threads(1);
  std::printf("lowrank corpus: %zu case(s) from %s, work folder %s\n", cases.size(), corpus.c_str(), work.c_str());
  // MAGMA-style rows (core/results.hpp): shape = the case's tags; ratios obj (objective), fwd
  // (forward error; "fwd~" when the case is not unique and it is shown, not judged),
  // ach (against the achievable accuracy); note = the reason.
  std::printf("%s\n", result_header().c_str());
  std::fflush(stdout);

  std::vector<Row> rows(cases.size());
  std::atomic<std::size_t> next{0};
  std::mutex print;
  auto worker = [&]() {
    for (std::size_t i = next++; i < cases.size(); i = next++) {
      Row r;
      try {
        r = run_case(cases[i], corpus, work, a);
      } catch (const std::exception& e) {
        r.name = cases[i].value("name", "?");
        r.verdict = "ERROR";
        r.reason = e.what();
      }
      std::lock_guard<std::mutex> lock(print);
      ResultRow row{"case", r.name, r.tags, r.seconds};
      row.ratios = {{"obj", r.obj_ratio}, {r.fwd_judged ? "fwd" : "fwd~", r.fwd_ratio}, {"ach", r.ach_ratio}};
      row.verdict = r.verdict;
      row.note = r.reason;
      std::printf("%s\n", format_row(row).c_str());
      std::fflush(stdout);
      rows[i] = std::move(r);
    }
  };
  std::vector<std::thread> pool;
  for (int j = 0; j < std::min<int>(a.jobs, int(cases.size())); ++j) pool.emplace_back(worker);
  for (auto& t : pool) t.join();

  Summary sum;
  nlohmann::json report;
  report["corpus"] = corpus;
  report["command"] = a.run;
  report["ratio_version"] = a.ratio_version;
  report["suspect_factor"] = kSuspectFactor;
  report["threshold"] = kRatioThreshold;
  report["cases"] = nlohmann::json::array();
  for (const auto& r : rows) {
    sum.add(r.verdict);
    nlohmann::json j = {{"name", r.name}, {"tags", r.tags}, {"valid", r.valid}, {"verdict", r.verdict},
                        {"reason", r.reason}, {"seconds", r.seconds}};
    if (!r.check.is_null()) j["check"] = r.check;
    report["cases"].push_back(j);
  }
  report["summary"] = {{"passed", sum.passed}, {"failed", sum.failed}, {"suspect", sum.suspect},
                       {"refused", sum.refused}, {"errors", sum.errors}, {"total", sum.run()}};
  const std::string rpath = a.report.empty() ? work + "/report.json" : a.report;
  write_file_atomic(rpath, report.dump(1) + "\n");
  std::printf("%s%s; report %s\n", sum.line("summary").c_str(),
              sum.refused ? "; refused = invalid inputs, refused as they must be" : "", rpath.c_str());
  std::fflush(stdout);
  // A verdict, not an error: no message from main(). FAIL/ERROR: 1; SUSPECT only: 5.
  if (sum.failed + sum.errors > 0) throw VerdictExit{1};
  if (sum.suspect > 0) throw VerdictExit{verdict_exit_code(Verdict::suspect)};
}

void add_corpus(CLI::App& app) {
  auto a = std::make_shared<CorpusArgs>();
  CLI::App* sub = app.add_subcommand(
      "corpus", "Run an external implementation over every case of the corpus and judge it (exit 1 if any case\n"
                "failed or errored, 5 if none did but some were SUSPECT). CMD placeholders: {W} {X} {rank} {mu} {out};\n"
                "CMD writes {out}/A.npy, {out}/B.npy");
  sub->add_option("--run", a->run, "command template, run with /bin/sh -c");
  sub->add_option("--corpus", a->corpus, "corpus folder with manifest.json (default: data/corpus; env LOWRANK_CORPUS)");
  sub->add_option("--filter", a->filter, "only cases with this tag (or this name)");
  sub->add_option("--timeout", a->timeout, "seconds per case before the command is killed")->capture_default_str();
  sub->add_option("--jobs,-j", a->jobs, "cases run at the same time")->capture_default_str();
  sub->add_option("--work", a->work, "folder for the per-case outputs (default: a new /tmp/lowrank-corpus-XXXXXX)");
  sub->add_option("--report", a->report, "JSON report path (default: WORK/report.json)");
  sub->add_flag("--list", a->list, "list the (filtered) cases and exit");
  sub->add_option("--ratio-version", a->ratio_version, "2 (structured denominators, SUSPECT) or 1 (before 2026-12)")
      ->capture_default_str();
  sub->add_option("--achievable-samples", a->achievable_samples, "stable solves behind the achievable-accuracy ratio; 0: off")
      ->capture_default_str();
  sub->callback([a]() { run_corpus(*a); });
}
const RegisterCommand registered(30, add_corpus);

}  // namespace
}  // namespace lowrank::cli
