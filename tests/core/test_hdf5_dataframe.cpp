// core::hdf5::DataFrameWriter: AnnData's dataframe encoding (what anndata.io.read_elem turns into
// a pandas DataFrame), checked attribute by attribute; the drift report's h5py view
// (tests/fixtures/drift/h5py_view.json) checks the same layout from the Python side.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "fpokit/core/io/hdf5_arrays.h"
#include "fpokit/core/io/hdf5_dataframe.h"
#include "test_support.h"

using namespace fpokit;
namespace h5 = fpokit::core::hdf5;

TEST_CASE("a dataframe group carries AnnData's encoding, its index and its column order") {
  test::TempDir tmp;
  const auto path = tmp / "frame.h5";
  {
    auto file = h5::create_file(path);
    h5::DataFrameWriter frame(file.get(), "table", 3);
    frame.set_index("feature_id", std::vector<int32_t>{0, 1, 2});
    frame.add_column("delta", std::vector<float>{0.5f, -1.0f, 2.0f});
    frame.add_column("p", std::vector<double>{0.01, 0.2, 1.0});
    frame.add_bool_column("selected", {1, 0, 1});
    frame.add_categorical_column("tag", {0, 1, -1}, {"up", "down"});
    CHECK_THROWS_AS(frame.add_column("short", std::vector<double>{1.0}), std::invalid_argument);
    CHECK_THROWS_AS(frame.add_categorical_column("bad", {0, 5, 0}, {"a"}), std::invalid_argument);
    frame.finish();

    h5::DataFrameWriter no_index(file.get(), "no_index", 1);
    CHECK_THROWS_AS(no_index.finish(), std::logic_error);

    h5::DataFrameWriter rows(file.get(), "rows", 2);
    rows.set_index("model", std::vector<std::string>{"base", "aligned"});
    rows.add_column("kl", std::vector<double>{0.0, 0.3});
    rows.finish();
  }
  auto file = h5::open_file(path);
  auto table = h5::open_group(file.get(), "table");
  CHECK(h5::read_string_attribute(table.get(), "encoding-type") == "dataframe");
  CHECK(h5::read_string_attribute(table.get(), "encoding-version") == "0.2.0");
  CHECK(h5::read_string_attribute(table.get(), "_index") == "feature_id");
  CHECK(h5::read_string_array_attribute(table.get(), "column-order") ==
        std::vector<std::string>{"delta", "p", "selected", "tag"});
  CHECK(h5::read_int64_array(table.get(), "feature_id") == std::vector<int64_t>{0, 1, 2});
  CHECK(h5::read_double_array(table.get(), "delta") == std::vector<double>{0.5, -1.0, 2.0});
  CHECK(h5::read_int64_array(table.get(), "selected") == std::vector<int64_t>{1, 0, 1});
  auto tag = h5::open_group(table.get(), "tag");
  CHECK(h5::read_string_attribute(tag.get(), "encoding-type") == "categorical");
  CHECK(h5::read_int64_array(tag.get(), "codes") == std::vector<int64_t>{0, 1, -1});
  CHECK(h5::read_string_array(tag.get(), "categories") == std::vector<std::string>{"up", "down"});

  auto rows = h5::open_group(file.get(), "rows");
  CHECK(h5::read_string_attribute(rows.get(), "_index") == "model");
  CHECK(h5::read_string_array(rows.get(), "model") == std::vector<std::string>{"base", "aligned"});
  CHECK(h5::read_string_array_attribute(rows.get(), "column-order") == std::vector<std::string>{"kl"});
}
