#include "lowrank/core/npy.hpp"

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

std::int64_t file_size(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) fail(path, std::string("cannot open: ") + std::strerror(errno));
  return static_cast<std::int64_t>(f.tellg());
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
  for (auto d : shape) c *= d;
  return c;
}

NpyHeader read_npy_header(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) fail(path, "is a directory, not an .npy file");
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path, std::string("cannot open: ") + std::strerror(errno));
  char magic[8];
  if (!f.read(magic, 8)) fail(path, "truncated .npy file: shorter than the 8-byte magic");
  if (std::memcmp(magic, "\x93NUMPY", 6) != 0) fail(path, "not a .npy file: bad magic string");
  const int major = static_cast<unsigned char>(magic[6]);
  std::uint32_t header_len = 0;
  std::int64_t prefix = 0;
  if (major == 1) {
    unsigned char b[2];
    if (!f.read(reinterpret_cast<char*>(b), 2)) fail(path, "truncated .npy header length");
    header_len = b[0] | (b[1] << 8);
    prefix = 10;
  } else if (major == 2 || major == 3) {
    unsigned char b[4];
    if (!f.read(reinterpret_cast<char*>(b), 4)) fail(path, "truncated .npy header length");
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (std::uint32_t(b[3]) << 24);
    prefix = 12;
  } else {
    fail(path, "unsupported .npy format version " + std::to_string(major));
  }
  if (header_len > (1u << 20)) fail(path, "bad .npy header: implausible length " + std::to_string(header_len));
  std::string dict(header_len, '\0');
  if (!f.read(dict.data(), header_len)) fail(path, "truncated .npy header");
  dict = trim(dict);
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

  h.data_offset = prefix + header_len;
  const std::int64_t expected = h.count() * static_cast<std::int64_t>(h.item_size());
  const std::int64_t have = file_size(path) - h.data_offset;
  if (have < expected)
    fail(path, "truncated .npy data: shape " + shape + " " + dtype_name(h.dtype) + " needs " +
                   std::to_string(expected) + " bytes, file holds " + std::to_string(have));
  if (have > expected)
    fail(path, "shape " + shape + " does not match the data: " + std::to_string(have - expected) +
                   " bytes beyond the declared " + std::to_string(expected));
  return h;
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
    fail(path, "read error");
  out.values.resize(rows, cols);
  const std::size_t sz = h.item_size();
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
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) fail(path, std::string("cannot write: ") + std::strerror(errno));
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.flush();
    if (!f) {
      std::remove(tmp.c_str());
      fail(path, "write failed (disk full?)");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    fail(path, std::string("cannot rename temporary file: ") + std::strerror(errno));
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
  end_ = rows_;
  file_ = std::fopen(path.c_str(), "rb");
  if (!file_) fail(path, std::string("cannot open: ") + std::strerror(errno));
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

bool NpyRowStream::next(Index max_rows, MatrixXd& block) {
  if (next_row_ >= end_) return false;
  if (max_rows < 1) throw Error("block size must be at least 1 row");
  const Index b = std::min(max_rows, end_ - next_row_);
  const std::size_t sz = header_.item_size();
  block.resize(b, cols_);
  if (!header_.fortran_order) {
    // C order: the block is one contiguous run of b * n items.
    buffer_.resize(std::size_t(b * cols_) * sz);
    const long long off = header_.data_offset + (long long)(next_row_ * cols_) * (long long)sz;
    if (fseeko(file_, off, SEEK_SET) != 0 || (b * cols_ > 0 && std::fread(buffer_.data(), buffer_.size(), 1, file_) != 1))
      fail(path_, "read error at row " + std::to_string(next_row_));
    for (Index i = 0; i < b; ++i)
      for (Index j = 0; j < cols_; ++j)
        block(i, j) = decode(buffer_.data() + std::size_t(i * cols_ + j) * sz, header_.dtype);
  } else {
    // Fortran order: each column of the block is a contiguous run of b items.
    buffer_.resize(std::size_t(b) * sz);
    for (Index j = 0; j < cols_; ++j) {
      const long long off = header_.data_offset + (long long)(j * rows_ + next_row_) * (long long)sz;
      if (fseeko(file_, off, SEEK_SET) != 0 || std::fread(buffer_.data(), buffer_.size(), 1, file_) != 1)
        fail(path_, "read error at column " + std::to_string(j));
      for (Index i = 0; i < b; ++i) block(i, j) = decode(buffer_.data() + std::size_t(i) * sz, header_.dtype);
    }
  }
  for (Index i = 0; i < b; ++i)
    for (Index j = 0; j < cols_; ++j)
      if (!std::isfinite(block(i, j)))
        fail(path_, "(" + what_ + ") entry (" + std::to_string(next_row_ + i) + ", " + std::to_string(j) +
                        ") is " + (std::isnan(block(i, j)) ? "NaN" : "Inf") + " (every entry must be finite)");
  next_row_ += b;
  return true;
}

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

std::string ConcatRowSource::current_part() const {
  return at_ < parts_.size() ? parts_[at_]->name() : std::string();
}

}  // namespace lowrank
