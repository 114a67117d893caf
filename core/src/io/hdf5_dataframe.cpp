#include "fpokit/core/io/hdf5_dataframe.h"

#include <stdexcept>

#include "fpokit/core/io/hdf5_arrays.h"

namespace fpokit::core::hdf5 {

DataFrameWriter::DataFrameWriter(hid_t parent, const std::string& name, int64_t rows)
    : group_(create_group(parent, name)), rows_(rows) {}

void DataFrameWriter::check_length(const std::string& name, size_t n) const {
  if (static_cast<int64_t>(n) != rows_)
    throw std::invalid_argument("DataFrameWriter: column " + name + " has " + std::to_string(n) + " values for " +
                                std::to_string(rows_) + " rows");
}

Dataset DataFrameWriter::set_index(const std::string& name, const std::vector<int32_t>& values) {
  check_length(name, values.size());
  index_ = name;
  return write_int32_array(group_.get(), name, {rows_}, values.data());
}

Dataset DataFrameWriter::set_index(const std::string& name, const std::vector<std::string>& values) {
  check_length(name, values.size());
  index_ = name;
  return write_string_array(group_.get(), name, values);
}

Dataset DataFrameWriter::add_column(const std::string& name, const std::vector<float>& values) {
  check_length(name, values.size());
  order_.push_back(name);
  return write_float_array(group_.get(), name, {rows_}, values.data());
}

Dataset DataFrameWriter::add_column(const std::string& name, const std::vector<double>& values) {
  check_length(name, values.size());
  order_.push_back(name);
  return write_double_array(group_.get(), name, {rows_}, values.data());
}

Dataset DataFrameWriter::add_bool_column(const std::string& name, const std::vector<uint8_t>& values) {
  check_length(name, values.size());
  order_.push_back(name);
  return write_bool_array(group_.get(), name, values);
}

Group DataFrameWriter::add_categorical_column(const std::string& name, const std::vector<int8_t>& codes,
                                              const std::vector<std::string>& categories, bool ordered) {
  check_length(name, codes.size());
  for (const auto c : codes)
    if (c < -1 || c >= static_cast<int64_t>(categories.size()))
      throw std::invalid_argument("DataFrameWriter: column " + name + " has code " + std::to_string(c) + " for " +
                                  std::to_string(categories.size()) + " categories");
  auto g = create_group(group_.get(), name);
  write_string_attribute(g.get(), "encoding-type", "categorical");
  write_string_attribute(g.get(), "encoding-version", "0.2.0");
  write_bool_attribute(g.get(), "ordered", ordered);
  write_int8_array(g.get(), "codes", {rows_}, codes.data());
  write_string_array(g.get(), "categories", categories);
  order_.push_back(name);
  return g;
}

void DataFrameWriter::finish() {
  if (index_.empty()) throw std::logic_error("DataFrameWriter::finish: the dataframe has no index column");
  write_string_attribute(group_.get(), "encoding-type", "dataframe");
  write_string_attribute(group_.get(), "encoding-version", "0.2.0");
  write_string_attribute(group_.get(), "_index", index_);
  write_string_array_attribute(group_.get(), "column-order", order_);
}

}  // namespace fpokit::core::hdf5
