// The demo's lexicon classifier (analysis/demo/politeness_lexicon.h) on the committed lexicon and
// preference pairs of examples/demo.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "fpokit/analysis/demo/demo_run.h"
#include "fpokit/analysis/demo/politeness_lexicon.h"
#include "fpokit/core/errors.h"
#include "test_support.h"

using namespace fpokit;
using analysis::PolitenessLexicon;

TEST_CASE("the demo lexicon tells every chosen reply from its rejected one", "[analysis][demo]") {
  const auto dir = test::repo_file("examples/demo");
  const auto lexicon = PolitenessLexicon::load(dir / "lexicon.json");
  for (const char* file : {"prefs_train.jsonl", "prefs_heldout.jsonl"}) {
    std::ifstream in(dir / file);
    int64_t pairs = 0;
    for (std::string line; std::getline(in, line);) {
      const auto row = nlohmann::json::parse(line);
      INFO(file << ": " << line);
      CHECK(lexicon.is_polite(row["chosen"].get<std::string>()));
      CHECK_FALSE(lexicon.is_polite(row["rejected"].get<std::string>()));
      ++pairs;
    }
    CHECK(pairs > 100);
  }
}

TEST_CASE("the lexicon rule: more polite words than rude ones, whole lower-case words", "[analysis][demo]") {
  const PolitenessLexicon lexicon({"thank", "please"}, {"whatever", "not"});
  CHECK(lexicon.is_polite("Thank you!"));
  CHECK_FALSE(lexicon.is_polite("Thanks you"));                // a whole word, not a prefix
  CHECK_FALSE(lexicon.is_polite("Thank you, but whatever."));  // a tie is not polite
  CHECK(lexicon.is_polite("PLEASE, thank you; not now"));
  CHECK_FALSE(lexicon.is_polite(""));
  CHECK(lexicon.is_contrast_word("\xC4\xA0thank"));  // byte-level BPE's 'Ġ' before the word
  CHECK(lexicon.is_contrast_word(" Whatever"));
  CHECK_FALSE(lexicon.is_contrast_word(" thank you"));
  CHECK_FALSE(lexicon.is_contrast_word("."));
}

TEST_CASE("a missing or malformed lexicon is one clear error", "[analysis][demo]") {
  test::TempDir tmp;
  CHECK_THROWS_WITH(PolitenessLexicon::load(tmp / "none.json"), Catch::Contains("none.json: cannot open"));
  std::ofstream(tmp / "bad.json") << R"({"polite": ["a"], "rude": "b"})";
  CHECK_THROWS_AS(PolitenessLexicon::load(tmp / "bad.json"), InputError);
  CHECK_THROWS_WITH(PolitenessLexicon::load(tmp / "bad.json"), Catch::Contains("field rude must be a list"));
}

TEST_CASE("the demo refuses a folder without its files before writing anything", "[analysis][demo]") {
  test::TempDir tmp;
  analysis::DemoOptions o;
  o.demo_dir = tmp / "empty";
  o.out = tmp / "out";
  CHECK_THROWS_WITH(analysis::run_demo(o),
                    Catch::Contains("missing from the demo folder") && Catch::Contains("--demo-dir"));
  CHECK_FALSE(std::filesystem::exists(o.out));
}

TEST_CASE("the demo refuses an --out that is a file in one line, before any work", "[analysis][demo]") {
  test::TempDir tmp;
  std::ofstream(tmp / "file") << "x";
  analysis::DemoOptions o;
  o.demo_dir = test::repo_file("examples/demo");
  o.out = tmp / "file";
  CHECK_THROWS_AS(analysis::run_demo(o), InputError);
  CHECK_THROWS_WITH(analysis::run_demo(o), Catch::Contains("--out") && Catch::Contains("is a file, not a folder"));
}
