#include "lowrank/core/output.hpp"

#include <fcntl.h>
#include <stdio.h>  // renameat2 (glibc >= 2.28)
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "lowrank/core/error.hpp"

namespace fs = std::filesystem;

namespace lowrank {
namespace {

void fsync_path(const fs::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError(p.string(), "cannot open to sync", errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw IoError(p.string(), "fsync failed", err);
}

long env_long(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::strtol(v, nullptr, 10) : 0;
}

}  // namespace

void fault_before_write(const std::string& path) {
  static long writes = 0;
  static const long enospc_at = env_long("LOWRANK_FAULT_ENOSPC_AT_WRITE");
  ++writes;
  if (enospc_at > 0 && writes >= enospc_at) throw IoError(path, "cannot write (injected fault)", ENOSPC);
}

OutputFolder::OutputFolder(const std::string& out, const std::string& option) : out_(out), option_(option) {
  if (out.empty()) throw Error(option + " is empty: name an output folder");
  std::error_code ec;
  fs::path target = fs::absolute(out).lexically_normal();
  if (!target.has_filename()) target = target.parent_path();  // "dir/" -> "dir"
  if (fs::is_symlink(target, ec)) target = fs::canonical(target, ec);  // replace what the link names
  const fs::file_status st = fs::status(target, ec);
  if (fs::exists(st)) {
    if (!fs::is_directory(st)) throw Error(option + " " + out + " exists and is not a directory");
    const bool empty = fs::is_empty(target, ec);
    if (!empty && !fs::exists(target / kOutputMarker, ec))
      throw Error(option + " " + out + " is a folder that lowrank did not write (it has no " + kOutputMarker +
                  " marker) and is not empty: its contents would be replaced, so it is refused; name a new or "
                  "empty folder");
  }
  const fs::path parent = target.parent_path();
  if (!fs::exists(parent, ec) && !fs::create_directories(parent, ec))
    throw IoError(parent.string(), "cannot create the parent folder of " + option + " " + out, ec.value());
  if (!fs::is_directory(parent, ec)) throw IoError(parent.string(), "parent folder of " + option + " " + out, ENOTDIR);
  target_ = target.string();
  // The staging folder: hidden, beside the target (same filesystem, so the exchange is a rename).
  const fs::path staging = parent / ("." + target.filename().string() + ".tmp-" + std::to_string(::getpid()));
  fs::remove_all(staging, ec);
  if (::mkdir(staging.c_str(), 0777) != 0)
    throw IoError(staging.string(), "cannot create the staging folder for " + option + " " + out, errno);
  staging_ = staging.string();
}

OutputFolder::~OutputFolder() {
  if (committed_ || staging_.empty()) return;
  std::error_code ec;
  fs::remove_all(staging_, ec);
}

void OutputFolder::commit() {
  if (committed_) throw Error("OutputFolder::commit called twice for " + out_);
  // The marker says "lowrank wrote this folder": a later run may replace it.
  {
    const std::string marker = file(kOutputMarker);
    const int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) throw IoError(marker, "cannot write", errno);
    ::close(fd);
  }
  if (const long pause = env_long("LOWRANK_FAULT_PAUSE_BEFORE_COMMIT"); pause > 0)
    std::this_thread::sleep_for(std::chrono::seconds(pause));
  fsync_path(staging_);
  check_interrupted();
  std::error_code ec;
  const bool exists = fs::exists(target_, ec);
  if (exists) {
    if (::renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD, target_.c_str(), RENAME_EXCHANGE) != 0)
      throw IoError(target_, "cannot replace " + option_ + " with the new output (renameat2 exchange)", errno);
    committed_ = true;
    fs::remove_all(staging_, ec);  // now holds the previous output
  } else {
    if (::rename(staging_.c_str(), target_.c_str()) != 0)
      throw IoError(target_, "cannot move the new output into place", errno);
    committed_ = true;
  }
  fsync_path(fs::path(target_).parent_path());
}

}  // namespace lowrank
