#pragma once
// A table as an HDF5 group, in AnnData's "dataframe" encoding (encoding-type "dataframe",
// encoding-version "0.2.0"): one 1-D dataset per column, all of the same length, an index column
// named by the `_index` attribute, the other columns' order in `column-order`, and categorical
// columns as a group {codes, categories}. anndata.io.read_elem reads it as a pandas DataFrame;
// plain h5py reads each column as an array. Used by the drift report's /features tables.
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fpokit/core/io/hdf5_handle.h"

namespace fpokit::core::hdf5 {

class DataFrameWriter {
 public:
  // Creates group `name` under `parent` (creation order tracked, so h5py lists columns in order).
  DataFrameWriter(hid_t parent, const std::string& name, int64_t rows);

  // The index column (not listed in column-order). Call once, before finish().
  Dataset set_index(const std::string& name, const std::vector<int32_t>& values);
  Dataset set_index(const std::string& name, const std::vector<std::string>& values);

  // Columns, in the order they are added; each must have `rows` values (std::invalid_argument
  // otherwise). The returned handle lets the caller add attributes (description, units).
  Dataset add_column(const std::string& name, const std::vector<float>& values);
  Dataset add_column(const std::string& name, const std::vector<double>& values);
  Dataset add_bool_column(const std::string& name, const std::vector<uint8_t>& values);
  // A pandas Categorical: codes [rows] int8 into `categories` (-1 = missing).
  Group add_categorical_column(const std::string& name, const std::vector<int8_t>& codes,
                               const std::vector<std::string>& categories, bool ordered = false);

  // Writes the encoding attributes. Call once, after the columns (std::logic_error without an
  // index).
  void finish();

  hid_t get() const { return group_.get(); }
  int64_t rows() const { return rows_; }

 private:
  void check_length(const std::string& name, size_t n) const;

  Group group_;
  int64_t rows_;
  std::string index_;
  std::vector<std::string> order_;
};

}  // namespace fpokit::core::hdf5
