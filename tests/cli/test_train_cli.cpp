// `fpokit train` through the real binary on the bundled tiny Llama and preference pairs
// (models/tiny-prefs.jsonl).
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "fpokit/lm/model/load_model.h"
#include "test_support.h"

using namespace fpokit;
using test::run_command;
using test::TempDir;
using test::fpokit_cmd;
using test::quoted;
using test::read_bytes;
using test::repo_file;

namespace {

const std::string kModel = "'" + repo_file("models/tiny-llama").string() + "'";
const std::string kPrefs = "'" + repo_file("models/tiny-prefs.jsonl").string() + "'";
const std::string kCorpus = "'" + repo_file("models/tiny-corpus.jsonl").string() + "'";

const std::string kFlags =
    " --model " + kModel + " --data " + kPrefs +
    " --learning-rate 1e-4 --max-steps 12 --per-device-train-batch-size 8 --logging-steps 4 --quiet";

nlohmann::json last_metrics(const std::filesystem::path& out) {
  std::ifstream in(out / "metrics.jsonl");
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return nlohmann::json::parse(last);
}

void check_one_line_error(const test::CommandResult& r, const std::string& needle) {
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains(needle));
  // One error line (data statistics may precede it on their own "fpokit: data:" line).
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') <= 2);
}

// A run refused before anything is written: one clear line, and no output folder.
void check_rejected(const std::string& command, const std::string& needle, const std::filesystem::path& out) {
  check_one_line_error(run_command(fpokit_cmd(command)), needle);
  CHECK_FALSE(std::filesystem::exists(out));
}

}  // namespace

TEST_CASE("train dpo writes a loadable model and TRL-named metrics", "[cli][train]") {
  TempDir tmp;
  auto r = run_command(fpokit_cmd("train --method dpo" + kFlags + " --out " + quoted(tmp / "out")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto m = last_metrics(tmp / "out");
  for (const char* k :
       {"loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins", "logps/chosen",
        "logps/rejected", "logits/chosen", "logits/rejected", "lr", "grad_norm", "tokens/s"})
    CHECK(m.contains(k));
  CHECK(m["rewards/accuracies"].get<double>() >= 0.9);
  auto model = lm::load_model(tmp / "out/model");
  auto base = lm::load_model(repo_file("models/tiny-llama"));
  CHECK_FALSE(
      torch::equal(model->named_parameters()["model.norm.weight"], base->named_parameters()["model.norm.weight"]));
  CHECK(std::filesystem::exists(tmp / "out/model/tokenizer.json"));
  CHECK(std::filesystem::exists(tmp / "out/config.toml"));

  // eval-prefs: the trained model ranks the pairs it was trained on against its reference.
  r = run_command(fpokit_cmd("eval-prefs --model " + quoted(tmp / "out/model") + " --ref-model " + kModel + " --data " +
                             kPrefs + " --out " + quoted(tmp / "prefs.json")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("reward accuracy"));
  const auto prefs = nlohmann::json::parse(read_bytes(tmp / "prefs.json"));
  CHECK(prefs["rewards/accuracies"].get<double>() >= 0.9);
  CHECK(prefs["rewards/margins"].get<double>() > 0);

  // The reference cache is reused by an identical run and recomputed when tokenisation changes.
  r = run_command(fpokit_cmd("train --method dpo" + kFlags + " --out " + quoted(tmp / "out2") + " --reference-cache " +
                             quoted(tmp / "out/reference_cache.h5")));
  CHECK_THAT(r.err, Catch::Contains("reusing"));
  r = run_command(fpokit_cmd("train --method dpo" + kFlags + " --max-length 40 --out " + quoted(tmp / "out3") +
                             " --reference-cache " + quoted(tmp / "out/reference_cache.h5")));
  CHECK_THAT(r.err, Catch::Contains("one pass"));
}

TEST_CASE("train fpo with an SAE trained by sae train", "[cli][train]") {
  TempDir tmp;
  auto r = run_command(fpokit_cmd("sae train --model " + kModel + " --data " + kCorpus +
                                  " --hook blocks.1.hook_resid_post --width 256 --k 8 --tokens 4096 --batch-tokens 512"
                                  " --context-size 32 --quiet --out " +
                                  quoted(tmp / "sae")));
  REQUIRE(r.exit_code == 0);
  r = run_command(fpokit_cmd("train --method fpo --sae " + quoted(tmp / "sae/blocks.1.hook_resid_post") +
                             " --fpo-topk 8" + kFlags + " --out " + quoted(tmp / "out")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto m = last_metrics(tmp / "out");
  CHECK(m.contains("fpo/feature_mse/chosen"));
  CHECK(m.contains("fpo/feature_mse/rejected"));
}

TEST_CASE("train fpo --fpo-variant released runs the reference online and starts at D = 0", "[cli][train][released]") {
  TempDir tmp;
  auto r = run_command(fpokit_cmd("sae train --model " + kModel + " --data " + kCorpus +
                                  " --hook blocks.1.hook_resid_post --width 256 --k 8 --tokens 4096 --batch-tokens 512"
                                  " --context-size 32 --quiet --out " +
                                  quoted(tmp / "sae")));
  REQUIRE(r.exit_code == 0);
  r = run_command(fpokit_cmd("train --method fpo --fpo-variant released --sae " +
                             quoted(tmp / "sae/blocks.1.hook_resid_post") + " --fpo-topk 8 --model " + kModel +
                             " --data " + kPrefs +
                             " --learning-rate 1e-4 --max-steps 3 --per-device-train-batch-size 4 --logging-steps 1"
                             " --warmup-steps 0 --out " +
                             quoted(tmp / "out")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("runs online"));
  // Nothing cached: the reference's pooled features depend on each training batch's padding.
  CHECK_FALSE(std::filesystem::exists(tmp / "out/reference_cache.h5"));
  std::ifstream in(tmp / "out/metrics.jsonl");
  std::string first;
  std::getline(in, first);
  const auto m = nlohmann::json::parse(first);
  REQUIRE(m.at("step") == 1);
  CHECK(m.at("fpo/feature_mse/chosen").get<double>() == 0.0);
  CHECK(m.at("fpo/feature_mse/rejected").get<double>() == 0.0);
  CHECK(m.at("loss").get<double>() == Approx(std::log(2.0)).epsilon(1e-6));
  const auto selection = nlohmann::json::parse(read_bytes(tmp / "out/fpo_selection.json"));
  CHECK(selection.at("variant") == "released");
  CHECK(selection.at("selections").get<int64_t>() > 0);
}

TEST_CASE("train stopped and resumed equals an uninterrupted run bitwise", "[cli][train][resume]") {
  TempDir tmp;
  auto r = run_command(fpokit_cmd("train --method simpo" + kFlags + " --out " + quoted(tmp / "whole")));
  REQUIRE(r.exit_code == 0);
  r = run_command(
      fpokit_cmd("train --method simpo" + kFlags + " --out " + quoted(tmp / "split") + " --stop-after-steps 5"));
  REQUIRE(r.exit_code == 0);
  CHECK_FALSE(std::filesystem::exists(tmp / "split/model"));
  r = run_command(fpokit_cmd("train --method simpo" + kFlags + " --out " + quoted(tmp / "split")));
  check_one_line_error(r, "--resume");
  r = run_command(fpokit_cmd("train --method simpo" + kFlags + " --out " + quoted(tmp / "split") + " --resume"));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_bytes(tmp / "whole/model/model.safetensors") == read_bytes(tmp / "split/model/model.safetensors"));
}

TEST_CASE("train --resume names the damaged checkpoint file instead of failing inside LibTorch",
          "[cli][train][resume]") {
  TempDir tmp;
  const auto out = tmp / "run";
  const std::string flags = "train --method dpo" + kFlags + " --out " + quoted(out);
  auto r = run_command(fpokit_cmd(flags + " --stop-after-steps 3"));
  REQUIRE(r.exit_code == 0);
  const auto checkpoint = out / "checkpoint-3";
  REQUIRE(std::filesystem::exists(checkpoint / "optimizer.pt"));
  const auto optimizer = read_bytes(checkpoint / "optimizer.pt");
  const auto state = read_bytes(checkpoint / "trainer_state.json");

  // A truncated optimizer state.
  test::write_bytes(checkpoint / "optimizer.pt", optimizer.substr(0, optimizer.size() / 2));
  r = run_command(fpokit_cmd("--quiet " + flags + " --resume"));
  check_one_line_error(r, (checkpoint / "optimizer.pt").string() + " is damaged");
  CHECK_THAT(r.err, Catch::Contains("--overwrite-output-dir"));
  CHECK_FALSE(std::filesystem::exists(out / "model"));

  // Random bytes in place of it.
  test::write_bytes(checkpoint / "optimizer.pt", std::string(optimizer.size(), 'x'));
  r = run_command(fpokit_cmd("--quiet " + flags + " --resume"));
  check_one_line_error(r, "optimizer.pt is damaged");

  // trainer_state.json without its logging window.
  test::write_bytes(checkpoint / "optimizer.pt", optimizer);
  auto damaged = nlohmann::json::parse(state);
  damaged.erase("log_window");
  test::write_bytes(checkpoint / "trainer_state.json", damaged.dump());
  r = run_command(fpokit_cmd("--quiet " + flags + " --resume"));
  check_one_line_error(r, "trainer_state.json is damaged");
  CHECK_THAT(r.err, Catch::Contains("log_window"));

  // Repaired, the run continues.
  test::write_bytes(checkpoint / "trainer_state.json", state);
  r = run_command(fpokit_cmd("--quiet " + flags + " --resume"));
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(std::filesystem::exists(out / "model/model.safetensors"));
}

TEST_CASE("train --resume refuses changed tokenisation settings or data, naming each", "[cli][train][resume]") {
  TempDir tmp;
  const auto out = tmp / "run";
  std::filesystem::copy_file(repo_file("models/tiny-prefs.jsonl"), tmp / "prefs.jsonl");
  const std::string flags = "train --method dpo --model " + kModel + " --data " + quoted(tmp / "prefs.jsonl") +
                            " --learning-rate 1e-4 --max-steps 12 --per-device-train-batch-size 8 --quiet --out " +
                            quoted(out);
  auto r = run_command(fpokit_cmd(flags + " --stop-after-steps 2"));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  r = run_command(fpokit_cmd("--quiet " + flags + " --resume --max-length 512 --truncation-mode keep_start"));
  check_one_line_error(r, "max_length was 1024, now 512");
  CHECK_THAT(r.err, Catch::Contains("truncation_mode was \"keep_end\", now \"keep_start\""));
  // The same pairs in another order: the same count, another content.
  auto lines = read_bytes(tmp / "prefs.jsonl");
  const auto first_end = lines.find('\n') + 1;
  test::write_bytes(tmp / "prefs.jsonl", lines.substr(first_end) + lines.substr(0, first_end));
  r = run_command(fpokit_cmd("--quiet " + flags + " --resume"));
  check_one_line_error(r, "data_content was");
  test::write_bytes(tmp / "prefs.jsonl", lines);
  r = run_command(fpokit_cmd("--quiet " + flags + " --resume"));
  INFO(r.err);
  CHECK(r.exit_code == 0);
}

TEST_CASE("train with LoRA saves a PEFT adapter and merges it", "[cli][train][lora]") {
  TempDir tmp;
  const std::string kLoraFlags =
      " --model " + kModel + " --data " + kPrefs +
      " --learning-rate 3e-3 --max-steps 12 --per-device-train-batch-size 8 --logging-steps 4 --quiet";
  const std::string lora = " --lora-r 4 --lora-alpha 8 --lora-targets q_proj,v_proj,o_proj";
  auto r = run_command(fpokit_cmd("train --method dpo" + kLoraFlags + lora + " --merge --out " + quoted(tmp / "out")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(last_metrics(tmp / "out")["rewards/accuracies"].get<double>() >= 0.9);
  const auto config = nlohmann::json::parse(read_bytes(tmp / "out/adapter/adapter_config.json"));
  CHECK(config["r"] == 4);
  CHECK(config["target_modules"] == nlohmann::json({"q_proj", "v_proj", "o_proj"}));
  CHECK(std::filesystem::exists(tmp / "out/adapter/adapter_model.safetensors"));
  // Only the adapters trained: the merged model differs from the base in exactly the adapted
  // projections.
  auto merged = lm::load_model(tmp / "out/model");
  auto base = lm::load_model(repo_file("models/tiny-llama"));
  const auto base_params = base->named_parameters();
  for (const auto& p : merged->named_parameters()) {
    INFO(p.key());
    const bool adapted = p.key().find("q_proj") != std::string::npos || p.key().find("v_proj") != std::string::npos ||
                         p.key().find("o_proj") != std::string::npos;
    CHECK(torch::equal(p.value(), base_params[p.key()]) != adapted);
  }

  // Base + adapter and the merged model rank the pairs the same way (eval-prefs --adapter).
  r = run_command(fpokit_cmd("eval-prefs --model " + kModel + " --adapter " + quoted(tmp / "out/adapter") +
                             " --ref-model " + kModel + " --data " + kPrefs + " --out " +
                             quoted(tmp / "adapter.json")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  r = run_command(fpokit_cmd("eval-prefs --model " + quoted(tmp / "out/model") + " --ref-model " + kModel + " --data " +
                             kPrefs + " --out " + quoted(tmp / "merged.json")));
  REQUIRE(r.exit_code == 0);
  const auto a = nlohmann::json::parse(read_bytes(tmp / "adapter.json"));
  const auto m = nlohmann::json::parse(read_bytes(tmp / "merged.json"));
  CHECK(a["rewards/accuracies"].get<double>() >= 0.9);
  CHECK(a["rewards/accuracies"] == m["rewards/accuracies"]);
  CHECK(std::abs(a["rewards/margins"].get<double>() - m["rewards/margins"].get<double>()) < 1e-4);

  // Interrupted + --resume equals uninterrupted, bitwise, with LoRA dropout drawing masks.
  const std::string drop = lora + " --lora-dropout 0.1";
  r = run_command(fpokit_cmd("train --method dpo" + kLoraFlags + drop + " --out " + quoted(tmp / "whole")));
  REQUIRE(r.exit_code == 0);
  r = run_command(fpokit_cmd("train --method dpo" + kLoraFlags + drop + " --out " + quoted(tmp / "split") +
                             " --stop-after-steps 5"));
  REQUIRE(r.exit_code == 0);
  r = run_command(
      fpokit_cmd("train --method dpo" + kLoraFlags + drop + " --out " + quoted(tmp / "split") + " --resume"));
  REQUIRE(r.exit_code == 0);
  CHECK_FALSE(std::filesystem::exists(tmp / "whole/model"));
  CHECK(read_bytes(tmp / "whole/adapter/adapter_model.safetensors") ==
        read_bytes(tmp / "split/adapter/adapter_model.safetensors"));
  // Resuming a LoRA checkpoint as a full fine-tune is refused.
  r = run_command(fpokit_cmd("train --method dpo" + kLoraFlags + " --out " + quoted(tmp / "split2") + drop +
                             " --stop-after-steps 2"));
  REQUIRE(r.exit_code == 0);
  r = run_command(fpokit_cmd("train --method dpo" + kLoraFlags + " --out " + quoted(tmp / "split2") + " --resume"));
  check_one_line_error(r, "lora_r");
  check_rejected("train --method dpo" + kLoraFlags + " --lora-targets qkv --lora-r 2 --out " + quoted(tmp / "bad"),
                 "no Linear or Conv1D layer named qkv", tmp / "bad");
}

TEST_CASE("train kto reads prompt/completion/label rows and learns", "[cli][train][kto]") {
  TempDir tmp;
  const std::string kto = "'" + repo_file("models/tiny-kto.jsonl").string() + "'";
  auto r =
      run_command(fpokit_cmd("train --method kto --model " + kModel + " --data " + kto +
                             " --learning-rate 1e-4 --max-steps 12 --per-device-train-batch-size 8 --logging-steps 4"
                             " --kto-beta 0.5 --quiet --out " +
                             quoted(tmp / "out")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("48 examples"));
  const auto m = last_metrics(tmp / "out");
  for (const char* k : {"loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "kl", "logps/chosen"})
    CHECK(m.contains(k));
  CHECK(m["rewards/margins"].get<double>() > 0.5);
  CHECK(std::filesystem::exists(tmp / "out/model/model.safetensors"));
  // Preference pairs are not KTO rows: one clear line naming the missing field.
  check_rejected("train --method kto --model " + kModel + " --data " + kPrefs + " --quiet --out " + quoted(tmp / "bad"),
                 "tiny-prefs.jsonl:1: missing field \"label\"", tmp / "bad");
}

TEST_CASE("train sft --packing is language modelling on a packed corpus and lowers the held-out loss",
          "[cli][train][sft]") {
  TempDir tmp;
  const std::string flags = "train --method sft --packing --model " + kModel + " --data " + kCorpus + " --eval-data " +
                            kCorpus + " --max-length 32 --learning-rate 1e-3 --max-steps 12 --eval-steps 12" +
                            " --per-device-train-batch-size 4 --logging-steps 4 --quiet --out ";
  auto r = run_command(fpokit_cmd(flags + quoted(tmp / "out")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("packed rows of 32 tokens"));
  std::ifstream in(tmp / "out/metrics.jsonl");
  std::string line;
  double first_loss = -1, last_eval = -1;
  while (std::getline(in, line)) {
    const auto m = nlohmann::json::parse(line);
    if (m.contains("loss") && first_loss < 0) first_loss = m["loss"].get<double>();
    if (m.contains("eval_loss")) last_eval = m["eval_loss"].get<double>();
  }
  REQUIRE(first_loss > 0);
  REQUIRE(last_eval > 0);
  CHECK(last_eval < first_loss);  // it learns the corpus it reads
  CHECK_THAT(read_bytes(tmp / "out/config.toml"), Catch::Contains("packing=true"));
  // Packing is for language modelling: another method refuses it in one line.
  check_rejected(
      "train --method dpo --packing --model " + kModel + " --data " + kPrefs + " --quiet --out " + quoted(tmp / "bad"),
      "--packing packs plain text for language modelling: it applies to --method sft only, not dpo", tmp / "bad");
}

TEST_CASE("train --dtype bfloat16 trains in mixed precision and writes a bfloat16 model", "[cli][train][bf16]") {
  TempDir tmp;
  auto r = run_command(fpokit_cmd("train --method dpo --dtype bfloat16" + kFlags + " --out " + quoted(tmp / "out")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(last_metrics(tmp / "out")["rewards/accuracies"].get<double>() >= 0.9);
  CHECK(lm::load_model_config(tmp / "out/model").torch_dtype == "bfloat16");
  auto model = lm::load_model(tmp / "out/model", {torch::kCPU, std::nullopt});
  auto base = lm::load_model(repo_file("models/tiny-llama"), {torch::kCPU, std::nullopt});
  CHECK_FALSE(torch::equal(model->named_parameters()["model.layers.0.mlp.up_proj.weight"],
                           base->named_parameters()["model.layers.0.mlp.up_proj.weight"]));
}

TEST_CASE("train --eval-split holds pairs out and logs eval metrics", "[cli][train][eval]") {
  TempDir tmp;
  auto r = run_command(
      fpokit_cmd("train --method dpo" + kFlags + " --eval-split 0.25 --eval-steps 6 --out " + quoted(tmp / "out")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("6 of the 24 pairs held out"));
  CHECK_THAT(r.err, Catch::Contains("eval at step 12: loss"));
  std::ifstream in(tmp / "out/metrics.jsonl");
  std::string line;
  std::vector<int64_t> eval_steps;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("eval_loss")) {
      eval_steps.push_back(j["step"].get<int64_t>());
      CHECK(j.contains("eval_rewards/accuracies"));
    }
  }
  CHECK(eval_steps == std::vector<int64_t>{6, 12});
  check_rejected("train --method dpo" + kFlags + " --eval-split 0.25 --eval-data " + kPrefs + " --out " +
                     quoted(tmp / "bad"),
                 "--eval-data or --eval-split, not both", tmp / "bad");
}

TEST_CASE("eval-prefs --method measures a run's held-out pairs as the run's own evaluation does",
          "[cli][train][eval]") {
  TempDir tmp;
  // SimPO (reference-free, per-token means) and TDPO (reference online, KL in the reward): the
  // final eval_* line of the run equals what eval-prefs --method reports for the trained model.
  for (const std::string method : {"simpo", "tdpo2"}) {
    const auto out = tmp / method;
    auto r = run_command(
        fpokit_cmd("train --method " + method + kFlags + " --eval-data " + kPrefs + " --out " + quoted(out)));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const auto run_eval = last_metrics(out);
    REQUIRE(run_eval.contains("eval_rewards/accuracies"));
    const std::string ref = method == "simpo" ? "" : " --ref-model " + kModel;
    r = run_command(fpokit_cmd("eval-prefs --method " + method + " --model " + quoted(out / "model") + ref +
                               " --data " + kPrefs + " --out " + quoted(tmp / (method + ".json"))));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const auto eval = nlohmann::json::parse(read_bytes(tmp / (method + ".json")));
    CHECK(eval["method"] == method);
    CHECK(eval["pairs"] == 24);
    CHECK(eval["model"] == (out / "model").lexically_normal().string());
    CHECK(eval["data"] == repo_file("models/tiny-prefs.jsonl").lexically_normal().string());
    CHECK(eval.contains("ref_model") == (method != "simpo"));
    for (const auto* key : {"loss", "rewards/accuracies", "rewards/margins", "rewards/chosen", "logps/chosen"}) {
      INFO(method << " " << key);
      CHECK(std::abs(eval[key].get<double>() - run_eval["eval_" + std::string(key)].get<double>()) <
            1e-5 * (1 + std::abs(eval[key].get<double>())));
    }
  }
  // SimPO's reward is β · the per-token mean log-prob: logps/* are means, rewards/* = 2 · them.
  const auto simpo = nlohmann::json::parse(read_bytes(tmp / "simpo.json"));
  CHECK(simpo["parameters"]["simpo-beta"] == 2.0);
  CHECK(std::abs(simpo["rewards/chosen"].get<double>() - 2.0 * simpo["logps/chosen"].get<double>()) < 1e-9);

  // Another method's option, a missing reference, and sft are refused in one line.
  const std::string base = "eval-prefs --model " + kModel + " --data " + kPrefs;
  auto r = run_command(fpokit_cmd(base + " --method simpo --beta 0.5"));
  check_one_line_error(r, "--beta does not apply to --method simpo");
  r = run_command(fpokit_cmd(base + " --method simpo --ref-model " + kModel));
  check_one_line_error(r, "--ref-model does not apply to --method simpo");
  r = run_command(fpokit_cmd(base + " --method dpo"));
  check_one_line_error(r, "give --ref-model");
  r = run_command(fpokit_cmd(base + " --method sft"));
  check_one_line_error(r, "--method sft has no reward");
}

TEST_CASE("bad preference-training input gives a clear error and writes nothing", "[cli][train][errors]") {
  TempDir tmp;
  const auto out = tmp / "out";
  SECTION("missing field") {
    std::ofstream(tmp / "d.jsonl") << "{\"prompt\": \"a\", \"chosen\": \" b\"}\n";
    auto r = run_command(
        fpokit_cmd("train --model " + kModel + " --data " + quoted(tmp / "d.jsonl") + " --out " + quoted(out)));
    check_one_line_error(r, "d.jsonl:1");
  }
  SECTION("empty completion") {
    std::ofstream(tmp / "d.jsonl") << "{\"prompt\": \"a\", \"chosen\": \"\", \"rejected\": \" c\"}\n";
    auto r = run_command(
        fpokit_cmd("train --model " + kModel + " --data " + quoted(tmp / "d.jsonl") + " --out " + quoted(out)));
    CHECK(r.exit_code == 2);
  }
  SECTION("prompt longer than max_length") {
    auto r = run_command(fpokit_cmd(
        "train" + kFlags + " --max-length 2 --max-prompt-length 2 --truncation-mode keep_start --out " + quoted(out)));
    check_one_line_error(r, "no usable pairs");
  }
  SECTION("SAE width not matching the model") {
    auto r = run_command(fpokit_cmd("train --method fpo --sae " + quoted(test::fixture("sae/saelens_topk")) +
                                    " --fpo-hook blocks.0.hook_resid_post" + kFlags + " --out " + quoted(out)));
    check_one_line_error(r, "d_in");
  }
  SECTION("unknown method") {
    auto r = run_command(fpokit_cmd("train --method dpo2" + kFlags + " --out " + quoted(out)));
    check_one_line_error(r, "dpo2");
  }
  CHECK_FALSE(std::filesystem::exists(out));
}
