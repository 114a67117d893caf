#pragma once
// Whole-array datasets and array attributes on top of hdf5_handle.h, for files that are written
// once and read by people (drift reports): compressed N-D numeric arrays, UTF-8 string arrays, the
// boolean type h5py reads as numpy bool, and small array attributes.
//
// Layout of write_array(): chunked along dimension 0 with chunks of about `chunk_bytes`
// (h5py's guidance: 10 KiB – 1 MiB), gzip + shuffle when `compress`. A zero-length dimension
// gives a contiguous (unchunked, uncompressed) empty dataset, which HDF5 requires.
//
// Strings are variable-length UTF-8 (what h5py writes for a Python str; `.asstr()` decodes them).
// Booleans are an 8-bit enum {FALSE = 0, TRUE = 1}, h5py's mapping of numpy bool.
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fpokit/core/io/hdf5_handle.h"

namespace fpokit::core::hdf5 {

struct ArrayLayout {
  bool compress = true;
  int gzip_level = 4;
  int64_t chunk_bytes = 256 * 1024;
};

// A new dataset `name` of `shape` (empty shape = a scalar), element type `file_type` on disk,
// filled from `data` (contiguous, row-major, of `memory_type`). Throws Error naming the object.
Dataset write_array(hid_t location, const std::string& name, hid_t file_type, hid_t memory_type,
                    const std::vector<int64_t>& shape, const void* data, const ArrayLayout& layout = {});

// Typed shorthands (on disk: little-endian of the same width).
Dataset write_float_array(hid_t location, const std::string& name, const std::vector<int64_t>& shape, const float* data,
                          const ArrayLayout& layout = {});
Dataset write_double_array(hid_t location, const std::string& name, const std::vector<int64_t>& shape,
                           const double* data, const ArrayLayout& layout = {});
Dataset write_int32_array(hid_t location, const std::string& name, const std::vector<int64_t>& shape,
                          const int32_t* data, const ArrayLayout& layout = {});
Dataset write_int64_array(hid_t location, const std::string& name, const std::vector<int64_t>& shape,
                          const int64_t* data, const ArrayLayout& layout = {});
Dataset write_int8_array(hid_t location, const std::string& name, const std::vector<int64_t>& shape, const int8_t* data,
                         const ArrayLayout& layout = {});
// `values` as h5py's bool (an int8 enum FALSE/TRUE), 1-D.
Dataset write_bool_array(hid_t location, const std::string& name, const std::vector<uint8_t>& values,
                         const ArrayLayout& layout = {});
// A 1-D array of variable-length UTF-8 strings (no NUL inside a string).
Dataset write_string_array(hid_t location, const std::string& name, const std::vector<std::string>& values);
// A scalar variable-length UTF-8 string dataset: for text too long for an attribute (64 KiB).
Dataset write_string_scalar(hid_t location, const std::string& name, std::string_view value);

// The boolean enum type and the variable-length UTF-8 string type (caller owns the handle).
Datatype bool_type();
Datatype utf8_string_type();

// 1-D array attributes (replacing one of the same name).
void write_string_array_attribute(hid_t object, const std::string& name, const std::vector<std::string>& values);
void write_int64_array_attribute(hid_t object, const std::string& name, const std::vector<int64_t>& values);
void write_double_array_attribute(hid_t object, const std::string& name, const std::vector<double>& values);
void write_bool_attribute(hid_t object, const std::string& name, bool value);

// Readers for tests and tools: the whole dataset `name` (a path such as "features/delta_mean" is
// fine) converted to the requested type, with its shape.
std::vector<double> read_double_array(hid_t location, const std::string& name, std::vector<int64_t>* shape = nullptr);
std::vector<int64_t> read_int64_array(hid_t location, const std::string& name, std::vector<int64_t>* shape = nullptr);
std::vector<std::string> read_string_array(hid_t location, const std::string& name);
std::vector<std::string> read_string_array_attribute(hid_t object, const std::string& name);

}  // namespace fpokit::core::hdf5
