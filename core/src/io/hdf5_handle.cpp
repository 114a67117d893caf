#include "fpokit/core/io/hdf5_handle.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <stdexcept>

#include "fpokit/core/io/hdf5_structure_check.h"

namespace fpokit::core::hdf5 {

namespace {

// H5Pset_file_locking exists from 1.10.7 and 1.12.1 (not in 1.12.0).
#if H5_VERS_MAJOR > 1 || (H5_VERS_MAJOR == 1 && H5_VERS_MINOR >= 13) ||    \
    (H5_VERS_MAJOR == 1 && H5_VERS_MINOR == 12 && H5_VERS_RELEASE >= 1) || \
    (H5_VERS_MAJOR == 1 && H5_VERS_MINOR == 10 && H5_VERS_RELEASE >= 7)
#define FPOKIT_HDF5_HAVE_FILE_LOCKING_CONTROL 1
#endif

// HDF5 closes what is still open from an atexit handler. After a write failed (disk full) the
// file's close fails too and leaves the file half-closed, and that handler then crashes the
// process (SIGSEGV in H5F__close_cb, HDF5 1.10) after fpokit has printed its error. Every handle is
// closed by RAII, so the handler has nothing left to do: it is switched off before HDF5 starts.
[[maybe_unused]] const bool kNoExitCleanup = [] {
  H5dont_atexit();
  return true;
}();

herr_t record_innermost(unsigned n, const H5E_error2_t* error, void* client) {
  // Walking upward, entry 0 is the most specific error (the root cause, e.g. "file signature
  // not found"); the outer entries only say which API call gave up. One line: the descriptions of
  // system errors embed newlines ("time = ...\n, filename = ...").
  if (n == 0 && error != nullptr && error->desc != nullptr) {
    std::string text = error->desc;
    // A system error: "file write failed: time = ..., error message = 'No space left on device',
    // buf = ..." -> "file write failed: No space left on device".
    const std::string marker = "error message = '";
    const auto at = text.find(marker);
    const auto end = at == std::string::npos ? at : text.find('\'', at + marker.size());
    if (end != std::string::npos)
      text = text.substr(0, text.find(':')) + ": " + text.substr(at + marker.size(), end - at - marker.size());
    std::replace(text.begin(), text.end(), '\n', ' ');
    *static_cast<std::string*>(client) = text;
  }
  return 0;
}

std::atomic<int64_t> g_failed_closes{0};

PropertyList file_access_list(const std::filesystem::path& path) {
  PropertyList fapl(H5Pcreate(H5P_FILE_ACCESS));
  if (!fapl) fail(H5I_INVALID_HID, path.string() + ": cannot create a file access property list");
#ifdef FPOKIT_HDF5_HAVE_FILE_LOCKING_CONTROL
  // Lock where the filesystem can, carry on where it cannot (HDF5 would otherwise refuse to
  // open any file on NFS without lockd).
  if (H5Pset_file_locking(fapl.get(), true, true) < 0)
    fail(H5I_INVALID_HID, path.string() + ": cannot set file locking");
#endif
  return fapl;
}

std::string name_of(hid_t id, bool file) {
  const ssize_t n = file ? H5Fget_name(id, nullptr, 0) : H5Iget_name(id, nullptr, 0);
  if (n <= 0) return {};
  std::string out(static_cast<size_t>(n) + 1, '\0');
  const ssize_t m = file ? H5Fget_name(id, out.data(), out.size()) : H5Iget_name(id, out.data(), out.size());
  if (m <= 0) return {};
  out.resize(static_cast<size_t>(std::min(m, n)));
  return out;
}

std::string range_text(int64_t start, int64_t count) {
  return "[" + std::to_string(start) + ", " + std::to_string(start + count) + ")";
}

// Elements per row: the product of every dimension after the first.
hsize_t row_elements(const std::vector<hsize_t>& dims) {
  hsize_t n = 1;
  for (size_t i = 1; i < dims.size(); ++i) n *= dims[i];
  return n;
}

std::vector<hsize_t> raw_dims(hid_t dataset) {
  Dataspace space(H5Dget_space(dataset));
  if (!space) fail(dataset, "cannot get the dataspace");
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) fail(dataset, "cannot get the rank");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  if (rank > 0 && H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0)
    fail(dataset, "cannot get the shape");
  return dims;
}

// Opens a scalar (or one-element) attribute and checks its type class against `accepted`.
Attribute open_single_value(hid_t object, const std::string& name, std::initializer_list<H5T_class_t> accepted,
                            const char* expected, Datatype* file_type) {
  Attribute attribute(H5Aopen(object, name.c_str(), H5P_DEFAULT));
  if (!attribute) fail(object, "cannot open attribute '" + name + "'");
  Datatype type(H5Aget_type(attribute.get()));
  if (!type) fail(object, "cannot get the type of attribute '" + name + "'");
  const H5T_class_t cls = H5Tget_class(type.get());
  if (std::find(accepted.begin(), accepted.end(), cls) == accepted.end())
    throw Error(describe(object) + ": attribute '" + name + "' is not " + expected);
  Dataspace space(H5Aget_space(attribute.get()));
  if (!space) fail(object, "cannot get the dataspace of attribute '" + name + "'");
  const hssize_t points = H5Sget_simple_extent_npoints(space.get());
  if (points != 1)
    throw Error(describe(object) + ": attribute '" + name + "' holds " + std::to_string(points) +
                " values, expected a single " + expected);
  if (file_type != nullptr) *file_type = std::move(type);
  return attribute;
}

void write_scalar_attribute(hid_t object, const std::string& name, hid_t file_type, hid_t memory_type,
                            const void* value) {
  silence_error_printing();
  const htri_t exists = H5Aexists(object, name.c_str());
  if (exists < 0) fail(object, "cannot check for attribute '" + name + "'");
  if (exists > 0 && H5Adelete(object, name.c_str()) < 0) fail(object, "cannot replace attribute '" + name + "'");
  Dataspace space(H5Screate(H5S_SCALAR));
  if (!space) fail(object, "cannot create a scalar dataspace");
  Attribute attribute(H5Acreate2(object, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT));
  if (!attribute) fail(object, "cannot create attribute '" + name + "'");
  if (H5Awrite(attribute.get(), memory_type, value) < 0) fail(object, "cannot write attribute '" + name + "'");
  if (!attribute.close()) fail(object, "cannot close attribute '" + name + "'");
}

void check_name(hid_t location, const std::string& name, const char* what) {
  // One path component: '/' would address a nested object and "." the location itself.
  if (name.empty() || name == "." || name.find('/') != std::string::npos)
    throw Error(describe(location) + ": invalid " + what + " name '" + name + "' (must be non-empty, not '.', no '/')");
}

}  // namespace

void silence_error_printing() noexcept {
  thread_local bool silenced = false;
  if (!silenced) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    silenced = true;
  }
}

std::string last_error_reason() {
  std::string reason;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, record_innermost, &reason);
  return reason;
}

std::string describe(hid_t object) {
  if (object < 0) return "HDF5";
  const H5I_type_t type = H5Iget_type(object);
  const std::string file = name_of(object, /*file=*/true);
  if (type == H5I_FILE) return file;
  const std::string path = name_of(object, /*file=*/false);
  return file + ":" + (path.empty() ? "<anonymous object>" : path);
}

void fail(hid_t object, const std::string& what) {
  // The reason first: describe() makes H5* calls, which clear the error stack.
  const std::string reason = last_error_reason();
  std::string message = object < 0 ? what : describe(object) + ": " + what;
  if (!reason.empty()) message += " (HDF5: " + reason + ")";
  throw Error(message);
}

void note_failed_close() noexcept { g_failed_closes.fetch_add(1, std::memory_order_relaxed); }

int64_t failed_closes() noexcept { return g_failed_closes.load(std::memory_order_relaxed); }

void finish_file(File& file, const std::filesystem::path& path, int64_t failed_closes_at_start) {
  const bool closed = file.close();
  const std::string reason = last_error_reason();
  if (closed && failed_closes() == failed_closes_at_start) return;
  const int error = errno;
  std::string why = reason;
  if (why.empty() || why.find("No space") == std::string::npos) {
    if (error == ENOSPC || error == EDQUOT || error == EIO) why = std::strerror(error);
  }
  throw Error(path.string() + ": cannot write: " + (why.empty() ? "HDF5 could not flush it" : why));
}

File create_file(const std::filesystem::path& path) {
  silence_error_printing();
  PropertyList fapl = file_access_list(path);
  File file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()));
  if (!file) fail(H5I_INVALID_HID, path.string() + ": cannot create HDF5 file");
  return file;
}

File open_file(const std::filesystem::path& path, bool writable) {
  silence_error_printing();
  // libhdf5 1.10 can crash or hang on a damaged file before fpokit sees anything: read the whole
  // structure in a child process first (hdf5_structure_check.h).
  check_structure_in_child(path);
  PropertyList fapl = file_access_list(path);
  File file(H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl.get()));
  if (!file) fail(H5I_INVALID_HID, path.string() + ": cannot open as an HDF5 file");
  return file;
}

Group create_group(hid_t location, const std::string& name, bool track_creation_order) {
  silence_error_printing();
  check_name(location, name, "group");
  PropertyList gcpl(H5Pcreate(H5P_GROUP_CREATE));
  if (!gcpl) fail(location, "cannot create a group property list");
  if (track_creation_order && H5Pset_link_creation_order(gcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0)
    fail(location, "cannot enable link creation order");
  Group group(H5Gcreate2(location, name.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT));
  if (!group) fail(location, "cannot create group '" + name + "'");
  return group;
}

Group open_group(hid_t location, const std::string& name) {
  silence_error_printing();
  if (!has_link(location, name)) throw Error(describe(location) + ": has no group '" + name + "'");
  // H5Oopen rather than H5Gopen2: it opens any object, so "exists but is a dataset" gets its own
  // message instead of HDF5's generic failure.
  const hid_t id = H5Oopen(location, name.c_str(), H5P_DEFAULT);
  if (id < 0) fail(location, "cannot open '" + name + "'");
  if (H5Iget_type(id) != H5I_GROUP) {
    H5Oclose(id);
    throw Error(describe(location) + ": '" + name + "' is not a group");
  }
  return Group(id);
}

bool has_link(hid_t location, const std::string& name) {
  silence_error_printing();
  check_name(location, name, "link");
  const htri_t exists = H5Lexists(location, name.c_str(), H5P_DEFAULT);
  if (exists < 0) fail(location, "cannot look up '" + name + "'");
  return exists > 0;
}

std::vector<std::string> link_names(hid_t group) {
  silence_error_printing();
  H5G_info_t info;
  if (H5Gget_info(group, &info) < 0) fail(group, "cannot list the group");
  H5_index_t index = H5_INDEX_NAME;
  {
    PropertyList gcpl(H5Gget_create_plist(group));
    unsigned flags = 0;
    if (gcpl && H5Pget_link_creation_order(gcpl.get(), &flags) >= 0 && (flags & H5P_CRT_ORDER_TRACKED) != 0)
      index = H5_INDEX_CRT_ORDER;
  }
  std::vector<std::string> names;
  names.reserve(static_cast<size_t>(info.nlinks));
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t n = H5Lget_name_by_idx(group, ".", index, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (n < 0) fail(group, "cannot read the name of member " + std::to_string(i));
    std::string name(static_cast<size_t>(n) + 1, '\0');
    if (H5Lget_name_by_idx(group, ".", index, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT) < 0)
      fail(group, "cannot read the name of member " + std::to_string(i));
    name.resize(static_cast<size_t>(n));
    names.push_back(std::move(name));
  }
  return names;
}

bool has_attribute(hid_t object, const std::string& name) {
  silence_error_printing();
  const htri_t exists = H5Aexists(object, name.c_str());
  if (exists < 0) fail(object, "cannot check for attribute '" + name + "'");
  return exists > 0;
}

void write_string_attribute(hid_t object, const std::string& name, std::string_view value) {
  silence_error_printing();
  if (value.find('\0') != std::string_view::npos)
    throw Error(describe(object) + ": attribute '" + name + "' value contains a NUL character");
  Datatype type(H5Tcopy(H5T_C_S1));
  if (!type || H5Tset_size(type.get(), H5T_VARIABLE) < 0 || H5Tset_cset(type.get(), H5T_CSET_UTF8) < 0)
    fail(object, "cannot make a string type for attribute '" + name + "'");
  const std::string copy(value);
  const char* pointer = copy.c_str();
  write_scalar_attribute(object, name, type.get(), type.get(), &pointer);
}

void write_int64_attribute(hid_t object, const std::string& name, int64_t value) {
  write_scalar_attribute(object, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

void write_double_attribute(hid_t object, const std::string& name, double value) {
  write_scalar_attribute(object, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

std::optional<std::string> read_string_attribute(hid_t object, const std::string& name) {
  if (!has_attribute(object, name)) return std::nullopt;
  Datatype file_type;
  Attribute attribute = open_single_value(object, name, {H5T_STRING}, "a string", &file_type);
  const htri_t variable = H5Tis_variable_str(file_type.get());
  if (variable < 0) fail(object, "cannot inspect the string type of attribute '" + name + "'");
  // The memory type keeps the file's character set: HDF5 refuses to convert ASCII <-> UTF-8.
  Datatype memory_type(H5Tcopy(H5T_C_S1));
  if (!memory_type || H5Tset_cset(memory_type.get(), H5Tget_cset(file_type.get())) < 0)
    fail(object, "cannot make a string type for attribute '" + name + "'");
  if (variable > 0) {
    if (H5Tset_size(memory_type.get(), H5T_VARIABLE) < 0)
      fail(object, "cannot make a string type for attribute '" + name + "'");
    char* text = nullptr;
    if (H5Aread(attribute.get(), memory_type.get(), &text) < 0) fail(object, "cannot read attribute '" + name + "'");
    std::string out = text != nullptr ? std::string(text) : std::string();
    H5free_memory(text);
    return out;
  }
  const size_t size = H5Tget_size(file_type.get());
  if (size == 0) fail(object, "cannot get the size of attribute '" + name + "'");
  if (H5Tset_size(memory_type.get(), size) < 0 || H5Tset_strpad(memory_type.get(), H5T_STR_NULLPAD) < 0)
    fail(object, "cannot make a string type for attribute '" + name + "'");
  std::string out(size, '\0');
  if (H5Aread(attribute.get(), memory_type.get(), out.data()) < 0) fail(object, "cannot read attribute '" + name + "'");
  // Null-terminated and null-padded strings end at the first NUL; Fortran's space padding goes too.
  out.resize(std::min(out.find('\0'), out.size()));
  if (H5Tget_strpad(file_type.get()) == H5T_STR_SPACEPAD) out.erase(out.find_last_not_of(' ') + 1);
  return out;
}

std::optional<int64_t> read_int64_attribute(hid_t object, const std::string& name) {
  if (!has_attribute(object, name)) return std::nullopt;
  Attribute attribute = open_single_value(object, name, {H5T_INTEGER}, "an integer", nullptr);
  int64_t value = 0;
  if (H5Aread(attribute.get(), H5T_NATIVE_INT64, &value) < 0) fail(object, "cannot read attribute '" + name + "'");
  return value;
}

std::optional<double> read_double_attribute(hid_t object, const std::string& name) {
  if (!has_attribute(object, name)) return std::nullopt;
  Attribute attribute = open_single_value(object, name, {H5T_FLOAT, H5T_INTEGER}, "a number", nullptr);
  double value = 0;
  if (H5Aread(attribute.get(), H5T_NATIVE_DOUBLE, &value) < 0) fail(object, "cannot read attribute '" + name + "'");
  return value;
}

Dataset create_row_dataset(hid_t location, const std::string& name, hid_t file_type,
                           const std::vector<int64_t>& row_shape, int64_t chunk_rows) {
  silence_error_printing();
  check_name(location, name, "dataset");
  if (chunk_rows <= 0)
    throw Error(describe(location) + ": dataset '" + name + "': chunk_rows must be positive, got " +
                std::to_string(chunk_rows));
  std::vector<hsize_t> dims{0}, max_dims{H5S_UNLIMITED}, chunk{static_cast<hsize_t>(chunk_rows)};
  double chunk_bytes = static_cast<double>(chunk_rows) * static_cast<double>(H5Tget_size(file_type));
  for (const int64_t d : row_shape) {
    if (d <= 0)
      throw Error(describe(location) + ": dataset '" + name + "': row dimensions must be positive, got " +
                  std::to_string(d));
    dims.push_back(static_cast<hsize_t>(d));
    max_dims.push_back(static_cast<hsize_t>(d));
    chunk.push_back(static_cast<hsize_t>(d));
    chunk_bytes *= static_cast<double>(d);
  }
  // HDF5 stores a chunk's size in 32 bits.
  if (chunk_bytes >= 4294967295.0)
    throw Error(describe(location) + ": dataset '" + name + "': a chunk of " + std::to_string(chunk_rows) +
                " rows would be " + std::to_string(static_cast<int64_t>(chunk_bytes)) +
                " bytes, over HDF5's 4 GiB limit; use fewer chunk rows");
  Dataspace space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), max_dims.data()));
  if (!space) fail(location, "cannot create the dataspace of '" + name + "'");
  PropertyList dcpl(H5Pcreate(H5P_DATASET_CREATE));
  if (!dcpl || H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()) < 0)
    fail(location, "cannot set the chunking of '" + name + "'");
  // No chunk-cache tuning: for unfiltered chunks HDF5 writes a partial chunk that does not fit its
  // cache straight to its place in the file, with no read-back (measured: appends of 7 to 1000 rows
  // into 32 MiB chunks run as fast with the default 1 MiB cache as with one holding two chunks).
  Dataset dataset(H5Dcreate2(location, name.c_str(), file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT));
  if (!dataset) fail(location, "cannot create dataset '" + name + "'");
  return dataset;
}

Dataset open_dataset(hid_t location, const std::string& name) {
  silence_error_printing();
  if (!has_link(location, name)) throw Error(describe(location) + ": has no dataset '" + name + "'");
  const hid_t id = H5Oopen(location, name.c_str(), H5P_DEFAULT);
  if (id < 0) fail(location, "cannot open '" + name + "'");
  if (H5Iget_type(id) != H5I_DATASET) {
    H5Oclose(id);
    throw Error(describe(location) + ": '" + name + "' is not a dataset");
  }
  return Dataset(id);
}

std::vector<int64_t> dataset_shape(hid_t dataset) {
  silence_error_printing();
  const std::vector<hsize_t> dims = raw_dims(dataset);
  return std::vector<int64_t>(dims.begin(), dims.end());
}

Datatype dataset_type(hid_t dataset) {
  silence_error_printing();
  Datatype type(H5Dget_type(dataset));
  if (!type) fail(dataset, "cannot get the element type");
  return type;
}

void append_rows(hid_t dataset, hid_t memory_type, const void* data, int64_t rows) {
  silence_error_printing();
  if (rows < 0) throw std::invalid_argument("hdf5::append_rows: negative row count " + std::to_string(rows));
  if (rows == 0) return;
  std::vector<hsize_t> dims = raw_dims(dataset);
  if (dims.empty()) throw Error(describe(dataset) + ": is a scalar dataset, cannot append rows");
  const hsize_t old_rows = dims[0];
  dims[0] += static_cast<hsize_t>(rows);
  if (H5Dset_extent(dataset, dims.data()) < 0) fail(dataset, "cannot grow to " + std::to_string(dims[0]) + " rows");
  Dataspace file_space(H5Dget_space(dataset));
  if (!file_space) fail(dataset, "cannot get the dataspace");
  std::vector<hsize_t> start(dims.size(), 0), count(dims);
  start[0] = old_rows;
  count[0] = static_cast<hsize_t>(rows);
  if (H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr) < 0)
    fail(dataset, "cannot select rows to append");
  Dataspace memory_space(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr));
  if (!memory_space) fail(dataset, "cannot create the memory dataspace");
  if (H5Dwrite(dataset, memory_type, memory_space.get(), file_space.get(), H5P_DEFAULT, data) < 0)
    fail(dataset, "cannot write rows " + range_text(static_cast<int64_t>(old_rows), rows));
}

void read_rows(hid_t dataset, hid_t memory_type, int64_t start, int64_t count, void* out) {
  silence_error_printing();
  const std::vector<hsize_t> dims = raw_dims(dataset);
  if (dims.empty()) throw Error(describe(dataset) + ": is a scalar dataset, it has no rows");
  const auto rows = static_cast<int64_t>(dims[0]);
  if (start < 0 || count < 0 || start > rows || count > rows - start)
    throw std::out_of_range(describe(dataset) + ": rows " + range_text(start, count) + " are outside its " +
                            std::to_string(rows) + " rows");
  if (count == 0 || row_elements(dims) == 0) return;
  Dataspace file_space(H5Dget_space(dataset));
  if (!file_space) fail(dataset, "cannot get the dataspace");
  std::vector<hsize_t> offset(dims.size(), 0), extent(dims);
  offset[0] = static_cast<hsize_t>(start);
  extent[0] = static_cast<hsize_t>(count);
  if (H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, offset.data(), nullptr, extent.data(), nullptr) < 0)
    fail(dataset, "cannot select rows " + range_text(start, count));
  Dataspace memory_space(H5Screate_simple(static_cast<int>(extent.size()), extent.data(), nullptr));
  if (!memory_space) fail(dataset, "cannot create the memory dataspace");
  if (H5Dread(dataset, memory_type, memory_space.get(), file_space.get(), H5P_DEFAULT, out) < 0)
    fail(dataset, "cannot read rows " + range_text(start, count));
}

}  // namespace fpokit::core::hdf5
