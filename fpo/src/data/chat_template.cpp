#include "fpokit/fpo/data/chat_template.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "fpokit/core/errors.h"
#include "fpokit/lm/tokenizer/tokenizer.h"
#include "fpokit/lm/tokenizer/tokenizer_config.h"

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

// apply_chat_template's context: the tokenizer's special tokens that are set, then messages,
// tools and documents (None) and add_generation_prompt (tokenization_utils_base.py).
RenderedChat render_jinja(const lm::JinjaTemplate& jinja, const ChatTemplateTokens& tokens,
                          const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
  nlohmann::ordered_json context = nlohmann::ordered_json::object();
  const auto set = [&](const char* key, const std::string& value) {
    if (!value.empty()) context[key] = value;
  };
  set("bos_token", tokens.bos);
  set("eos_token", tokens.eos);
  set("unk_token", tokens.unk);
  set("pad_token", tokens.pad);
  auto list = nlohmann::ordered_json::array();
  for (const auto& m : messages) list.push_back({{"role", m.role}, {"content", m.content}});
  context["messages"] = std::move(list);
  context["tools"] = nullptr;
  context["documents"] = nullptr;
  context["add_generation_prompt"] = add_generation_prompt;
  RenderedChat r;
  r.text = jinja.render(context);
  r.starts_with_bos = !tokens.bos.empty() && r.text.starts_with(tokens.bos);
  return r;
}

}  // namespace

ChatTemplateTokens chat_template_tokens(const lm::Tokenizer& tokenizer, const std::filesystem::path& model_dir) {
  ChatTemplateTokens t;
  if (tokenizer.bos_id()) t.bos = tokenizer.id_to_token(*tokenizer.bos_id());
  if (!tokenizer.eos_ids().empty()) t.eos = tokenizer.id_to_token(tokenizer.eos_ids().front());
  if (!model_dir.empty()) {
    const auto config = lm::TokenizerConfig::read(model_dir);
    t.unk = config.unk_token.value_or("");
    t.pad = config.pad_token.value_or("");
  }
  for (int64_t id = 0; id < tokenizer.vocab_size(); ++id)
    if (tokenizer.is_special(id)) t.special.push_back(tokenizer.id_to_token(id));
  return t;
}

ChatTemplate::ChatTemplate(ChatTemplateKind kind, ChatTemplateTokens tokens) : kind_(kind), tokens_(std::move(tokens)) {
  if (kind_ == ChatTemplateKind::kJinja)
    throw std::logic_error("ChatTemplate: a Jinja template is made from its source, not its kind");
  if (tokens_.bos.empty()) tokens_.bos = kind_ == ChatTemplateKind::kGemma ? "<bos>" : "<|begin_of_text|>";
  if (tokens_.eos.empty()) tokens_.eos = "</s>";
}

ChatTemplate::ChatTemplate(lm::JinjaTemplate jinja, std::string name, ChatTemplateTokens tokens, bool reads_clock)
    : kind_(ChatTemplateKind::kJinja),
      tokens_(std::move(tokens)),
      jinja_(std::move(jinja)),
      name_(std::move(name)),
      reads_clock_(reads_clock) {
  // The end of an assistant turn: render a probe conversation and take the special token that
  // follows the reply (after spaces: Mistral-v0.3 writes " </s>"). Templates that refuse the probe
  // (a required system turn, say) have none here; their completions then end where the rendering
  // does, and get the EOS appended.
  const std::string reply = "fpokit-probe-reply";
  try {
    const auto text = render({{"user", "fpokit-probe-question"}, {"assistant", reply}}, false).text;
    const auto at = text.rfind(reply);
    if (at != std::string::npos) {
      std::string_view tail = std::string_view(text).substr(at + reply.size());
      tail.remove_prefix(std::min(tail.size(), tail.find_first_not_of(" \t\n")));
      for (const auto& token : tokens_.special)
        if (!token.empty() && tail.starts_with(token) && token.size() > end_of_turn_.size()) end_of_turn_ = token;
    }
  } catch (const InputError&) {
  }
}

std::string_view ChatTemplate::name() const {
  return kind_ == ChatTemplateKind::kJinja ? std::string_view(name_) : chat_template_name(kind_);
}

RenderedChat ChatTemplate::render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const {
  if (jinja_) return render_jinja(*jinja_, tokens_, messages, add_generation_prompt);
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
    case ChatTemplateKind::kJinja: break;  // rendered above
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
    case ChatTemplateKind::kJinja: return end_of_turn_;
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
    case ChatTemplateKind::kJinja: return "jinja";
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
                    "\"; choose model (the model's own), chatml, llama-3, gemma, zephyr, plain or a .jinja file");
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

std::optional<ChatTemplateSource> model_chat_template_source(const std::filesystem::path& model_dir) {
  const auto jinja_file = model_dir / "chat_template.jinja";
  std::error_code ec;
  if (std::filesystem::exists(jinja_file, ec)) return ChatTemplateSource{read_text(jinja_file), jinja_file};
  const auto config_file = model_dir / "tokenizer_config.json";
  if (!std::filesystem::exists(config_file, ec)) return std::nullopt;
  auto source = template_from_config(config_file);
  if (!source) return std::nullopt;
  return ChatTemplateSource{std::move(*source), config_file};
}

std::optional<ChatTemplateKind> detect_chat_template(const std::filesystem::path& model_dir) {
  const auto source = model_chat_template_source(model_dir);
  if (!source) return std::nullopt;
  return detect_chat_template_source(source->text);
}

std::optional<ChatTemplate> select_chat_template(std::string& name, const std::filesystem::path& model_dir,
                                                 const lm::Tokenizer& tokenizer) {
  const auto tokens = [&] { return chat_template_tokens(tokenizer, model_dir); };
  // A Jinja source, parsed; an unsupported construct names the built-in it resembles, if any.
  const auto jinja = [&](const std::string& text, const std::string& source_name, const std::string& label) {
    try {
      return ChatTemplate(lm::JinjaTemplate::parse(text, source_name), label, tokens(),
                          text.find("strftime_now") != std::string::npos);
    } catch (const ConfigError& e) {
      const auto like = detect_chat_template_source(text);
      throw ConfigError(std::string(e.what()) + "; use a built-in template instead with --chat-template " +
                        (like ? std::string(chat_template_name(*like)) : "chatml|llama-3|gemma|zephyr|plain"));
    }
  };
  if (name.empty() || name == "auto" || name == "model") {
    const auto source = model_chat_template_source(model_dir);
    if (!source) {
      if (name == "model")
        throw ConfigError("--chat-template model: " + model_dir.string() +
                          " has no chat template (no chat_template.jinja, no chat_template in tokenizer_config.json); "
                          "choose chatml, llama-3, gemma, zephyr, plain or a .jinja file");
      name.clear();
      return std::nullopt;
    }
    const auto label = source->file.filename() == "tokenizer_config.json" ? source->file.string() + " (chat_template)"
                                                                          : source->file.string();
    name = "model";
    return jinja(source->text, label, "model");
  }
  std::error_code ec;
  if (name.ends_with(".jinja") || std::filesystem::is_regular_file(name, ec)) {
    if (!std::filesystem::is_regular_file(name, ec))
      throw ConfigError("--chat-template " + name + ": no such file; give a .jinja file or a built-in template");
    return jinja(read_text(name), name, name);
  }
  return ChatTemplate(parse_chat_template(name), tokens());
}

}  // namespace fpokit::fpo
