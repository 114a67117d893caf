#pragma once
// Shared set-up of the drift tests: the fixture paths (tests/fixtures/generate_drift.py) and
// options for a small, fast run.
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "fpokit/analysis/drift/drift_options.h"
#include "test_support.h"

namespace fpokit::test {

inline std::filesystem::path drift_fixture(const std::string& name) { return fixture("drift/" + name); }

inline nlohmann::json drift_expectations() {
  std::ifstream in(drift_fixture("expectations.json"));
  return nlohmann::json::parse(in);
}

// base vs planted on the text corpus: 40 rows of 32 tokens, 100 bootstrap replicates.
inline analysis::DriftOptions small_drift_options() {
  analysis::DriftOptions o;
  o.base = drift_fixture("base");
  o.aligned = {drift_fixture("planted")};
  o.sae = drift_fixture("sae");
  o.data = drift_fixture("corpus.jsonl");
  o.tokens = 40 * 31;
  o.context_size = 32;
  o.batch_size = 8;
  o.bootstrap = 100;
  o.top = 10;
  o.examples = 4;
  o.example_window = 3;
  o.fidelity_tokens = 256;
  return o;
}

}  // namespace fpokit::test
