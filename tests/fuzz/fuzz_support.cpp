#include "fuzz_support.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <system_error>
#include <typeinfo>

#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include "fpokit/core/errors.h"
#include "fpokit/core/log/log.h"

namespace fs = std::filesystem;

namespace fpokit::fuzz {

namespace {

void remove_scratch() {
  std::error_code ignored;
  fs::remove_all(scratch_dir(), ignored);
}

[[noreturn]] void finding(const char* kind, const char* type, const char* what) {
  std::fprintf(stderr, "fpokit-fuzz: FINDING: %s escaped the reader: %s: %s\n", kind, type, what);
  std::fflush(stderr);
  std::abort();
}

}  // namespace

const fs::path& scratch_dir() {
  static const fs::path dir = [] {
    fs::path path = fs::temp_directory_path() / ("fpokit-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(path);
    std::atexit(remove_scratch);
    return path;
  }();
  return dir;
}

fs::path write_file(const fs::path& relative, std::string_view bytes) {
  const fs::path path = scratch_dir() / relative;
  if (relative.has_parent_path()) fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) {
    std::fprintf(stderr, "fpokit-fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
  return path;
}

fs::path copy_fixture(const fs::path& fixture, const fs::path& relative) {
  const fs::path path = scratch_dir() / relative;
  if (relative.has_parent_path()) fs::create_directories(path.parent_path());
  fs::copy_file(fs::path(FPOKIT_FIXTURES_DIR) / fixture, path, fs::copy_options::overwrite_existing);
  return path;
}

void run_reader(const std::function<void()>& reader) {
  try {
    reader();
  } catch (const InputError&) {
    // The documented outcome of a bad input.
  } catch (const c10::Error& e) {
    finding("LibTorch error", typeid(e).name(), e.what_without_backtrace());
  } catch (const nlohmann::json::exception& e) {
    finding("JSON exception", typeid(e).name(), e.what());
  } catch (const std::exception& e) {
    finding("exception", typeid(e).name(), e.what());
  } catch (...) {
    finding("exception", "unknown type", "");
  }
}

void quiet_logging() { core::log::set_level(core::log::Level::Error); }

}  // namespace fpokit::fuzz
