#pragma once
// Whether a command may write its output where it was told to, decided before any work: a finished
// run is never overwritten by accident (HF Trainer's rule: an existing non-empty output folder, or
// an existing output file, needs --overwrite-output-dir; an interrupted run is continued with
// --resume), and an unusable location (a file where a folder is wanted, a path under a file, a
// read-only folder) is an InputError, not a crash after hours of work. Nothing is created here.
#include <filesystem>
#include <string>

namespace fpokit::core {

enum class OutputKind { Directory, File };

struct OutputPolicy {
  bool resume = false;     // continuing the run whose outputs are there (its own checks apply)
  bool overwrite = false;  // --overwrite-output-dir
};

// Throws InputError naming `option` (e.g. "--out") and the path, saying how to fix it.
void check_output_location(const std::filesystem::path& path, OutputKind kind, const OutputPolicy& policy,
                           const std::string& option = "--out");

}  // namespace fpokit::core
