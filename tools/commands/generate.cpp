// fpokit generate: text continuation of a prompt with a KV cache, streamed as text or, with
// --json, printed at the end as one JSON object with the token ids (for scripts and tests).
#include <iostream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "fpokit/core/log/log.h"
#include "fpokit/lm/model/generation.h"
#include "fpokit/lm/model/load_model.h"
#include "fpokit/lm/tokenizer/tokenizer.h"
#include "model_options.h"

namespace fpokit::cli {

namespace {

struct GenerateArgs {
  ModelOptions model;
  std::string prompt;
  bool no_special_tokens = false;
  bool json = false;
  lm::GenerationOptions generation;
};

// Prints the text of the new tokens as they come, so that the whole output is their decoded text.
// Decoding is not append-only, so only text that later tokens cannot change is printed: not a
// trailing run of byte pieces ("<0xNN>", SentencePiece's byte fallback; HF's ByteFallback decoder
// renders a run as UTF-8 when the whole run is valid and as one U+FFFD per byte otherwise, so a
// later byte can turn an earlier "\r" into U+FFFD), and not a trailing U+FFFD (an incomplete UTF-8
// sequence of byte-level BPE, which the next bytes may complete). finish() prints the rest.
class TextStreamer {
 public:
  explicit TextStreamer(const lm::Tokenizer& tokenizer) : tokenizer_(tokenizer) {}
  void push(int64_t id) {
    tokens_.push_back(id);
    if (is_byte_piece(id)) return;  // the run it extends may still change
    const std::string text = tokenizer_.decode(tokens_, /*skip_special_tokens=*/true);
    if (text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0) return;  // U+FFFD: wait
    print_beyond_printed(text);
  }
  void finish() { print_beyond_printed(tokenizer_.decode(tokens_, /*skip_special_tokens=*/true)); }

 private:
  bool is_byte_piece(int64_t id) const {
    const std::string piece = tokenizer_.id_to_token(id);
    return piece.size() == 6 && piece.compare(0, 3, "<0x") == 0 && piece.back() == '>';
  }
  void print_beyond_printed(const std::string& text) {
    if (text.size() <= printed_) return;
    std::cout << text.substr(printed_) << std::flush;
    printed_ = text.size();
  }

  const lm::Tokenizer& tokenizer_;
  std::vector<int64_t> tokens_;
  std::size_t printed_ = 0;
};

void run_generate(const GenerateArgs& args) {
  const auto tokenizer = lm::Tokenizer::from_directory(args.model.model_dir);
  const auto model = lm::load_model(args.model.model_dir, args.model.load_options());
  const auto prompt = tokenizer->encode(args.prompt, !args.no_special_tokens);
  auto options = args.generation;
  options.stop_ids = tokenizer->eos_ids();
  for (int64_t id : model->config().eos_token_ids) {
    if (std::find(options.stop_ids.begin(), options.stop_ids.end(), id) == options.stop_ids.end()) {
      options.stop_ids.push_back(id);
    }
  }
  lm::GenerationResult result;
  if (args.json) {
    result = lm::generate(*model, prompt, options);
    const nlohmann::json out = {{"prompt_ids", prompt},
                                {"output_ids", result.new_tokens},
                                {"text", tokenizer->decode(result.new_tokens, /*skip_special_tokens=*/true)},
                                {"stopped", result.stopped}};
    // Invalid UTF-8 (a continuation cut inside a character) is written as U+FFFD, as the decoder does.
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << args.prompt << std::flush;
    TextStreamer streamer(*tokenizer);
    result = lm::generate(*model, prompt, options, [&](int64_t id) { streamer.push(id); });
    streamer.finish();
    std::cout << "\n";
  }
  const auto n = static_cast<double>(result.new_tokens.size());
  std::ostringstream stats;
  stats << prompt.size() << " prompt tokens, " << result.new_tokens.size() << " new tokens"
        << (result.stopped ? " (stopped at EOS)" : "") << "; prefill "
        << (result.prefill_seconds > 0 ? static_cast<double>(prompt.size()) / result.prefill_seconds : 0.0)
        << " tok/s, decode " << (result.decode_seconds > 0 ? (n - 1) / result.decode_seconds : 0.0) << " tok/s";
  core::log::info(stats.str());
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  auto* cmd = app.add_subcommand("generate", "Continue a prompt (greedy, or sampled with --temperature)");
  add_example_on_default(cmd,
                         "fpokit generate --model examples/demo/model --prompt \"Review of the kettle, 5 stars:\" "
                         "--max-new-tokens 24 --temperature 1 --seed 1");
  args->model.add_to(*cmd);
  cmd->add_option("--prompt", args->prompt, "prompt text")->required()->group("Input");
  cmd->add_flag("--no-special-tokens", args->no_special_tokens, "do not add BOS/EOS to the prompt")->group("Input");
  cmd->add_option("--max-new-tokens", args->generation.max_new_tokens, "tokens to generate at most")
      ->capture_default_str()
      ->group("Generation");
  cmd->add_option("--temperature", args->generation.temperature, "sampling temperature; 0 = greedy")
      ->capture_default_str()
      ->group("Generation");
  cmd->add_option("--top-k", args->generation.top_k, "keep the k most likely tokens; 0 = off")
      ->capture_default_str()
      ->group("Generation");
  cmd->add_option("--top-p", args->generation.top_p, "nucleus sampling mass; 1 = off")
      ->capture_default_str()
      ->group("Generation");
  cmd->add_option("--seed", args->generation.seed, "sampling seed")->capture_default_str()->group("Generation");
  cmd->add_flag("--json", args->json,
                "print {prompt_ids, output_ids, text, stopped} as one JSON line instead of streaming the text")
      ->group("Output");
  cmd->callback([args] { run_generate(*args); });
}

}  // namespace fpokit::cli
