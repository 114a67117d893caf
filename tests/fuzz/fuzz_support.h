#pragma once
// Shared pieces of the libFuzzer harnesses (docs/reliability.md, 'Fuzzing and sanitizers').
//
// A harness hands the fuzzer's bytes to one of fpokit's readers of untrusted files. The expected
// outcome of a bad input is fpokit::InputError or a subclass (core/include/fpokit/core/errors.h):
// the one-line user error the CLI prints with exit code 2. Anything else escaping the reader (a
// c10::Error, std::out_of_range, nlohmann's exceptions, ...) is what the CLI reports as an internal
// error, and run_reader() turns it into a crash report (abort) so that libFuzzer saves the input;
// so do crashes, sanitizer reports, leaks and timeouts, which libFuzzer catches by itself.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace fpokit::fuzz {

// The process's scratch folder, /tmp/fpokit-fuzz-<pid>, created on first use and reused by every
// input (files are overwritten, not re-created folders); removed when the process exits normally.
const std::filesystem::path& scratch_dir();

// Writes `bytes` to scratch_dir()/relative (creating parent folders) and returns the path.
std::filesystem::path write_file(const std::filesystem::path& relative, std::string_view bytes);
inline std::filesystem::path write_file(const std::filesystem::path& relative, const uint8_t* data, size_t size) {
  return write_file(relative, std::string_view(reinterpret_cast<const char*>(data), size));
}

// Copies tests/fixtures/<fixture> to scratch_dir()/relative once (the harness's fixed files).
std::filesystem::path copy_fixture(const std::filesystem::path& fixture, const std::filesystem::path& relative);

// Runs `reader`; fpokit::InputError (any subclass) is the documented outcome of a bad input and is
// swallowed. Any other exception prints its type and message and aborts: a finding.
void run_reader(const std::function<void()>& reader);

// Quietens fpokit's log (warnings about odd-but-accepted inputs would flood the fuzzer's output).
void quiet_logging();

}  // namespace fpokit::fuzz
