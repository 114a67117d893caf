#pragma once
// Rows of a Parquet file as dataset records (record_reader.h), through Apache Arrow's C++ library
// (libarrow + libparquet from the project venv's pyarrow wheel; cmake/FpokitParquet.cmake).
//
// The file is read one row group at a time, in record batches of at most 8192 rows, so that a
// dataset of many GB costs the memory of one row group's compressed pages and one decoded batch.
// Each row becomes a JSON object, column name -> value:
//   null -> null; bool; (u)int8..64 -> integers; half float, float, double -> numbers (NaN and
//   infinities stay doubles, which nlohmann::json dumps as null); string, large_string,
//   string_view -> strings; list, large_list, fixed_size_list -> arrays; struct -> objects;
//   map -> arrays of [key, value] pairs (what pyarrow's to_pylist gives; keys need not be
//   strings); dictionary-encoded columns -> their decoded values; date32/date64 -> "YYYY-MM-DD";
//   timestamp -> ISO 8601 "YYYY-MM-DDTHH:MM:SS" with 3/6/9 fraction digits for ms/us/ns units,
//   suffixed "Z" when the column has a time zone (Arrow stores UTC instants then).
// Binary columns and every other type (decimal, union, time of day, duration, ...) are an
// InputError at open naming the file, the column and the type: fpokit datasets are text, and a
// reader that failed on the millionth row would waste a run.
//
// Positions are 0-based row indices across the file (row groups in order), numbers 1-based, so
// seek() jumps straight to the row group that holds a row.
//
// In a build without Arrow (FPOKIT_HAVE_PARQUET unset) the constructor throws an InputError that
// says how to rebuild with it; this header is the same in both builds (no Arrow includes).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "fpokit/core/dataset/record_reader.h"

namespace fpokit::core {

class ParquetRecordReader : public RecordReader {
 public:
  // Opens the file and checks its schema; throws InputError (one line naming the file) when it is
  // not a readable Parquet file or has a column of an unsupported type.
  explicit ParquetRecordReader(std::filesystem::path path);
  ~ParquetRecordReader() override;

  std::optional<DatasetRecord> next() override;
  void seek(int64_t position, int64_t number) override;
  int64_t position() const override { return position_; }
  int64_t number() const override { return number_; }
  std::string where(int64_t number) const override;
  std::string format_name() const override { return "Parquet"; }

  // The file's total row count (from its footer).
  int64_t num_rows() const;

 private:
  struct State;  // Arrow's readers and the current batch (parquet_record_reader.cpp)
  std::unique_ptr<State> state_;
  int64_t position_ = 0;
  int64_t number_ = 0;
};

// Whether this fpokit was built with Arrow (cmake/FpokitParquet.cmake).
bool parquet_support_built();

}  // namespace fpokit::core
