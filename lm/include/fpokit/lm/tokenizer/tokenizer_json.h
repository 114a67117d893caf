#pragma once
// Typed access to the fields of tokenizer.json components with errors that name the file and the
// JSON path: TokenizerError("<file>: pre_tokenizer.pretokenizers[0].pattern: ...").
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace fpokit::lm {

// A JSON value together with where it sits: the file and the path inside it ("model.merges[3]",
// empty for the root). The value is referenced, not copied: the root document must outlive it.
class JsonNode {
 public:
  JsonNode(const nlohmann::json& value, std::string file, std::string path = "")
      : value_(value), file_(std::move(file)), path_(std::move(path)) {}

  const nlohmann::json& value() const { return value_; }
  const std::string& file() const { return file_; }
  // "<file>: <path>" (just the file for the root), the prefix of every error message.
  std::string where() const { return path_.empty() ? file_ : file_ + ": " + path_; }

  bool has(const std::string& key) const;  // an object with `key` set to something other than null
  JsonNode at(const std::string& key) const;  // throws when missing or null
  JsonNode at(std::size_t index) const;
  std::string string(const std::string& key) const;
  bool boolean(const std::string& key, bool fallback) const;
  const nlohmann::json& object() const;  // throws unless an object
  const nlohmann::json& array() const;   // throws unless an array
  // The component's "type" field.
  std::string type() const { return string("type"); }

  [[noreturn]] void fail(const std::string& problem) const;

 private:
  const nlohmann::json& value_;
  std::string file_;
  std::string path_;
};

// Parses a JSON file; TokenizerError naming the file when it cannot be read or is not JSON.
nlohmann::json read_tokenizer_json_file(const std::filesystem::path& path);

}  // namespace fpokit::lm
