#pragma once
// Chat templates: render {role, content} messages to the exact text transformers'
// apply_chat_template(tokenize=False) produces.
//
// The model's own template (ChatTemplateKind::kJinja): the Jinja source in the model directory
// (chat_template.jinja, else tokenizer_config.json's chat_template) or a .jinja file, run by
// lm::JinjaTemplate (lm/chat/jinja_template.h) with the context apply_chat_template gives it
// (messages, add_generation_prompt, the tokenizer's bos/eos/unk/pad token texts; no tools or
// documents). This is the default whenever the model has a template.
//
// Built-in templates, for models without one and for base models trained on chat data:
// five fixed formats, each rendered as follows (C escapes; {c} = content, trim(c) = c without
// leading and trailing ASCII whitespace, as Jinja's |trim does for ASCII text):
//
//   chatml    "<|im_start|>{role}\n{c}<|im_end|>\n"
//             generation prompt "<|im_start|>assistant\n". The generic ChatML template: no
//             default system message (Qwen2/2.5 templates inject one when none is given; pass it
//             explicitly for those models).
//   llama-3   "<|start_header_id|>{role}<|end_header_id|>\n\n{trim(c)}<|eot_id|>", the first
//             message preceded by BOS text ("<|begin_of_text|>"); generation prompt
//             "<|start_header_id|>assistant<|end_header_id|>\n\n". Meta-Llama-3-Instruct's
//             template (3.1+ also inject a dated system message; we do not).
//   gemma     BOS text ("<bos>") once, then "<start_of_turn>{user|model}\n{trim(c)}<end_of_turn>\n";
//             generation prompt "<start_of_turn>model\n". Roles must alternate user/assistant.
//             Gemma has no system role: Gemma-2's template raises, Gemma-3's prepends the system
//             text + "\n\n" to the first user turn (before trimming the user text). We follow
//             Gemma-3, so system-prompted preference data works with every Gemma.
//   zephyr    "<|{role}|>\n{c}{eos}\n" with eos the tokenizer's EOS text ("</s>");
//             generation prompt "<|assistant|>\n". HuggingFaceH4/zephyr-7b-beta's template.
//   plain     no markup: the contents joined by "\n"; the generation prompt is the "\n" that
//             separates the last message from the reply. For base models.
//
// BOS: templates that write the BOS token as text (llama-3, gemma, most real ones) make token ids
// that already begin with BOS; RenderedChat::starts_with_bos says so, and the preference tokenizer
// then adds none of its own (a doubled BOS is a known silent accuracy loss: docs/methods.md,
// 'Tokenisation pitfalls').
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fpokit/lm/chat/jinja_template.h"

namespace fpokit::lm {
class Tokenizer;
}

namespace fpokit::fpo {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

enum class ChatTemplateKind { kPlain, kChatml, kLlama3, kGemma, kZephyr, kJinja };

// The text of the special tokens a template writes through Jinja's bos_token / eos_token. Empty
// fields take the template's usual token ("<|begin_of_text|>" for llama-3, "<bos>" for gemma,
// "</s>" for zephyr); set them from the tokenizer when it names different ones.
struct ChatTemplateTokens {
  std::string bos;
  std::string eos;
  std::string unk;  // Jinja templates see these as unk_token / pad_token when set
  std::string pad;
  // The texts of the tokenizer's special tokens: a Jinja template's end of turn is the one its
  // rendering writes right after an assistant reply.
  std::vector<std::string> special;
};

// The tokenizer's BOS and first EOS token text (empty where it has none), as HF passes
// bos_token / eos_token to the template; unk/pad from the model's tokenizer_config.json (when
// `model_dir` is given) and the texts of every special token.
ChatTemplateTokens chat_template_tokens(const lm::Tokenizer& tokenizer, const std::filesystem::path& model_dir = {});

struct RenderedChat {
  std::string text;
  bool starts_with_bos = false;  // `text` begins with the BOS token written as text
};

class ChatTemplate {
 public:
  // A built-in template (not kJinja).
  explicit ChatTemplate(ChatTemplateKind kind, ChatTemplateTokens tokens = {});
  // A Jinja template; `name` is what logs and saved configs call it ("model", a file path);
  // `reads_clock`: the source calls strftime_now (Llama-3.2's dated system message).
  ChatTemplate(lm::JinjaTemplate jinja, std::string name, ChatTemplateTokens tokens, bool reads_clock = false);

  ChatTemplateKind kind() const { return kind_; }
  std::string_view name() const;

  // The conversation as text; with add_generation_prompt, followed by the header that opens the
  // assistant's reply. Throws InputError (one line, no location: callers add file:line) for a role
  // other than system/user/assistant or, for gemma, turns (after a leading system message) that
  // do not alternate user/assistant, as the Gemma templates raise; a Jinja template's own
  // raise_exception and runtime errors are InputErrors naming its line.
  RenderedChat render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;

  // The text that closes an assistant turn and that generation stops on ("<|im_end|>",
  // "<|eot_id|>", "<end_of_turn>", the EOS text for zephyr); empty for plain. For a Jinja
  // template: the special token its rendering writes right after an assistant reply (found by
  // rendering a probe conversation), empty when none follows.
  std::string end_of_turn() const;

  // The rendering depends on today's date (a Jinja template calling strftime_now, as HF runs it),
  // so that a run's identity can record the date it rendered its data on.
  bool reads_clock() const { return reads_clock_; }

 private:
  ChatTemplateKind kind_;
  ChatTemplateTokens tokens_;
  std::optional<lm::JinjaTemplate> jinja_;
  std::string name_;         // kJinja
  std::string end_of_turn_;  // kJinja
  bool reads_clock_ = false;
};

// "chatml", "llama-3", "gemma", "zephyr", "plain" (also "llama3"). Throws ConfigError listing them.
ChatTemplateKind parse_chat_template(std::string_view name);

// The Jinja source of a model directory's chat template (chat_template.jinja if present, as
// transformers >= 4.43 saves it; else tokenizer_config.json's "chat_template", a string or a list
// of {"name", "template"} whose "default" is used) and the file it came from; nullopt when the
// model has none. Throws ConfigError naming the file for malformed JSON or a mistyped field.
struct ChatTemplateSource {
  std::string text;
  std::filesystem::path file;
};
std::optional<ChatTemplateSource> model_chat_template_source(const std::filesystem::path& model_dir);

// The chat template `--chat-template NAME` selects for a model (how train, eval-prefs and drift
// choose): empty or "auto" -> the model's own Jinja template when it has one (nullopt otherwise:
// plain strings only); "model" -> the model's template, a ConfigError when it has none; a built-in
// name; a path to a .jinja file. A template the Jinja interpreter cannot run is a ConfigError
// naming its line and construct, with the built-ins as the way out. `name` becomes the chosen
// template's name ("model", the built-in's, the file), for logs and saved configs.
std::optional<ChatTemplate> select_chat_template(std::string& name, const std::filesystem::path& model_dir,
                                                 const lm::Tokenizer& tokenizer);
std::string_view chat_template_name(ChatTemplateKind kind);

// The built-in template a Jinja chat template resembles, by distinctive markers (for messages):
// "<|im_start|>" -> chatml, "<|start_header_id|>" -> llama-3, "<start_of_turn>" -> gemma,
// "<|user|>" and "<|assistant|>" without Phi-3's "<|end|>" -> zephyr; nullopt otherwise.
std::optional<ChatTemplateKind> detect_chat_template_source(std::string_view jinja);

// The same for a model directory: chat_template.jinja if present (transformers >= 4.43 saves the
// template there), else tokenizer_config.json's "chat_template" (a string, or a list of
// {"name", "template"} from which "default" is used). nullopt when the model has no template or an
// unrecognised one. Throws ConfigError naming the file for malformed JSON or a mistyped field.
std::optional<ChatTemplateKind> detect_chat_template(const std::filesystem::path& model_dir);

}  // namespace fpokit::fpo
