// libFuzzer harness: the --config TOML check (tools/config_file_check.h) and the comment stripping
// that feeds CLI11 (strip_config_comments). The command tree is a stand-in for the CLI's with each
// kind of option check_config_file distinguishes (whole numbers, numbers, flags, strings, lists,
// options that cannot come from a file) under top-level and nested sections ([train],
// [sae.train]); the real tree is built by tools/main.cpp from every command's sources.
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "config_file_check.h"
#include "fuzz_support.h"

namespace {

struct Values {
  int64_t steps = 0;
  double rate = 0;
  bool flag = false;
  std::string text;
  std::vector<std::string> list;
  std::vector<int64_t> numbers;
};

void add_options(CLI::App& app, Values& v) {
  app.add_option("--max-steps,--max-stepz-old", v.steps, "a whole number");
  app.add_option("--learning-rate", v.rate, "a number");
  app.add_flag("--bf16", v.flag, "a flag");
  app.add_option("--out,--output-dir", v.text, "a string");
  app.add_option("--hooks", v.list, "a list of strings");
  app.add_option("--layers", v.numbers, "a list of whole numbers");
  app.add_flag("--resume", v.flag, "not from a file")->configurable(false);
}

CLI::App& root_app() {
  static Values values;
  static CLI::App* root = [] {
    auto* app = new CLI::App("fuzz", "fpokit");
    app->set_config("--config", "", "a TOML file");
    app->add_flag("--quiet", values.flag)->configurable(false);
    add_options(*app->add_subcommand("train", "train"), values);
    auto* sae = app->add_subcommand("sae", "sae");
    add_options(*sae->add_subcommand("train", "sae train"), values);
    add_options(*sae->add_subcommand("eval", "sae eval"), values);
    fpokit::cli::require_finite_numbers(*app);
    return app;
  }();
  return *root;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)root_app();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = fpokit::fuzz::write_file("run.toml", data, size);
  fpokit::fuzz::run_reader([&] {
    (void)fpokit::cli::strip_config_comments(std::string(reinterpret_cast<const char*>(data), size));
    fpokit::cli::check_config_file(root_app(), path);
  });
  return 0;
}
