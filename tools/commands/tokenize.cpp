// fpokit tokenize: text -> token ids (a JSON list on stdout), or ids -> text with --decode.
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "fpokit/core/errors.h"
#include "fpokit/lm/tokenizer/tokenizer.h"
#include "hub_names.h"

namespace fpokit::cli {

namespace {

struct TokenizeArgs {
  std::string model_dir;
  std::string text;
  std::string file;
  bool decode = false;
  bool no_special_tokens = false;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void run_tokenize(const TokenizeArgs& args) {
  const auto tokenizer = lm::Tokenizer::from_directory(args.model_dir);
  const std::string source = args.file.empty() ? "--text" : args.file;
  const std::string input = args.file.empty() ? args.text : read_file(args.file);
  if (!args.decode) {
    std::cout << nlohmann::json(tokenizer->encode(input, !args.no_special_tokens)).dump() << "\n";
    return;
  }
  nlohmann::json ids;
  try {
    ids = nlohmann::json::parse(input);
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(source + ": --decode expects a JSON list of token ids: " + e.what());
  }
  if (!ids.is_array()) throw InputError(source + ": --decode expects a JSON list of token ids");
  std::vector<int64_t> tokens;
  for (const auto& id : ids) {
    if (!id.is_number_integer()) throw InputError(source + ": token id " + id.dump() + " is not an integer");
    tokens.push_back(id.get<int64_t>());
  }
  std::cout << tokenizer->decode(tokens, args.no_special_tokens) << "\n";
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto args = std::make_shared<TokenizeArgs>();
  auto* cmd = app.add_subcommand("tokenize", "Print the token ids of a text as a JSON list (or decode ids)");
  add_example_on_default(cmd, "fpokit tokenize --model examples/demo/model --text \"Thank you for waiting.\"");
  // Only the tokenizer is read, so no --device/--dtype (ModelOptions).
  accept_hub_name(cmd->add_option("--model", args->model_dir, "model directory with tokenizer.json or tokenizer.model"),
                  core::HubRepoType::Model)
      ->required()
      ->group("Model");
  auto* text = cmd->add_option("--text", args->text, "the text (with --decode: a JSON list of ids)")->group("Input");
  auto* file = cmd->add_option("--file", args->file, "read the text (or the JSON ids) from this file")->group("Input");
  text->excludes(file);
  cmd->add_flag("--decode", args->decode, "turn a JSON list of ids back into text")->group("Tokenization");
  cmd->add_flag("--no-special-tokens", args->no_special_tokens,
                "encode: do not add BOS/EOS; decode: drop special tokens")
      ->group("Tokenization");
  cmd->callback([args, text, file] {
    if (text->count() == 0 && file->count() == 0) throw InputError("tokenize: give --text TEXT or --file FILE");
    run_tokenize(*args);
  });
}

}  // namespace fpokit::cli
