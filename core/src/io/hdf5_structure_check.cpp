#include "fpokit/core/io/hdf5_structure_check.h"

#include <fcntl.h>
#include <hdf5.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <ATen/Parallel.h>

#include "fpokit/core/io/hdf5_handle.h"

// Present only in sanitizer builds: ASan calls it (libFuzzer's hook writes a crash input) before
// it ends a process with a report. The child clears it, so a crash there stays the child's.
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace fpokit::core::hdf5 {

namespace {

// 60 s, or FPOKIT_HDF5_CHECK_SECONDS (a file on a very slow filesystem; 0 turns the check off).
// An unusable value is an error when the first check runs, not a silent default.
constexpr int64_t kUnset = -1;
std::atomic<int64_t> g_time_limit_ms{kUnset};

int64_t time_limit_from_environment() {
  const char* text = std::getenv("FPOKIT_HDF5_CHECK_SECONDS");
  if (text == nullptr || *text == '\0') return 60'000;
  char* end = nullptr;
  errno = 0;
  const double seconds = std::strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || !(seconds >= 0.0) || seconds > 86'400.0)
    throw Error(std::string("FPOKIT_HDF5_CHECK_SECONDS='") + text +
                "' is not a number of seconds in [0, 86400] (0 turns the HDF5 structure check off)");
  return static_cast<int64_t>(seconds * 1000.0);
}

// Values (attributes, variable-length datasets) larger than this are not read: fpokit's own are a
// few kilobytes, and a damaged size must not make the child allocate gigabytes.
constexpr hsize_t kMaxValueBytes = hsize_t{64} << 20;

// ---- the walk, in the child. Every HDF5 error is ignored: the walk is there to touch every
// structure the readers may touch; what HDF5 reports as an error, the real open reports too.

// Strings (variable-length ones live in the global heap) and compounds (which may hold them) are
// read in full; other data only at its first and last element.
bool read_in_full(hid_t type) {
  return H5Tdetect_class(type, H5T_VLEN) > 0 || H5Tis_variable_str(type) > 0 || H5Tdetect_class(type, H5T_STRING) > 0 ||
         H5Tget_class(type) == H5T_COMPOUND;
}

// Reads `points` values of `object` (an attribute, or a dataset selection) in their native type.
// Variable-length memory is not reclaimed: the child exits right after the walk.
void read_values(hid_t object, bool attribute, hid_t file_type, hid_t memory_space, hid_t file_space, hssize_t points) {
  if (points <= 0) return;
  const Datatype native(H5Tget_native_type(file_type, H5T_DIR_ASCEND));
  if (!native) return;
  const size_t element = H5Tget_size(native.get());
  if (element == 0 || static_cast<hsize_t>(points) > kMaxValueBytes / element) return;
  std::vector<unsigned char> buffer(static_cast<size_t>(points) * element);
  if (attribute) {
    (void)H5Aread(object, native.get(), buffer.data());
  } else {
    (void)H5Dread(object, native.get(), memory_space, file_space, H5P_DEFAULT, buffer.data());
  }
}

herr_t visit_attribute(hid_t location, const char* name, const H5A_info_t*, void*) {
  const Attribute attribute(H5Aopen(location, name, H5P_DEFAULT));
  if (!attribute) return 0;
  const Datatype type(H5Aget_type(attribute.get()));
  const Dataspace space(H5Aget_space(attribute.get()));
  if (!type || !space) return 0;
  read_values(attribute.get(), /*attribute=*/true, type.get(), H5S_ALL, H5S_ALL,
              H5Sget_simple_extent_npoints(space.get()));
  return 0;
}

void walk_attributes(hid_t object) {
  hsize_t index = 0;
  (void)H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_NATIVE, &index, visit_attribute, nullptr);
  index = 0;
  (void)H5Aiterate2(object, H5_INDEX_CRT_ORDER, H5_ITER_NATIVE, &index, visit_attribute, nullptr);
}

herr_t visit_link(hid_t group, const char* name, const H5L_info_t*, void*) {
  // The readers look members up by name and list them in creation order; both indexes are walked.
  (void)H5Lexists(group, name, H5P_DEFAULT);
  return 0;
}

void walk_group(hid_t group) {
  hsize_t index = 0;
  (void)H5Literate(group, H5_INDEX_NAME, H5_ITER_NATIVE, &index, visit_link, nullptr);
  index = 0;
  (void)H5Literate(group, H5_INDEX_CRT_ORDER, H5_ITER_NATIVE, &index, visit_link, nullptr);
}

void walk_dataset(hid_t dataset) {
  const Datatype type(H5Dget_type(dataset));
  const Dataspace space(H5Dget_space(dataset));
  const PropertyList create(H5Dget_create_plist(dataset));
  if (!type || !space) return;
  if (create && H5Pget_layout(create.get()) == H5D_CHUNKED) {
    // Counting the chunks walks the whole chunk index (its B-tree), which every read goes through.
    // (libhdf5 1.10.8 refuses H5S_ALL here: the dataset's own dataspace selects every chunk.)
    hsize_t chunks = 0;
    (void)H5Dget_num_chunks(dataset, space.get(), &chunks);
  }
  const int rank = H5Sget_simple_extent_ndims(space.get());
  const hssize_t points = H5Sget_simple_extent_npoints(space.get());
  if (rank < 0 || points <= 0) return;
  if (read_in_full(type.get())) {
    // Strings and other variable-length values live in the global heap, where libhdf5 1.10 reads
    // out of bounds when it is damaged: read them all (up to kMaxValueBytes).
    read_values(dataset, /*attribute=*/false, type.get(), H5S_ALL, H5S_ALL, points);
    return;
  }
  // Fixed-size data: its first and last elements, through the chunk index and the filters.
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  if (rank > 0 && H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0) return;
  const std::vector<hsize_t> ones(static_cast<size_t>(rank), 1);
  const Dataspace one(H5Screate_simple(1, ones.data(), nullptr));
  for (const bool last : {false, true}) {
    std::vector<hsize_t> start(static_cast<size_t>(rank), 0);
    if (last)
      for (size_t d = 0; d < start.size(); ++d) start[d] = dims[d] - 1;
    const Dataspace selection(H5Scopy(space.get()));
    if (!selection || !one) return;
    if (rank > 0 &&
        H5Sselect_hyperslab(selection.get(), H5S_SELECT_SET, start.data(), nullptr, ones.data(), nullptr) < 0)
      return;
    read_values(dataset, /*attribute=*/false, type.get(), rank > 0 ? one.get() : H5S_ALL,
                rank > 0 ? selection.get() : H5S_ALL, 1);
  }
}

#if H5_VERSION_GE(1, 12, 0)
herr_t visit_object(hid_t root, const char* name, const H5O_info2_t* info, void*) {
#else
herr_t visit_object(hid_t root, const char* name, const H5O_info_t* info, void*) {
#endif
  const hid_t id = H5Oopen(root, name, H5P_DEFAULT);
  if (id < 0) return 0;
  walk_attributes(id);
  if (info->type == H5O_TYPE_GROUP) walk_group(id);
  if (info->type == H5O_TYPE_DATASET) walk_dataset(id);
  (void)H5Oclose(id);
  return 0;
}

// The generic walk: every object from the root, through H5Ovisit.
void walk_file(const std::filesystem::path& path) {
  const PropertyList access(H5Pcreate(H5P_FILE_ACCESS));
#if H5_VERSION_GE(1, 10, 7)
  // No lock: the parent may hold this file open for writing (a run being resumed).
  if (access) (void)H5Pset_file_locking(access.get(), false, true);
#endif
  const File file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, access ? access.get() : H5P_DEFAULT));
  if (!file) return;
    // The root group is visited as ".", first.
#if H5_VERSION_GE(1, 12, 0)
  (void)H5Ovisit3(file.get(), H5_INDEX_NAME, H5_ITER_NATIVE, visit_object, nullptr, H5O_INFO_BASIC);
#else
  (void)H5Ovisit2(file.get(), H5_INDEX_NAME, H5_ITER_NATIVE, visit_object, nullptr, H5O_INFO_BASIC);
#endif
}

bool g_in_child = false;

[[noreturn]] void child_main(const std::function<void()>& probe) {
  g_in_child = true;
  // A crash here must end this process plainly: the default action for every fatal signal (no
  // sanitizer or fuzzer handler inherited from the parent), no sanitizer death callback, and no
  // report on the parent's stderr.
  for (const int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP}) ::signal(sig, SIG_DFL);
  if (__sanitizer_set_death_callback != nullptr) __sanitizer_set_death_callback(nullptr);
  const int null_fd = ::open("/dev/null", O_WRONLY);
  if (null_fd >= 0) {
    ::dup2(null_fd, STDOUT_FILENO);
    ::dup2(null_fd, STDERR_FILENO);
  }
  (void)H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  // The parent's thread pools did not come along (fork copies one thread), and libgomp waits for
  // its lost team threads forever: a reader's probe that runs tensor code must stay on this thread.
  at::set_num_threads(1);
  try {
    probe();
  } catch (...) {
    // An error the probe raised is one the parent will raise too, in its own words.
  }
  // _exit: no exit handlers, no flushing of the parent's buffers, no leak check.
  ::_exit(0);
}

std::string signal_text(int sig) {
  const char* name = sigabbrev_np(sig);
  return name != nullptr ? std::string("SIG") + name : "signal " + std::to_string(sig);
}

}  // namespace

void set_structure_check_time_limit(std::chrono::milliseconds limit) noexcept {
  g_time_limit_ms.store(limit.count(), std::memory_order_relaxed);
}

std::chrono::milliseconds structure_check_time_limit() {
  int64_t limit = g_time_limit_ms.load(std::memory_order_relaxed);
  if (limit == kUnset) {
    limit = time_limit_from_environment();
    g_time_limit_ms.store(limit, std::memory_order_relaxed);
  }
  return std::chrono::milliseconds(limit);
}

void check_structure_in_child(const std::filesystem::path& path) {
  check_in_child(path, [&path] { walk_file(path); });
}

void check_in_child(const std::filesystem::path& path, const std::function<void()>& probe) {
  if (g_in_child) return;  // already isolated: this is the child of an outer check
  const auto limit = structure_check_time_limit();
  if (limit.count() == 0) return;
  const pid_t child = ::fork();
  if (child < 0) return;  // no process to spare: the open goes ahead unchecked
  if (child == 0) child_main(probe);

  const auto deadline = std::chrono::steady_clock::now() + limit;
  auto pause = std::chrono::microseconds(100);
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(child, &status, WNOHANG);
    if (done == child) break;
    if (done < 0 && errno != EINTR) return;  // SIGCHLD ignored by the host program: unchecked
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(child, SIGKILL);
      while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
      }
      char seconds[32];
      std::snprintf(seconds, sizeof seconds, "%.3g", static_cast<double>(limit.count()) / 1000.0);
      throw Error(path.string() + " is damaged: libhdf5 did not finish reading its structure in " + seconds +
                  " s (on a very slow filesystem, allow more with FPOKIT_HDF5_CHECK_SECONDS)");
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(20'000));
  }
  if (WIFSIGNALED(status))
    throw Error(path.string() + " is damaged: libhdf5 crashed reading its structure (" + signal_text(WTERMSIG(status)) +
                ")");
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
    throw Error(path.string() + " is damaged: libhdf5 failed reading its structure (a memory error, exit status " +
                std::to_string(WEXITSTATUS(status)) + ")");
}

}  // namespace fpokit::core::hdf5
