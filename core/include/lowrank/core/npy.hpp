#pragma once
// NumPy .npy files: float32 / float64, little-endian, C or Fortran order, 0..2-D.
// Everything else is refused with a message naming the file and the fault.
#include <cstdio>
#include <string>
#include <vector>

#include "lowrank/core/matrix.hpp"

namespace lowrank {

enum class Dtype { float32, float64 };
const char* dtype_name(Dtype d);
Dtype parse_dtype(const std::string& s);  // "float32" | "float64"

struct NpyHeader {
  Dtype dtype = Dtype::float64;
  bool fortran_order = false;
  std::vector<std::int64_t> shape;  // 0..2 entries
  std::int64_t data_offset = 0;     // bytes from the start of the file
  std::int64_t count() const;       // number of elements (1 for a 0-D array)
  std::size_t item_size() const { return dtype == Dtype::float32 ? 4 : 8; }
};

// Longest header dict accepted (NumPy writes < 64 KiB; this bounds what a bad file can allocate).
inline constexpr std::uint32_t kNpyMaxHeader = 1u << 20;

// Parses and validates the header, and checks that the file holds exactly the data it declares.
// A directory, FIFO or device is refused (exit 2); a file that cannot be opened or read is an
// IoError (exit 4).
NpyHeader read_npy_header(const std::string& path);
// The same from the first `size` bytes of a file of `file_size` bytes (the fuzz target's entry):
// never reads past `size`, never allocates more than the header's length.
NpyHeader parse_npy_header(const char* bytes, std::size_t size, std::int64_t file_size, const std::string& path);

struct NpyMatrix {
  NpyHeader header;
  MatrixXd values;  // 0-D -> 1x1, 1-D of length k -> k x 1
};

// Reads a whole array. `what` names its role ("weights W") for messages. Refuses NaN/Inf.
NpyMatrix read_npy(const std::string& path, const std::string& what = "array");
// Reads an array that must be 2-D.
MatrixXd read_matrix(const std::string& path, const std::string& what = "matrix",
                     Dtype* dtype_out = nullptr);

// Writes a 2-D array (or 1-D when `as_vector`) in C order. The file appears complete or not at
// all: it is written to a temporary name in the same folder and renamed.
void write_npy(const std::string& path, const MatrixXd& values, Dtype dtype = Dtype::float64);
void write_npy_vector(const std::string& path, const VectorXd& values,
                      Dtype dtype = Dtype::float64);

// Writes bytes to `path` atomically (temporary name + rename). Used by every output writer.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Throws if any entry is NaN or Inf, naming `what` and the first offending position.
void require_finite(const MatrixXd& m, const std::string& what);

}  // namespace lowrank
