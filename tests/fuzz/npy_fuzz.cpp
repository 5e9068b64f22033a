// libFuzzer target: the .npy reader. The input is a whole file: its header is parsed from memory
// (parse_npy_header), then, when the header is accepted, the same bytes are read back through
// the real file path (read_npy, NpyRowStream with its NaN scan and block reads) from a memfd.
// Contract checked: every input either loads or throws lowrank::Error (any other exception, a
// crash, a sanitizer report, or an allocation beyond the file's size is a finding).
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "lowrank/core/error.hpp"
#include "lowrank/core/npy.hpp"
#include "lowrank/core/row_source.hpp"

namespace {

std::string memfd_with(const std::uint8_t* data, std::size_t size, int& fd) {
  fd = memfd_create("fuzz.npy", MFD_CLOEXEC);
  if (fd < 0) std::abort();
  for (std::size_t done = 0; done < size;) {
    const ssize_t k = write(fd, data + done, size - done);
    if (k <= 0) std::abort();
    done += std::size_t(k);
  }
  return "/proc/self/fd/" + std::to_string(fd);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lowrank::NpyHeader h;
  try {
    h = lowrank::parse_npy_header(reinterpret_cast<const char*>(data), size, std::int64_t(size), "fuzz.npy");
  } catch (const lowrank::Error&) {
    return 0;
  }
  // An accepted header declares exactly the bytes the input holds.
  if (h.data_offset + h.count() * std::int64_t(h.item_size()) != std::int64_t(size)) std::abort();
  int fd = -1;
  const std::string path = memfd_with(data, size, fd);
  try {
    const lowrank::NpyMatrix m = lowrank::read_npy(path, "fuzz");
    if (m.values.size() != h.count()) std::abort();
  } catch (const lowrank::Error&) {
  }
  if (h.shape.size() == 2) {
    try {
      lowrank::NpyRowStream s(path, "fuzz");
      s.require_all_finite();
      lowrank::MatrixXd block;
      lowrank::Index rows = 0;
      while (s.next(3, block)) rows += block.rows();
      if (rows != s.rows()) std::abort();
    } catch (const lowrank::Error&) {
    }
  }
  close(fd);
  return 0;
}
