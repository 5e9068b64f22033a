#include "lowrank/core/npy.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "lowrank/core/error.hpp"
#include "lowrank/core/output.hpp"
#include "lowrank/core/row_source.hpp"

namespace lowrank {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error(path + ": " + what);
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\n");
  return s.substr(b, e - b + 1);
}

// Finds the value text of `'key':` in a header dict, up to the next top-level comma.
std::string dict_value(const std::string& path, const std::string& dict, const std::string& key) {
  const std::string quoted1 = "'" + key + "'", quoted2 = "\"" + key + "\"";
  auto pos = dict.find(quoted1);
  if (pos == std::string::npos) pos = dict.find(quoted2);
  if (pos == std::string::npos) fail(path, "bad .npy header: no '" + key + "' key in " + dict);
  pos = dict.find(':', pos + quoted1.size());
  if (pos == std::string::npos) fail(path, "bad .npy header: no value for '" + key + "'");
  ++pos;
  int depth = 0;
  std::size_t end = pos;
  for (; end < dict.size(); ++end) {
    const char c = dict[end];
    if (c == '(' || c == '[') ++depth;
    if (c == ')' || c == ']') --depth;
    if ((c == ',' && depth == 0) || (c == '}' && depth == 0)) break;
  }
  return trim(dict.substr(pos, end - pos));
}

double decode(const char* p, Dtype dtype) {
  if (dtype == Dtype::float32) {
    float v;
    std::memcpy(&v, p, 4);
    return v;
  }
  double v;
  std::memcpy(&v, p, 8);
  return v;
}

std::string header_text(Dtype dtype, const std::vector<std::int64_t>& shape) {
  std::ostringstream h;
  h << "{'descr': '" << (dtype == Dtype::float32 ? "<f4" : "<f8")
    << "', 'fortran_order': False, 'shape': (";
  for (std::size_t i = 0; i < shape.size(); ++i) h << shape[i] << (shape.size() == 1 ? "," : (i + 1 < shape.size() ? ", " : ""));
  h << "), }";
  std::string s = h.str();
  // Pad with spaces so that magic + version + length + header is a multiple of 64 bytes.
  const std::size_t total = 10 + s.size() + 1;
  s.append((64 - total % 64) % 64, ' ');
  s.push_back('\n');
  return s;
}

}  // namespace

static_assert(std::numeric_limits<double>::is_iec559 && sizeof(double) == 8, "IEEE double");
static_assert(std::numeric_limits<float>::is_iec559 && sizeof(float) == 4, "IEEE float");

const char* dtype_name(Dtype d) { return d == Dtype::float32 ? "float32" : "float64"; }

Dtype parse_dtype(const std::string& s) {
  if (s == "float32" || s == "f32" || s == "single") return Dtype::float32;
  if (s == "float64" || s == "f64" || s == "double") return Dtype::float64;
  throw Error("unknown dtype '" + s + "' (expected float32 or float64)");
}

std::int64_t NpyHeader::count() const {
  std::int64_t c = 1;
  for (auto d : shape)
    if (__builtin_mul_overflow(c, d, &c)) return -1;  // parse_npy_header refuses such shapes first
  return c;
}

NpyHeader parse_npy_header(const char* bytes, std::size_t size, std::int64_t file_size, const std::string& path) {
  if (size < 8) fail(path, "truncated .npy file: shorter than the 8-byte magic");
  if (std::memcmp(bytes, "\x93NUMPY", 6) != 0) fail(path, "not a .npy file: bad magic string");
  const int major = static_cast<unsigned char>(bytes[6]);
  const auto* u = reinterpret_cast<const unsigned char*>(bytes);
  std::uint32_t header_len = 0;
  std::size_t prefix = 0;
  if (major == 1) {
    if (size < 10) fail(path, "truncated .npy header length");
    header_len = u[8] | (u[9] << 8);
    prefix = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) fail(path, "truncated .npy header length");
    header_len = u[8] | (u[9] << 8) | (u[10] << 16) | (std::uint32_t(u[11]) << 24);
    prefix = 12;
  } else {
    fail(path, "unsupported .npy format version " + std::to_string(major));
  }
  if (header_len > kNpyMaxHeader) fail(path, "bad .npy header: implausible length " + std::to_string(header_len));
  if (size < prefix + header_len)
    fail(path, "truncated .npy header: declares " + std::to_string(header_len) + " bytes at byte offset " +
                   std::to_string(prefix) + ", the file holds " + std::to_string(size - prefix));
  std::string dict = trim(std::string(bytes + prefix, header_len));
  if (dict.empty() || dict.front() != '{' || dict.back() != '}')
    fail(path, "bad .npy header: not a dict: " + dict);

  NpyHeader h;
  std::string descr = dict_value(path, dict, "descr");
  if (descr.size() < 2 || (descr.front() != '\'' && descr.front() != '"'))
    fail(path, "bad .npy header: descr " + descr);
  descr = descr.substr(1, descr.size() - 2);
  if (descr == "<f8" || (descr == "=f8")) h.dtype = Dtype::float64;
  else if (descr == "<f4" || descr == "=f4") h.dtype = Dtype::float32;
  else if (descr == ">f8" || descr == ">f4")
    fail(path, "big-endian dtype '" + descr + "' is not supported (expected little-endian <f4 or <f8)");
  else
    fail(path, "unsupported dtype '" + descr + "' (expected float32 '<f4' or float64 '<f8')");

  const std::string fo = dict_value(path, dict, "fortran_order");
  if (fo == "True") h.fortran_order = true;
  else if (fo == "False") h.fortran_order = false;
  else fail(path, "bad .npy header: fortran_order " + fo);

  std::string shape = dict_value(path, dict, "shape");
  if (shape.size() < 2 || shape.front() != '(' || shape.back() != ')')
    fail(path, "bad .npy header: shape " + shape);
  std::stringstream ss(shape.substr(1, shape.size() - 2));
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = trim(item);
    if (item.empty()) continue;
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (errno != 0 || *end != '\0' || v < 0) fail(path, "bad .npy header: shape " + shape);
    h.shape.push_back(v);
  }
  if (h.shape.size() > 2)
    fail(path, "shape " + shape + " has " + std::to_string(h.shape.size()) + " dimensions (expected at most 2)");
  for (auto d : h.shape)
    if (d > (std::int64_t(1) << 40)) fail(path, "bad .npy header: implausible shape " + shape);
  // Each dimension is below 2^40, so the byte count of a 2-D array needs care: refuse any shape
  // whose size in bytes does not fit in 62 bits before comparing it with the file.
  std::int64_t expected = static_cast<std::int64_t>(h.item_size());
  for (auto d : h.shape)
    if (__builtin_mul_overflow(expected, d, &expected) || expected > (std::int64_t(1) << 62))
      fail(path, "bad .npy header: shape " + shape + " declares more bytes than any file holds");

  h.data_offset = static_cast<std::int64_t>(prefix + header_len);
  const std::int64_t have = file_size - h.data_offset;
  if (have < expected)
    fail(path, "truncated .npy data: shape " + shape + " " + dtype_name(h.dtype) + " needs " +
                   std::to_string(expected) + " bytes from byte offset " + std::to_string(h.data_offset) +
                   ", file holds " + std::to_string(std::max<std::int64_t>(have, 0)));
  if (have > expected)
    fail(path, "shape " + shape + " does not match the data: " + std::to_string(have - expected) +
                   " bytes beyond the declared " + std::to_string(expected));
  return h;
}

NpyHeader read_npy_header(const std::string& path) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (std::filesystem::is_directory(st)) fail(path, "is a directory, not an .npy file");
  if (std::filesystem::exists(st) && !std::filesystem::is_regular_file(st))
    fail(path, "is not a regular file (a FIFO, socket or device): an .npy input must be a file that can be read "
               "more than once (X is scanned for NaN/Inf before it is streamed)");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError(path, "cannot open", errno);
  struct stat sb {};
  if (::fstat(fd, &sb) != 0) {
    const int err = errno;
    ::close(fd);
    throw IoError(path, "cannot stat", err);
  }
  std::string head(std::min<std::int64_t>(sb.st_size, 12 + kNpyMaxHeader), '\0');
  std::size_t got = 0;
  while (got < head.size()) {
    const ssize_t k = ::pread(fd, head.data() + got, head.size() - got, static_cast<off_t>(got));
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) {
      const int err = errno;
      ::close(fd);
      throw IoError(path, "read error in the .npy header", err);
    }
    if (k == 0) break;
    got += static_cast<std::size_t>(k);
  }
  ::close(fd);
  return parse_npy_header(head.data(), got, sb.st_size, path);
}

void require_finite(const MatrixXd& m, const std::string& what) {
  for (Index j = 0; j < m.cols(); ++j)
    for (Index i = 0; i < m.rows(); ++i)
      if (!std::isfinite(m(i, j)))
        throw Error(what + ": entry (" + std::to_string(i) + ", " + std::to_string(j) + ") is " +
                    (std::isnan(m(i, j)) ? "NaN" : "Inf") + " (every entry must be finite)");
}

NpyMatrix read_npy(const std::string& path, const std::string& what) {
  NpyMatrix out;
  out.header = read_npy_header(path);
  const auto& h = out.header;
  const Index rows = h.shape.empty() ? 1 : h.shape[0];
  const Index cols = h.shape.size() < 2 ? 1 : h.shape[1];
  std::ifstream f(path, std::ios::binary);
  f.seekg(h.data_offset);
  std::vector<char> raw(static_cast<std::size_t>(h.count()) * h.item_size());
  if (!raw.empty() && !f.read(raw.data(), static_cast<std::streamsize>(raw.size())))
    throw IoError(path + ": read error after the header (the file changed or shrank while being read)");
  out.values.resize(rows, cols);
  const std::size_t sz = h.item_size();
  // Nothing to decode in an N x 0 (or 0 x n) array, however large the declared N: without this, the
  // row loop ran N empty times (fuzz finding: shape (43917653653, 0) took minutes).
  if (out.values.size() == 0) return out;
  for (Index i = 0; i < rows; ++i)
    for (Index j = 0; j < cols; ++j) {
      const std::size_t k = h.fortran_order ? std::size_t(j * rows + i) : std::size_t(i * cols + j);
      out.values(i, j) = decode(raw.data() + k * sz, h.dtype);
    }
  require_finite(out.values, path + " (" + what + ")");
  return out;
}

MatrixXd read_matrix(const std::string& path, const std::string& what, Dtype* dtype_out) {
  NpyMatrix m = read_npy(path, what);
  if (m.header.shape.size() != 2)
    fail(path, what + " must be a 2-D array, got " + std::to_string(m.header.shape.size()) + "-D");
  if (dtype_out) *dtype_out = m.header.dtype;
  return std::move(m.values);
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  check_interrupted();
  fault_before_write(path);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) throw IoError(path, "cannot write", errno);
  auto give_up = [&](const char* what) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    throw IoError(path, what, err);
  };
  for (std::size_t done = 0; done < bytes.size();) {
    const ssize_t k = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) give_up(("write failed after " + std::to_string(done) + " of " + std::to_string(bytes.size()) + " bytes").c_str());
    done += static_cast<std::size_t>(k);
  }
  if (::fsync(fd) != 0) give_up("fsync failed");
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw IoError(path, "close failed", err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw IoError(path, "cannot rename the temporary file into place", err);
  }
}

namespace {
void write_npy_impl(const std::string& path, const MatrixXd& values, Dtype dtype,
                    const std::vector<std::int64_t>& shape) {
  require_finite(values, "refusing to write " + path);
  std::string bytes = "\x93NUMPY";
  bytes.push_back(1);
  bytes.push_back(0);
  const std::string header = header_text(dtype, shape);
  bytes.push_back(static_cast<char>(header.size() & 0xff));
  bytes.push_back(static_cast<char>(header.size() >> 8));
  bytes += header;
  bytes.reserve(bytes.size() + values.size() * 8);
  for (Index i = 0; i < values.rows(); ++i)
    for (Index j = 0; j < values.cols(); ++j) {
      if (dtype == Dtype::float32) {
        const float v = static_cast<float>(values(i, j));
        bytes.append(reinterpret_cast<const char*>(&v), 4);
      } else {
        const double v = values(i, j);
        bytes.append(reinterpret_cast<const char*>(&v), 8);
      }
    }
  write_file_atomic(path, bytes);
}
}  // namespace

void write_npy(const std::string& path, const MatrixXd& values, Dtype dtype) {
  write_npy_impl(path, values, dtype, {values.rows(), values.cols()});
}

void write_npy_vector(const std::string& path, const VectorXd& values, Dtype dtype) {
  write_npy_impl(path, values, dtype, {values.size()});
}

// ---- streaming reader -------------------------------------------------------------------------

NpyRowStream::NpyRowStream(const std::string& path, const std::string& what)
    : path_(path), what_(what) {
  header_ = read_npy_header(path);
  if (header_.shape.size() != 2)
    fail(path, what + " must be a 2-D array (N tokens x n features), got " +
                   std::to_string(header_.shape.size()) + "-D");
  rows_ = header_.shape[0];
  cols_ = header_.shape[1];
  // Found by the fuzzer: (93417653, 0) holds no bytes, so it passes the size check, and streaming
  // it would run tens of millions of empty blocks. Activations without features mean nothing.
  if (cols_ == 0 && rows_ > 0)
    fail(path, what + " has shape (" + std::to_string(rows_) + ", 0): tokens without features (expected N x n, n >= 1)");
  end_ = rows_;
  file_ = std::fopen(path.c_str(), "rb");
  if (!file_) throw IoError(path, "cannot open", errno);
}

NpyRowStream::NpyRowStream(const std::string& path, Index row_begin, Index row_end, const std::string& what)
    : NpyRowStream(path, what) {
  if (row_begin < 0 || row_end < row_begin || row_end > rows_)
    fail(path, "row range [" + std::to_string(row_begin) + ", " + std::to_string(row_end) +
                   ") is outside the file's " + std::to_string(rows_) + " rows");
  begin_ = next_row_ = row_begin;
  end_ = row_end;
}

NpyRowStream::~NpyRowStream() {
  if (file_) std::fclose(file_);
}

double NpyRowStream::data_unit_roundoff() const {
  return header_.dtype == Dtype::float32 ? 0x1p-24 : 0x1p-53;
}

namespace {
// Index of the first non-finite value among `count` IEEE values of `item` bytes, or -1. The test
// is on the exponent bits (all ones: Inf or NaN), which the compiler vectorizes.
template <class Bits, Bits kExp>
std::int64_t first_non_finite(const unsigned char* p, std::int64_t count) {
  constexpr std::int64_t chunk = 1 << 16;
  for (std::int64_t b = 0; b < count; b += chunk) {
    const std::int64_t e = std::min(count, b + chunk);
    bool bad = false;
    for (std::int64_t i = b; i < e; ++i) {
      Bits v;
      std::memcpy(&v, p + i * sizeof(Bits), sizeof(Bits));
      bad |= (v & kExp) == kExp;
    }
    if (bad)
      for (std::int64_t i = b; i < e; ++i) {
        Bits v;
        std::memcpy(&v, p + i * sizeof(Bits), sizeof(Bits));
        if ((v & kExp) == kExp) return i;
      }
  }
  return -1;
}
}  // namespace

void NpyRowStream::require_all_finite() const {
  const std::int64_t count = header_.count();
  if (count <= 0) return;
  const std::int64_t isz = static_cast<std::int64_t>(header_.item_size());
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError(path_, "cannot open to scan for NaN/Inf", errno);
  // The file is mapped one 16 MiB window at a time and each window unmapped before the next: a
  // mapped page that was read counts in the resident set (and its peak) until it is unmapped, so
  // mapping the whole file would make the streaming solve's peak memory grow with N.
  const std::int64_t page = ::sysconf(_SC_PAGESIZE);
  const std::int64_t window = std::max<std::int64_t>(1, (std::int64_t(16) << 20) / isz);
  std::int64_t bad = -1;
  double value = 0;
  for (std::int64_t first = 0; first < count && bad < 0; first += window) {
    const std::int64_t k = std::min(window, count - first);
    const std::int64_t off = header_.data_offset + first * isz, aligned = off - off % page;
    const std::size_t len = static_cast<std::size_t>(off - aligned + k * isz);
    void* m = ::mmap(nullptr, len, PROT_READ, MAP_PRIVATE, fd, static_cast<off_t>(aligned));
    if (m == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      throw IoError(path_, "cannot map bytes " + std::to_string(off) + ".." + std::to_string(off + k * isz) +
                               " to scan for NaN/Inf", err);
    }
    ::madvise(m, len, MADV_SEQUENTIAL);
    const auto* data = static_cast<const unsigned char*>(m) + (off - aligned);
    const std::int64_t b = header_.dtype == Dtype::float32
                               ? first_non_finite<std::uint32_t, 0x7f800000u>(data, k)
                               : first_non_finite<std::uint64_t, 0x7ff0000000000000ull>(data, k);
    if (b >= 0) {
      bad = first + b;
      value = decode(reinterpret_cast<const char*>(data) + b * isz, header_.dtype);
    }
    ::munmap(m, len);
  }
  ::close(fd);
  if (bad < 0) return;
  const Index i = header_.fortran_order ? bad % rows_ : bad / cols_;
  const Index j = header_.fortran_order ? bad / rows_ : bad % cols_;
  fail(path_, "(" + what_ + ") entry (" + std::to_string(i) + ", " + std::to_string(j) + ") at byte offset " +
                  std::to_string(header_.data_offset + bad * isz) + " is " +
                  (std::isnan(value) ? "NaN" : "Inf") + " (every entry must be finite; found before any work)");
}

// One block of rows, decoded into S (double, or float for a float32 backend: each stored value is
// decoded exactly to double and rounded once to S). The file is read in pieces of at most
// kReadBytes, so besides the block itself only that much is held whatever the block size.
template <class S> bool NpyRowStream::read_rows(Index max_rows, Mat<S>& block) {
  constexpr std::size_t kReadBytes = std::size_t(4) << 20;
  check_interrupted();
  if (next_row_ >= end_) return false;
  if (max_rows < 1) throw Error("block size must be at least 1 row");
  const Index b = std::min(max_rows, end_ - next_row_);
  const std::size_t sz = header_.item_size();
  block.resize(b, cols_);
  auto read_at = [&](long long off, std::size_t len, const std::string& where) {
    if (len == 0) return;
    if (fseeko(file_, off, SEEK_SET) != 0 || std::fread(buffer_.data(), len, 1, file_) != 1) {
      const bool eof = std::feof(file_);
      const int err = errno;
      std::clearerr(file_);
      if (eof)
        throw IoError(path_ + ": " + where + ", byte offset " + std::to_string(off) + ": the file ended early (it " +
                      "was truncated or rewritten after its header was read; " + std::to_string(rows_) +
                      " rows were declared)");
      throw IoError(path_, where + ", byte offset " + std::to_string(off) + ": read error", err);
    }
  };
  // The first non-finite entry in row-major order (row i, column j of the block), checked on the
  // stored value before any rounding to S.
  Index bad_i = b, bad_j = 0;
  double bad_v = 0;
  auto take = [&](Index i, Index j, double v) {
    if (!std::isfinite(v) && (i < bad_i || (i == bad_i && j < bad_j))) {
      bad_i = i;
      bad_j = j;
      bad_v = v;
    }
    block(i, j) = S(v);
  };
  if (!header_.fortran_order) {
    // C order: rows are contiguous runs of n items; read whole rows, kReadBytes at a time.
    const Index row_bytes = cols_ * Index(sz);
    const Index chunk = std::max<Index>(1, Index(kReadBytes) / std::max<Index>(1, row_bytes));
    for (Index i0 = 0; i0 < b && bad_i == b; i0 += chunk) {
      const Index c = std::min(chunk, b - i0);
      buffer_.resize(std::size_t(c * row_bytes));
      const long long off = header_.data_offset + (long long)((next_row_ + i0) * cols_) * (long long)sz;
      read_at(off, buffer_.size(),
              "rows " + std::to_string(next_row_ + i0) + ".." + std::to_string(next_row_ + i0 + c - 1));
      for (Index i = 0; i < c; ++i)
        for (Index j = 0; j < cols_; ++j)
          take(i0 + i, j, decode(buffer_.data() + std::size_t(i * cols_ + j) * sz, header_.dtype));
    }
  } else {
    // Fortran order: each column of the block is a contiguous run of b items.
    const Index chunk = std::max<Index>(1, Index(kReadBytes / sz));
    for (Index j = 0; j < cols_; ++j)
      for (Index i0 = 0; i0 < b; i0 += chunk) {
        const Index c = std::min(chunk, b - i0);
        buffer_.resize(std::size_t(c) * sz);
        const long long off = header_.data_offset + (long long)(j * rows_ + next_row_ + i0) * (long long)sz;
        read_at(off, buffer_.size(), "column " + std::to_string(j) + ", rows from " + std::to_string(next_row_ + i0));
        for (Index i = 0; i < c; ++i) take(i0 + i, j, decode(buffer_.data() + std::size_t(i) * sz, header_.dtype));
      }
  }
  if (bad_i < b)
    fail(path_, "(" + what_ + ") entry (" + std::to_string(next_row_ + bad_i) + ", " + std::to_string(bad_j) +
                    ") is " + (std::isnan(bad_v) ? "NaN" : "Inf") + " (every entry must be finite)");
  next_row_ += b;
  return true;
}

bool NpyRowStream::next(Index max_rows, MatrixXd& block) { return read_rows(max_rows, block); }
bool NpyRowStream::next_float(Index max_rows, MatrixXf& block) { return read_rows(max_rows, block); }

ConcatRowSource::ConcatRowSource(std::vector<std::unique_ptr<RowBlockSource>> parts, Index cols, std::string name)
    : parts_(std::move(parts)), cols_(cols), name_(std::move(name)) {
  for (const auto& p : parts_) {
    if (p->cols() != cols_)
      throw Error(p->name() + ": has " + std::to_string(p->cols()) + " features (columns), but " +
                  std::to_string(cols_) + " are expected (every part of X must be N_i x " + std::to_string(cols_) + ")");
    rows_ += p->rows();
    u_ = std::max(u_, p->data_unit_roundoff());
  }
  if (parts_.empty()) u_ = 0x1p-53;
}

void ConcatRowSource::reset() {
  for (auto& p : parts_) p->reset();
  at_ = 0;
}

bool ConcatRowSource::next(Index max_rows, MatrixXd& block) {
  // A block never spans two parts: the TSQR does not care where blocks end.
  while (at_ < parts_.size()) {
    if (parts_[at_]->next(max_rows, block)) return true;
    ++at_;
  }
  return false;
}

bool ConcatRowSource::next_float(Index max_rows, MatrixXf& block) {
  while (at_ < parts_.size()) {
    if (parts_[at_]->next_float(max_rows, block)) return true;
    ++at_;
  }
  return false;
}

std::string ConcatRowSource::current_part() const {
  return at_ < parts_.size() ? parts_[at_]->name() : std::string();
}

}  // namespace lowrank
