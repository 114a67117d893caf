#pragma once
// Readers shared by the parity tests (test_fpo_parity.cpp: the first step; test_fpo_training_parity
// .cpp: whole runs) for the fixtures of tests/fixtures/generate_fpo_parity.py and
// generate_fpo_training.py: the JSON file, its token-id pairs, and KTO rows made from them as the
// generators' kto_rows do.
#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fpokit/fpo/data/kto_pairs.h"
#include "fpokit/fpo/data/preference_tokenizer.h"
#include "test_support.h"

namespace fpokit::test {

inline nlohmann::json read_json_fixture(const std::string& relative_path) {
  std::ifstream in(fixture(relative_path));
  if (!in) throw std::runtime_error("missing fixture " + fixture(relative_path).string());
  return nlohmann::json::parse(in);
}

// The fixture's "pairs": token ids and completion masks of chosen and rejected.
inline std::vector<fpo::TokenizedPair> fixture_pairs(const nlohmann::json& pairs) {
  std::vector<fpo::TokenizedPair> out;
  for (const auto& p : pairs) {
    fpo::TokenizedPair t;
    t.chosen.input_ids = p.at("chosen_ids").get<std::vector<int64_t>>();
    t.chosen.completion_mask = p.at("chosen_completion_mask").get<std::vector<int64_t>>();
    t.rejected.input_ids = p.at("rejected_ids").get<std::vector<int64_t>>();
    t.rejected.completion_mask = p.at("rejected_completion_mask").get<std::vector<int64_t>>();
    t.prompt_length = std::find(t.chosen.completion_mask.begin(), t.chosen.completion_mask.end(), 1) -
                      t.chosen.completion_mask.begin();
    out.push_back(std::move(t));
  }
  return out;
}

// KTO: the pairs' chosen completions (desirable) then their rejected ones (undesirable), with
// kto_training_pairs' KL sequences in blocks of `block_size` rows.
inline fpo::KtoPairs fixture_kto_pairs(const std::vector<fpo::TokenizedPair>& pairs, int64_t block_size) {
  std::vector<fpo::TokenizedKto> rows;
  for (const bool desirable : {true, false}) {
    for (const auto& p : pairs) {
      fpo::TokenizedKto r;
      r.sequence = desirable ? p.chosen : p.rejected;
      r.prompt_length = p.prompt_length;
      r.desirable = desirable;
      rows.push_back(std::move(r));
    }
  }
  return fpo::kto_training_pairs(rows, block_size);
}

}  // namespace fpokit::test
