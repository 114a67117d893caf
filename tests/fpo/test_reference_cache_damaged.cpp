// A damaged reference cache (fpo/training/reference_cache.h) is a CheckpointError naming the file,
// never a LibTorch error, a crash or a read past a buffer: regressions for what the
// fuzz_reference_cache harness (tests/fuzz) found, each file made by writing a valid cache and
// then replacing one dataset or attribute through the HDF5 layer.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "fpokit/core/errors.h"
#include "fpokit/core/io/hdf5_handle.h"
#include "fpokit/core/io/hdf5_structure_check.h"
#include "fpokit/fpo/training/reference_cache.h"
#include "test_support.h"

using namespace fpokit;
using namespace fpokit::fpo;
namespace h5 = fpokit::core::hdf5;

namespace {

constexpr const char* kFingerprint = "fp";

// A valid cache of 3 pairs with pooled features of width 4, then `damage` applied to the open file.
std::filesystem::path damaged_cache(const test::TempDir& tmp, const std::function<void(hid_t)>& damage) {
  PreferenceTrainer::ReferenceValues v;
  for (auto* t :
       {&v.chosen_sum, &v.chosen_mean, &v.chosen_tokens, &v.rejected_sum, &v.rejected_mean, &v.rejected_tokens})
    *t = torch::arange(1, 4, torch::kFloat64);
  v.chosen_pooled = torch::eye(3, 4, torch::kFloat32);
  v.rejected_pooled = torch::eye(3, 4, torch::kFloat32) * 2;
  const auto path = tmp / "ref.h5";
  save_reference_cache(path, v, kFingerprint);
  REQUIRE(load_reference_cache(path, kFingerprint));  // valid before the damage
  auto file = h5::open_file(path, /*writable=*/true);
  damage(file.get());
  REQUIRE(file.close());
  return path;
}

// Replaces dataset `name` by one of shape [rows, row_shape...] holding `values` (row-major).
void replace_dataset(hid_t file, const std::string& name, const std::vector<double>& values,
                     const std::vector<int64_t>& row_shape = {}) {
  REQUIRE(H5Ldelete(file, name.c_str(), H5P_DEFAULT) >= 0);
  int64_t per_row = 1;
  for (const int64_t d : row_shape) per_row *= d;
  auto ds = h5::create_row_dataset(file, name, H5T_IEEE_F64LE, row_shape, 4);
  h5::append_rows(ds.get(), H5T_NATIVE_DOUBLE, values.data(), static_cast<int64_t>(values.size()) / per_row);
}

void check_refused(const std::filesystem::path& path, const std::string& part) {
  try {
    (void)load_reference_cache(path, kFingerprint);
    FAIL("the damaged cache was read");
  } catch (const CheckpointError& e) {
    CHECK_THAT(e.what(), Catch::Contains(path.string()) && Catch::Contains(part));
  }
}

}  // namespace

TEST_CASE("a reference cache with a pooled-feature index outside the width is refused", "[fpo][reference]") {
  test::TempDir tmp;
  // Fuzzer input: an index turned into -2^63; before the check, LibTorch's IndexError escaped.
  check_refused(damaged_cache(tmp,
                              [](hid_t f) {
                                replace_dataset(f, "chosen_pooled_indices", {0, -9.3e18, 2});
                              }),
                "chosen_pooled CSR arrays disagree");
  check_refused(damaged_cache(tmp,
                              [](hid_t f) {
                                replace_dataset(f, "chosen_pooled_indices", {0, 1, 4});
                              }),
                "chosen_pooled CSR arrays disagree");
}

TEST_CASE("a reference cache whose CSR offsets or width do not fit its values is refused", "[fpo][reference]") {
  test::TempDir tmp;
  // Offsets that decrease, that do not end at the number of values, or that cover another
  // number of pairs than the vectors.
  check_refused(damaged_cache(tmp,
                              [](hid_t f) {
                                replace_dataset(f, "rejected_pooled_indptr", {0, 2, 1, 3});
                              }),
                "rejected_pooled CSR arrays disagree");
  check_refused(damaged_cache(tmp,
                              [](hid_t f) {
                                replace_dataset(f, "rejected_pooled_indptr", {0, 1, 2, 5});
                              }),
                "rejected_pooled CSR arrays disagree");
  check_refused(damaged_cache(tmp,
                              [](hid_t f) {
                                replace_dataset(f, "chosen_pooled_indptr", {0, 1, 2});
                              }),
                "chosen_pooled CSR arrays disagree");
  // A width of 0, a negative one, or one no SAE has (a dense allocation of any size otherwise).
  for (const int64_t width : {int64_t{0}, int64_t{-4}, int64_t{1} << 40})
    check_refused(damaged_cache(tmp, [&](hid_t f) { h5::write_int64_attribute(f, "chosen_pooled_width", width); }),
                  "chosen_pooled CSR arrays disagree");
}

TEST_CASE("a reference cache whose vectors are not one stored value per pair is refused", "[fpo][reference]") {
  test::TempDir tmp;
  // 2-D: 3 rows of 2 values were read into a buffer of 3.
  check_refused(damaged_cache(tmp,
                              [](hid_t f) {
                                replace_dataset(f, "chosen_sum", {1, 2, 3, 4, 5, 6}, {2});
                              }),
                "dataset chosen_sum is not a stored 1-D array");
  // Another number of pairs than chosen_sum.
  check_refused(damaged_cache(tmp,
                              [](hid_t f) {
                                replace_dataset(f, "rejected_mean", {1, 2});
                              }),
                "dataset rejected_mean has 2 values but chosen_sum has 3");
  // Declared rows that were never written (a dataset extended without data).
  check_refused(damaged_cache(tmp,
                              [](hid_t f) {
                                auto ds = h5::open_dataset(f, "chosen_tokens");
                                const hsize_t rows = hsize_t{1} << 30;
                                REQUIRE(H5Dset_extent(ds.get(), &rows) >= 0);
                              }),
                "dataset chosen_tokens is not a stored 1-D array");
}

TEST_CASE("a reference cache whose string attribute makes libhdf5 read without end is damaged, not a hang") {
  // Found by fuzzing: libhdf5 cannot iterate the root's attributes (so open_file's generic walk
  // skips them) but opens 'format' by name and then loops in H5HG_read. The cache's own reading
  // runs in a child process first (hdf5_structure_check.h).
  const auto saved = h5::structure_check_time_limit();
  h5::set_structure_check_time_limit(std::chrono::milliseconds(500));
  const auto path = test::repo_file("tests/fuzz/known/reference_cache-hdf5-attribute-hang-e8452130.h5");
  std::string message = "loaded";
  try {
    (void)load_reference_cache(path, kFingerprint, /*stale_is_error=*/true);
  } catch (const CheckpointError& e) {
    message = e.what();
  }
  h5::set_structure_check_time_limit(saved);
  CHECK_THAT(message, Catch::Contains(path.filename().string()) && Catch::Contains("is damaged") &&
                          Catch::Contains("delete it to recompute it"));
}
