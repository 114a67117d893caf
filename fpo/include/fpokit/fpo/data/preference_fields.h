#pragma once
// Where preference, KTO and SFT rows keep each part of an example: the record fields, TRL's names
// by default, renamed with --prompt-field, --chosen-field, --rejected-field (UltraFeedback's
// "messages"-style or an in-house schema without rewriting the file).
#include <string>

namespace fpokit::fpo {

// Messages name the field as given here.
struct PreferenceFields {
  std::string prompt = "prompt";
  std::string chosen = "chosen";
  std::string rejected = "rejected";
  std::string completion = "completion";  // KTO
  std::string label = "label";            // KTO
  std::string text = "text";              // SFT language-modelling rows
};

}  // namespace fpokit::fpo
