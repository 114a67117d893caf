#include "fpokit/lm/tokenizer/added_vocabulary.h"

#include <algorithm>

#include "fpokit/lm/tokenizer/unicode_text.h"

namespace fpokit::lm {

void AddedVocabulary::Trie::insert(std::string_view text, int32_t token) {
  int32_t node = 0;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    const auto it = nodes[node].children.find(byte);
    if (it != nodes[node].children.end()) {
      node = it->second;
    } else {
      nodes.emplace_back();
      const auto child = static_cast<int32_t>(nodes.size() - 1);
      nodes[node].children.emplace(byte, child);
      node = child;
    }
  }
  nodes[node].token = token;
}

std::pair<int32_t, std::size_t> AddedVocabulary::Trie::longest_at(std::string_view text, std::size_t pos) const {
  std::pair<int32_t, std::size_t> best{-1, 0};
  int32_t node = 0;
  for (std::size_t i = pos; i < text.size(); ++i) {
    const auto it = nodes[node].children.find(static_cast<unsigned char>(text[i]));
    if (it == nodes[node].children.end()) break;
    node = it->second;
    if (nodes[node].token >= 0) best = {nodes[node].token, i + 1 - pos};
  }
  return best;
}

void AddedVocabulary::add(const AddedToken& token, std::string matched_content) {
  const auto by_content = by_content_.find(token.content);
  const auto by_id = by_id_.find(token.id);
  const bool replaces = by_content != by_content_.end() || by_id != by_id_.end();
  std::size_t index;
  if (replaces) {
    index = by_content != by_content_.end() ? by_content->second : by_id->second;
    by_content_.erase(tokens_[index].content);
    by_id_.erase(tokens_[index].id);
  } else {
    index = tokens_.size();
    tokens_.emplace_back();
    matched_.emplace_back();
  }
  tokens_[index] = token;
  matched_[index] = std::move(matched_content);
  by_content_[token.content] = index;
  by_id_[token.id] = index;
  if (replaces) {
    rebuild();  // rare; a new token is just inserted (Gemma configs list thousands)
  } else if (!matched_[index].empty()) {  // HF never matches empty tokens
    (token.normalized ? normalized_trie_ : raw_trie_).insert(matched_[index], static_cast<int32_t>(index));
  }
}

void AddedVocabulary::rebuild() {
  raw_trie_ = Trie{};
  normalized_trie_ = Trie{};
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    if (matched_[i].empty()) continue;  // HF never matches empty tokens
    (tokens_[i].normalized ? normalized_trie_ : raw_trie_).insert(matched_[i], static_cast<int32_t>(i));
  }
}

std::vector<TextSegment> AddedVocabulary::split(std::string_view text, bool normalized) const {
  const Trie& trie = normalized ? normalized_trie_ : raw_trie_;
  std::vector<TextSegment> segments;
  const auto add_text = [&](std::size_t begin, std::size_t end) {
    if (end > begin) segments.push_back({std::nullopt, text.substr(begin, end - begin), begin});
  };
  std::size_t emitted = 0;  // end of what the segments cover so far
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto [index, length] = trie.longest_at(text, pos);
    if (index < 0) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[static_cast<std::size_t>(index)];
    std::size_t start = pos;
    std::size_t stop = pos + length;
    pos = stop;  // the search goes on after this match whether or not it is used
    if (token.single_word &&
        (ends_with_word_character(text.substr(0, start)) || starts_with_word_character(text.substr(stop)))) {
      continue;
    }
    if (token.lstrip) start = std::max(start - trailing_whitespace_bytes(text.substr(0, start)), emitted);
    if (token.rstrip) stop += leading_whitespace_bytes(text.substr(stop));
    add_text(emitted, start);
    segments.push_back({token.id, text.substr(start, stop - start), start});
    emitted = stop;
    pos = std::max(pos, stop);
  }
  add_text(emitted, text.size());
  return segments;
}

const AddedToken* AddedVocabulary::find(int64_t id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocabulary::find(std::string_view content) const {
  const auto it = by_content_.find(std::string(content));
  return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

std::optional<int64_t> AddedVocabulary::max_id() const {
  std::optional<int64_t> best;
  for (const auto& token : tokens_) best = std::max(best.value_or(token.id), token.id);
  return best;
}

}  // namespace fpokit::lm
