// `fpokit generate` and `fpokit tokenize` through the real binary print exactly what transformers
// gives (tests/fixtures/generate_cli_hf.py, cli_hf/expected.json): greedy continuations as text
// and as ids (--json) on the bundled tiny Llama and two random models with a byte-level BPE and a
// SentencePiece tokenizer, and the ids and decodes of every tokenizer fixture. The random models'
// continuations hold invalid UTF-8 (byte pieces that never form a character): the streamed text
// must still be the decoded text, U+FFFD where HF writes it (llama2-sp "Zürich ...": a "\r" byte
// that the next byte turns into U+FFFD).
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "test_support.h"

using namespace fpokit;
using test::fpokit_cmd;
using test::quoted;
using test::repo_file;
using test::run_command;

namespace {

const nlohmann::json& expected() {
  static const nlohmann::json e = nlohmann::json::parse(test::read_bytes(test::fixture("cli_hf/expected.json")));
  return e;
}

// Text as one /bin/sh word: single quotes, each ' written as '\''.
std::string shell_word(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string generate_cmd(const nlohmann::json& c) {
  return fpokit_cmd("--quiet generate --model " + quoted(repo_file(c.at("model"))) + " --prompt " +
                    shell_word(c.at("prompt")) + " --max-new-tokens " +
                    std::to_string(c.at("max_new_tokens").get<int>()) +
                    (c.at("add_special_tokens").get<bool>() ? "" : " --no-special-tokens"));
}

}  // namespace

TEST_CASE("generate prints HF's greedy continuation", "[cli][generate][hf]") {
  const auto& cases = expected().at("generate");
  REQUIRE(cases.size() >= 6);
  bool some_stopped = false;
  for (const auto& c : cases) {
    INFO(c.at("model") << " prompt " << c.at("prompt").dump());
    const auto r = run_command(generate_cmd(c));
    INFO("stderr: " << r.err);
    REQUIRE(r.exit_code == 0);
    // The prompt, then the continuation as it streamed, then a newline.
    CHECK(r.out == c.at("prompt").get<std::string>() + c.at("text").get<std::string>() + "\n");
    CHECK(r.err.empty());  // --quiet: no statistics line
    some_stopped = some_stopped || c.at("stopped").get<bool>();
  }
  CHECK(some_stopped);  // the stop at an EOS id is covered
}

TEST_CASE("generate --json prints HF's greedy token ids and text", "[cli][generate][hf]") {
  for (const auto& c : expected().at("generate")) {
    INFO(c.at("model") << " prompt " << c.at("prompt").dump());
    const auto r = run_command(generate_cmd(c) + " --json");
    INFO("stderr: " << r.err);
    REQUIRE(r.exit_code == 0);
    REQUIRE(std::count(r.out.begin(), r.out.end(), '\n') == 1);
    const auto got = nlohmann::json::parse(r.out);
    CHECK(got.at("prompt_ids") == c.at("prompt_ids"));
    CHECK(got.at("output_ids") == c.at("output_ids"));
    CHECK(got.at("text") == c.at("text"));
    CHECK(got.at("stopped") == c.at("stopped"));
  }
}

TEST_CASE("tokenize prints HF's ids", "[cli][tokenize][hf]") {
  test::TempDir tmp;
  const auto& cases = expected().at("tokenize");
  REQUIRE(cases.size() >= 7);
  for (const auto& c : cases) {
    const std::string model = " --model " + quoted(repo_file(c.at("tokenizer")));
    INFO(c.at("tokenizer") << " text " << c.at("text").dump());
    // The text through a file: it holds newlines, a tab and characters a shell word would mangle.
    test::write_bytes(tmp / "text.txt", c.at("text").get<std::string>());
    auto r = run_command(fpokit_cmd("tokenize" + model + " --file " + quoted(tmp / "text.txt")));
    INFO("stderr: " << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out == c.at("ids").dump() + "\n");
    r = run_command(fpokit_cmd("tokenize" + model + " --no-special-tokens --file " + quoted(tmp / "text.txt")));
    CHECK(r.out == c.at("ids_no_special").dump() + "\n");
  }
  // --text gives what --file gives.
  const auto& first = cases.front();
  const auto r = run_command(fpokit_cmd("tokenize --model " + quoted(repo_file(first.at("tokenizer"))) + " --text " +
                                        shell_word(first.at("text"))));
  CHECK(r.out == first.at("ids").dump() + "\n");
}

TEST_CASE("tokenize --decode prints HF's decoded text", "[cli][tokenize][hf]") {
  test::TempDir tmp;
  for (const auto& c : expected().at("tokenize")) {
    const std::string model = " --model " + quoted(repo_file(c.at("tokenizer")));
    INFO(c.at("tokenizer") << " ids " << c.at("ids").dump());
    test::write_bytes(tmp / "ids.json", c.at("ids").dump());
    auto r = run_command(fpokit_cmd("tokenize" + model + " --decode --file " + quoted(tmp / "ids.json")));
    INFO("stderr: " << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out == c.at("decoded").get<std::string>() + "\n");
    r = run_command(
        fpokit_cmd("tokenize" + model + " --decode --no-special-tokens --file " + quoted(tmp / "ids.json")));
    CHECK(r.out == c.at("decoded_skip_special").get<std::string>() + "\n");
  }
}
