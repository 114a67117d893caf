#pragma once
// Checks shared by the CLI tests of the bad-input contract (docs/reliability.md).
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_support.h"

namespace fpokit::test {

// Exit code 2 and exactly one line on stderr containing `what`.
inline void check_refused(const CommandResult& r, const std::string& what) {
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 2);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK_THAT(r.err, Catch::Contains(what));
}

// A metrics log's lines without the fields that measure time, which differ between any two runs.
inline std::vector<nlohmann::json> log_without_timing(const std::filesystem::path& file) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    for (const char* timing : {"tokens/s", "tokens_per_s", "train_runtime", "train_samples_per_second", "seconds"})
      j.erase(timing);
    lines.push_back(std::move(j));
  }
  return lines;
}

}  // namespace fpokit::test
