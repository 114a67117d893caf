#pragma once
// The demo's classifier of the preferred property (examples/demo/lexicon.json, written by
// examples/demo/make_demo_data.py with the same rule in Python): a text is polite when it holds
// more polite words than rude ones, counting whole lower-case words ([a-z]+ after lower-casing
// ASCII letters).
#include <filesystem>
#include <set>
#include <string>
#include <string_view>

namespace fpokit::analysis {

class PolitenessLexicon {
 public:
  // Throws InputError naming the file and field when lexicon.json is missing or malformed.
  static PolitenessLexicon load(const std::filesystem::path& path);
  PolitenessLexicon(std::set<std::string> polite, std::set<std::string> rude);

  bool is_polite(std::string_view text) const;
  bool is_polite_word(const std::string& word) const { return polite_.count(word) > 0; }
  bool is_rude_word(const std::string& word) const { return rude_.count(word) > 0; }
  // Whether a token string (a logit-lens or context token, perhaps with a leading space or the
  // byte-level 'Ġ') is one of the lexicon's words, of either list.
  bool is_contrast_word(std::string_view token) const;

 private:
  std::set<std::string> polite_, rude_;
};

}  // namespace fpokit::analysis
