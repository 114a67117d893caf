// core::hdf5::check_structure_in_child: libhdf5 1.10 crashes or hangs on some damaged files before
// fpokit sees anything; open_file reads the structure in a child process first, so such a file is
// an Error naming it, and a sound file opens as before. The damaged inputs are ones fuzzing found
// (tests/fuzz/known/, docs/reliability.md 'Fuzzing and sanitizers').
#include <catch2/catch.hpp>

#include <chrono>

#include "fpokit/core/io/hdf5_arrays.h"
#include "fpokit/core/io/hdf5_structure_check.h"
#include "test_support.h"

using namespace fpokit;
namespace h5 = fpokit::core::hdf5;

namespace {

// Restores the time limit a test shortened.
struct TimeLimit {
  explicit TimeLimit(std::chrono::milliseconds limit) : saved(h5::structure_check_time_limit()) {
    h5::set_structure_check_time_limit(limit);
  }
  ~TimeLimit() { h5::set_structure_check_time_limit(saved); }
  std::chrono::milliseconds saved;
};

std::string open_error(const std::filesystem::path& path) {
  try {
    (void)h5::open_file(path);
  } catch (const h5::Error& e) {
    return e.what();
  }
  return "opened";
}

}  // namespace

TEST_CASE("hdf5 structure check: a sound file with strings, attributes and chunks opens and reads back") {
  test::TempDir tmp;
  const auto path = tmp / "sound.h5";
  {
    auto file = h5::create_file(path);
    std::vector<float> values(5000, 1.5f);
    h5::write_float_array(file.get(), "x", {5, 1000}, values.data(), {.compress = true, .chunk_bytes = 400});
    h5::write_string_array(file.get(), "names", {"a", "b"});
    h5::write_string_attribute(file.get(), "model_name", "tiny");
  }
  h5::check_structure_in_child(path);  // returns quietly
  const auto file = h5::open_file(path);
  CHECK(h5::read_string_attribute(file.get(), "model_name").value_or("") == "tiny");
  std::vector<int64_t> shape;
  CHECK(h5::read_double_array(file.get(), "x", &shape)[4999] == 1.5);
}

TEST_CASE("hdf5 structure check: a damaged global heap that crashes libhdf5 is an error naming the file") {
  const auto path = test::repo_file("tests/fuzz/known/activation_file-hdf5-global-heap-overlap.h5");
  const std::string message = open_error(path);
  CHECK_THAT(message, Catch::Contains(path.filename().string()));
#if H5_VERS_MAJOR == 1 && H5_VERS_MINOR == 10
  // libhdf5 1.10 reads a string attribute out of bounds (SIGSEGV without ASan).
  CHECK_THAT(message, Catch::Contains("is damaged: libhdf5 crashed reading its structure (SIG"));
#else
  CHECK(message != "opened");
#endif
}

TEST_CASE("hdf5 structure check: a file libhdf5 divides by zero on is an error, not a SIGFPE") {
  const auto path = test::repo_file("tests/fuzz/known/reference_cache-hdf5-crash-87a9d5de.h5");
  const std::string message = open_error(path);
  CHECK_THAT(message, Catch::Contains(path.filename().string()));
#if H5_VERS_MAJOR == 1 && H5_VERS_MINOR == 10
  CHECK_THAT(message, Catch::Contains("crashed reading its structure (SIGFPE)"));
#endif
}

TEST_CASE("hdf5 structure check: a file libhdf5 parses without end is an error after the time limit") {
  const TimeLimit limit(std::chrono::milliseconds(400));
  const auto path = test::repo_file("tests/fuzz/known/activation_file-hdf5-hang-8f910658.h5");
  const auto start = std::chrono::steady_clock::now();
  const std::string message = open_error(path);
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(took < std::chrono::seconds(20));
#if H5_VERS_MAJOR == 1 && H5_VERS_MINOR == 10
  CHECK_THAT(message, Catch::Contains("is damaged: libhdf5 did not finish reading its structure in 0.4 s"));
#else
  CHECK(message != "opened");
#endif
}

TEST_CASE("hdf5 structure check: a file that is not HDF5 gets HDF5's own reason from the real open") {
  test::TempDir tmp;
  const auto path = tmp / "text.h5";
  test::write_bytes(path, "not an HDF5 file\n");
  h5::check_structure_in_child(path);  // nothing to walk: the open reports it
  CHECK_THAT(open_error(path), Catch::Contains("cannot open as an HDF5 file") && Catch::Contains("signature"));
}

TEST_CASE("hdf5 structure check: every file fuzzing found to crash or hang libhdf5 is an error, never a crash") {
  // tests/fuzz/known/<reader>-hdf5-crash-*.h5 crash libhdf5 1.10.8 in a release build (SIGSEGV,
  // SIGFPE); *-hang-* keep it parsing for minutes. A short limit keeps the hangs quick here.
  const TimeLimit limit(std::chrono::milliseconds(500));
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(test::repo_file("tests/fuzz/known"))) {
    const std::string name = entry.path().filename().string();
    if (name.find("-hdf5-crash-") == std::string::npos && name.find("-hdf5-hang-") == std::string::npos) continue;
    ++files;
    INFO(name);
    const std::string message = open_error(entry.path());
    CHECK_THAT(message, Catch::Contains(name));
#if H5_VERS_MAJOR == 1 && H5_VERS_MINOR == 10
    CHECK_THAT(message, Catch::Contains(" is damaged: libhdf5 "));
#endif
  }
  CHECK(files >= 20);
}
