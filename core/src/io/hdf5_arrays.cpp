#include "fpokit/core/io/hdf5_arrays.h"

#include <algorithm>
#include <cstring>

namespace fpokit::core::hdf5 {

namespace {

void check_object_name(hid_t location, const std::string& name, const char* what) {
  if (name.empty() || name == "." || name.find('/') != std::string::npos)
    throw Error(describe(location) + ": invalid " + what + " name '" + name + "' (must be non-empty, not '.', no '/')");
}

std::vector<hsize_t> dims_of(hid_t location, const std::string& name, const std::vector<int64_t>& shape) {
  std::vector<hsize_t> dims;
  for (const int64_t d : shape) {
    if (d < 0) throw Error(describe(location) + ": dataset '" + name + "': negative dimension " + std::to_string(d));
    dims.push_back(static_cast<hsize_t>(d));
  }
  return dims;
}

Dataspace make_space(hid_t location, const std::vector<hsize_t>& dims) {
  Dataspace space(dims.empty() ? H5Screate(H5S_SCALAR)
                               : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  if (!space) fail(location, "cannot create a dataspace");
  return space;
}

void write_array_attribute(hid_t object, const std::string& name, hid_t file_type, hid_t memory_type, size_t n,
                           const void* data) {
  silence_error_printing();
  const htri_t exists = H5Aexists(object, name.c_str());
  if (exists < 0) fail(object, "cannot check for attribute '" + name + "'");
  if (exists > 0 && H5Adelete(object, name.c_str()) < 0) fail(object, "cannot replace attribute '" + name + "'");
  const hsize_t dim = n;
  Dataspace space(H5Screate_simple(1, &dim, nullptr));
  if (!space) fail(object, "cannot create a dataspace for attribute '" + name + "'");
  Attribute attribute(H5Acreate2(object, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT));
  if (!attribute) fail(object, "cannot create attribute '" + name + "'");
  if (n > 0 && H5Awrite(attribute.get(), memory_type, data) < 0) fail(object, "cannot write attribute '" + name + "'");
  if (!attribute.close()) fail(object, "cannot close attribute '" + name + "'");
}

std::vector<const char*> c_strings(hid_t location, const std::string& name, const std::vector<std::string>& values) {
  std::vector<const char*> pointers;
  pointers.reserve(values.size());
  for (const auto& v : values) {
    if (v.find('\0') != std::string::npos)
      throw Error(describe(location) + ": '" + name + "': a string contains a NUL character");
    pointers.push_back(v.c_str());
  }
  return pointers;
}

// Readers take a path ("features/delta_mean"), not only a member name.
Dataset open_dataset_path(hid_t location, const std::string& path) {
  silence_error_printing();
  Dataset d(H5Dopen2(location, path.c_str(), H5P_DEFAULT));
  if (!d) fail(location, "cannot open dataset '" + path + "'");
  return d;
}

template <typename T>
std::vector<T> read_whole(hid_t location, const std::string& name, hid_t memory_type, std::vector<int64_t>* shape) {
  const Dataset dataset = open_dataset_path(location, name);
  const auto s = dataset_shape(dataset.get());
  if (shape != nullptr) *shape = s;
  int64_t n = 1;
  for (const int64_t d : s) n *= d;
  std::vector<T> out(static_cast<size_t>(n));
  if (n > 0 && H5Dread(dataset.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    fail(dataset.get(), "cannot read");
  return out;
}

}  // namespace

Datatype bool_type() {
  silence_error_printing();
  Datatype type(H5Tenum_create(H5T_NATIVE_INT8));
  if (!type) throw Error("cannot create the HDF5 boolean enum type");
  const int8_t false_value = 0, true_value = 1;
  if (H5Tenum_insert(type.get(), "FALSE", &false_value) < 0 || H5Tenum_insert(type.get(), "TRUE", &true_value) < 0)
    throw Error("cannot create the HDF5 boolean enum type (HDF5: " + last_error_reason() + ")");
  return type;
}

Datatype utf8_string_type() {
  silence_error_printing();
  Datatype type(H5Tcopy(H5T_C_S1));
  if (!type || H5Tset_size(type.get(), H5T_VARIABLE) < 0 || H5Tset_cset(type.get(), H5T_CSET_UTF8) < 0)
    throw Error("cannot create the HDF5 UTF-8 string type (HDF5: " + last_error_reason() + ")");
  return type;
}

Dataset write_array(hid_t location, const std::string& name, hid_t file_type, hid_t memory_type,
                    const std::vector<int64_t>& shape, const void* data, const ArrayLayout& layout) {
  silence_error_printing();
  check_object_name(location, name, "dataset");
  const auto dims = dims_of(location, name, shape);
  const Dataspace space = make_space(location, dims);
  PropertyList dcpl(H5Pcreate(H5P_DATASET_CREATE));
  if (!dcpl) fail(location, "cannot create a property list for dataset '" + name + "'");
  hsize_t total = 1;
  for (const hsize_t d : dims) total *= d;
  if (!dims.empty() && total > 0) {
    // Chunks span whole trailing dimensions and as many leading rows as fit in chunk_bytes.
    hsize_t row_elements = 1;
    for (size_t i = 1; i < dims.size(); ++i) row_elements *= dims[i];
    const size_t element = H5Tget_size(file_type);
    const hsize_t row_bytes = std::max<hsize_t>(1, row_elements * element);
    std::vector<hsize_t> chunk = dims;
    chunk[0] = std::clamp<hsize_t>(static_cast<hsize_t>(layout.chunk_bytes) / row_bytes, 1, dims[0]);
    // A row bigger than 4 GiB cannot be one chunk (HDF5's limit): split the next dimension too.
    for (size_t i = 1; i < chunk.size(); ++i) {
      hsize_t bytes = element;
      for (const hsize_t c : chunk) bytes *= c;
      if (bytes < (hsize_t{1} << 31)) break;
      chunk[i] = std::max<hsize_t>(1, chunk[i] / 2);
    }
    if (H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()) < 0)
      fail(location, "cannot set chunks of dataset '" + name + "'");
    if (layout.compress && (H5Pset_shuffle(dcpl.get()) < 0 || H5Pset_deflate(dcpl.get(), layout.gzip_level) < 0))
      fail(location, "cannot set gzip + shuffle on dataset '" + name + "'");
  }
  Dataset dataset(H5Dcreate2(location, name.c_str(), file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT));
  if (!dataset) fail(location, "cannot create dataset '" + name + "'");
  if (total > 0 && H5Dwrite(dataset.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    fail(dataset.get(), "cannot write");
  return dataset;
}

Dataset write_float_array(hid_t location, const std::string& name, const std::vector<int64_t>& shape, const float* data,
                          const ArrayLayout& layout) {
  return write_array(location, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, shape, data, layout);
}
Dataset write_double_array(hid_t location, const std::string& name, const std::vector<int64_t>& shape,
                           const double* data, const ArrayLayout& layout) {
  return write_array(location, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, shape, data, layout);
}
Dataset write_int32_array(hid_t location, const std::string& name, const std::vector<int64_t>& shape,
                          const int32_t* data, const ArrayLayout& layout) {
  return write_array(location, name, H5T_STD_I32LE, H5T_NATIVE_INT32, shape, data, layout);
}
Dataset write_int64_array(hid_t location, const std::string& name, const std::vector<int64_t>& shape,
                          const int64_t* data, const ArrayLayout& layout) {
  return write_array(location, name, H5T_STD_I64LE, H5T_NATIVE_INT64, shape, data, layout);
}
Dataset write_int8_array(hid_t location, const std::string& name, const std::vector<int64_t>& shape, const int8_t* data,
                         const ArrayLayout& layout) {
  return write_array(location, name, H5T_STD_I8LE, H5T_NATIVE_INT8, shape, data, layout);
}

Dataset write_bool_array(hid_t location, const std::string& name, const std::vector<uint8_t>& values,
                         const ArrayLayout& layout) {
  const Datatype type = bool_type();
  std::vector<int8_t> bytes(values.size());
  for (size_t i = 0; i < values.size(); ++i) bytes[i] = values[i] != 0 ? 1 : 0;
  return write_array(location, name, type.get(), type.get(), {static_cast<int64_t>(values.size())}, bytes.data(),
                     layout);
}

Dataset write_string_array(hid_t location, const std::string& name, const std::vector<std::string>& values) {
  const Datatype type = utf8_string_type();
  const auto pointers = c_strings(location, name, values);
  // Variable-length data cannot be compressed by the filters; keep it contiguous.
  return write_array(location, name, type.get(), type.get(), {static_cast<int64_t>(values.size())}, pointers.data(),
                     ArrayLayout{.compress = false});
}

Dataset write_string_scalar(hid_t location, const std::string& name, std::string_view value) {
  const Datatype type = utf8_string_type();
  const std::vector<std::string> copy{std::string(value)};  // must outlive `pointers`
  const auto pointers = c_strings(location, name, copy);
  return write_array(location, name, type.get(), type.get(), {}, pointers.data(), ArrayLayout{.compress = false});
}

void write_string_array_attribute(hid_t object, const std::string& name, const std::vector<std::string>& values) {
  const Datatype type = utf8_string_type();
  const auto pointers = c_strings(object, name, values);
  write_array_attribute(object, name, type.get(), type.get(), values.size(), pointers.data());
}

void write_int64_array_attribute(hid_t object, const std::string& name, const std::vector<int64_t>& values) {
  write_array_attribute(object, name, H5T_STD_I64LE, H5T_NATIVE_INT64, values.size(), values.data());
}

void write_double_array_attribute(hid_t object, const std::string& name, const std::vector<double>& values) {
  write_array_attribute(object, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, values.size(), values.data());
}

void write_bool_attribute(hid_t object, const std::string& name, bool value) {
  silence_error_printing();
  const Datatype type = bool_type();
  const htri_t exists = H5Aexists(object, name.c_str());
  if (exists < 0) fail(object, "cannot check for attribute '" + name + "'");
  if (exists > 0 && H5Adelete(object, name.c_str()) < 0) fail(object, "cannot replace attribute '" + name + "'");
  Dataspace space(H5Screate(H5S_SCALAR));
  Attribute attribute(H5Acreate2(object, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT));
  if (!attribute) fail(object, "cannot create attribute '" + name + "'");
  const int8_t byte = value ? 1 : 0;
  if (H5Awrite(attribute.get(), type.get(), &byte) < 0) fail(object, "cannot write attribute '" + name + "'");
  if (!attribute.close()) fail(object, "cannot close attribute '" + name + "'");
}

std::vector<double> read_double_array(hid_t location, const std::string& name, std::vector<int64_t>* shape) {
  return read_whole<double>(location, name, H5T_NATIVE_DOUBLE, shape);
}

std::vector<int64_t> read_int64_array(hid_t location, const std::string& name, std::vector<int64_t>* shape) {
  return read_whole<int64_t>(location, name, H5T_NATIVE_INT64, shape);
}

std::vector<std::string> read_string_array(hid_t location, const std::string& name) {
  const Dataset dataset = open_dataset_path(location, name);
  const auto s = dataset_shape(dataset.get());
  int64_t n = 1;
  for (const int64_t d : s) n *= d;
  const Datatype type = utf8_string_type();
  std::vector<char*> pointers(static_cast<size_t>(n), nullptr);
  if (n > 0 && H5Dread(dataset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()) < 0)
    fail(dataset.get(), "cannot read as strings");
  std::vector<std::string> out;
  for (char* p : pointers) {
    out.emplace_back(p != nullptr ? p : "");
    H5free_memory(p);
  }
  return out;
}

std::vector<std::string> read_string_array_attribute(hid_t object, const std::string& name) {
  silence_error_printing();
  Attribute attribute(H5Aopen(object, name.c_str(), H5P_DEFAULT));
  if (!attribute) fail(object, "cannot open attribute '" + name + "'");
  Dataspace space(H5Aget_space(attribute.get()));
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n < 0) fail(object, "cannot read the size of attribute '" + name + "'");
  const Datatype type = utf8_string_type();
  std::vector<char*> pointers(static_cast<size_t>(n), nullptr);
  if (n > 0 && H5Aread(attribute.get(), type.get(), pointers.data()) < 0)
    fail(object, "cannot read attribute '" + name + "' as strings");
  std::vector<std::string> out;
  for (char* p : pointers) {
    out.emplace_back(p != nullptr ? p : "");
    H5free_memory(p);
  }
  return out;
}

}  // namespace fpokit::core::hdf5
