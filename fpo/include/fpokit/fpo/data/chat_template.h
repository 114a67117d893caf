#pragma once
// Built-in chat templates: render {role, content} messages to the exact text the models' HF Jinja
// templates produce (transformers' apply_chat_template with tokenize=False). We do not run Jinja:
// five fixed formats cover the models fpokit trains, and a hand-written renderer cannot execute
// arbitrary template code shipped inside a model directory.
//
// Each message renders as follows (C escapes; {c} = content, trim(c) = c without leading and
// trailing ASCII whitespace, as Jinja's |trim does for ASCII text):
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
// BOS: llama-3 and gemma write the BOS token as text, so the token ids of their rendering already
// begin with BOS; RenderedChat::starts_with_bos says so, and the preference tokenizer then adds
// none of its own (a doubled BOS is a known silent accuracy loss: docs/methods.md, 'Tokenisation
// pitfalls').
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fpokit::lm {
class Tokenizer;
}

namespace fpokit::fpo {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

enum class ChatTemplateKind { kPlain, kChatml, kLlama3, kGemma, kZephyr };

// The text of the special tokens a template writes through Jinja's bos_token / eos_token. Empty
// fields take the template's usual token ("<|begin_of_text|>" for llama-3, "<bos>" for gemma,
// "</s>" for zephyr); set them from the tokenizer when it names different ones.
struct ChatTemplateTokens {
  std::string bos;
  std::string eos;
};

// The tokenizer's BOS and first EOS token text (empty where it has none), as HF passes
// bos_token / eos_token to the template.
ChatTemplateTokens chat_template_tokens(const lm::Tokenizer& tokenizer);

struct RenderedChat {
  std::string text;
  bool starts_with_bos = false;  // `text` begins with the BOS token written as text
};

class ChatTemplate {
 public:
  explicit ChatTemplate(ChatTemplateKind kind, ChatTemplateTokens tokens = {});

  ChatTemplateKind kind() const { return kind_; }
  std::string_view name() const;

  // The conversation as text; with add_generation_prompt, followed by the header that opens the
  // assistant's reply. Throws InputError (one line, no location: callers add file:line) for a role
  // other than system/user/assistant or, for gemma, turns (after a leading system message) that
  // do not alternate user/assistant, as the Gemma templates raise.
  RenderedChat render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;

  // The text that closes an assistant turn and that generation stops on ("<|im_end|>",
  // "<|eot_id|>", "<end_of_turn>", the EOS text for zephyr); empty for plain.
  std::string end_of_turn() const;

 private:
  ChatTemplateKind kind_;
  ChatTemplateTokens tokens_;
};

// "chatml", "llama-3", "gemma", "zephyr", "plain" (also "llama3"). Throws ConfigError listing them.
ChatTemplateKind parse_chat_template(std::string_view name);
std::string_view chat_template_name(ChatTemplateKind kind);

// The built-in template a Jinja chat template corresponds to, by distinctive markers:
// "<|im_start|>" -> chatml, "<|start_header_id|>" -> llama-3, "<start_of_turn>" -> gemma,
// "<|user|>" and "<|assistant|>" without Phi-3's "<|end|>" -> zephyr; nullopt otherwise.
std::optional<ChatTemplateKind> detect_chat_template_source(std::string_view jinja);

// The same for a model directory: chat_template.jinja if present (transformers >= 4.43 saves the
// template there), else tokenizer_config.json's "chat_template" (a string, or a list of
// {"name", "template"} from which "default" is used). nullopt when the model has no template or an
// unrecognised one. Throws ConfigError naming the file for malformed JSON or a mistyped field.
std::optional<ChatTemplateKind> detect_chat_template(const std::filesystem::path& model_dir);

}  // namespace fpokit::fpo
