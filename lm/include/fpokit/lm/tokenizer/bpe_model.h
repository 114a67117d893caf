#pragma once
// tokenizer.json's "model" of type BPE: vocab, ranked merges and the merge loop of HF tokenizers
// (lowest rank first, leftmost first among equal ranks), with ignore_merges (Llama-3: a whole
// pre-token found in the vocab is one token), byte_fallback and unk handling. A word -> ids cache
// makes repeated words cheap; it is guarded by a mutex, so tokenize() is thread-safe.
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fpokit/lm/tokenizer/tokenizer_json.h"

namespace fpokit::lm {

class BpeModel {
 public:
  // Reads model.vocab and model.merges ("a b" strings or ["a", "b"] pairs); TokenizerError
  // naming the file and field for a missing vocab, a malformed merge or unsupported options.
  explicit BpeModel(const JsonNode& model);

  // Appends the ids of one pre-token (text in the model's alphabet) to `out`.
  void tokenize(std::string_view word, std::vector<int64_t>& out) const;

  std::optional<int64_t> token_to_id(std::string_view token) const;
  const std::string* id_to_token(int64_t id) const;  // nullptr when the id is not in the vocab
  int64_t max_id() const { return static_cast<int64_t>(id_to_token_.size()) - 1; }

 private:
  struct MergeResult {
    int32_t rank;
    int32_t new_id;
  };
  static uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  std::vector<int32_t> merge_word(std::string_view word) const;

  std::unordered_map<std::string, int32_t> vocab_;
  std::vector<std::string> id_to_token_;
  std::vector<bool> id_used_;
  std::unordered_map<uint64_t, MergeResult> merges_;
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;

  static constexpr std::size_t kCacheCapacity = 10000;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace fpokit::lm
