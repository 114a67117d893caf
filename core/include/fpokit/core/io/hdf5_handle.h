#pragma once
// RAII handles and small helpers over the HDF5 C library (1.10 or newer), shared by every HDF5
// file fpokit writes: the activation cache, the reference-logprob cache, drift reports.
//
// Every hid_t HDF5 hands out must be closed by the H5*close of its kind; Handle<Close> does that
// exactly once and is move-only. The helpers return such handles and take plain hid_t (pass
// handle.get()), so predefined types like H5T_NATIVE_FLOAT, which must never be closed, mix freely.
//
// Errors from the helpers are hdf5::Error, an InputError (HDF5 trouble is nearly always a bad,
// damaged or unwritable file) with a one-line message that names the file and object and ends
// with HDF5's own innermost reason, e.g.
//   cache.h5:/token_ids: cannot read rows [0, 10) (HDF5: addr overflow, ...)
// Readers of a file the user supplied catch it and rethrow a CheckpointError with a hint. The
// helpers silence HDF5's automatic error-stack printing, so nothing reaches stderr: the CLI
// prints exactly one line per error.
//
// Thread safety: Debian's libhdf5 is built thread-safe (one global lock), so handles may be used
// from several threads; each call is serialised by the library.
#include <hdf5.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fpokit/core/errors.h"

namespace fpokit::core::hdf5 {

class Error : public InputError {
 public:
  using InputError::InputError;
};

// Counts HDF5 closes that failed (failed_closes()): defined in hdf5_handle.cpp.
void note_failed_close() noexcept;

// One open HDF5 identifier, closed with Close when the handle dies or is reset.
template <herr_t (*Close)(hid_t)>
class Handle {
 public:
  Handle() noexcept = default;
  // Takes ownership of `id`; a negative id (a failed H5*open/create) makes an empty handle.
  explicit Handle(hid_t id) noexcept : id_(id < 0 ? H5I_INVALID_HID : id) {}
  ~Handle() { reset(); }

  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& other) noexcept : id_(std::exchange(other.id_, H5I_INVALID_HID)) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
    }
    return *this;
  }

  hid_t get() const noexcept { return id_; }
  bool valid() const noexcept { return id_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }

  // Gives up ownership without closing.
  hid_t release() noexcept { return std::exchange(id_, H5I_INVALID_HID); }

  // Closes now and reports whether HDF5 succeeded. Closing a dataset flushes its chunk cache and
  // closing a file flushes everything, so a writer must check this (a full disk shows up here);
  // the destructor cannot report it. The handle is empty afterwards either way.
  bool close() noexcept {
    if (id_ < 0) return true;
    const herr_t status = Close(std::exchange(id_, H5I_INVALID_HID));
    if (status < 0) note_failed_close();
    return status >= 0;
  }
  void reset() noexcept { close(); }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

using File = Handle<H5Fclose>;
using Group = Handle<H5Gclose>;
using Dataset = Handle<H5Dclose>;
using Dataspace = Handle<H5Sclose>;
using Datatype = Handle<H5Tclose>;
using Attribute = Handle<H5Aclose>;
using PropertyList = Handle<H5Pclose>;

// Turns off HDF5's automatic printing of its error stack to stderr. The setting is per thread in
// thread-safe builds, so this runs once per calling thread; cheap after that. Every helper below
// calls it; code that makes raw H5* calls of its own should call it first.
void silence_error_printing() noexcept;

// The most specific description on the calling thread's HDF5 error stack (e.g. "file signature
// not found"), or "" when the stack is empty. Must run before the next H5* call, which clears it.
std::string last_error_reason();

// "<file>:<object path>" for an open object, "<file>" for a file id; for messages.
std::string describe(hid_t object);

// Throws Error("<describe(object)>: <what> (HDF5: <last_error_reason()>)"), leaving out the
// HDF5 part when the stack is empty. Call it right after the failing H5* call.
[[noreturn]] void fail(hid_t object, const std::string& what);

// ---- files ----
// Creates (truncating) `path`. File locking is best effort, so filesystems without locks (NFS,
// some Lustre set-ups) work.
File create_file(const std::filesystem::path& path);

// How many HDF5 closes have failed in this process. A handle closed by its destructor cannot
// report a failure, and a chunked dataset writes its data when it is closed: on a full disk that
// close fails and the data is lost. So a writer notes this count when it starts and calls
// finish_file at the end.
int64_t failed_closes() noexcept;
// Closes `file` (flushing everything) and throws Error "<path>: cannot write: <reason>" when that
// close, or any HDF5 close since the writer noted `failed_closes_at_start`, failed.
void finish_file(File& file, const std::filesystem::path& path, int64_t failed_closes_at_start);
// Opens an existing file, read-only unless `writable`. Throws Error naming the path with HDF5's
// reason (not HDF5, truncated, unreadable), or saying it is damaged when libhdf5 crashed or hung
// reading its structure (checked first in a child process: hdf5_structure_check.h).
File open_file(const std::filesystem::path& path, bool writable = false);

// ---- groups and links ----
// `track_creation_order`: link_names() then lists members in the order they were created.
Group create_group(hid_t location, const std::string& name, bool track_creation_order = true);
// Throws Error when `name` is missing or not a group.
Group open_group(hid_t location, const std::string& name);
// Whether `location` has a direct member called `name` (one path component).
bool has_link(hid_t location, const std::string& name);
// The names of a group's direct members, in creation order when the group tracks it (see
// create_group), otherwise in name order.
std::vector<std::string> link_names(hid_t group);

// ---- attributes (scalar) ----
// Writers replace an existing attribute of the same name. Strings are stored as variable-length
// UTF-8 (what h5py writes for a Python str); they must not contain NUL.
bool has_attribute(hid_t object, const std::string& name);
void write_string_attribute(hid_t object, const std::string& name, std::string_view value);
void write_int64_attribute(hid_t object, const std::string& name, int64_t value);
void write_double_attribute(hid_t object, const std::string& name, double value);
// Readers return nullopt when the attribute is missing and throw Error when it exists but is not
// a single value of the right class (string: fixed or variable length; int64: any integer type;
// double: any integer or float type).
std::optional<std::string> read_string_attribute(hid_t object, const std::string& name);
std::optional<int64_t> read_int64_attribute(hid_t object, const std::string& name);
std::optional<double> read_double_attribute(hid_t object, const std::string& name);

// ---- row datasets ----
// A dataset of rows that grows along dimension 0: shape [0, row_shape...], unlimited rows, chunks
// of `chunk_rows` rows, no filters (speed over size). An empty row_shape makes a 1-D dataset.
// `file_type` is the on-disk type (e.g. H5T_IEEE_F32LE). Chunks of at most 4 GiB (HDF5's limit).
Dataset create_row_dataset(hid_t location, const std::string& name, hid_t file_type,
                           const std::vector<int64_t>& row_shape, int64_t chunk_rows);
// Throws Error when `name` is missing or not a dataset.
Dataset open_dataset(hid_t location, const std::string& name);
// The current shape ([] for a scalar dataset).
std::vector<int64_t> dataset_shape(hid_t dataset);
// The on-disk element type (H5Dget_type).
Datatype dataset_type(hid_t dataset);

// Extends the dataset by `rows` rows and writes them from `data`: rows × (elements per row)
// contiguous values of `memory_type`, converted by HDF5 to the file type. rows == 0 does nothing.
void append_rows(hid_t dataset, hid_t memory_type, const void* data, int64_t rows);
// Reads rows [start, start + count) into `out` (count × elements per row of `memory_type`).
// Throws std::out_of_range for rows outside the dataset, Error when HDF5 fails.
void read_rows(hid_t dataset, hid_t memory_type, int64_t start, int64_t count, void* out);

}  // namespace fpokit::core::hdf5
