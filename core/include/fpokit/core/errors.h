#pragma once
// The project's error hierarchy. Library code throws; only the CLI's main() catches, prints one
// line and chooses the exit code:
//   InputError and its subclasses -> exit 2 (the user's input is wrong: a file, a field, a flag);
//   anything else                 -> exit 1 (an internal error, a bug in fpokit or LibTorch).
// Messages say what is wrong, where (file, field, tensor) and, where it helps, how to fix it.
#include <stdexcept>
#include <string>

namespace fpokit {

class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// config.json, tokenizer_config.json, a TOML config or a command-line value is invalid.
class ConfigError : public InputError {
 public:
  using InputError::InputError;
};

// A checkpoint file (safetensors, shard index) is missing, corrupt or does not fit the model.
class CheckpointError : public InputError {
 public:
  using InputError::InputError;
};

// tokenizer.json / tokenizer.model is missing, corrupt or unsupported.
class TokenizerError : public InputError {
 public:
  using InputError::InputError;
};

}  // namespace fpokit
