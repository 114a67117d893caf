// core::open_record_reader on Parquet files (ParquetRecordReader, Apache Arrow's C++ library):
// every row equals pyarrow's to_pylist of the file (tests/fixtures/generate_datasets.py writes
// both), seeks land on the same rows as a full read, including across row groups, and files that
// cannot be read are InputErrors naming them. In a build without Arrow (core::parquet_support_built()
// false), opening a Parquet file is an InputError that says how to get Parquet support, and every
// test checks that instead.
//
// Rows are compared as nlohmann::json, whose objects sort their keys: RecordReader's records are
// nlohmann::json (fpokit looks fields up by name), so a row's column order is not kept and not
// compared; the values, the key sets and the row order are.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fpokit/core/dataset/parquet_record_reader.h"
#include "fpokit/core/dataset/record_reader.h"
#include "fpokit/core/errors.h"

using namespace fpokit;

namespace {

std::filesystem::path dataset(const std::string& name) {
  return std::filesystem::path(FPOKIT_FIXTURES_DIR) / "datasets" / name;
}

// The InputError's message that opening `file` and reading all of its rows throws ("" if none).
std::string read_error(const std::filesystem::path& file) {
  try {
    auto reader = core::open_record_reader(file);
    while (reader->next()) {
    }
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

namespace {

// In a build without Arrow every Parquet test checks that refusal instead (and returns).
bool built_without_parquet() {
  if (core::parquet_support_built()) return false;
  const auto file = dataset("preference.parquet");
  CHECK_THAT(read_error(file), Catch::Contains("without Parquet support"));
  return true;
}

std::vector<core::DatasetRecord> read_rest(core::RecordReader& reader) {
  std::vector<core::DatasetRecord> records;
  while (auto record = reader.next()) records.push_back(std::move(*record));
  return records;
}

nlohmann::json expected_rows(const std::string& name) {
  std::ifstream in(dataset("expected_rows.json"));
  REQUIRE(in);
  return nlohmann::json::parse(in).at(name);
}

}  // namespace

TEST_CASE("each Parquet fixture's rows equal pyarrow's to_pylist of it", "[core][dataset][parquet]") {
  if (built_without_parquet()) return;
  for (const std::string name : {"preference.parquet", "hh_rlhf.parquet", "corpus.parquet", "all_types.parquet"}) {
    INFO(name);
    const auto file = dataset(name);
    const auto expected = expected_rows(name);
    auto reader = core::open_record_reader(file);
    CHECK(reader->format_name() == "Parquet");
    CHECK(reader->where(3) == file.string() + ": row 3");
    const auto records = read_rest(*reader);
    REQUIRE(records.size() == expected.size());
    for (size_t i = 0; i < records.size(); ++i) {
      INFO("row " << i + 1);
      CHECK(records[i].value == expected[i]);
      CHECK(records[i].position == static_cast<int64_t>(i));
      CHECK(records[i].number == static_cast<int64_t>(i + 1));
    }
    CHECK(reader->position() == static_cast<int64_t>(expected.size()));
    CHECK(reader->number() == static_cast<int64_t>(expected.size()));
    CHECK_FALSE(reader->next());
  }
}

TEST_CASE("a Parquet row's values keep their JSON kinds", "[core][dataset][parquet]") {
  if (built_without_parquet()) return;
  // Equality with the parsed JSON treats 9 and 9.0 alike; fpokit's field readers do not.
  auto reader = core::open_record_reader(dataset("all_types.parquet"));
  const auto row = reader->next()->value;
  CHECK(row.at("i64").is_number_integer());
  CHECK(row.at("u64").get<uint64_t>() == UINT64_MAX);
  CHECK(row.at("f32").is_number_float());
  CHECK(row.at("flag").is_boolean());
  CHECK(row.at("tags") == nlohmann::json::parse(R"([["a", 1], ["b", 2]])"));
  auto preference = core::open_record_reader(dataset("preference.parquet"));
  const auto first = preference->next()->value;
  CHECK(first.at("score_chosen").is_number_float());
  CHECK(first.at("chosen").at(1).at("role") == "assistant");
}

TEST_CASE("the preference rows read the same from Parquet and from the JSON formats", "[core][dataset][parquet]") {
  if (built_without_parquet()) return;
  const auto parquet = read_rest(*core::open_record_reader(dataset("preference.parquet")));
  for (const std::string name : {"preference.jsonl", "preference.jsonl.gz", "preference.json"}) {
    INFO(name);
    const auto json = read_rest(*core::open_record_reader(dataset(name)));
    REQUIRE(json.size() == parquet.size());
    for (size_t i = 0; i < json.size(); ++i) CHECK(json[i].value == parquet[i].value);
  }
}

TEST_CASE("seeking in a Parquet file gives the rows of a full read, across row groups", "[core][dataset][parquet]") {
  if (built_without_parquet()) return;
  // preference.parquet: 7 rows in row groups of 3, 3 and 1.
  const auto file = dataset("preference.parquet");
  auto reader = core::open_record_reader(file);
  const auto all = read_rest(*reader);
  REQUIRE(all.size() == 7);
  for (int64_t start : {5, 0, 3, 6, 2, 7, 4, 1}) {
    INFO("seek to row " << start + 1);
    reader->seek(start, start);
    CHECK(reader->position() == start);
    CHECK(reader->number() == start);
    const auto rest = read_rest(*reader);
    REQUIRE(rest.size() == all.size() - start);
    for (size_t i = 0; i < rest.size(); ++i) {
      CHECK(rest[i].value == all[start + i].value);
      CHECK(rest[i].position == all[start + i].position);
      CHECK(rest[i].number == all[start + i].number);
    }
  }
  // Back within the row group being read, and resuming with a fresh reader (as --resume does).
  reader->seek(0, 0);
  for (int i = 0; i < 2; ++i) (void)reader->next();
  reader->seek(1, 1);
  CHECK(reader->next()->value == all[1].value);
  auto resumed = core::open_record_reader(file);
  resumed->seek(all[4].position, all[4].number - 1);
  const auto record = resumed->next();
  REQUIRE(record);
  CHECK(record->value == all[4].value);
  CHECK(record->number == 5);

  try {
    reader->seek(8, 8);
    FAIL("a seek past the end was accepted");
  } catch (const InputError& e) {
    CHECK_THAT(e.what(),
               Catch::StartsWith(file.string() + ": cannot continue at row 9") && Catch::Contains("has 7 rows"));
  }
}

TEST_CASE("Parquet rows and seeks are right across the reader's record batches", "[core][dataset][parquet]") {
  if (built_without_parquet()) return;
  // batches.parquet: n = row % 7 for 10100 rows, in row groups of 10000 (more than one record
  // batch of the reader) and 100.
  auto reader = core::open_record_reader(dataset("batches.parquet"));
  int64_t rows = 0;
  bool all_match = true;
  while (auto record = reader->next()) {
    all_match = all_match && record->position == rows && record->value.at("n") == rows % 7;
    ++rows;
  }
  CHECK(rows == 10100);
  CHECK(all_match);
  for (int64_t start : {8193, 8191, 8192, 9999, 10000, 10099, 0}) {
    INFO("seek to row " << start + 1);
    reader->seek(start, start);
    for (int64_t row = start; row < std::min<int64_t>(start + 3, 10100); ++row) {
      const auto record = reader->next();
      REQUIRE(record);
      CHECK(record->position == row);
      CHECK(record->number == row + 1);
      CHECK(record->value.at("n") == row % 7);
    }
  }
  reader->seek(10100, 10100);
  CHECK_FALSE(reader->next());
}

TEST_CASE("a Parquet column of a type without a JSON form is an InputError naming it", "[core][dataset][parquet]") {
  if (built_without_parquet()) return;
  const auto binary = dataset("unsupported_binary.parquet");
  CHECK_THAT(read_error(binary),
             Catch::StartsWith(
                 binary.string() +
                 ": column 'image' (Arrow type struct<bytes: binary, path: string>, holding binary) is binary data") &&
                 Catch::Contains("drop the column"));
  const auto decimal = dataset("unsupported_decimal.parquet");
  CHECK_THAT(read_error(decimal),
             Catch::StartsWith(decimal.string() + ": column 'price' (Arrow type decimal128(5, 2)) has a type") &&
                 Catch::Contains("cast the column"));
}

TEST_CASE("a truncated, corrupt or non-Parquet .parquet file is an InputError naming it", "[core][dataset][parquet]") {
  if (built_without_parquet()) return;
  for (const std::string name : {"truncated.parquet", "not_parquet.parquet"}) {
    const auto file = dataset(name);
    const auto message = read_error(file);
    INFO(message);
    CHECK_THAT(message, Catch::StartsWith(file.string() + ": not a readable Parquet file (Arrow: ") &&
                            Catch::Contains("magic bytes") && Catch::Contains("re-download"));
    CHECK(message.find('\n') == std::string::npos);
  }
  // Footer intact, first page header garbage: opens, fails at the first row.
  const auto corrupt = dataset("corrupt_pages.parquet");
  const auto message = read_error(corrupt);
  INFO(message);
  CHECK_THAT(message, Catch::StartsWith(corrupt.string() + ": cannot read row group 0 (rows 1-2)") &&
                          Catch::Contains("re-download"));
  CHECK(message.find('\n') == std::string::npos);
  const auto missing = dataset("no_such_file.parquet");
  CHECK_THAT(read_error(missing), Catch::StartsWith("cannot open dataset " + missing.string()));
}

TEST_CASE("without Arrow, opening a Parquet file is an InputError saying how to get Parquet support",
          "[core][dataset][parquet]") {
  const auto file = dataset("preference.parquet");
  if (core::parquet_support_built()) {
    CHECK(read_error(file).empty());
    return;
  }
  CHECK_THAT(read_error(file), Catch::StartsWith(file.string()) && Catch::Contains("without Parquet support") &&
                                   Catch::Contains("pyarrow"));
}
