#include "fpokit/lm/tokenizer/tokenizer_json.h"

#include <fstream>
#include <sstream>

#include "fpokit/core/errors.h"

namespace fpokit::lm {

bool JsonNode::has(const std::string& key) const {
  return value_.is_object() && value_.contains(key) && !value_.at(key).is_null();
}

JsonNode JsonNode::at(const std::string& key) const {
  if (!has(key)) fail("field '" + key + "' is missing");
  return JsonNode(value_.at(key), file_, path_.empty() ? key : path_ + "." + key);
}

JsonNode JsonNode::at(std::size_t index) const {
  return JsonNode(array().at(index), file_, path_ + "[" + std::to_string(index) + "]");
}

std::string JsonNode::string(const std::string& key) const {
  const JsonNode node = at(key);
  if (!node.value().is_string()) node.fail("must be a string, got " + node.value().dump());
  return node.value().get<std::string>();
}

bool JsonNode::boolean(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const JsonNode node = at(key);
  if (!node.value().is_boolean()) node.fail("must be true or false, got " + node.value().dump());
  return node.value().get<bool>();
}

const nlohmann::json& JsonNode::object() const {
  if (!value_.is_object()) fail("must be a JSON object, got " + std::string(value_.type_name()));
  return value_;
}

const nlohmann::json& JsonNode::array() const {
  if (!value_.is_array()) fail("must be a JSON array, got " + std::string(value_.type_name()));
  return value_;
}

void JsonNode::fail(const std::string& problem) const { throw TokenizerError(where() + ": " + problem); }

nlohmann::json read_tokenizer_json_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw TokenizerError(path.string() + ": cannot open the file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    return nlohmann::json::parse(buffer.str());
  } catch (const nlohmann::json::exception& e) {
    throw TokenizerError(path.string() + ": invalid JSON (" + e.what() + ")");
  }
}

}  // namespace fpokit::lm
