// fpokit generate: text continuation of a prompt with a KV cache.
#include <iostream>
#include <memory>
#include <sstream>

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
  lm::GenerationOptions generation;
};

// Prints the text of the new tokens as they come, holding back an incomplete UTF-8 sequence.
class TextStreamer {
 public:
  explicit TextStreamer(const lm::Tokenizer& tokenizer) : tokenizer_(tokenizer) {}
  void push(int64_t id) {
    tokens_.push_back(id);
    const std::string text = tokenizer_.decode(tokens_, /*skip_special_tokens=*/true);
    if (text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0) return;  // U+FFFD: wait
    if (text.size() > printed_) {
      std::cout << text.substr(printed_) << std::flush;
      printed_ = text.size();
    }
  }

 private:
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
  std::cout << args.prompt << std::flush;
  TextStreamer streamer(*tokenizer);
  const auto result = lm::generate(*model, prompt, options, [&](int64_t id) { streamer.push(id); });
  std::cout << "\n";
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
  cmd->callback([args] { run_generate(*args); });
}

}  // namespace fpokit::cli
