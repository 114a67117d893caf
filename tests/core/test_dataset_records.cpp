// Dataset records in every format (core/dataset/record_reader.h) and dataset folders' splits
// (core/dataset/dataset_split.h). The gzip and JSON-array fixtures come from Python's gzip and
// json (tests/fixtures/generate_datasets.py); the split folders and what the `datasets` library
// reads from them from tests/fixtures/generate_dataset_splits.py.
#include <catch2/catch.hpp>

#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "fpokit/core/dataset/concat_record_reader.h"
#include "fpokit/core/dataset/dataset_split.h"
#include "fpokit/core/dataset/record_reader.h"
#include "fpokit/core/errors.h"
#include "test_support.h"

namespace fs = std::filesystem;
using fpokit::InputError;
using fpokit::core::DatasetRecord;
using fpokit::core::open_dataset;
using fpokit::core::open_record_reader;
using fpokit::core::RecordReader;
using fpokit::test::fixture;
using fpokit::test::read_bytes;
using fpokit::test::TempDir;
using fpokit::test::write_bytes;
using Catch::Matchers::Contains;

namespace {

std::vector<DatasetRecord> read_all(RecordReader& reader) {
  std::vector<DatasetRecord> out;
  while (auto r = reader.next()) out.push_back(std::move(*r));
  return out;
}

std::vector<nlohmann::json> values_of(const std::vector<DatasetRecord>& records) {
  std::vector<nlohmann::json> out;
  for (const auto& r : records) out.push_back(r.value);
  return out;
}

// Every record read again after a seek to its position (and to 0) is the same record.
void check_seeks(const fs::path& file) {
  const auto reader = open_record_reader(file);
  const auto all = read_all(*reader);
  REQUIRE(all.size() >= 3);
  for (const size_t i : {size_t{0}, all.size() / 2, all.size() - 1}) {
    reader->seek(all[i].position, all[i].number - 1);
    const auto again = reader->next();
    REQUIRE(again);
    CHECK(again->value == all[i].value);
    CHECK(again->position == all[i].position);
    CHECK(again->number == all[i].number);
  }
}

std::string catch_message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}

}  // namespace

TEST_CASE("JSON lines, gzip JSON lines and a JSON array hold the same records", "[core][dataset]") {
  const auto lines = open_record_reader(fixture("datasets/preference.jsonl"));
  const auto gzip = open_record_reader(fixture("datasets/preference.jsonl.gz"));
  const auto array = open_record_reader(fixture("datasets/preference.json"));
  CHECK(lines->format_name() == "JSON lines");
  CHECK(gzip->format_name() == "gzip JSON lines");
  CHECK(array->format_name() == "JSON array");
  const auto a = read_all(*lines), b = read_all(*gzip), c = read_all(*array);
  REQUIRE(a.size() == 7);
  CHECK(values_of(a) == values_of(b));
  CHECK(values_of(a) == values_of(c));
  // Lines: byte offsets of the (uncompressed) lines, the same for the gzip file; array: indices.
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].position == b[i].position);
    CHECK(a[i].number == static_cast<int64_t>(i) + 1);
    CHECK(c[i].position == static_cast<int64_t>(i));
  }
  CHECK(a[1].position > a[0].position);
  CHECK(lines->where(3) == fixture("datasets/preference.jsonl").string() + ":3");
  CHECK(array->where(3) == fixture("datasets/preference.json").string() + ": record 3");
}

TEST_CASE("every record format seeks back to a record exactly", "[core][dataset]") {
  for (const char* name : {"preference.jsonl", "preference.jsonl.gz", "preference.json"}) {
    INFO(name);
    check_seeks(fixture(std::string("datasets/") + name));
  }
}

TEST_CASE("JSON lines skip blank lines, strip CRLF and count lines", "[core][dataset]") {
  TempDir tmp;
  write_bytes(tmp / "d.jsonl", "{\"a\": 1}\r\n\n   \n{\"a\": 2}\n{\"a\": 3}");
  const auto reader = open_record_reader(tmp / "d.jsonl");
  const auto all = read_all(*reader);
  REQUIRE(all.size() == 3);
  CHECK(all[1].value["a"] == 2);
  CHECK(all[1].number == 4);
  CHECK(all[2].number == 5);
  CHECK(all[1].position == 15);  // after "{\"a\": 1}\r\n" (10 bytes), "\n" and "   \n"
  // A .json file whose first character is not '[' is JSON lines (what datasets' to_json writes).
  write_bytes(tmp / "lines.json", "\n{\"a\": 1}\n{\"a\": 2}\n");
  const auto json_lines = open_record_reader(tmp / "lines.json");
  CHECK(json_lines->format_name() == "JSON lines");
  CHECK(read_all(*json_lines).size() == 2);
}

TEST_CASE("bad dataset files are one line naming the file and the place", "[core][dataset][errors]") {
  TempDir tmp;
  write_bytes(tmp / "bad.jsonl", "{\"a\": 1}\n{\"a\": \n");
  CHECK_THAT(catch_message([&] { read_all(*open_record_reader(tmp / "bad.jsonl")); }),
             Contains((tmp / "bad.jsonl").string() + ":2: not valid JSON"));
  write_bytes(tmp / "list.jsonl", "[1, 2]\n");
  CHECK_THAT(catch_message([&] { read_all(*open_record_reader(tmp / "list.jsonl")); }),
             Contains("list.jsonl:1: expected a JSON object per line, got array"));

  write_bytes(tmp / "object.json", "{\"data\": [1]}");  // not an array: JSON lines of one object
  CHECK(read_all(*open_record_reader(tmp / "object.json")).size() == 1);
  write_bytes(tmp / "broken.json", "[{\"a\": 1}, ");
  CHECK_THAT(catch_message([&] { open_record_reader(tmp / "broken.json"); }),
             Contains("broken.json: not valid JSON") && Contains("one array of objects"));
  write_bytes(tmp / "numbers.json", "[{\"a\": 1}, 7]");
  CHECK_THAT(catch_message([&] { read_all(*open_record_reader(tmp / "numbers.json")); }),
             Contains("numbers.json: record 2: expected a JSON object, got number"));

  // gzip: not gzip at all, and cut short.
  write_bytes(tmp / "plain.jsonl.gz", "{\"a\": 1}\n");
  CHECK_THAT(catch_message([&] { open_record_reader(tmp / "plain.jsonl.gz"); }),
             Contains("plain.jsonl.gz is not gzip-compressed"));
  const auto gz = read_bytes(fixture("datasets/preference.jsonl.gz"));
  REQUIRE(gz.size() > 100);
  write_bytes(tmp / "cut.jsonl.gz", gz.substr(0, gz.size() / 2));
  CHECK_THAT(catch_message([&] { read_all(*open_record_reader(tmp / "cut.jsonl.gz")); }),
             Contains("cut.jsonl.gz") && (Contains("truncated") || Contains("damaged")));

  CHECK_THAT(catch_message([&] { open_record_reader(tmp / "missing.jsonl"); }),
             Contains("cannot open dataset") && Contains("missing.jsonl"));
  write_bytes(tmp / "data.csv", "a,b\n");
  CHECK_THAT(catch_message([&] { open_record_reader(tmp / "data.csv"); }),
             Contains("data.csv has an unknown format") && Contains(".parquet"));
  CHECK_THAT(catch_message([&] { open_record_reader(tmp.path()); }), Contains("is a folder"));
}

TEST_CASE("dataset folders give the splits and rows the datasets library reads", "[core][dataset][split]") {
  const auto root = fixture("dataset_splits");
  const auto expected = nlohmann::json::parse(read_bytes(root / "expected.json"));
  for (const auto& [name, splits] : expected["cases"].items()) {
    INFO(name);
    std::vector<std::string> names;
    for (const auto& [split, ids] : splits.items()) names.push_back(split);
    CHECK(fpokit::core::dataset_splits(root / name) == names);
    for (const auto& [split, ids] : splits.items()) {
      INFO(split);
      const auto reader = open_dataset(root / name, split);
      std::vector<std::string> got;
      while (auto r = reader->next()) got.push_back(r->value["id"].get<std::string>());
      CHECK(got == ids.get<std::vector<std::string>>());
    }
  }
}

TEST_CASE("a dataset folder reads 'train' by default and refuses a split it lacks", "[core][dataset][split]") {
  const auto root = fixture("dataset_splits");
  const auto train = open_dataset(root / "keywords_in_files", "");
  CHECK(train->next()->value["id"] == "train-extra.jsonl:1");
  CHECK_THAT(catch_message([&] { open_dataset(root / "sharded", ""); }),
             Contains("has no split 'train' (by its file names); it has test_prefs, train_prefs: choose one with "
                      "--split (without --split, fpokit reads 'train')"));
  CHECK_THAT(catch_message([&] { open_dataset(root / "readme_configs", "train"); }),
             Contains("has no split 'train' (by its README's configs); it has prefs, sft"));
  CHECK_THAT(catch_message([&] { open_dataset(root / "sharded/data/test_prefs-00000-of-00001.jsonl", "test"); }),
             Contains("--split test applies to a dataset folder") && Contains("is a file"));
  TempDir empty;
  write_bytes(empty / "notes.txt", "x");
  CHECK_THAT(catch_message([&] { open_dataset(empty.path(), ""); }),
             Contains("holds no data files") && Contains("notes.txt"));
}

TEST_CASE("a split's shards read as one and seek across files", "[core][dataset][split]") {
  const auto reader = open_dataset(fixture("dataset_splits/sharded"), "train_prefs");
  std::vector<DatasetRecord> all;
  std::vector<std::string> where;
  while (auto r = reader->next()) {
    where.push_back(reader->where(r->number));
    all.push_back(std::move(*r));
  }
  REQUIRE(all.size() == 4);
  // Positions carry the file index above the offset inside the file; numbers are per file.
  CHECK(all[2].position >> fpokit::core::ConcatRecordReader::kFileShift == 1);
  CHECK(all[2].number == 1);
  CHECK_THAT(where[2], Contains("train_prefs-00001-of-00002.jsonl:1"));
  for (const size_t i : {size_t{2}, size_t{0}, size_t{3}}) {  // the last one last: then the end
    reader->seek(all[i].position, all[i].number - 1);
    const auto again = reader->next();
    REQUIRE(again);
    CHECK(again->value == all[i].value);
  }
  CHECK_FALSE(reader->next());
}
