#pragma once
// An output folder written as one transaction. Every command that writes a folder (solve,
// dynamics train, prove) stages its files in a hidden folder beside --out, created before any
// work (so an unwritable location is found at once), and publishes them with commit(): each file
// is fsync'ed, then the staging folder replaces --out in one atomic renameat2(RENAME_EXCHANGE)
// (or one rename when --out does not exist), and the previous set is removed. A run that fails or
// is interrupted before commit() leaves the previous output whole and no staging folder behind;
// a reader never sees files of two runs side by side.
//
// An existing, non-empty --out is replaced only when lowrank wrote it (it holds the marker file
// .lowrank-output); any other folder is refused rather than swept away.
#include <string>

namespace lowrank {

class OutputFolder {
 public:
  // `out`: the folder the user named; `option` names it in messages ("--out").
  // Throws Error (refused: --out is a file, or a folder lowrank did not write) or IoError (the
  // parent cannot be written: path and errno text).
  explicit OutputFolder(const std::string& out, const std::string& option = "--out");
  ~OutputFolder();  // removes the staging folder unless committed
  OutputFolder(const OutputFolder&) = delete;
  OutputFolder& operator=(const OutputFolder&) = delete;

  const std::string& out() const { return out_; }          // as the user named it
  const std::string& staging() const { return staging_; }  // where files go until commit()
  std::string file(const std::string& name) const { return staging_ + "/" + name; }

  // Publishes the staged files as --out (see above). Throws IoError on failure, Interrupted when
  // a signal arrived before the exchange; either way the previous output stays whole.
  void commit();

 private:
  std::string out_, option_, target_, staging_;
  bool committed_ = false;
};

inline constexpr const char* kOutputMarker = ".lowrank-output";

// Fault injection for the tests (tests/reference/fault_test.sh), read from the environment:
//   LOWRANK_FAULT_ENOSPC_AT_WRITE=k      the k-th file write of the process fails with ENOSPC
//   LOWRANK_FAULT_PAUSE_BEFORE_COMMIT=s  commit() sleeps s seconds after staging, before publishing
// Called by write_file_atomic before each file; a no-op unless the variable is set.
void fault_before_write(const std::string& path);

}  // namespace lowrank
