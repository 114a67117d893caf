#pragma once
// The options that say which records of --data a command reads and which fields hold what: a
// dataset folder's --split (core/dataset/dataset_split.h) and the field names of preference rows
// (fpo/data/preference_fields.h), the same on every command that reads data.
#include <string>

#include <CLI/CLI.hpp>

#include "fpokit/fpo/data/preference_fields.h"

namespace fpokit::cli {

inline CLI::Option* add_split_option(CLI::App& cmd, std::string& split, const std::string& flag = "--split",
                                     const std::string& data_flag = "--data") {
  return cmd
      .add_option(flag, split,
                  "Split of a dataset folder given as " + data_flag +
                      " (README configs or file names: train_prefs, test, ...; default: train)")
      ->group("Data");
}

// --prompt-field, --chosen-field, --rejected-field; with `unpaired_and_text` also KTO's
// --completion-field and --label-field and SFT's --text-field.
inline void add_preference_field_options(CLI::App& cmd, fpo::PreferenceFields& f, bool unpaired_and_text) {
  cmd.add_option("--prompt-field", f.prompt, "Record field of the prompt (string or messages)")
      ->capture_default_str()
      ->group("Data");
  cmd.add_option("--chosen-field", f.chosen, "Record field of the chosen completion (string or messages)")
      ->capture_default_str()
      ->group("Data");
  cmd.add_option("--rejected-field", f.rejected, "Record field of the rejected completion (string or messages)")
      ->capture_default_str()
      ->group("Data");
  if (!unpaired_and_text) return;
  cmd.add_option("--completion-field", f.completion, "kto: record field of the completion")
      ->capture_default_str()
      ->group("Data");
  cmd.add_option("--label-field", f.label, "kto: record field of the desirable (true/false) label")
      ->capture_default_str()
      ->group("Data");
  cmd.add_option("--text-field", f.text, "sft: record field of plain-text rows (and of --packing)")
      ->capture_default_str()
      ->group("Data");
}

}  // namespace fpokit::cli
