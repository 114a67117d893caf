#include "fpokit/analysis/demo/politeness_lexicon.h"

#include <fstream>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "fpokit/core/errors.h"

namespace fpokit::analysis {

namespace {

std::vector<std::string> lower_words(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  for (const char raw : text) {
    const char c = (raw >= 'A' && raw <= 'Z') ? static_cast<char>(raw - 'A' + 'a') : raw;
    if (c >= 'a' && c <= 'z') {
      word.push_back(c);
    } else if (!word.empty()) {
      words.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

}  // namespace

PolitenessLexicon::PolitenessLexicon(std::set<std::string> polite, std::set<std::string> rude)
    : polite_(std::move(polite)), rude_(std::move(rude)) {}

PolitenessLexicon PolitenessLexicon::load(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in)
    throw InputError(path.string() + ": cannot open the demo's lexicon (examples/demo/make_demo_data.py writes it)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path.string() + ": not valid JSON (" + e.what() + ")");
  }
  const auto words_of = [&](const char* field) {
    if (!j.is_object() || !j.contains(field) || !j[field].is_array())
      throw InputError(path.string() + ": field " + field + " must be a list of words");
    std::set<std::string> out;
    for (const auto& w : j[field]) {
      if (!w.is_string()) throw InputError(path.string() + ": field " + field + " holds a non-string " + w.dump());
      out.insert(w.get<std::string>());
    }
    return out;
  };
  return {words_of("polite"), words_of("rude")};
}

bool PolitenessLexicon::is_polite(std::string_view text) const {
  int64_t polite = 0, rude = 0;
  for (const auto& w : lower_words(text)) {
    polite += polite_.count(w);
    rude += rude_.count(w);
  }
  return polite > rude;
}

bool PolitenessLexicon::is_contrast_word(std::string_view token) const {
  const auto words = lower_words(token);
  return words.size() == 1 && (polite_.count(words[0]) || rude_.count(words[0]));
}

}  // namespace fpokit::analysis
