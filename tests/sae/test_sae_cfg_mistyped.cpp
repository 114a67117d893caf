// SAE folders whose cfg.json is valid JSON of the wrong shape: a ConfigError naming the file, never
// nlohmann's type_error (found by the fuzz_sae_cfg harness, tests/fuzz); and a .jsonl text dataset
// whose line holds a number too large for a double is an InputError naming the line.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "fpokit/core/errors.h"
#include "fpokit/sae/data/text_dataset.h"
#include "fpokit/sae/io/sae_io.h"
#include "test_support.h"

using namespace fpokit;
namespace fs = std::filesystem;

namespace {

// A copy of the fixture folder `fixture` with cfg.json replaced by `cfg`.
fs::path folder_with_cfg(const test::TempDir& tmp, const std::string& fixture, const std::string& weights,
                         const std::string& cfg) {
  const auto dir = tmp / "layers.1";
  fs::create_directories(dir);
  fs::copy_file(test::fixture(fixture + "/" + weights), dir / weights, fs::copy_options::overwrite_existing);
  test::write_bytes(dir / "cfg.json", cfg);
  return dir;
}

template <class Load>
void check_config_error(Load load, const fs::path& dir, const std::string& part) {
  try {
    (void)load(dir);
    FAIL("the folder was loaded");
  } catch (const ConfigError& e) {
    CHECK_THAT(e.what(), Catch::StartsWith((dir / "cfg.json").string() + ": ") && Catch::Contains(part));
  }
}

}  // namespace

TEST_CASE("a sparsify cfg.json that is not an object or has mistyped fields is a ConfigError", "[sae][io]") {
  test::TempDir tmp;
  const auto load = [](const fs::path& d) { return sae::load_sparsify(d); };
  const std::string fixture = "sae/sparsify/layers.1";
  check_config_error(load, folder_with_cfg(tmp, fixture, "sae.safetensors", "18446744073709551615"),
                     "expected a JSON object");
  check_config_error(load, folder_with_cfg(tmp, fixture, "sae.safetensors", R"({"activation": 3, "d_in": 16, "k": 4})"),
                     "mistyped field");
  check_config_error(load,
                     folder_with_cfg(tmp, fixture, "sae.safetensors", R"({"transcode": "no", "d_in": 16, "k": 4})"),
                     "mistyped field");
  // Numbers that are not integers in int64's range: a float such as 4.3e93 was cast with undefined
  // behaviour; an expansion factor that overflows the width is refused before it is multiplied.
  check_config_error(load, folder_with_cfg(tmp, fixture, "sae.safetensors", R"({"d_in": 4.33333e93, "k": 4})"),
                     "field 'd_in' must be an integer");
  check_config_error(load, folder_with_cfg(tmp, fixture, "sae.safetensors", R"({"d_in": 16, "k": 4.5})"),
                     "field 'k' must be an integer");
  check_config_error(load,
                     folder_with_cfg(tmp, fixture, "sae.safetensors",
                                     R"({"d_in": 16, "k": 4, "expansion_factor": 9000000000000000000})"),
                     "expansion_factor");
  // The fixture's own cfg.json still loads.
  const auto dir =
      folder_with_cfg(tmp, fixture, "sae.safetensors", test::read_bytes(test::fixture(fixture + "/cfg.json")));
  CHECK(sae::load_sparsify(dir)->config().d_sae == 48);
}

TEST_CASE("a SAELens cfg.json with a mistyped rescale_acts_by_decoder_norm is a ConfigError", "[sae][io]") {
  test::TempDir tmp;
  std::string cfg = test::read_bytes(test::fixture("sae/saelens_topk/cfg.json"));
  const std::string field = R"("rescale_acts_by_decoder_norm": false)";
  REQUIRE(cfg.find(field) != std::string::npos);
  cfg.replace(cfg.find(field), field.size(), R"("rescale_acts_by_decoder_norm": "yes")");
  check_config_error([](const fs::path& d) { return sae::load_saelens(d); },
                     folder_with_cfg(tmp, "sae/saelens_topk", "sae_weights.safetensors", cfg),
                     "rescale_acts_by_decoder_norm");
}

TEST_CASE("a .jsonl text dataset line with a number beyond double is an InputError", "[sae][data]") {
  test::TempDir tmp;
  const auto path = tmp / "corpus.jsonl";
  test::write_bytes(path, "{\"text\": \"fine\"}\n{\"text\": \"x\", \"score\": 1e999}\n");
  sae::TextDataset data(path);
  REQUIRE(data.next());
  try {
    (void)data.next();
    FAIL("the line was accepted");
  } catch (const InputError& e) {
    CHECK_THAT(e.what(), Catch::Contains(path.string() + ":2") && Catch::Contains("not valid JSON"));
  }
}
