#pragma once
// Checks shared by the CLI tests of the bad-input contract (docs/reliability.md).
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

#include "test_support.h"

namespace fpokit::test {

// Exit code 2 and exactly one line on stderr containing `what`.
inline void check_refused(const CommandResult& r, const std::string& what) {
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == 2);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK_THAT(r.err, Catch::Contains(what));
}

}  // namespace fpokit::test
