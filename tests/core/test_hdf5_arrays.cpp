// core::hdf5 arrays: whole-array datasets (compressed, chunked), strings, booleans and array
// attributes round-trip through the C API with the types h5py expects.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <cmath>

#include "fpokit/core/io/hdf5_arrays.h"
#include "test_support.h"

using namespace fpokit;
namespace h5 = fpokit::core::hdf5;

TEST_CASE("hdf5 arrays: numeric arrays round-trip with gzip + shuffle chunks") {
  test::TempDir tmp;
  const auto path = tmp / "a.h5";
  std::vector<float> values(3 * 1000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = std::sin(static_cast<float>(i));
  values[5] = std::nanf("");
  {
    auto file = h5::create_file(path);
    h5::write_float_array(file.get(), "x", {3, 1000}, values.data(),
                          {.compress = true, .gzip_level = 4, .chunk_bytes = 4000});
    const int64_t scalar = 42;
    h5::write_int64_array(file.get(), "s", {}, &scalar);
    h5::write_int32_array(file.get(), "empty", {0}, nullptr);
    h5::write_bool_array(file.get(), "flags", {1, 0, 1});
    h5::write_string_array(file.get(), "names", {"a", "ünïcode", ""});
    h5::write_string_scalar(file.get(), "text", "line one\nline two");
    h5::write_string_array_attribute(file.get(), "order", {"x", "s"});
    h5::write_int64_array_attribute(file.get(), "dims", {3, 1000});
    h5::write_bool_attribute(file.get(), "ok", true);
    CHECK_THROWS_AS(h5::write_string_array(file.get(), "bad", {std::string("a\0b", 3)}), h5::Error);
    CHECK_THROWS_AS(h5::write_float_array(file.get(), "a/b", {1}, values.data()), h5::Error);
  }
  auto file = h5::open_file(path);
  std::vector<int64_t> shape;
  const auto back = h5::read_double_array(file.get(), "x", &shape);
  CHECK(shape == std::vector<int64_t>{3, 1000});
  CHECK(std::isnan(back[5]));
  CHECK(back[7] == Approx(values[7]));
  {
    h5::Dataset d = h5::open_dataset(file.get(), "x");
    h5::PropertyList dcpl(H5Dget_create_plist(d.get()));
    REQUIRE(H5Pget_layout(dcpl.get()) == H5D_CHUNKED);
    hsize_t chunk[2];
    H5Pget_chunk(dcpl.get(), 2, chunk);
    CHECK(chunk[0] == 1);  // 4000 bytes = one row of 1000 floats
    CHECK(chunk[1] == 1000);
    CHECK(H5Pget_nfilters(dcpl.get()) == 2);
  }
  CHECK(h5::read_int64_array(file.get(), "s") == std::vector<int64_t>{42});
  CHECK(h5::read_int64_array(file.get(), "empty").empty());
  CHECK(h5::read_int64_array(file.get(), "flags") == std::vector<int64_t>{1, 0, 1});
  {
    h5::Dataset d = h5::open_dataset(file.get(), "flags");
    h5::Datatype t(H5Dget_type(d.get()));
    CHECK(H5Tget_class(t.get()) == H5T_ENUM);
    char name[16];
    int8_t one = 1;
    REQUIRE(H5Tenum_nameof(t.get(), &one, name, sizeof name) >= 0);
    CHECK(std::string(name) == "TRUE");
  }
  CHECK(h5::read_string_array(file.get(), "names") == std::vector<std::string>{"a", "ünïcode", ""});
  CHECK(h5::read_string_array(file.get(), "text") == std::vector<std::string>{"line one\nline two"});
  CHECK(h5::read_string_array_attribute(file.get(), "order") == std::vector<std::string>{"x", "s"});
}
