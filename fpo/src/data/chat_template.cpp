#include "fpokit/fpo/data/chat_template.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "fpokit/core/errors.h"
#include "fpokit/lm/tokenizer/tokenizer.h"

namespace fpokit::fpo {

namespace {

// Jinja's |trim is Python's str.strip(); training data is overwhelmingly ASCII-padded, and
// stripping Unicode spaces too would need a UTF-8 decoder for no practical gain.
std::string trim(std::string_view s) {
  constexpr std::string_view ws = " \t\n\r\v\f";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(ws);
  return std::string(s.substr(b, e - b + 1));
}

void check_role(const ChatMessage& m, size_t i) {
  if (m.role != "system" && m.role != "user" && m.role != "assistant")
    throw InputError("message " + std::to_string(i) + " has role \"" + m.role +
                     "\"; the built-in chat templates know only system, user and assistant");
}

std::string render_chatml(const std::vector<ChatMessage>& messages, bool gen) {
  std::string out;
  for (const auto& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  if (gen) out += "<|im_start|>assistant\n";
  return out;
}

std::string render_llama3(const std::vector<ChatMessage>& messages, bool gen, const std::string& bos) {
  std::string out;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (i == 0) out += bos;  // the template adds bos_token to the first message only
    out +=
        "<|start_header_id|>" + messages[i].role + "<|end_header_id|>\n\n" + trim(messages[i].content) + "<|eot_id|>";
  }
  if (gen) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

std::string render_gemma(const std::vector<ChatMessage>& messages, bool gen, const std::string& bos) {
  std::string out = bos;
  size_t first = 0;
  std::string first_user_prefix;
  if (!messages.empty() && messages[0].role == "system") {
    first_user_prefix = messages[0].content + "\n\n";
    first = 1;
  }
  for (size_t i = first; i < messages.size(); ++i) {
    const auto& m = messages[i];
    const size_t turn = i - first;
    if ((m.role == "user") != (turn % 2 == 0))
      throw InputError("message " + std::to_string(i) + " (" + m.role +
                       "): the gemma template needs turns alternating user/assistant, starting with user");
    const std::string role = m.role == "assistant" ? "model" : m.role;
    out += "<start_of_turn>" + role + "\n" + (turn == 0 ? first_user_prefix : "") + trim(m.content) + "<end_of_turn>\n";
  }
  if (gen) out += "<start_of_turn>model\n";
  return out;
}

std::string render_zephyr(const std::vector<ChatMessage>& messages, bool gen, const std::string& eos) {
  std::string out;
  for (const auto& m : messages) out += "<|" + m.role + "|>\n" + m.content + eos + "\n";
  if (gen) out += "<|assistant|>\n";
  return out;
}

std::string render_plain(const std::vector<ChatMessage>& messages, bool gen) {
  std::string out;
  for (size_t i = 0; i < messages.size(); ++i) out += (i ? "\n" : "") + messages[i].content;
  if (gen) out += "\n";
  return out;
}

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw ConfigError("cannot read " + p.string() + ": check its permissions");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// tokenizer_config.json's chat_template: a string, or a list of named templates.
std::optional<std::string> template_from_config(const std::filesystem::path& file) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text(file));
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(file.string() + ": not valid JSON (" + e.what() + "); repair or re-save the tokenizer");
  }
  if (!j.is_object() || !j.contains("chat_template") || j["chat_template"].is_null()) return std::nullopt;
  const auto& t = j["chat_template"];
  if (t.is_string()) return t.get<std::string>();
  const std::string bad =
      file.string() + ": field chat_template must be a string or a list of {\"name\", \"template\"} objects";
  if (!t.is_array()) throw ConfigError(bad);
  std::optional<std::string> first;
  for (const auto& entry : t) {
    if (!entry.is_object() || !entry.contains("template") || !entry["template"].is_string()) throw ConfigError(bad);
    const auto text = entry["template"].get<std::string>();
    if (entry.contains("name") && entry["name"] == "default") return text;
    if (!first) first = text;
  }
  return first;
}

}  // namespace

ChatTemplateTokens chat_template_tokens(const lm::Tokenizer& tokenizer) {
  ChatTemplateTokens t;
  if (tokenizer.bos_id()) t.bos = tokenizer.id_to_token(*tokenizer.bos_id());
  if (!tokenizer.eos_ids().empty()) t.eos = tokenizer.id_to_token(tokenizer.eos_ids().front());
  return t;
}

ChatTemplate::ChatTemplate(ChatTemplateKind kind, ChatTemplateTokens tokens) : kind_(kind), tokens_(std::move(tokens)) {
  if (tokens_.bos.empty()) tokens_.bos = kind_ == ChatTemplateKind::kGemma ? "<bos>" : "<|begin_of_text|>";
  if (tokens_.eos.empty()) tokens_.eos = "</s>";
}

std::string_view ChatTemplate::name() const { return chat_template_name(kind_); }

RenderedChat ChatTemplate::render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const {
  for (size_t i = 0; i < messages.size(); ++i) check_role(messages[i], i);
  RenderedChat r;
  switch (kind_) {
    case ChatTemplateKind::kChatml: r.text = render_chatml(messages, add_generation_prompt); break;
    case ChatTemplateKind::kLlama3:
      r.text = render_llama3(messages, add_generation_prompt, tokens_.bos);
      r.starts_with_bos = !messages.empty();
      break;
    case ChatTemplateKind::kGemma:
      r.text = render_gemma(messages, add_generation_prompt, tokens_.bos);
      r.starts_with_bos = true;
      break;
    case ChatTemplateKind::kZephyr: r.text = render_zephyr(messages, add_generation_prompt, tokens_.eos); break;
    case ChatTemplateKind::kPlain: r.text = render_plain(messages, add_generation_prompt); break;
  }
  return r;
}

std::string ChatTemplate::end_of_turn() const {
  switch (kind_) {
    case ChatTemplateKind::kChatml: return "<|im_end|>";
    case ChatTemplateKind::kLlama3: return "<|eot_id|>";
    case ChatTemplateKind::kGemma: return "<end_of_turn>";
    case ChatTemplateKind::kZephyr: return tokens_.eos;
    case ChatTemplateKind::kPlain: return {};
  }
  return {};
}

std::string_view chat_template_name(ChatTemplateKind kind) {
  switch (kind) {
    case ChatTemplateKind::kPlain: return "plain";
    case ChatTemplateKind::kChatml: return "chatml";
    case ChatTemplateKind::kLlama3: return "llama-3";
    case ChatTemplateKind::kGemma: return "gemma";
    case ChatTemplateKind::kZephyr: return "zephyr";
  }
  return "?";
}

ChatTemplateKind parse_chat_template(std::string_view name) {
  if (name == "plain") return ChatTemplateKind::kPlain;
  if (name == "chatml") return ChatTemplateKind::kChatml;
  if (name == "llama-3" || name == "llama3") return ChatTemplateKind::kLlama3;
  if (name == "gemma") return ChatTemplateKind::kGemma;
  if (name == "zephyr") return ChatTemplateKind::kZephyr;
  throw ConfigError("unknown chat template \"" + std::string(name) +
                    "\"; choose one of chatml, llama-3, gemma, zephyr, plain");
}

std::optional<ChatTemplateKind> detect_chat_template_source(std::string_view jinja) {
  const auto has = [&](std::string_view marker) { return jinja.find(marker) != std::string_view::npos; };
  if (has("<|im_start|>")) return ChatTemplateKind::kChatml;
  if (has("<|start_header_id|>")) return ChatTemplateKind::kLlama3;
  if (has("<start_of_turn>")) return ChatTemplateKind::kGemma;
  // Phi-3 uses the same role markers but closes turns with "<|end|>", not EOS.
  if (has("<|user|>") && has("<|assistant|>") && !has("<|end|>")) return ChatTemplateKind::kZephyr;
  return std::nullopt;
}

std::optional<ChatTemplateKind> detect_chat_template(const std::filesystem::path& model_dir) {
  const auto jinja_file = model_dir / "chat_template.jinja";
  if (std::filesystem::exists(jinja_file)) return detect_chat_template_source(read_text(jinja_file));
  const auto config_file = model_dir / "tokenizer_config.json";
  if (!std::filesystem::exists(config_file)) return std::nullopt;
  const auto source = template_from_config(config_file);
  if (!source) return std::nullopt;
  return detect_chat_template_source(*source);
}

}  // namespace fpokit::fpo
