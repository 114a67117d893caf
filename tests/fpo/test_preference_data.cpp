// The preference data pipeline: chat templates, JSONL readers, joint tokenisation, truncation,
// collation. Golden renderings and token ids come from transformers
// (tests/fixtures/generate_preference_data.py -> tests/fixtures/fpo/preference_data_expected.json).
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "fpokit/core/errors.h"
#include "fpokit/fpo/data/chat_template.h"
#include "fpokit/fpo/data/preference_dataset.h"
#include "fpokit/fpo/data/preference_tokenizer.h"
#include "fpokit/fpo/training/run_inputs.h"
#include "fpokit/lm/chat/jinja_template.h"
#include "fpokit/lm/tokenizer/tokenizer.h"
#include "test_support.h"

using namespace fpokit::fpo;
using fpokit::test::fixture;
using fpokit::test::TempDir;
using nlohmann::json;

namespace {

void write_file(const std::filesystem::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary);
  out << s;
}

const json& expected() {
  static const json j = [] {
    std::ifstream in(fixture("fpo/preference_data_expected.json"));
    return json::parse(in);
  }();
  return j;
}

std::unique_ptr<fpokit::lm::Tokenizer> load_tokenizer(const std::string& relative) {
  return fpokit::lm::Tokenizer::from_directory(fixture(relative));
}

std::vector<ChatMessage> messages_from(const json& list) {
  std::vector<ChatMessage> out;
  for (const auto& m : list) out.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  return out;
}

std::vector<int64_t> ids_from(const json& list) { return list.get<std::vector<int64_t>>(); }

// The message of the InputError `fn` throws; fails the test when it throws none.
template <class Fn>
std::string input_error(Fn&& fn) {
  try {
    fn();
  } catch (const fpokit::InputError& e) {
    return e.what();
  }
  FAIL("no InputError");
  return {};
}

PreferenceExample string_example(const std::string& prompt, const std::string& chosen, const std::string& rejected) {
  PreferenceExample e;
  e.prompt.text = prompt;
  e.chosen = chosen;
  e.rejected = rejected;
  e.line = 1;
  return e;
}

}  // namespace

TEST_CASE("chat templates render known strings exactly", "[fpo][data]") {
  const std::vector<ChatMessage> conv{{"system", "Sys"}, {"user", "Hi"}};
  CHECK(ChatTemplate(ChatTemplateKind::kChatml).render(conv, true).text ==
        "<|im_start|>system\nSys<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  const auto llama = ChatTemplate(ChatTemplateKind::kLlama3).render(conv, true);
  CHECK(llama.text ==
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nSys<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  CHECK(llama.starts_with_bos);
  const auto gemma = ChatTemplate(ChatTemplateKind::kGemma).render(conv, true);
  CHECK(gemma.text == "<bos><start_of_turn>user\nSys\n\nHi<end_of_turn>\n<start_of_turn>model\n");
  CHECK(gemma.starts_with_bos);
  const auto zephyr = ChatTemplate(ChatTemplateKind::kZephyr).render(conv, true);
  CHECK(zephyr.text == "<|system|>\nSys</s>\n<|user|>\nHi</s>\n<|assistant|>\n");
  CHECK_FALSE(zephyr.starts_with_bos);
  CHECK(ChatTemplate(ChatTemplateKind::kPlain).render(conv, true).text == "Sys\nHi\n");
  CHECK(ChatTemplate(ChatTemplateKind::kPlain).render(conv, false).text == "Sys\nHi");
  CHECK(ChatTemplate(ChatTemplateKind::kZephyr, {"", "<|end_of_text|>"}).render({{"user", "a"}}, false).text ==
        "<|user|>\na<|end_of_text|>\n");
  CHECK(ChatTemplate(ChatTemplateKind::kZephyr, {"", "<|end_of_text|>"}).end_of_turn() == "<|end_of_text|>");
  CHECK(ChatTemplate(ChatTemplateKind::kChatml).end_of_turn() == "<|im_end|>");
  CHECK(ChatTemplate(ChatTemplateKind::kPlain).end_of_turn().empty());

  CHECK_THAT(input_error([] {
               ChatTemplate(ChatTemplateKind::kGemma).render({{"user", "a"}, {"user", "b"}}, true);
             }),
             Catch::Contains("alternating"));
  CHECK_THAT(input_error([] {
               ChatTemplate(ChatTemplateKind::kChatml).render({{"tool", "a"}}, true);
             }),
             Catch::Contains("\"tool\""));
  CHECK(parse_chat_template("llama-3") == ChatTemplateKind::kLlama3);
  CHECK(chat_template_name(ChatTemplateKind::kGemma) == "gemma");
  try {
    parse_chat_template("vicuna");
    FAIL("no error for an unknown template");
  } catch (const fpokit::ConfigError& e) {
    CHECK_THAT(e.what(), Catch::Contains("vicuna") && Catch::Contains("chatml, llama-3, gemma, zephyr, plain"));
  }
}

TEST_CASE("chat templates match transformers apply_chat_template", "[fpo][data]") {
  for (const auto& c : expected()["templates"]) {
    const auto name = c["template"].get<std::string>();
    INFO(name << " " << c["tokenizer"].get<std::string>());
    const auto tok = load_tokenizer(c["tokenizer"].get<std::string>());
    const ChatTemplate tmpl(parse_chat_template(name), chat_template_tokens(*tok));
    auto messages = messages_from(c["messages"]);
    const auto all = tmpl.render(messages, false);
    messages.pop_back();
    CHECK(all.text == c["full"].get<std::string>());
    CHECK(tmpl.render(messages, true).text == c["prompt"].get<std::string>());
    CHECK(tmpl.render(messages, false).text == c["prompt_without_generation_prompt"].get<std::string>());
    CHECK(all.starts_with_bos == (name == "llama-3" || name == "gemma"));
  }
}

TEST_CASE("detect_chat_template recognises templates by their markers", "[fpo][data]") {
  for (const char* dir :
       {"tokenizers/gpt2", "tokenizers/llama3", "tokenizers/qwen2", "tokenizers/llama2-sp", "tokenizers/gemma-sp"})
    CHECK_FALSE(detect_chat_template(fixture(dir)));  // the fixture tokenizers carry no template

  TempDir dir;
  const auto config_with = [&](const json& tmpl) {
    write_file(dir / "tokenizer_config.json", json{{"eos_token", "</s>"}, {"chat_template", tmpl}}.dump());
    return detect_chat_template(dir.path());
  };
  CHECK(config_with("{% for m in messages %}{{'<|im_start|>' + m['role'] }}{% endfor %}") == ChatTemplateKind::kChatml);
  CHECK(config_with("{{ bos_token }}{{ '<|start_header_id|>' }}") == ChatTemplateKind::kLlama3);
  CHECK(config_with("{{ bos_token }}{{ '<start_of_turn>user' }}") == ChatTemplateKind::kGemma);
  CHECK(config_with("{{ '<|user|>\n' }}{{ '<|assistant|>' }}") == ChatTemplateKind::kZephyr);
  CHECK_FALSE(config_with("{{ '<|user|>\n' + c + '<|end|>' }}{{ '<|assistant|>' }}"));  // Phi-3
  CHECK_FALSE(config_with("{{ '[INST] ' + c + ' [/INST]' }}"));
  CHECK(config_with(json::array({{{"name", "tool_use"}, {"template", "<|start_header_id|>"}},
                                 {{"name", "default"}, {"template", "<|im_start|>"}}})) == ChatTemplateKind::kChatml);
  CHECK_THROWS_AS(config_with(42), fpokit::ConfigError);

  write_file(dir / "chat_template.jinja", "{{ '<start_of_turn>' }}");  // wins over tokenizer_config.json
  CHECK(detect_chat_template(dir.path()) == ChatTemplateKind::kGemma);
  std::filesystem::remove(dir / "chat_template.jinja");
  write_file(dir / "tokenizer_config.json", "{\"chat_template\": ");
  try {
    detect_chat_template(dir.path());
    FAIL("no error for malformed JSON");
  } catch (const fpokit::ConfigError& e) {
    CHECK_THAT(e.what(), Catch::Contains("tokenizer_config.json"));
  }
}

TEST_CASE("read_preference_data reads standard and conversational rows", "[fpo][data]") {
  TempDir dir;
  const json standard{{"prompt", "The sky is"}, {"chosen", " blue."}, {"rejected", " green."}};
  const json implicit{{"chosen", {{{"role", "user"}, {"content", "Q"}}, {{"role", "assistant"}, {"content", "A"}}}},
                      {"rejected", {{{"role", "user"}, {"content", "Q"}}, {{"role", "assistant"}, {"content", "B"}}}}};
  const json explicit_prompt{{"prompt", {{{"role", "system"}, {"content", "S"}}, {{"role", "user"}, {"content", "Q"}}}},
                             {"chosen", {{"role", "assistant"}, {"content", "A"}}},
                             {"rejected", {{{"role", "assistant"}, {"content", "B"}}}}};
  // ultrafeedback_binarized: a string prompt and lists that repeat it.
  const json ultrafeedback{
      {"prompt", "Q"},
      {"chosen", {{{"role", "user"}, {"content", "Q"}}, {{"role", "assistant"}, {"content", "A"}}}},
      {"rejected", {{{"role", "user"}, {"content", "Q"}}, {{"role", "assistant"}, {"content", "B"}}}},
      {"score_chosen", 8.0}};
  const json prompt_list_string_replies{
      {"prompt", {{{"role", "user"}, {"content", "Q"}}}}, {"chosen", "A"}, {"rejected", "B"}};
  write_file(dir / "p.jsonl", standard.dump() + "\n\n" + implicit.dump() + "\r\n" + explicit_prompt.dump() + "\n" +
                                  ultrafeedback.dump() + "\n" + prompt_list_string_replies.dump() + "\n");

  // Strings without a template are used as they are; conversational rows need one.
  write_file(dir / "s.jsonl", standard.dump() + "\n");
  const auto raw = read_preference_data(dir / "s.jsonl");
  REQUIRE(raw.size() == 1);
  CHECK(raw[0].prompt.text == "The sky is");
  CHECK(raw[0].chosen == " blue.");
  CHECK(raw[0].rejected == " green.");
  CHECK_FALSE(raw[0].prompt.has_bos);
  CHECK(raw[0].end_of_turn.empty());
  CHECK_THAT(input_error([&] { read_preference_data(dir / "p.jsonl"); }),
             Catch::Contains("p.jsonl:3") && Catch::Contains("chat template"));

  const auto rows = read_preference_data(dir / "p.jsonl", {ChatTemplate(ChatTemplateKind::kChatml)});
  REQUIRE(rows.size() == 5);
  const std::string q = "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n";
  CHECK(rows[0].prompt.text == "<|im_start|>user\nThe sky is<|im_end|>\n<|im_start|>assistant\n");
  CHECK(rows[0].chosen == " blue.<|im_end|>");  // no trailing "\n": the turn ends at <|im_end|>
  CHECK(rows[0].line == 1);
  CHECK(rows[1].prompt.text == q);
  CHECK(rows[1].chosen == "A<|im_end|>");
  CHECK(rows[1].rejected == "B<|im_end|>");
  CHECK(rows[1].end_of_turn == "<|im_end|>");
  CHECK(rows[1].line == 3);
  CHECK(rows[2].prompt.text == "<|im_start|>system\nS<|im_end|>\n" + q);
  CHECK(rows[2].chosen == "A<|im_end|>");
  CHECK(rows[2].rejected == "B<|im_end|>");
  CHECK(rows[3].prompt.text == q);  // the string prompt is not repeated
  CHECK(rows[3].chosen == "A<|im_end|>");
  CHECK(rows[4].prompt.text == q);
  CHECK(rows[4].rejected == "B<|im_end|>");

  const auto gemma = read_preference_data(dir / "p.jsonl", {ChatTemplate(ChatTemplateKind::kGemma)});
  CHECK(gemma[2].prompt.text == "<bos><start_of_turn>user\nS\n\nQ<end_of_turn>\n<start_of_turn>model\n");
  CHECK(gemma[2].prompt.has_bos);
  CHECK(gemma[2].chosen == "A<end_of_turn>");
  const auto plain = read_preference_data(dir / "p.jsonl", {ChatTemplate(ChatTemplateKind::kPlain)});
  CHECK(plain[0].prompt.text == "The sky is\n");
  CHECK(plain[0].chosen == " blue.");
  CHECK(plain[2].prompt.text == "S\nQ\n");
  CHECK(plain[2].chosen == "A");
}

TEST_CASE("read_kto_data reads prompt completion and label", "[fpo][data]") {
  TempDir dir;
  write_file(dir / "k.jsonl", json{{"prompt", "Hi"}, {"completion", " there"}, {"label", true}}.dump() + "\n" +
                                  json{{"prompt", {{{"role", "user"}, {"content", "Hi"}}}},
                                       {"completion", {{{"role", "assistant"}, {"content", "Go away"}}}},
                                       {"label", false}}
                                      .dump() +
                                  "\n");
  const auto raw = read_kto_data(dir / "k.jsonl", {ChatTemplate(ChatTemplateKind::kZephyr)});
  REQUIRE(raw.size() == 2);
  CHECK(raw[0].prompt.text == "<|user|>\nHi</s>\n<|assistant|>\n");
  CHECK(raw[0].completion == " there</s>");
  CHECK(raw[0].desirable);
  CHECK(raw[1].completion == "Go away</s>");
  CHECK_FALSE(raw[1].desirable);
  CHECK(raw[1].line == 2);

  write_file(dir / "bad.jsonl", json{{"prompt", "Hi"}, {"completion", " there"}, {"label", "yes"}}.dump() + "\n");
  CHECK_THAT(input_error([&] { read_kto_data(dir / "bad.jsonl"); }),
             Catch::Contains("bad.jsonl:1") && Catch::Contains("label"));
}

TEST_CASE("read_sft_data reads plain-text rows and preference rows", "[fpo][data]") {
  TempDir dir;
  write_file(dir / "s.jsonl", json{{"text", "Once upon a time"}}.dump() + "\n" +
                                  json{{"prompt", "Q:"}, {"chosen", " yes"}, {"rejected", " no"}}.dump() + "\n");
  const auto rows = read_sft_data(dir / "s.jsonl");
  REQUIRE(rows.size() == 2);
  // A text row: no prompt (the tokenizer adds only its BOS), the text is the whole target.
  CHECK(rows[0].prompt.text.empty());
  CHECK(rows[0].chosen == "Once upon a time");
  CHECK(rows[0].end_of_turn.empty());
  CHECK(rows[0].line == 1);
  CHECK(rows[1].prompt.text == "Q:");
  CHECK(rows[1].chosen == " yes");
  CHECK(rows[1].line == 2);

  // Tokenised like a causal-LM batch: BOS, the text's tokens, EOS; every token after BOS a target.
  const auto llama = fpokit::lm::Tokenizer::from_directory(fpokit::test::fixture("../../models/tiny-llama"));
  const auto data = tokenize_preference_data({rows[0]}, *llama, {});
  REQUIRE(data.pairs.size() == 1);
  auto expected_ids = llama->encode("Once upon a time", true);
  expected_ids.push_back(llama->eos_ids().at(0));
  CHECK(data.pairs[0].chosen.input_ids == expected_ids);
  std::vector<int64_t> expected_mask(expected_ids.size(), 1);
  expected_mask[0] = 0;
  CHECK(data.pairs[0].chosen.completion_mask == expected_mask);

  const auto error_for = [&](const std::string& line) {
    write_file(dir / "bad.jsonl", line + "\n");
    return input_error([&] { read_sft_data(dir / "bad.jsonl"); });
  };
  CHECK_THAT(error_for(R"({"text": 3})"),
             Catch::Contains("bad.jsonl:1") && Catch::Contains("text") && Catch::Contains("number"));
  CHECK_THAT(error_for(R"({"text": ""})"), Catch::Contains("bad.jsonl:1") && Catch::Contains("text is empty"));
  CHECK_THAT(error_for(R"({"prompt": "p", "chosen": "a"})"),
             Catch::Contains("bad.jsonl:1") && Catch::Contains("rejected"));
  // A text row is not a preference row: the preference reader still refuses it.
  write_file(dir / "t.jsonl", R"({"text": "hello"})"
                              "\n");
  CHECK_THAT(input_error([&] { read_preference_data(dir / "t.jsonl"); }), Catch::Contains("t.jsonl:1"));
}

TEST_CASE("load_packed_text packs plain text as SAELens does, one language-modelling row each", "[fpo][data]") {
  TempDir dir;
  std::string rows;
  for (int i = 0; i < 12; ++i)
    rows += json{{"text", "The fox " + std::to_string(i) + " runs to the river."}}.dump() + "\n";
  write_file(dir / "c.jsonl", rows);
  const auto llama = fpokit::lm::Tokenizer::from_directory(fpokit::test::fixture("../../models/tiny-llama"));
  const auto packed = load_packed_text((dir / "c.jsonl").string(), "", "text", *llama, 16, "");
  // The stream: BOS, then each document's tokens followed by BOS; every row starts with BOS and
  // carries the next 15 tokens; the partial last row is dropped.
  std::vector<int64_t> stream{*llama->bos_id()};
  for (int i = 0; i < 12; ++i) {
    const auto ids = llama->encode("The fox " + std::to_string(i) + " runs to the river.", false);
    stream.insert(stream.end(), ids.begin(), ids.end());
    stream.push_back(*llama->bos_id());
  }
  const size_t expected_rows = (stream.size() - 1) / 15;
  REQUIRE(packed.pairs.size() == expected_rows);
  size_t at = 1;
  for (const auto& p : packed.pairs) {
    REQUIRE(p.chosen.input_ids.size() == 16);
    CHECK(p.chosen.input_ids[0] == *llama->bos_id());
    CHECK(std::equal(p.chosen.input_ids.begin() + 1, p.chosen.input_ids.end(), stream.begin() + static_cast<long>(at)));
    at += 15;
    CHECK(p.chosen.completion_mask[0] == 0);
    CHECK(std::count(p.chosen.completion_mask.begin(), p.chosen.completion_mask.end(), 1) == 15);
    CHECK(p.rejected.input_ids == p.chosen.input_ids);  // one sequence, forwarded once by the trainer
  }
  CHECK_THAT(input_error([&] { load_packed_text((dir / "c.jsonl").string(), "", "text", *llama, 4096, ""); }),
             Catch::Contains("c.jsonl") && Catch::Contains("fewer than 4096 tokens"));
}

TEST_CASE("bad preference rows raise InputError naming file line and field", "[fpo][data]") {
  TempDir dir;
  const auto error_for = [&](const std::string& second_line) {
    write_file(dir / "d.jsonl", R"({"prompt": "p", "chosen": "a", "rejected": "b"})"
                                "\n" +
                                    second_line + "\n");
    return input_error([&] { read_preference_data(dir / "d.jsonl", {ChatTemplate(ChatTemplateKind::kChatml)}); });
  };
  CHECK_THAT(error_for(R"({"prompt": "p", "chosen": "a"})"),
             Catch::Contains("d.jsonl:2") && Catch::Contains("rejected"));
  CHECK_THAT(error_for(R"({"chosen": "a", "rejected": "b"})"),
             Catch::Contains("d.jsonl:2") && Catch::Contains("prompt"));
  CHECK_THAT(error_for(R"({"prompt": "p", "chosen": 3, "rejected": "b"})"),
             Catch::Contains("d.jsonl:2") && Catch::Contains("chosen") && Catch::Contains("number"));
  CHECK_THAT(error_for(R"({"prompt": "p", "chosen": "", "rejected": "b"})"),
             Catch::Contains("d.jsonl:2") && Catch::Contains("chosen") && Catch::Contains("empty"));
  CHECK_THAT(error_for(R"({"prompt": "p", "chosen": "a", "rejected": "b")"),
             Catch::Contains("d.jsonl:2") && Catch::Contains("not valid JSON"));
  CHECK_THAT(error_for(R"(["p", "a", "b"])"), Catch::Contains("d.jsonl:2") && Catch::Contains("object"));
  CHECK_THAT(
      error_for(R"({"prompt": [{"role": "user", "content": "q"}], "chosen": {"role": "assistant"}, "rejected": "b"})"),
      Catch::Contains("d.jsonl:2") && Catch::Contains("chosen") && Catch::Contains("content"));
  CHECK_THAT(
      error_for(
          R"({"prompt": [{"role": "user", "content": "q"}], "chosen": {"role": "assistant", "content": ""}, "rejected": "b"})"),
      Catch::Contains("d.jsonl:2") && Catch::Contains("empty"));
  CHECK_THAT(error_for(
                 R"({"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],)"
                 R"( "rejected": [{"role": "user", "content": "other"}, {"role": "assistant", "content": "b"}]})"),
             Catch::Contains("d.jsonl:2") && Catch::Contains("share"));
  CHECK_THAT(
      error_for(R"({"chosen": [{"role": "user", "content": "q"}], "rejected": [{"role": "user", "content": "q"}]})"),
      Catch::Contains("d.jsonl:2") && Catch::Contains("assistant"));
  CHECK_THAT(error_for(R"({"prompt": [{"role": "robot", "content": "q"}], "chosen": "a", "rejected": "b"})"),
             Catch::Contains("d.jsonl:2") && Catch::Contains("robot"));
  CHECK_THROWS_AS(read_preference_data(dir / "missing.jsonl"), fpokit::InputError);
}

TEST_CASE("templated conversations tokenise as transformers does", "[fpo][data]") {
  for (const auto& c : expected()["templates"]) {
    const auto name = c["template"].get<std::string>();
    INFO(name << " " << c["tokenizer"].get<std::string>());
    const auto tok = load_tokenizer(c["tokenizer"].get<std::string>());
    TempDir dir;
    write_file(dir / "c.jsonl", json{{"chosen", c["messages"]}, {"rejected", c["messages"]}}.dump() + "\n");
    const auto rows =
        read_preference_data(dir / "c.jsonl", {ChatTemplate(parse_chat_template(name), chat_template_tokens(*tok))});
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].prompt.text == c["prompt"].get<std::string>());
    CHECK(rows[0].chosen == c["completion"].get<std::string>());

    PreferenceTokenizer pt(*tok, {std::nullopt, std::nullopt, TruncationMode::kKeepEnd});
    const auto pair = pt.tokenize(rows[0], 0);
    REQUIRE(pair);
    const auto want = ids_from(c["input_ids"]);
    CHECK(pair->chosen.input_ids == want);
    CHECK(pair->rejected.input_ids == want);
    const auto n = c["prompt_length"].get<int64_t>();
    CHECK(pair->prompt_length == n);
    std::vector<int64_t> mask(want.size(), 1);
    std::fill(mask.begin(), mask.begin() + n, 0);
    CHECK(pair->chosen.completion_mask == mask);
    CHECK(pt.stats().boundary_mismatches == 0);
    if (tok->bos_id() && want.size() > 1) CHECK_FALSE((want[0] == *tok->bos_id() && want[1] == *tok->bos_id()));
  }
}

TEST_CASE("string rows tokenise jointly with BOS and EOS as transformers does", "[fpo][data]") {
  for (const auto& c : expected()["strings"]) {
    INFO(c["tokenizer"].get<std::string>() << " " << c["prompt"].get<std::string>());
    const auto tok = load_tokenizer(c["tokenizer"].get<std::string>());
    const auto data =
        tokenize_preference_data({string_example(c["prompt"].get<std::string>(), c["completion"].get<std::string>(),
                                                 c["completion"].get<std::string>())},
                                 *tok, {});
    REQUIRE(data.pairs.size() == 1);
    CHECK(data.pairs[0].chosen.input_ids == ids_from(c["input_ids"]));
    CHECK(data.pairs[0].prompt_length == c["prompt_length"].get<int64_t>());
    CHECK(data.stats.boundary_mismatches == (c["boundary_match"].get<bool>() ? 0 : 2));
    CHECK(data.stats.eos_appended == 2);
  }
}

TEST_CASE("a prompt ending in a space is a counted boundary mismatch", "[fpo][data]") {
  const auto tok = load_tokenizer("tokenizers/gpt2");
  const auto prompt_ids = tok->encode("Answer: ", false);
  const auto joint = tok->encode("Answer: 4", false);
  REQUIRE(prompt_ids.size() == joint.size());  // " 4" merges across the boundary
  REQUIRE(std::equal(prompt_ids.begin(), prompt_ids.end() - 1, joint.begin()));
  REQUIRE(prompt_ids.back() != joint.back());
  PreferenceTokenizer pt(*tok);
  const auto pair = pt.tokenize(string_example("Answer: ", "4", " five"), 7);
  REQUIRE(pair);
  CHECK(pt.stats().boundary_mismatches == 1);  // " five" after "Answer: " does not merge
  // The sequence is the true joint tokenisation; the completion starts where it stops agreeing
  // with the prompt's tokens, for both sequences of the pair.
  auto want = joint;
  want.push_back(tok->eos_ids().front());
  CHECK(pair->chosen.input_ids == want);
  const auto n = static_cast<int64_t>(prompt_ids.size()) - 1;
  CHECK(pair->prompt_length == n);
  CHECK(std::vector<int64_t>(pair->rejected.input_ids.begin(), pair->rejected.input_ids.begin() + n) ==
        std::vector<int64_t>(joint.begin(), joint.begin() + n));
  CHECK(pair->chosen.completion_mask[n - 1] == 0);
  CHECK(pair->chosen.completion_mask[n] == 1);
  CHECK(pair->rejected.completion_mask[n] == 1);
  CHECK(pt.tokenize(string_example("Answer:", " 4", " 5"), 8));
  CHECK(pt.stats().boundary_mismatches == 1);  // the space on the completion side merges cleanly
  CHECK(pt.stats().kept == 2);
}

TEST_CASE("EOS is appended once and BOS is never doubled", "[fpo][data]") {
  const auto gpt2 = load_tokenizer("tokenizers/gpt2");
  const int64_t eos = gpt2->eos_ids().front();
  PreferenceTokenizer pg(*gpt2);
  CHECK_FALSE(pg.adds_bos());
  const auto p = pg.tokenize(string_example("The sky is", " blue.<|endoftext|>", " green."), 0);
  REQUIRE(p);
  CHECK(p->chosen.input_ids.back() == eos);
  CHECK(p->chosen.input_ids[p->chosen.input_ids.size() - 2] != eos);
  CHECK(p->rejected.input_ids.back() == eos);
  CHECK(pg.stats().eos_appended == 1);

  const auto llama = fpokit::lm::Tokenizer::from_directory(fpokit::test::fixture("../../models/tiny-llama"));
  REQUIRE(llama->bos_id());
  const int64_t bos = *llama->bos_id();
  PreferenceTokenizer pl(*llama);
  CHECK(pl.adds_bos());
  const auto plain = pl.tokenize(string_example("Hello", " world", " there"), 0);
  REQUIRE(plain);
  CHECK(plain->chosen.input_ids[0] == bos);
  CHECK(plain->chosen.input_ids[1] != bos);
  // BOS written in the text (what the llama-3 and gemma templates do), flagged or not.
  for (const bool flagged : {true, false}) {
    auto e = string_example("<|begin_of_text|>Hello", " world", " there");
    e.prompt.has_bos = flagged;
    const auto q = pl.tokenize(e, 1);
    REQUIRE(q);
    CHECK(q->chosen.input_ids[0] == bos);
    CHECK(q->chosen.input_ids[1] != bos);
    CHECK(q->chosen.input_ids.size() == plain->chosen.input_ids.size());
  }
  // Through the llama-3 template, end to end.
  TempDir dir;
  write_file(dir / "c.jsonl", R"({"prompt": "Hello", "chosen": "world", "rejected": "there"})"
                              "\n");
  const auto rows =
      read_preference_data(dir / "c.jsonl", {ChatTemplate(ChatTemplateKind::kLlama3, chat_template_tokens(*llama))});
  const auto t = pl.tokenize(rows.at(0), 0);
  REQUIRE(t);
  CHECK(t->chosen.input_ids[0] == bos);
  CHECK(t->chosen.input_ids[1] != bos);
}

TEST_CASE("truncation keeps the prompt end or start and counts every cut and drop", "[fpo][data]") {
  const auto tok = load_tokenizer("tokenizers/gpt2");
  const std::string prompt = "one two three four five six seven eight";
  const auto prompt_ids = tok->encode(prompt, false);
  REQUIRE(prompt_ids.size() >= 8);
  const auto example = string_example(prompt, " nine ten", " eleven");

  PreferenceTokenizer keep_end(*tok, {std::nullopt, 4, TruncationMode::kKeepEnd});
  const auto e = keep_end.tokenize(example, 0);
  REQUIRE(e);
  CHECK(e->prompt_length == 4);
  CHECK(std::vector<int64_t>(e->chosen.input_ids.begin(), e->chosen.input_ids.begin() + 4) ==
        std::vector<int64_t>(prompt_ids.end() - 4, prompt_ids.end()));
  CHECK(keep_end.stats().prompts_truncated == 1);

  PreferenceTokenizer keep_start(*tok, {std::nullopt, 4, parse_truncation_mode("keep_start")});
  const auto s = keep_start.tokenize(example, 0);
  REQUIRE(s);
  CHECK(std::vector<int64_t>(s->chosen.input_ids.begin(), s->chosen.input_ids.begin() + 4) ==
        std::vector<int64_t>(prompt_ids.begin(), prompt_ids.begin() + 4));
  CHECK_THROWS_AS(parse_truncation_mode("left"), fpokit::ConfigError);

  // The completion is cut to what fits (keeping its start; the EOS goes).
  PreferenceTokenizer fit(*tok, {6, 4, TruncationMode::kKeepEnd});
  const auto f = fit.tokenize(example, 0);
  REQUIRE(f);
  CHECK(f->chosen.input_ids.size() == 6);
  CHECK(f->rejected.input_ids.size() == 6);
  CHECK(f->chosen.input_ids.back() != tok->eos_ids().front());
  CHECK(fit.stats().completions_truncated == 2);
  CHECK(fit.stats().kept == 1);

  // A prompt that leaves no room under max_length drops the example, in both modes.
  for (const auto mode : {TruncationMode::kKeepStart, TruncationMode::kKeepEnd}) {
    PreferenceTokenizer drop(*tok, {static_cast<int64_t>(prompt_ids.size()), std::nullopt, mode});
    CHECK_FALSE(drop.tokenize(example, 0));
    CHECK(drop.tokenize(string_example("one", " two", " three"), 1));
    CHECK(drop.stats().dropped_prompt_too_long == 1);
    CHECK(drop.stats().examples == 2);
    CHECK(drop.stats().kept == 1);
    CHECK_THAT(drop.stats().summary(), Catch::Contains("2 examples, 1 kept") && Catch::Contains("1 (prompt too long)"));
  }

  // The leading BOS survives keep_end truncation.
  const auto llama = fpokit::lm::Tokenizer::from_directory(fpokit::test::fixture("../../models/tiny-llama"));
  PreferenceTokenizer with_bos(*llama, {std::nullopt, 3, TruncationMode::kKeepEnd});
  const auto b = with_bos.tokenize(example, 0);
  REQUIRE(b);
  const auto llama_prompt = llama->encode(prompt, false);
  CHECK(b->prompt_length == 3);
  CHECK(b->chosen.input_ids[0] == *llama->bos_id());
  CHECK(std::vector<int64_t>(b->chosen.input_ids.begin() + 1, b->chosen.input_ids.begin() + 3) ==
        std::vector<int64_t>(llama_prompt.end() - 2, llama_prompt.end()));

  CHECK_THROWS_AS(PreferenceTokenizer(*tok, {1, std::nullopt, TruncationMode::kKeepEnd}), fpokit::ConfigError);
}

TEST_CASE("KTO examples tokenise to one sequence each", "[fpo][data]") {
  const auto tok = load_tokenizer("tokenizers/qwen2");
  KtoExample good{
      {"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", false}, "Hello<|im_end|>", true, "<|im_end|>", 1};
  KtoExample bad{{"Hi", false}, " go away", false, "", 2};
  const auto data = tokenize_kto_data({good, bad}, *tok);
  REQUIRE(data.examples.size() == 2);
  CHECK(data.examples[0].desirable);
  CHECK_FALSE(data.examples[1].desirable);
  CHECK(data.examples[0].sequence.input_ids.back() == *tok->token_to_id("<|im_end|>"));
  CHECK(data.stats.eos_appended == 1);  // only the raw string; the qwen2 EOS is <|im_end|> anyway
  const auto& s = data.examples[1].sequence;
  CHECK(s.input_ids == [&] {
    auto ids = tok->encode("Hi go away", false);
    ids.push_back(tok->eos_ids().front());
    return ids;
  }());
  CHECK(data.examples[1].prompt_length == static_cast<int64_t>(tok->encode("Hi", false).size()));
  const auto batch =
      collate_sequences({&data.examples[0].sequence, &data.examples[1].sequence}, padding_token_id(*tok));
  const auto T = std::max(data.examples[0].sequence.input_ids.size(), s.input_ids.size());
  CHECK(batch.input_ids.size(0) == 2);
  CHECK(batch.input_ids.size(1) == static_cast<int64_t>(T));
}

TEST_CASE("collate_preference_pairs stacks chosen then rejected right-padded", "[fpo][data]") {
  TokenizedPair a{{{1, 2, 3, 4}, {0, 0, 1, 1}}, {{1, 2, 5}, {0, 0, 1}}, 2, 1};
  TokenizedPair b{{{7, 8}, {0, 1}}, {{7, 9, 9, 9, 9}, {0, 1, 1, 1, 1}}, 1, 2};
  const auto batch = collate_preference_pairs({&a, &b}, 99);
  REQUIRE(batch.input_ids.sizes() == torch::IntArrayRef({4, 5}));
  CHECK(batch.input_ids.scalar_type() == torch::kInt64);
  CHECK(batch.attention_mask.scalar_type() == torch::kInt64);
  CHECK(batch.completion_mask.scalar_type() == torch::kInt64);
  const auto ids =
      torch::tensor({1, 2, 3, 4, 99, 7, 8, 99, 99, 99, 1, 2, 5, 99, 99, 7, 9, 9, 9, 9}, torch::kInt64).view({4, 5});
  const auto att =
      torch::tensor({1, 1, 1, 1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1}, torch::kInt64).view({4, 5});
  const auto cm =
      torch::tensor({0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1}, torch::kInt64).view({4, 5});
  CHECK(torch::equal(batch.input_ids, ids));
  CHECK(torch::equal(batch.attention_mask, att));
  CHECK(torch::equal(batch.completion_mask, cm));
  CHECK_THROWS_AS(collate_preference_pairs({}, 0), std::invalid_argument);

  const auto qwen = load_tokenizer("tokenizers/qwen2");
  CHECK(padding_token_id(*qwen) == *qwen->token_to_id("<|endoftext|>"));
  const auto gpt2 = load_tokenizer("tokenizers/gpt2");
  if (!gpt2->pad_id()) CHECK(padding_token_id(*gpt2) == gpt2->eos_ids().front());
}

TEST_CASE("string pairs without a prompt split where TRL's extract_prompt splits them", "[fpo][data]") {
  // tests/fixtures/generate_implicit_prompts.py: TRL's own extract_prompt on each pair.
  std::ifstream in(fixture("fpo/implicit_prompts.json"));
  const auto cases = json::parse(in);
  REQUIRE(cases.size() >= 8);
  TempDir dir;
  std::string lines;
  for (const auto& c : cases) lines += json{{"chosen", c["chosen"]}, {"rejected", c["rejected"]}}.dump() + "\n";
  write_file(dir / "hh.jsonl", lines);
  const auto rows = read_preference_data(dir / "hh.jsonl");
  REQUIRE(rows.size() == cases.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    INFO(cases[i]["chosen"].get<std::string>());
    CHECK(rows[i].prompt.text == cases[i]["expected"]["prompt"].get<std::string>());
    CHECK(rows[i].chosen == cases[i]["expected"]["chosen"].get<std::string>());
    CHECK(rows[i].rejected == cases[i]["expected"]["rejected"].get<std::string>());
  }
}

TEST_CASE("renamed fields are read and named in messages", "[fpo][data]") {
  TempDir dir;
  write_file(dir / "r.jsonl", R"({"question": "Q?", "good": " yes", "bad": " no", "prompt": "ignored"})"
                              "\n");
  PreferenceDataOptions options;
  options.fields.prompt = "question";
  options.fields.chosen = "good";
  options.fields.rejected = "bad";
  const auto rows = read_preference_data(dir / "r.jsonl", options);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].prompt.text == "Q?");
  CHECK(rows[0].chosen == " yes");
  CHECK(rows[0].rejected == " no");
  write_file(dir / "missing.jsonl", R"({"question": "Q?", "good": " yes"})"
                                    "\n");
  CHECK_THAT(input_error([&] { read_preference_data(dir / "missing.jsonl", options); }),
             Catch::Contains("missing.jsonl:1") && Catch::Contains("missing field \"bad\""));
  write_file(dir / "typed.jsonl", R"({"question": 7, "good": " yes", "bad": " no"})"
                                  "\n");
  CHECK_THAT(input_error([&] { read_preference_data(dir / "typed.jsonl", options); }),
             Catch::Contains("typed.jsonl:1") && Catch::Contains("field question must be a string"));

  // KTO and SFT fields.
  write_file(dir / "k.jsonl", R"({"q": "Q", "answer": " A", "ok": false})"
                              "\n");
  PreferenceDataOptions kto;
  kto.fields.prompt = "q";
  kto.fields.completion = "answer";
  kto.fields.label = "ok";
  const auto k = read_kto_data(dir / "k.jsonl", kto);
  REQUIRE(k.size() == 1);
  CHECK(k[0].completion == " A");
  CHECK_FALSE(k[0].desirable);
  write_file(dir / "t.jsonl", R"({"content": "plain text"})"
                              "\n");
  PreferenceDataOptions sft;
  sft.fields.text = "content";
  const auto t = read_sft_data(dir / "t.jsonl", sft);
  REQUIRE(t.size() == 1);
  CHECK(t[0].chosen == "plain text");
}

TEST_CASE("preference data reads the same from every dataset format and from a folder's split", "[fpo][data]") {
  // tests/fixtures/generate_datasets.py writes one UltraFeedback-like set as JSON lines, gzip JSON
  // lines and a JSON array (and Parquet: tests/core/test_parquet_records.cpp).
  const ChatTemplate chatml(ChatTemplateKind::kChatml);
  const auto from = [&](const std::string& name) {
    return read_preference_data(fixture("datasets/" + name), {chatml});
  };
  const auto lines = from("preference.jsonl");
  REQUIRE(lines.size() >= 5);
  for (const char* other : {"preference.jsonl.gz", "preference.json"}) {
    INFO(other);
    const auto rows = from(other);
    REQUIRE(rows.size() == lines.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      CHECK(rows[i].prompt.text == lines[i].prompt.text);
      CHECK(rows[i].chosen == lines[i].chosen);
      CHECK(rows[i].rejected == lines[i].rejected);
    }
  }
  CHECK_THAT(lines[0].prompt.text, Catch::StartsWith("<|im_start|>user\nHow many legs"));

  // A folder's split: data/{split}-NNNNN-of-NNNNN shards, read in order.
  TempDir dir;
  std::filesystem::create_directories(dir / "data");
  const auto all = fpokit::test::read_bytes(fixture("datasets/preference.jsonl"));
  const auto cut = all.find('\n', all.find('\n') + 1) + 1;  // two rows in the first shard
  write_file(dir / "data/train_prefs-00000-of-00002.jsonl", all.substr(0, cut));
  write_file(dir / "data/train_prefs-00001-of-00002.jsonl", all.substr(cut));
  write_file(dir / "data/test_prefs-00000-of-00001.jsonl", all.substr(0, cut));
  PreferenceDataOptions options{chatml};
  options.split = "train_prefs";
  const auto split = read_preference_data(dir.path(), options);
  REQUIRE(split.size() == lines.size());
  CHECK(split.back().chosen == lines.back().chosen);
  CHECK(split[2].line == 1);  // lines count per shard
  options.split = "";
  CHECK_THAT(input_error([&] { read_preference_data(dir.path(), options); }),
             Catch::Contains("has no split 'train'") && Catch::Contains("test_prefs, train_prefs"));
}

namespace {

// tests/fixtures/generate_chat_templates.py: real chat templates and what transformers'
// apply_chat_template renders with them.
const json& real_templates() {
  static const json j = [] {
    std::ifstream in(fixture("chat_templates/chat_templates.json"));
    return json::parse(in)["templates"];
  }();
  return j;
}

const json& real_template(const std::string& prefix) {
  for (const auto& t : real_templates())
    if (t["name"].get<std::string>().starts_with(prefix)) return t;
  FAIL("no fixture template " << prefix);
  static const json none;
  return none;
}

// Cases a preference row can give: string contents, no tools, no template kwargs.
bool plain_chat_case(const json& c) {
  if (c.contains("tools") || (c.contains("kwargs") && !c["kwargs"].empty())) return false;
  for (const auto& m : c["messages"])
    if (!m.contains("content") || !m["content"].is_string() || m.size() != 2) return false;
  return true;
}

ChatTemplateTokens fixture_tokens(const json& t) {
  ChatTemplateTokens tokens;
  const auto& s = t["special_tokens"];
  tokens.bos = s.value("bos_token", "");
  tokens.eos = s.value("eos_token", "");
  tokens.unk = s.value("unk_token", "");
  tokens.pad = s.value("pad_token", "");
  tokens.special = {"<|begin_of_text|>",
                    "<|eot_id|>",
                    "<|end_of_text|>",
                    "<bos>",
                    "<eos>",
                    "<end_of_turn>",
                    "<|im_end|>",
                    "<|endoftext|>",
                    "<s>",
                    "</s>",
                    "<|end|>"};
  return tokens;
}

}  // namespace

TEST_CASE("a model's Jinja chat template renders preference conversations as transformers does", "[fpo][data]") {
  const std::map<std::string, std::string> end_of_turn = {{"llama-3.1-8b-instruct", "<|eot_id|>"},
                                                          {"llama-3.2-3b-instruct", "<|eot_id|>"},
                                                          {"gemma-2-2b-it", "<end_of_turn>"},
                                                          {"qwen2.5-7b-instruct", "<|im_end|>"},
                                                          {"mistral-7b-instruct-v0.3", "</s>"},
                                                          {"mistral-7b-instruct-v0.2", "</s>"},
                                                          {"zephyr-7b-beta", "</s>"},
                                                          {"phi-3.5-mini-instruct", "<|end|>"},
                                                          {"phi-3-mini-4k-instruct", "<|end|>"}};
  int rendered = 0;
  for (const auto& t : real_templates()) {
    const auto name = t["name"].get<std::string>();
    INFO(name);
    const auto tokens = fixture_tokens(t);
    const ChatTemplate tmpl(fpokit::lm::JinjaTemplate::parse(t["template"].get<std::string>(), name), "model", tokens);
    CHECK(tmpl.kind() == ChatTemplateKind::kJinja);
    CHECK(tmpl.name() == "model");
    REQUIRE(end_of_turn.count(name));
    CHECK(tmpl.end_of_turn() == end_of_turn.at(name));
    for (const auto& c : t["cases"]) {
      if (!plain_chat_case(c)) continue;
      INFO(c["name"].get<std::string>());
      const auto messages = messages_from(c["messages"]);
      const bool gen = c["add_generation_prompt"].get<bool>();
      if (c.contains("expected_error")) {
        CHECK_THAT(input_error([&] { tmpl.render(messages, gen); }),
                   Catch::Contains(c["expected_error"].get<std::string>()));
        continue;
      }
      const auto r = tmpl.render(messages, gen);
      CHECK(r.text == c["expected_text"].get<std::string>());
      CHECK(r.starts_with_bos == (!tokens.bos.empty() && r.text.starts_with(tokens.bos)));
      ++rendered;
    }
  }
  CHECK(rendered >= 40);
}

TEST_CASE("the model's chat template is the default, a built-in or a .jinja file on request", "[fpo][data]") {
  // A model directory: the qwen2 fixture tokenizer with Qwen2.5-Instruct's real template.
  TempDir model;
  for (const auto& entry : std::filesystem::directory_iterator(fixture("tokenizers/qwen2")))
    std::filesystem::copy_file(entry.path(), model / entry.path().filename().string());
  const auto& qwen = real_template("qwen2.5");
  write_file(model / "chat_template.jinja", qwen["template"].get<std::string>());
  const auto tokenizer = fpokit::lm::Tokenizer::from_directory(model.path());

  std::string name;
  auto selected = select_chat_template(name, model.path(), *tokenizer);
  REQUIRE(selected);
  CHECK(name == "model");
  CHECK(selected->kind() == ChatTemplateKind::kJinja);
  CHECK(selected->end_of_turn() == "<|im_end|>");  // a special token of this tokenizer

  // Conversational rows through it: the prompt is HF's rendering with the generation prompt.
  const json* with_gen = nullptr;
  for (const auto& c : qwen["cases"])
    if (c["name"] == "system_user_gen") with_gen = &c;
  REQUIRE(with_gen);
  const auto& msgs = (*with_gen)["messages"];
  const json row{{"prompt", msgs},
                 {"chosen", {{{"role", "assistant"}, {"content", "Yes."}}}},
                 {"rejected", {{{"role", "assistant"}, {"content", "No."}}}}};
  write_file(model / "rows.jsonl", row.dump() + "\n");
  const auto rows = read_preference_data(model / "rows.jsonl", {selected});
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].prompt.text == (*with_gen)["expected_text"].get<std::string>());
  CHECK(rows[0].chosen == "Yes.<|im_end|>");
  CHECK(rows[0].end_of_turn == "<|im_end|>");

  // A built-in by name; a .jinja file by path; "model" without a template is refused.
  name = "chatml";
  CHECK(select_chat_template(name, model.path(), *tokenizer)->kind() == ChatTemplateKind::kChatml);
  write_file(model / "mine.jinja", "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}");
  name = (model / "mine.jinja").string();
  const auto file = select_chat_template(name, model.path(), *tokenizer);
  REQUIRE(file);
  CHECK(file->render({{"user", "hi"}}, false).text == "[user] hi\n");
  std::filesystem::remove(model / "chat_template.jinja");
  name = "";
  CHECK_FALSE(select_chat_template(name, model.path(), *tokenizer));
  name = "model";
  CHECK_THROWS_WITH(select_chat_template(name, model.path(), *tokenizer),
                    Catch::Contains("has no chat template") && Catch::Contains("chatml"));
  name = (model / "absent.jinja").string();
  CHECK_THROWS_WITH(select_chat_template(name, model.path(), *tokenizer), Catch::Contains("no such file"));

  // A template the interpreter cannot run: its line and construct, and the built-in it resembles.
  write_file(model / "chat_template.jinja", "{{ '<|im_start|>' }}\n{% include 'other.jinja' %}");
  name = "";
  CHECK_THROWS_WITH(select_chat_template(name, model.path(), *tokenizer),
                    Catch::Contains("chat_template.jinja:2") && Catch::Contains("include") &&
                        Catch::Contains("--chat-template chatml"));
}
