// core/io/atomic_output.h: a file or folder is replaced whole or not at all, and no temporary
// sibling survives a failure (fill throws, the rename fails). The fsyncs cannot be observed
// without a power cut; they are exercised on every success path here (a failing sync throws).
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "fpokit/core/errors.h"
#include "fpokit/core/io/atomic_output.h"
#include "test_support.h"

using namespace fpokit;
namespace fs = std::filesystem;
using Catch::Contains;

TEST_CASE("write_file_atomically: fill writes a fresh sibling, which replaces the target") {
  test::TempDir tmp;
  const fs::path target = tmp / "out.bin";
  fs::path seen;
  core::write_file_atomically(target, [&](const fs::path& t) {
    seen = t;
    CHECK(t.parent_path() == target.parent_path());  // same folder: rename() cannot cross file systems
    CHECK(t != target);
    CHECK_FALSE(fs::exists(t));
    test::write_bytes(t, "first");
  });
  CHECK(test::read_bytes(target) == "first");
  CHECK_FALSE(fs::exists(seen));
  CHECK(test::folder_entries(tmp.path()) == std::vector<std::string>{"out.bin"});

  core::write_file_atomically(target, [&](const fs::path& t) {
    CHECK(t != seen);  // a new name per call
    test::write_bytes(t, "second, longer");
  });
  CHECK(test::read_bytes(target) == "second, longer");
  CHECK(test::folder_entries(tmp.path()) == std::vector<std::string>{"out.bin"});
}

TEST_CASE("write_file_atomically: fill throws -> old content kept, no temporary file, exception as thrown") {
  test::TempDir tmp;
  const fs::path target = tmp / "out.bin";
  auto failing = [](const fs::path& t) {
    test::write_bytes(t, "half");
    throw std::runtime_error("interrupted");
  };
  // Absent before: absent after.
  CHECK_THROWS_MATCHES(core::write_file_atomically(target, failing), std::runtime_error,
                       Catch::Matchers::Message("interrupted"));
  CHECK(test::folder_entries(tmp.path()).empty());

  // Present before: unchanged after.
  test::write_bytes(target, "old");
  CHECK_THROWS_AS(core::write_file_atomically(target, failing), std::runtime_error);
  CHECK(test::read_bytes(target) == "old");
  CHECK(test::folder_entries(tmp.path()) == std::vector<std::string>{"out.bin"});

  // fill throws before creating anything: nothing to clean up, and nothing goes wrong.
  CHECK_THROWS_AS(core::write_file_atomically(target, [](const fs::path&) { throw InputError("bad input"); }),
                  InputError);
  CHECK(test::folder_entries(tmp.path()) == std::vector<std::string>{"out.bin"});
}

TEST_CASE("write_file_atomically: a failed rename removes the written temporary file") {
  // The target is a non-empty folder: fill succeeds, then rename() fails (EISDIR).
  test::TempDir tmp;
  const fs::path target = tmp / "out.bin";
  fs::create_directory(target);
  test::write_bytes(target / "keep", "x");
  CHECK_THROWS_MATCHES(core::write_file_atomically(target, [](const fs::path& t) { test::write_bytes(t, "new"); }),
                       InputError, Catch::Matchers::Predicate<std::exception>([&](const std::exception& e) {
                         const std::string what = e.what();
                         return what.rfind(target.string() + ": cannot replace with out.bin.tmp-", 0) == 0 &&
                                what.find("Is a directory") != std::string::npos;
                       }));
  CHECK(test::folder_entries(tmp.path()) == std::vector<std::string>{"out.bin"});
  CHECK(test::read_bytes(target / "keep") == "x");
}

TEST_CASE("write_file_atomically: a fill that creates no file fails in the sync and leaves nothing") {
  test::TempDir tmp;
  const fs::path target = tmp / "out.bin";
  test::write_bytes(target, "old");
  CHECK_THROWS_WITH(core::write_file_atomically(target, [](const fs::path&) {}),
                    Contains("out.bin.tmp-") && Contains("cannot open to sync to disk: No such file or directory"));
  CHECK(test::read_bytes(target) == "old");
  CHECK(test::folder_entries(tmp.path()) == std::vector<std::string>{"out.bin"});
}

TEST_CASE("temporary_sibling and commit_temporary_file: the two halves for writers that stream") {
  test::TempDir tmp;
  const fs::path target = tmp / "acts.h5";
  const fs::path a = core::temporary_sibling(target);
  const fs::path b = core::temporary_sibling(target);
  CHECK(a != b);
  CHECK(a.parent_path() == target.parent_path());
  CHECK(a.filename().string().rfind("acts.h5.tmp-", 0) == 0);

  test::write_bytes(target, "old");
  test::write_bytes(a, "new");
  core::commit_temporary_file(a, target);
  CHECK(test::read_bytes(target) == "new");
  CHECK(test::folder_entries(tmp.path()) == std::vector<std::string>{"acts.h5"});

  // A rename that fails removes the temporary file and leaves the target.
  const fs::path folder = tmp / "folder";
  fs::create_directory(folder);
  test::write_bytes(folder / "keep", "x");
  test::write_bytes(b, "new");
  CHECK_THROWS_AS(core::commit_temporary_file(b, folder), InputError);
  CHECK_FALSE(fs::exists(b));
  CHECK(test::read_bytes(folder / "keep") == "x");
}

TEST_CASE("write_text_file_atomically: creates the parent folder, replaces the content, leaves one file") {
  test::TempDir tmp;
  const fs::path target = tmp / "a/b/out.json";
  core::write_text_file_atomically(target, "{\"x\": 1}\n");
  CHECK(test::read_bytes(target) == "{\"x\": 1}\n");
  core::write_text_file_atomically(target, "{}");
  CHECK(test::read_bytes(target) == "{}");
  CHECK(test::folder_entries(tmp / "a/b") == std::vector<std::string>{"out.json"});
}

TEST_CASE("fsync_path: files and folders sync, and a missing path is an InputError naming it") {
  test::TempDir tmp;
  test::write_bytes(tmp / "f", "x");
  CHECK_NOTHROW(core::fsync_path(tmp / "f"));
  CHECK_NOTHROW(core::fsync_path(tmp.path()));
  CHECK_THROWS_MATCHES(core::fsync_path(tmp / "missing"), InputError,
                       Catch::Matchers::Message((tmp / "missing").string() +
                                                ": cannot open to sync to disk: No such file or directory"));
}

TEST_CASE("write_directory_atomically: success replaces the whole folder, nested files included") {
  test::TempDir tmp;
  const fs::path target = tmp / "ckpt";
  core::write_directory_atomically(target, [](const fs::path& t) {
    test::write_bytes(t / "a.txt", "one");
    fs::create_directories(t / "sub/deeper");
    test::write_bytes(t / "sub/deeper/b.txt", "two");
  });
  CHECK(test::read_bytes(target / "a.txt") == "one");
  CHECK(test::read_bytes(target / "sub/deeper/b.txt") == "two");
  CHECK(test::folder_entries(tmp.path()) == std::vector<std::string>{"ckpt"});

  // The new folder replaces the old one; files only in the old one are gone.
  core::write_directory_atomically(target, [](const fs::path& t) { test::write_bytes(t / "c.txt", "three"); });
  CHECK(test::folder_entries(target) == std::vector<std::string>{"c.txt"});
  CHECK(test::folder_entries(tmp.path()) == std::vector<std::string>{"ckpt"});
}

TEST_CASE("write_directory_atomically: fill throws -> old folder kept, no temporary folder") {
  test::TempDir tmp;
  const fs::path target = tmp / "ckpt";
  auto failing = [](const fs::path& t) {
    test::write_bytes(t / "half.txt", "half");
    throw std::runtime_error("interrupted");
  };
  CHECK_THROWS_WITH(core::write_directory_atomically(target, failing), "interrupted");
  CHECK(test::folder_entries(tmp.path()).empty());

  core::write_directory_atomically(target, [](const fs::path& t) { test::write_bytes(t / "a.txt", "one"); });
  CHECK_THROWS_AS(core::write_directory_atomically(target, failing), std::runtime_error);
  CHECK(test::folder_entries(target) == std::vector<std::string>{"a.txt"});
  CHECK(test::read_bytes(target / "a.txt") == "one");
  CHECK(test::folder_entries(tmp.path()) == std::vector<std::string>{"ckpt"});
}

TEST_CASE("a writer removes the temporaries that dead processes left for its target, never a live one's") {
  test::TempDir tmp;
  const fs::path target = tmp / "report.h5";
  // 999999999 is above any pid_max: no such process. pid 1 (init) always runs.
  for (const char* name : {"report.h5.tmp-999999999-0", "report.h5.old-999999998-4", "report.h5.tmp-1-2",
                           "other.h5.tmp-999999999-0", "report.h5.tmp-x-1"})
    test::write_bytes(tmp / name, "left");
  core::write_text_file_atomically(target, "new");
  CHECK(test::read_bytes(target) == "new");
  // Another target's temporaries and names that are not fpokit's temporaries stay too.
  CHECK(test::folder_entries(tmp.path()) ==
        std::vector<std::string>{"other.h5.tmp-999999999-0", "report.h5", "report.h5.tmp-1-2", "report.h5.tmp-x-1"});
  CHECK(core::remove_stale_temporaries(tmp.path(), "other.h5") == std::vector<long>{});
  CHECK(core::remove_stale_temporaries(tmp.path(), "report.h5") == std::vector<long>{1});
  CHECK(test::folder_entries(tmp.path()) ==
        std::vector<std::string>{"report.h5", "report.h5.tmp-1-2", "report.h5.tmp-x-1"});
}

TEST_CASE("write_directory_atomically: replacing a folder leaves only the new one, never none") {
  test::TempDir tmp;
  const fs::path target = tmp / "ckpt";
  core::write_directory_atomically(target, [](const fs::path& t) { test::write_bytes(t / "a.txt", "one"); });
  core::write_directory_atomically(target, [&](const fs::path& t) {
    // While the new folder is written, the old one is in place under its own name.
    CHECK(test::read_bytes(target / "a.txt") == "one");
    test::write_bytes(t / "b.txt", "two");
  });
  CHECK(test::folder_entries(target) == std::vector<std::string>{"b.txt"});
  CHECK(test::folder_entries(tmp.path()) == std::vector<std::string>{"ckpt"});
}

TEST_CASE("a temporary-looking name whose pid is too long for a pid is left alone, not a crash") {
  test::TempDir tmp;
  test::write_bytes(tmp / "report.h5.tmp-99999999999999999999-1", "left");
  CHECK(core::remove_stale_temporaries(tmp.path(), "report.h5").empty());
  CHECK(test::folder_entries(tmp.path()) == std::vector<std::string>{"report.h5.tmp-99999999999999999999-1"});
}
