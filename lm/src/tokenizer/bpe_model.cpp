#include "fpokit/lm/tokenizer/bpe_model.h"

#include <cstdio>
#include <queue>

#include "fpokit/lm/tokenizer/unicode_text.h"

namespace fpokit::lm {
namespace {

std::string byte_token(unsigned char byte) {
  char buffer[8];
  std::snprintf(buffer, sizeof(buffer), "<0x%02X>", byte);
  return buffer;
}

std::pair<std::string, std::string> merge_parts(const JsonNode& merge) {
  const nlohmann::json& value = merge.value();
  if (value.is_string()) {
    const std::string text = value.get<std::string>();
    const std::size_t space = text.find(' ');
    if (space == std::string::npos) merge.fail("merge '" + text + "' must be two tokens separated by a space");
    return {text.substr(0, space), text.substr(space + 1)};
  }
  if (value.is_array() && value.size() == 2 && value[0].is_string() && value[1].is_string()) {
    return {value[0].get<std::string>(), value[1].get<std::string>()};
  }
  merge.fail("a merge must be \"a b\" or [\"a\", \"b\"], got " + value.dump());
}

}  // namespace

BpeModel::BpeModel(const JsonNode& model) {
  model.object();
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.has(key) && !model.string(key).empty()) {
      model.at(key).fail("is not supported (byte-level BPE tokenizers leave it null)");
    }
  }
  if (model.has("dropout")) {
    const JsonNode dropout = model.at("dropout");
    if (!dropout.value().is_number() || dropout.value().get<double>() != 0.0) {
      dropout.fail("BPE dropout is not supported at inference (set it to null)");
    }
  }
  fuse_unk_ = model.boolean("fuse_unk", false);
  byte_fallback_ = model.boolean("byte_fallback", false);
  ignore_merges_ = model.boolean("ignore_merges", false);

  const JsonNode vocab = model.at("vocab");
  vocab.object();
  int64_t max_id = -1;
  for (const auto& [token, id] : vocab.value().items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
      vocab.fail("token '" + token + "' has an invalid id " + id.dump());
    }
    vocab_.emplace(token, static_cast<int32_t>(id.get<int64_t>()));
    max_id = std::max(max_id, id.get<int64_t>());
  }
  id_to_token_.resize(static_cast<std::size_t>(max_id + 1));
  id_used_.assign(id_to_token_.size(), false);
  for (const auto& [token, id] : vocab_) {
    id_to_token_[static_cast<std::size_t>(id)] = token;
    id_used_[static_cast<std::size_t>(id)] = true;
  }

  if (model.has("unk_token")) {
    const std::string unk = model.string("unk_token");
    const auto it = vocab_.find(unk);
    if (it == vocab_.end()) model.at("unk_token").fail("'" + unk + "' is not in model.vocab");
    unk_id_ = it->second;
  }

  if (model.has("merges")) {
    const JsonNode merges = model.at("merges");
    const std::size_t count = merges.array().size();
    merges_.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      const JsonNode merge = merges.at(i);
      const auto [left, right] = merge_parts(merge);
      const auto id_of = [&](const std::string& token) {
        const auto it = vocab_.find(token);
        if (it == vocab_.end()) merge.fail("token '" + token + "' of the merge is not in model.vocab");
        return it->second;
      };
      const int32_t left_id = id_of(left);
      const int32_t right_id = id_of(right);
      const int32_t new_id = id_of(left + right);
      // A repeated pair keeps its last rank, as HF's map construction does.
      merges_[pair_key(left_id, right_id)] = MergeResult{static_cast<int32_t>(i), new_id};
    }
  }
}

std::optional<int64_t> BpeModel::token_to_id(std::string_view token) const {
  const auto it = vocab_.find(std::string(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int64_t id) const {
  if (id < 0 || id >= static_cast<int64_t>(id_to_token_.size()) || !id_used_[static_cast<std::size_t>(id)]) {
    return nullptr;
  }
  return &id_to_token_[static_cast<std::size_t>(id)];
}

void BpeModel::tokenize(std::string_view word, std::vector<int64_t>& out) const {
  if (word.empty()) return;
  const std::string key(word);
  if (ignore_merges_) {
    const auto it = vocab_.find(key);
    if (it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    const auto it = cache_.find(key);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids = merge_word(word);
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() < kCacheCapacity) cache_.emplace(key, std::move(ids));
}

std::vector<int32_t> BpeModel::merge_word(std::string_view word) const {
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    bool removed;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  const auto add = [&](int32_t id) {
    const auto index = static_cast<int32_t>(symbols.size());
    if (index > 0) symbols.back().next = index;
    symbols.push_back({id, index - 1, -1, false});
  };

  // The initial symbols: one per character, byte tokens or unk for characters not in the vocab
  // (in HF's order: a pending unk run is flushed before the next known character only).
  int32_t pending_unk = -1;  // an unk symbol not added yet (fuse_unk grows it)
  std::size_t pos = 0;
  while (pos < word.size()) {
    const std::size_t start = pos;
    utf8_next(word, pos);
    const std::string character(word.substr(start, pos - start));
    const auto it = vocab_.find(character);
    if (it != vocab_.end()) {
      if (pending_unk >= 0) add(pending_unk);
      pending_unk = -1;
      add(it->second);
      continue;
    }
    if (byte_fallback_) {
      std::vector<int32_t> bytes;
      for (const char b : character) {
        const auto byte_it = vocab_.find(byte_token(static_cast<unsigned char>(b)));
        if (byte_it == vocab_.end()) break;
        bytes.push_back(byte_it->second);
      }
      if (bytes.size() == character.size()) {
        for (const int32_t id : bytes) add(id);
        continue;
      }
    }
    if (unk_id_) {
      if (pending_unk >= 0 && !fuse_unk_) add(pending_unk);
      pending_unk = *unk_id_;
    }
    // Without an unk token HF drops the character.
  }
  if (pending_unk >= 0) add(pending_unk);

  // Merge the lowest-ranked pair first (leftmost among equal ranks); queue entries whose pair
  // changed since they were pushed are skipped.
  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t new_id;
    bool operator>(const Candidate& other) const {
      return rank != other.rank ? rank > other.rank : pos > other.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  const auto push_pair = [&](int32_t left) {
    const int32_t right = symbols[left].next;
    if (right < 0) return;
    const auto it = merges_.find(pair_key(symbols[left].id, symbols[right].id));
    if (it != merges_.end()) queue.push({it->second.rank, left, it->second.new_id});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) push_pair(i);

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (left.removed || left.next < 0) continue;
    const int32_t right_index = left.next;
    const auto it = merges_.find(pair_key(left.id, symbols[right_index].id));
    if (it == merges_.end() || it->second.new_id != top.new_id) continue;
    left.id = top.new_id;
    symbols[right_index].removed = true;
    left.next = symbols[right_index].next;
    if (left.next >= 0) symbols[left.next].prev = top.pos;
    if (left.prev >= 0) push_pair(left.prev);
    push_pair(top.pos);
  }

  std::vector<int32_t> ids;
  for (const Symbol& symbol : symbols) {
    if (!symbol.removed) ids.push_back(symbol.id);
  }
  return ids;
}

}  // namespace fpokit::lm
