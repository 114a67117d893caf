// The README's doc test: every command of every ```sh block of README.md runs, in order, through
// the real binary, from a scratch folder where `examples` is the repository's and `fpokit` is on the
// PATH; a command followed directly by a `# ...` line must print exactly that line. So the README
// cannot drift from the CLI. ```bash blocks are the set-up and build scripts (this test's own
// build) and are not run; `fpokit demo` lines are run by test_demo_cli.cpp.
//
// The "Real models" block names downloads that are not here; it runs on stand-ins, each listed in
// kStandIns: the demo's model for both models, a Gemma-Scope-format params.npz written from the
// demo's SAE, layer 1 for the layer, the CPU for the GPU, and small sizes for the big ones.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <zip.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "fpokit/lm/checkpoint/safetensors.h"
#include "test_support.h"

using namespace fpokit;
using test::quoted;
using test::repo_file;
using test::run_command;
using test::TempDir;

namespace {

struct ReadmeCommand {
  int line = 0;          // README.md line where the command starts
  std::string text;      // continuation lines joined
  std::string expected;  // the `# ...` line after it, without "# " ("" when none)
};

// Every command of the ```sh blocks, with the output line shown after it where there is one.
std::vector<ReadmeCommand> readme_sh_commands(const std::filesystem::path& readme_path) {
  std::ifstream readme(readme_path);
  std::vector<ReadmeCommand> commands;
  bool in_sh = false, in_other = false, last_was_command = false;
  std::string line;
  for (int number = 1; std::getline(readme, line); ++number) {
    if (line.rfind("```", 0) == 0) {
      if (in_sh || in_other) {
        in_sh = in_other = false;
      } else {
        (line == "```sh" ? in_sh : in_other) = true;
      }
      last_was_command = false;
      continue;
    }
    if (!in_sh) continue;
    if (line.rfind("# ", 0) == 0) {
      if (last_was_command) commands.back().expected = line.substr(2);
      last_was_command = false;
      continue;
    }
    if (line.empty()) continue;
    ReadmeCommand c{number, line, ""};
    while (!c.text.empty() && c.text.back() == '\\' && std::getline(readme, line)) {
      c.text.pop_back();
      c.text += line;
      ++number;
    }
    commands.push_back(c);
    last_was_command = true;
  }
  return commands;
}

// What stands in for the downloads of the README's "Real models" block (see the file comment).
std::string with_stand_ins(std::string command) {
  const std::string demo_model = repo_file("examples/demo/model").lexically_normal().string();
  const std::vector<std::pair<std::string, std::string>> kStandIns = {
      {"~/models/Llama-3.2-1B", demo_model},
      {"~/models/gemma-2-2b", demo_model},
      {"~/models/gemma-scope-2b-pt-res/layer_12/width_16k/average_l0_82/params.npz", "gemma-scope/params.npz"},
      {"blocks.8.", "blocks.1."},
      {"blocks.12.", "blocks.1."},
      {"--device cuda", "--device cpu"},
      {"--tokens 200000000", "--tokens 16384"},
      {"--width 32768", "--width 512"},
  };
  for (const auto& [from, to] : kStandIns) {
    for (auto at = command.find(from); at != std::string::npos; at = command.find(from, at + to.size())) {
      command.replace(at, from.size(), to);
    }
  }
  return command;
}

// A NumPy .npy (format 1.0) of a float32 CPU tensor.
std::string npy_bytes(const torch::Tensor& t) {
  const auto c = t.to(torch::kFloat32).contiguous();
  std::string shape = "(";
  for (const auto d : c.sizes()) shape += std::to_string(d) + ", ";
  shape += ")";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
  const size_t unpadded = 10 + header.size() + 1;
  header += std::string((64 - unpadded % 64) % 64, ' ') + "\n";
  std::string out = std::string("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(static_cast<const char*>(c.data_ptr()), c.numel() * sizeof(float));
  return out;
}

// Gemma Scope's params.npz layout (W_enc [d, F], W_dec [F, d], b_enc, b_dec, threshold) from the
// demo's SAELens-format SAE, with the decoder bias folded into b_enc (Gemma Scope does not subtract
// it) and threshold 0: a JumpReLU stand-in of the same shape family.
void write_gemma_scope_stand_in(const std::filesystem::path& sae_dir, const std::filesystem::path& npz) {
  lm::SafetensorsFile file(sae_dir / "sae_weights.safetensors");
  const auto W_enc = file.load("W_enc").to(torch::kFloat32);
  const auto b_dec = file.load("b_dec").to(torch::kFloat32);
  std::map<std::string, std::string> members = {
      {"W_enc.npy", npy_bytes(W_enc)},
      {"W_dec.npy", npy_bytes(file.load("W_dec"))},
      {"b_enc.npy", npy_bytes(file.load("b_enc").to(torch::kFloat32) - torch::matmul(b_dec, W_enc))},
      {"b_dec.npy", npy_bytes(b_dec)},
      {"threshold.npy", npy_bytes(torch::zeros({W_enc.size(1)}))},
  };
  std::filesystem::create_directories(npz.parent_path());
  int error = 0;
  zip_t* archive = zip_open(npz.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  REQUIRE(archive != nullptr);
  for (const auto& [name, bytes] : members) {
    zip_source_t* source = zip_source_buffer(archive, bytes.data(), bytes.size(), 0);
    REQUIRE(source != nullptr);
    REQUIRE(zip_file_add(archive, name.c_str(), source, ZIP_FL_OVERWRITE) >= 0);
  }
  REQUIRE(zip_close(archive) == 0);  // writes while `members` still holds the bytes
}

// The first `n` lines of `from`, as a file the README's bare data names (corpus.jsonl, ...) find.
void write_head(const std::filesystem::path& from, const std::filesystem::path& to, int n) {
  std::ifstream in(from);
  std::ofstream out(to);
  std::string line;
  for (int i = 0; i < n && std::getline(in, line); ++i) out << line << "\n";
}

// The commands whose --help ends with a README line (add_example_on_default): all but `help`.
const std::vector<std::string> kCommandsWithExamples = {"generate",   "tokenize", "forward",    "acts cache",
                                                        "sae train",  "sae eval", "sae encode", "train",
                                                        "eval-prefs", "drift",    "report",     "demo"};

}  // namespace

TEST_CASE("every command of the README's sh blocks runs on the embedded default and prints what it shows",
          "[cli][readme]") {
  const auto commands = readme_sh_commands(repo_file("README.md"));
  REQUIRE(commands.size() >= 20);

  TempDir scratch;
  std::filesystem::create_directory_symlink(repo_file("examples").lexically_normal(), scratch / "examples");
  write_gemma_scope_stand_in(repo_file("examples/demo/sae/blocks.1.hook_resid_post"),
                             scratch / "gemma-scope" / "params.npz");
  write_head(repo_file("examples/demo/corpus_heldout.jsonl"), scratch / "corpus.jsonl", 400);
  write_head(repo_file("examples/demo/corpus_heldout.jsonl"), scratch / "neutral.jsonl", 100);
  write_head(repo_file("examples/demo/prefs_train.jsonl"), scratch / "pairs.jsonl", 32);

  const auto bin_dir = test::fpokit_binary().parent_path();
  int run = 0;
  std::set<std::string> commands_seen;
  for (const auto& c : commands) {
    INFO("README.md:" << c.line << ": " << c.text);
    if (c.text.rfind("fpokit demo", 0) == 0) continue;  // run by test_demo_cli.cpp
    const auto command = with_stand_ins(c.text);
    test::write_bytes(scratch / "command.sh", "set -euo pipefail\n" + command + "\n");
    const auto r =
        run_command("cd " + quoted(scratch.path()) + " && PATH=" + quoted(bin_dir) + ":\"$PATH\" bash command.sh");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    if (!c.expected.empty()) CHECK(r.out == c.expected + "\n");
    std::istringstream words(c.text);
    std::string program, name, sub;
    words >> program >> name >> sub;
    if (program == "fpokit") commands_seen.insert(sub.rfind("-", 0) == 0 ? name : name + " " + sub);
    ++run;
  }
  CHECK(run + 1 == static_cast<int>(commands.size()));  // all but the demo line
  // The README shows every command of the CLI on the default.
  // (`demo` is run by test_demo_cli.cpp instead.)
  auto expected_commands = kCommandsWithExamples;
  std::erase(expected_commands, "demo");
  expected_commands.push_back("help");
  for (const auto& expected : expected_commands) {
    INFO(expected);
    CHECK(std::any_of(commands_seen.begin(), commands_seen.end(),
                      [&](const std::string& seen) { return seen.rfind(expected, 0) == 0; }));
  }
}

TEST_CASE("every command's --help ends with a command line of the README that runs on the embedded default",
          "[cli][readme]") {
  std::set<std::string> readme;
  for (const auto& c : readme_sh_commands(repo_file("README.md"))) readme.insert(c.text);
  for (const auto& command : kCommandsWithExamples) {
    INFO(command);
    const auto r = run_command(test::fpokit_cmd(command + " --help"));
    REQUIRE(r.exit_code == 0);
    const auto heading = r.out.find("On the embedded default (examples/demo; README.md");
    REQUIRE(heading != std::string::npos);
    auto example = r.out.substr(r.out.find('\n', heading) + 1);
    example = example.substr(example.find_first_not_of(' '));
    example = example.substr(0, example.find('\n'));
    CHECK(example.rfind("fpokit " + command + " ", 0) == 0);
    CHECK(readme.count(example) == 1);
  }
}
