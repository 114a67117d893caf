// libFuzzer harness: dataset files (core/dataset/record_reader.h). The first byte chooses the
// format (% 4: JSON lines, gzip JSON lines, .json, Parquet when the build has it); the rest is the
// file. Every record is read, and then read again after a seek to the middle one.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fpokit/core/dataset/record_reader.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint8_t mode = size > 0 ? data[0] : 0;
  static const char* const kNames[] = {"records.jsonl", "records.jsonl.gz", "records.json", "records.parquet"};
  const auto path = fpokit::fuzz::write_file(kNames[mode % 4], size > 0 ? data + 1 : data, size > 0 ? size - 1 : 0);
  fpokit::fuzz::run_reader([&] {
    const auto reader = fpokit::core::open_record_reader(path);
    std::vector<fpokit::core::DatasetRecord> records;
    while (auto r = reader->next()) records.push_back(std::move(*r));
    if (records.empty()) return;
    const auto& middle = records[records.size() / 2];
    reader->seek(middle.position, middle.number - 1);
    (void)reader->next();
  });
  return 0;
}
