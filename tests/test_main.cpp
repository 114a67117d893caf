// The one Catch2 main shared by every test executable. Besides `-w NoTests` (given by ctest, see
// tests/CMakeLists.txt), every run warns about test cases without assertions, and a warning is a
// failure: a test that checks nothing (a GPU test returning early on CPU, a section that never
// runs) fails instead of passing. Catch2 v2 takes only one -w on its command line, hence here.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

int main(int argc, char* argv[]) {
  Catch::Session session;
  if (const int rc = session.applyCommandLine(argc, argv); rc != 0) return rc;
  auto& config = session.configData();
  config.warnings = static_cast<Catch::WarnAbout::What>(config.warnings | Catch::WarnAbout::NoAssertions);
  return session.run();
}
