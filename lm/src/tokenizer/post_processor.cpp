#include "fpokit/lm/tokenizer/post_processor.h"

namespace fpokit::lm {

std::unique_ptr<PostProcessor> PostProcessor::from_json(const JsonNode& node) {
  if (node.value().is_null()) return nullptr;
  auto processor = std::make_unique<PostProcessor>();
  processor->add_component(node);
  return processor;
}

void PostProcessor::add_component(const JsonNode& node) {
  node.object();
  const std::string type = node.type();
  if (type == "ByteLevel") return;  // only adjusts offsets
  if (type == "Sequence") {
    const JsonNode list = node.at("processors");
    for (std::size_t i = 0; i < list.array().size(); ++i) add_component(list.at(i));
    return;
  }
  if (type != "TemplateProcessing") {
    node.fail("post_processor type '" + type + "' is not supported (supported: ByteLevel, TemplateProcessing, Sequence)");
  }
  if (templated_) node.fail("more than one TemplateProcessing in a Sequence is not supported");
  templated_ = true;

  const JsonNode specials = node.at("special_tokens");
  specials.object();
  const JsonNode single = node.at("single");
  bool has_sequence = false;
  for (std::size_t i = 0; i < single.array().size(); ++i) {
    const JsonNode piece = single.at(i);
    if (piece.has("Sequence")) {
      const std::string id = piece.at("Sequence").string("id");
      if (id != "A") piece.fail("the single-sequence template may only use $A, got $" + id);
      items_.push_back({true, {}});
      has_sequence = true;
    } else if (piece.has("SpecialToken")) {
      const std::string name = piece.at("SpecialToken").string("id");
      if (!specials.has(name)) piece.fail("special token '" + name + "' is not in special_tokens");
      const JsonNode ids = specials.at(name).at("ids");
      Item item;
      for (std::size_t k = 0; k < ids.array().size(); ++k) {
        const JsonNode id = ids.at(k);
        if (!id.value().is_number_integer() || id.value().get<int64_t>() < 0) id.fail("must be a token id");
        item.ids.push_back(id.value().get<int64_t>());
      }
      items_.push_back(std::move(item));
    } else {
      piece.fail("must be {\"Sequence\": ...} or {\"SpecialToken\": ...}");
    }
  }
  if (!has_sequence) single.fail("the template has no $A");
}

std::vector<int64_t> PostProcessor::process(const std::vector<int64_t>& ids) const {
  if (!templated_) return ids;
  std::vector<int64_t> out;
  out.reserve(ids.size() + items_.size());
  for (const Item& item : items_) {
    if (item.sequence_slot) {
      out.insert(out.end(), ids.begin(), ids.end());
    } else {
      out.insert(out.end(), item.ids.begin(), item.ids.end());
    }
  }
  return out;
}

}  // namespace fpokit::lm
