#include "fpokit/lm/tokenizer/pre_tokenizer.h"

#include <cctype>
#include <optional>

#include "fpokit/lm/tokenizer/byte_level.h"
#include "fpokit/lm/tokenizer/tokenizer_regex.h"

namespace fpokit::lm {

const char* const kGpt2PreTokenizerRegex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

namespace {

// Splits every piece at the matches of `regex`, keeping both the matches and the text between
// them as pieces (HF's SplitDelimiterBehavior::Isolated).
void split_isolated(const TokenizerRegex& regex, std::vector<std::string>& pieces) {
  std::vector<std::string> out;
  out.reserve(pieces.size() * 2);
  for (const std::string& piece : pieces) {
    std::size_t previous = 0;
    for (const auto& [begin, end] : regex.find_all(piece)) {
      if (begin > previous) out.emplace_back(piece, previous, begin - previous);
      out.emplace_back(piece, begin, end - begin);
      previous = end;
    }
    if (previous < piece.size()) out.emplace_back(piece, previous);
  }
  pieces = std::move(out);
}

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  explicit ByteLevelPreTokenizer(const JsonNode& node)
      : add_prefix_space_(node.boolean("add_prefix_space", true)) {
    if (node.boolean("use_regex", true)) regex_.emplace(kGpt2PreTokenizerRegex, node.where());
  }

  void pre_tokenize(std::vector<std::string>& pieces) const override {
    if (add_prefix_space_) {
      for (std::string& piece : pieces) {
        if (!piece.empty() && piece.front() != ' ') piece.insert(piece.begin(), ' ');
      }
    }
    if (regex_) split_isolated(*regex_, pieces);
    std::vector<std::string> mapped;
    mapped.reserve(pieces.size());
    for (const std::string& piece : pieces) {
      if (!piece.empty()) mapped.push_back(byte_level_encode(piece));
    }
    pieces = std::move(mapped);
  }

  bool has_byte_level() const override { return true; }

 private:
  bool add_prefix_space_;
  std::optional<TokenizerRegex> regex_;
};

std::string escape_literal(const std::string& literal) {
  std::string out;
  for (const char c : literal) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80 && !std::isalnum(u)) out += '\\';
    out += c;
  }
  return out;
}

class SplitPreTokenizer final : public PreTokenizer {
 public:
  explicit SplitPreTokenizer(const JsonNode& node) : regex_(pattern_of(node), node.where() + ".pattern") {
    const std::string behavior = node.string("behavior");
    if (behavior != "Isolated") {
      node.at("behavior").fail("Split behavior '" + behavior + "' is not supported (supported: Isolated)");
    }
    if (node.boolean("invert", false)) node.at("invert").fail("Split with invert=true is not supported");
  }

  void pre_tokenize(std::vector<std::string>& pieces) const override { split_isolated(regex_, pieces); }
  bool has_byte_level() const override { return false; }

 private:
  static std::string pattern_of(const JsonNode& node) {
    const JsonNode pattern = node.at("pattern");
    if (pattern.has("Regex")) return pattern.string("Regex");
    if (pattern.has("String")) return escape_literal(pattern.string("String"));
    pattern.fail("must be {\"Regex\": ...} or {\"String\": ...}, got " + pattern.value().dump());
  }

  TokenizerRegex regex_;
};

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(const JsonNode& node) {
    const JsonNode list = node.at("pretokenizers");
    for (std::size_t i = 0; i < list.array().size(); ++i) {
      auto step = PreTokenizer::from_json(list.at(i));
      if (step) steps_.push_back(std::move(step));
    }
  }

  void pre_tokenize(std::vector<std::string>& pieces) const override {
    for (const auto& step : steps_) step->pre_tokenize(pieces);
  }

  bool has_byte_level() const override {
    for (const auto& step : steps_) {
      if (step->has_byte_level()) return true;
    }
    return false;
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

}  // namespace

std::unique_ptr<PreTokenizer> PreTokenizer::from_json(const JsonNode& node) {
  if (node.value().is_null()) return nullptr;
  node.object();
  const std::string type = node.type();
  if (type == "ByteLevel") return std::make_unique<ByteLevelPreTokenizer>(node);
  if (type == "Split") return std::make_unique<SplitPreTokenizer>(node);
  if (type == "Sequence") return std::make_unique<SequencePreTokenizer>(node);
  node.fail("pre_tokenizer type '" + type + "' is not supported (supported: ByteLevel, Split, Sequence)");
}

}  // namespace fpokit::lm
