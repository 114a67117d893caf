#include "fpokit/lm/tokenizer/text_normalizer.h"

namespace fpokit::lm {
namespace {

void add_steps(const JsonNode& node, std::vector<NormalForm>& steps) {
  node.object();
  const std::string type = node.type();
  if (type == "NFC") {
    steps.push_back(NormalForm::NFC);
  } else if (type == "NFD") {
    steps.push_back(NormalForm::NFD);
  } else if (type == "NFKC") {
    steps.push_back(NormalForm::NFKC);
  } else if (type == "NFKD") {
    steps.push_back(NormalForm::NFKD);
  } else if (type == "Sequence") {
    const JsonNode list = node.at("normalizers");
    for (std::size_t i = 0; i < list.array().size(); ++i) add_steps(list.at(i), steps);
  } else {
    node.fail("normalizer type '" + type + "' is not supported (supported: NFC, NFD, NFKC, NFKD, Sequence)");
  }
}

}  // namespace

std::unique_ptr<TextNormalizer> TextNormalizer::from_json(const JsonNode& node) {
  if (node.value().is_null()) return nullptr;
  auto normalizer = std::make_unique<TextNormalizer>();
  add_steps(node, normalizer->steps_);
  return normalizer;
}

std::string TextNormalizer::normalize(std::string_view text) const {
  std::string out(text);
  for (const NormalForm form : steps_) out = unicode_normalize(out, form);
  return out;
}

}  // namespace fpokit::lm
