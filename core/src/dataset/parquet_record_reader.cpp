#include "fpokit/core/dataset/parquet_record_reader.h"

#include "fpokit/core/errors.h"

#if FPOKIT_HAVE_PARQUET

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <utility>
#include <vector>

#include <arrow/api.h>
#include <arrow/io/file.h>
#include <arrow/util/float16.h>
#include <parquet/arrow/reader.h>
#include <parquet/exception.h>

namespace fpokit::core {
namespace {

// Rows per record batch: what the reader holds decoded at a time. Small enough that a row group
// of long texts costs little memory, large enough that Arrow's per-batch overhead is noise.
constexpr int64_t kBatchRows = 8192;

// Arrow's messages may span lines (context lines); fpokit's errors are one line.
std::string one_line(const std::string& text) {
  std::string out;
  for (const char c : text) {
    const bool space = c == '\n' || c == ' ';
    if (!space || (!out.empty() && out.back() != ' ')) out += space ? ' ' : c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

[[noreturn]] void fail(const std::filesystem::path& file, const std::string& what, const std::string& arrow_says,
                       const std::string& fix) {
  throw InputError(file.string() + ": " + what + " (Arrow: " + one_line(arrow_says) + "); " + fix);
}

// Runs `read` (Arrow calls), turning a non-OK Status (returned or thrown as ParquetException) into
// an InputError naming the file.
template <typename Read>
auto guarded(const std::filesystem::path& file, const std::string& what, const std::string& fix, Read&& read) {
  try {
    return read();
  } catch (const parquet::ParquetException& e) {
    fail(file, what, e.what(), fix);
  }
}

void check(const arrow::Status& status, const std::filesystem::path& file, const std::string& what,
           const std::string& fix) {
  if (!status.ok()) fail(file, what, status.ToString(), fix);
}

template <typename T>
T value_of(arrow::Result<T> result, const std::filesystem::path& file, const std::string& what,
           const std::string& fix) {
  check(result.status(), file, what, fix);
  return std::move(result).ValueUnsafe();
}

// The part of `type` (itself or a nested type) that rows cannot hold, or nullptr.
const arrow::DataType* unsupported_part(const arrow::DataType& type) {
  switch (type.id()) {
    case arrow::Type::NA:
    case arrow::Type::BOOL:
    case arrow::Type::INT8:
    case arrow::Type::INT16:
    case arrow::Type::INT32:
    case arrow::Type::INT64:
    case arrow::Type::UINT8:
    case arrow::Type::UINT16:
    case arrow::Type::UINT32:
    case arrow::Type::UINT64:
    case arrow::Type::HALF_FLOAT:
    case arrow::Type::FLOAT:
    case arrow::Type::DOUBLE:
    case arrow::Type::STRING:
    case arrow::Type::LARGE_STRING:
    case arrow::Type::STRING_VIEW:
    case arrow::Type::DATE32:
    case arrow::Type::DATE64:
    case arrow::Type::TIMESTAMP: return nullptr;
    case arrow::Type::DICTIONARY:
      return unsupported_part(*static_cast<const arrow::DictionaryType&>(type).value_type());
    case arrow::Type::LIST:
    case arrow::Type::LARGE_LIST:
    case arrow::Type::FIXED_SIZE_LIST:
    case arrow::Type::MAP:  // one child: struct<key, value>
    case arrow::Type::STRUCT:
      for (const auto& field : type.fields()) {
        if (const auto* part = unsupported_part(*field->type())) return part;
      }
      return nullptr;
    default: return &type;
  }
}

bool is_bytes(const arrow::DataType& type) {
  const auto id = type.id();
  return id == arrow::Type::BINARY || id == arrow::Type::LARGE_BINARY || id == arrow::Type::BINARY_VIEW ||
         id == arrow::Type::FIXED_SIZE_BINARY;
}

void check_column_type(const std::filesystem::path& file, const arrow::Field& column) {
  const auto* part = unsupported_part(*column.type());
  if (!part) return;
  const std::string where = file.string() + ": column '" + column.name() + "' (Arrow type " +
                            column.type()->ToString() +
                            (part == column.type().get() ? std::string() : ", holding " + part->ToString()) + ")";
  if (is_bytes(*part)) {
    throw InputError(where + " is binary data, which fpokit's text datasets cannot hold; drop the column (pyarrow: " +
                     "table.drop_columns(['" + column.name() + "'])) or convert the file to JSON lines");
  }
  throw InputError(where + " has a type fpokit cannot read (it reads null, bool, integers, floats, strings, dates, " +
                   "timestamps, lists, structs, maps and dictionaries); cast the column with pyarrow (e.g. to " +
                   "string or double) or convert the file to JSON lines");
}

// "YYYY-MM-DD" of a count of days since 1970-01-01.
std::string iso_date(int64_t days) {
  const std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{days}}};
  char text[32];
  std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()));
  return text;
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

std::string iso_timestamp(int64_t value, const arrow::TimestampType& type) {
  int64_t per_second = 1;
  int digits = 0;
  switch (type.unit()) {
    case arrow::TimeUnit::SECOND: break;
    case arrow::TimeUnit::MILLI: per_second = 1000, digits = 3; break;
    case arrow::TimeUnit::MICRO: per_second = 1000000, digits = 6; break;
    case arrow::TimeUnit::NANO: per_second = 1000000000, digits = 9; break;
  }
  const int64_t seconds = floor_div(value, per_second);
  const int64_t fraction = value - seconds * per_second;
  const int64_t days = floor_div(seconds, 86400);
  const int64_t second_of_day = seconds - days * 86400;
  char text[48];
  std::snprintf(text, sizeof text, "T%02d:%02d:%02d", static_cast<int>(second_of_day / 3600),
                static_cast<int>(second_of_day / 60 % 60), static_cast<int>(second_of_day % 60));
  std::string out = iso_date(days) + text;
  if (digits > 0) {
    std::snprintf(text, sizeof text, ".%0*lld", digits, static_cast<long long>(fraction));
    out += text;
  }
  if (!type.timezone().empty()) out += 'Z';  // Arrow stores UTC instants for zoned timestamps
  return out;
}

template <typename ArrayType>
const ArrayType& as(const arrow::Array& array) {
  return static_cast<const ArrayType&>(array);
}

nlohmann::json to_json(const arrow::Array& array, int64_t i);

template <typename ListType>
nlohmann::json list_to_json(const ListType& list, int64_t i) {
  nlohmann::json out = nlohmann::json::array();
  const auto& values = *list.values();
  const int64_t begin = list.value_offset(i);
  const int64_t end = begin + list.value_length(i);
  for (int64_t k = begin; k < end; ++k) out.push_back(to_json(values, k));
  return out;
}

// A map's entries as [key, value] pairs, in file order (pyarrow's to_pylist gives the same).
nlohmann::json map_to_json(const arrow::MapArray& map, int64_t i) {
  // The entries struct's children, sliced to the struct's offset (MapArray::keys() is not).
  const auto& entries = as<arrow::StructArray>(*map.values());
  const auto keys = entries.field(0);
  const auto items = entries.field(1);
  nlohmann::json out = nlohmann::json::array();
  const int64_t begin = map.value_offset(i);
  const int64_t end = begin + map.value_length(i);
  for (int64_t k = begin; k < end; ++k) out.push_back(nlohmann::json::array({to_json(*keys, k), to_json(*items, k)}));
  return out;
}

nlohmann::json struct_to_json(const arrow::StructArray& record, int64_t i) {
  nlohmann::json out = nlohmann::json::object();
  const auto& type = *record.struct_type();
  for (int k = 0; k < type.num_fields(); ++k) out[type.field(k)->name()] = to_json(*record.field(k), i);
  return out;
}

// Element i of `array`, of a type that unsupported_part() accepted.
nlohmann::json to_json(const arrow::Array& array, int64_t i) {
  if (array.IsNull(i)) return nullptr;
  switch (array.type_id()) {
    case arrow::Type::NA: return nullptr;
    case arrow::Type::BOOL: return as<arrow::BooleanArray>(array).Value(i);
    case arrow::Type::INT8: return static_cast<int64_t>(as<arrow::Int8Array>(array).Value(i));
    case arrow::Type::INT16: return static_cast<int64_t>(as<arrow::Int16Array>(array).Value(i));
    case arrow::Type::INT32: return static_cast<int64_t>(as<arrow::Int32Array>(array).Value(i));
    case arrow::Type::INT64: return as<arrow::Int64Array>(array).Value(i);
    case arrow::Type::UINT8: return static_cast<uint64_t>(as<arrow::UInt8Array>(array).Value(i));
    case arrow::Type::UINT16: return static_cast<uint64_t>(as<arrow::UInt16Array>(array).Value(i));
    case arrow::Type::UINT32: return static_cast<uint64_t>(as<arrow::UInt32Array>(array).Value(i));
    case arrow::Type::UINT64: return as<arrow::UInt64Array>(array).Value(i);
    case arrow::Type::HALF_FLOAT:
      return arrow::util::Float16::FromBits(as<arrow::HalfFloatArray>(array).Value(i)).ToDouble();
    case arrow::Type::FLOAT: return static_cast<double>(as<arrow::FloatArray>(array).Value(i));
    case arrow::Type::DOUBLE: return as<arrow::DoubleArray>(array).Value(i);
    case arrow::Type::STRING: return std::string(as<arrow::StringArray>(array).GetView(i));
    case arrow::Type::LARGE_STRING: return std::string(as<arrow::LargeStringArray>(array).GetView(i));
    case arrow::Type::STRING_VIEW: return std::string(as<arrow::StringViewArray>(array).GetView(i));
    case arrow::Type::DATE32: return iso_date(as<arrow::Date32Array>(array).Value(i));
    case arrow::Type::DATE64: return iso_date(floor_div(as<arrow::Date64Array>(array).Value(i), 86400000));
    case arrow::Type::TIMESTAMP:
      return iso_timestamp(as<arrow::TimestampArray>(array).Value(i),
                           static_cast<const arrow::TimestampType&>(*array.type()));
    case arrow::Type::LIST: return list_to_json(as<arrow::ListArray>(array), i);
    case arrow::Type::LARGE_LIST: return list_to_json(as<arrow::LargeListArray>(array), i);
    case arrow::Type::FIXED_SIZE_LIST: return list_to_json(as<arrow::FixedSizeListArray>(array), i);
    case arrow::Type::MAP: return map_to_json(as<arrow::MapArray>(array), i);
    case arrow::Type::STRUCT: return struct_to_json(as<arrow::StructArray>(array), i);
    case arrow::Type::DICTIONARY: {
      const auto& dictionary = as<arrow::DictionaryArray>(array);
      return to_json(*dictionary.dictionary(), dictionary.GetValueIndex(i));
    }
    default: throw std::logic_error("parquet_record_reader: unchecked Arrow type " + array.type()->ToString());
  }
}

const std::string kCorruptFix = "the file is corrupt or truncated: re-download or re-export it";

}  // namespace

struct ParquetRecordReader::State {
  std::unique_ptr<parquet::arrow::FileReader> file;
  std::vector<std::string> column_names;
  std::vector<int64_t> row_group_starts;  // first row of each row group, then the file's row count
  int row_group = -1;                     // the row group `batches` reads
  std::unique_ptr<arrow::RecordBatchReader> batches;
  std::shared_ptr<arrow::RecordBatch> batch;
  std::vector<std::shared_ptr<arrow::Array>> columns;  // batch's columns, fetched once per batch
  int64_t batch_start = 0;                             // file row of the batch's first row

  int64_t total_rows() const { return row_group_starts.back(); }
  bool batch_holds(int64_t row) const { return batch && row >= batch_start && row < batch_start + batch->num_rows(); }
};

ParquetRecordReader::ParquetRecordReader(std::filesystem::path path)
    : RecordReader(std::move(path)), state_(std::make_unique<State>()) {
  const auto& file = this->path();
  const std::string open_fix = "check that it is a Parquet file, or re-download it";
  auto input = value_of(arrow::io::ReadableFile::Open(file.string()), file, "cannot open the file",
                        "check the path and its permissions");
  guarded(file, "not a readable Parquet file", open_fix, [&] {
    parquet::arrow::FileReaderBuilder builder;
    check(builder.Open(input), file, "not a readable Parquet file", open_fix);
    parquet::ArrowReaderProperties properties;
    properties.set_batch_size(kBatchRows);
    builder.properties(properties);
    state_->file = value_of(builder.Build(), file, "not a readable Parquet file", open_fix);
    std::shared_ptr<arrow::Schema> schema;
    check(state_->file->GetSchema(&schema), file, "cannot read the Parquet schema", open_fix);
    for (const auto& column : schema->fields()) {
      check_column_type(file, *column);
      state_->column_names.push_back(column->name());
    }
    const auto metadata = state_->file->parquet_reader()->metadata();
    int64_t start = 0;
    for (int g = 0; g < metadata->num_row_groups(); ++g) {
      state_->row_group_starts.push_back(start);
      start += metadata->RowGroup(g)->num_rows();
    }
    state_->row_group_starts.push_back(start);
  });
}

ParquetRecordReader::~ParquetRecordReader() = default;

int64_t ParquetRecordReader::num_rows() const { return state_->total_rows(); }

std::optional<DatasetRecord> ParquetRecordReader::next() {
  auto& s = *state_;
  const int64_t row = position_;
  if (row >= s.total_rows()) return std::nullopt;
  if (!s.batch_holds(row)) {
    // The row group holding `row` (the last one starting at or before it: empty ones are skipped).
    const auto it = std::upper_bound(s.row_group_starts.begin(), s.row_group_starts.end(), row);
    const int group = static_cast<int>(it - s.row_group_starts.begin()) - 1;
    const std::string what = "cannot read row group " + std::to_string(group) + " (rows " +
                             std::to_string(s.row_group_starts[group] + 1) + "-" +
                             std::to_string(s.row_group_starts[group + 1]) + ")";
    guarded(path(), what, kCorruptFix, [&] {
      // Reopen when moving to another row group or back within this one (after a seek).
      if (group != s.row_group || !s.batches || (s.batch && row < s.batch_start)) {
        s.batches = value_of(s.file->GetRecordBatchReader({group}), path(), what, kCorruptFix);
        s.row_group = group;
        s.batch.reset();
        s.batch_start = s.row_group_starts[group];
      }
      while (!s.batch_holds(row)) {
        if (s.batch) s.batch_start += s.batch->num_rows();
        check(s.batches->ReadNext(&s.batch), path(), what, kCorruptFix);
        if (!s.batch) {
          fail(path(), what, "the row group ended before its footer's row count", kCorruptFix);
        }
      }
      s.columns = s.batch->columns();
    });
  }
  const int64_t index = row - s.batch_start;
  nlohmann::json value = nlohmann::json::object();
  for (size_t c = 0; c < s.columns.size(); ++c) value[s.column_names[c]] = to_json(*s.columns[c], index);
  ++position_;
  ++number_;
  return DatasetRecord{std::move(value), row, number_};
}

void ParquetRecordReader::seek(int64_t position, int64_t number) {
  if (position < 0 || position > state_->total_rows()) {
    throw InputError(path().string() + ": cannot continue at row " + std::to_string(position + 1) + ": the file has " +
                     std::to_string(state_->total_rows()) +
                     " rows (was it replaced since?); start afresh or restore the original file");
  }
  position_ = position;
  number_ = number;
}

std::string ParquetRecordReader::where(int64_t number) const {
  return path().string() + ": row " + std::to_string(number);
}

bool parquet_support_built() { return true; }

}  // namespace fpokit::core

#else  // !FPOKIT_HAVE_PARQUET

namespace fpokit::core {

struct ParquetRecordReader::State {};

ParquetRecordReader::ParquetRecordReader(std::filesystem::path path) : RecordReader(std::move(path)) {
  throw InputError(this->path().string() +
                   ": cannot read Parquet: this fpokit was built without Parquet support; rebuild with pyarrow "
                   "installed in the project venv (scripts/setup.sh) or convert the file to JSON lines");
}

ParquetRecordReader::~ParquetRecordReader() = default;

int64_t ParquetRecordReader::num_rows() const { return 0; }
std::optional<DatasetRecord> ParquetRecordReader::next() { return std::nullopt; }
void ParquetRecordReader::seek(int64_t position, int64_t number) {
  position_ = position;
  number_ = number;
}
std::string ParquetRecordReader::where(int64_t number) const {
  return path().string() + ": row " + std::to_string(number);
}

bool parquet_support_built() { return false; }

}  // namespace fpokit::core

#endif  // FPOKIT_HAVE_PARQUET
