// SAELens / sparsify / Gemma Scope readers against files those libraries wrote (and against what
// they compute with them), the atomic SAELens writer's round trip and its output compared field by
// field with SAELens's own, format detection, and the errors for bad input.
#include <cstdlib>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "fpokit/core/errors.h"
#include "fpokit/core/io/atomic_output.h"
#include "fpokit/sae/io/npz.h"
#include "fpokit/sae/io/sae_io.h"
#include "sae_test_util.h"

// After every LibTorch header: c10 defines its own CHECK.
#include <catch2/catch.hpp>

using namespace fpokit;
using namespace fpokit::sae;
using Catch::Contains;
using fpokit::test::max_abs_diff;
using fpokit::test::sae_fixture;
using fpokit::test::TempDir;
namespace fs = std::filesystem;

namespace {

constexpr double kTol = 1e-5;

void copy_folder(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  for (const auto& e : fs::directory_iterator(from)) fs::copy_file(e.path(), to / e.path().filename());
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

void write_json(const fs::path& p, const nlohmann::json& j) {
  std::ofstream out(p);
  out << j.dump();
}

void require_same_sae(SparseAutoencoderImpl& a, SparseAutoencoderImpl& b) {
  CHECK(a.config().architecture == b.config().architecture);
  CHECK(a.config().d_in == b.config().d_in);
  CHECK(a.config().d_sae == b.config().d_sae);
  CHECK(a.config().k == b.config().k);
  CHECK(a.config().apply_b_dec_to_input == b.config().apply_b_dec_to_input);
  CHECK(max_abs_diff(a.W_enc, b.W_enc) == 0.0);
  CHECK(max_abs_diff(a.W_dec, b.W_dec) == 0.0);
  CHECK(max_abs_diff(a.b_enc, b.b_enc) == 0.0);
  CHECK(max_abs_diff(a.b_dec, b.b_dec) == 0.0);
  if (a.threshold.defined()) CHECK(max_abs_diff(a.threshold, b.threshold) == 0.0);
  if (a.r_mag.defined()) CHECK(max_abs_diff(a.r_mag, b.r_mag) == 0.0);
  if (a.b_mag.defined()) CHECK(max_abs_diff(a.b_mag, b.b_mag) == 0.0);
  if (a.batch_topk_threshold().defined())
    CHECK(a.batch_topk_threshold().item<double>() == Approx(b.batch_topk_threshold().item<double>()).epsilon(1e-7));
}

}  // namespace

TEST_CASE("SAELens folders load with their config", "[sae][io]") {
  auto topk = load_sae(sae_fixture("saelens_topk"));
  CHECK(topk->config().architecture == Architecture::TopK);
  CHECK(topk->config().k == 4);
  CHECK(topk->config().d_in == 16);
  CHECK(topk->config().d_sae == 48);
  CHECK(topk->config().hook_name == "blocks.1.hook_resid_post");
  CHECK(topk->config().model_name == "tiny-model");
  CHECK(topk->config().context_size == 64);
  CHECK_FALSE(topk->is_training());
  CHECK(load_sae(sae_fixture("saelens_relu"))->config().architecture == Architecture::ReLU);
  CHECK(load_sae(sae_fixture("saelens_gated"))->config().architecture == Architecture::Gated);
  auto jumprelu = load_sae(sae_fixture("saelens_jumprelu"));
  CHECK(jumprelu->config().architecture == Architecture::JumpReLU);
  // SAELens keeps the STE bandwidth in metadata.training_architecture_details (0.05 in the fixture).
  CHECK(read_json(sae_fixture(
            "saelens_jumprelu/cfg.json"))["metadata"]["training_architecture_details"]["jumprelu_bandwidth"] == 0.05);
  CHECK(jumprelu->config().jumprelu_bandwidth == 0.05);
  // SAELens saved it as "jumprelu" (what it loads for inference); its training_architecture and k
  // in the metadata restore it as BatchTopK. No fpokit key is involved: SAELens wrote the file.
  const auto batchtopk_cfg = read_json(sae_fixture("saelens_batchtopk/cfg.json"));
  CHECK(batchtopk_cfg["architecture"] == "jumprelu");
  CHECK_FALSE(batchtopk_cfg["metadata"].contains("fpokit_architecture"));
  auto batchtopk = load_sae(sae_fixture("saelens_batchtopk"));
  CHECK(batchtopk->config().architecture == Architecture::BatchTopK);
  CHECK(batchtopk->config().k == 4);
  CHECK(batchtopk->batch_topk_threshold().item<double>() == Approx(0.35).epsilon(1e-7));
}

TEST_CASE("every SAELens and sparsify folder gives what the library computes with it", "[sae][io]") {
  // library_outputs.safetensors holds each library's own encode/decode of x with the folder it
  // wrote (generate_sae_library_files.py).
  const lm::SafetensorsFile lib(sae_fixture("library_outputs.safetensors"));
  const auto x = lib.load("x");
  const std::string name = GENERATE(as<std::string>{}, "saelens_topk", "saelens_batchtopk", "saelens_relu",
                                    "saelens_jumprelu", "saelens_gated", "saelens_topk_rescaled", "sparsify");
  INFO(name);
  auto sae = load_sae(sae_fixture(name == "sparsify" ? "sparsify/layers.1" : name));
  CHECK_FALSE(sae->is_training());
  const auto out = sae->forward(x);
  CHECK(max_abs_diff(out.features, lib.load(name + ".features")) < kTol);
  CHECK(max_abs_diff(out.reconstruction, lib.load(name + ".reconstruction")) < kTol);
}

TEST_CASE("save_saelens round-trips every architecture", "[sae][io]") {
  const std::string arch = GENERATE(as<std::string>{}, "topk", "batchtopk", "relu", "jumprelu", "gated");
  INFO("architecture " << arch);
  TempDir tmp;
  auto original = load_saelens(sae_fixture("saelens_" + arch));
  const auto dir = tmp / "out";
  save_saelens(*original, dir);
  CHECK(fs::exists(dir / "cfg.json"));
  CHECK(fs::exists(dir / "sae_weights.safetensors"));
  // Nothing but the two files: the temporary folder was renamed, not left behind.
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(tmp.path())) {
    (void)e;
    ++entries;
  }
  CHECK(entries == 1);
  const lm::SafetensorsFile written(dir / "sae_weights.safetensors");
  CHECK((written.find("threshold") != nullptr) == (arch == "jumprelu" || arch == "batchtopk"));
  auto reloaded = load_sae(dir);
  require_same_sae(*original, *reloaded);
  const auto x = lm::SafetensorsFile(sae_fixture("reference_" + arch + ".safetensors")).load("x");
  CHECK(max_abs_diff(original->forward(x).reconstruction, reloaded->forward(x).reconstruction) == 0.0);

  // Saving again over the existing folder replaces it.
  save_saelens(*reloaded, dir);
  auto again = load_sae(dir);
  require_same_sae(*original, *again);
}

namespace {

// Metadata that SAELens's training runner records and SaeConfig has no value for (the dataset,
// the TransformerLens class, the activation store's token handling, the SAELens release that
// trained it): save_saelens leaves them out. Anything else SAELens writes, fpokit must write too.
const std::set<std::string> kSaeLensMetadataNotWritten = {"sae_lens_training_version", "dataset_path",
                                                          "model_class_name",          "exclude_special_tokens",
                                                          "sequence_separator_token",  "disable_concat_sequences"};

std::set<std::string> keys_of(const nlohmann::json& j) {
  std::set<std::string> keys;
  for (const auto& [key, value] : j.items()) keys.insert(key);
  return keys;
}

}  // namespace

TEST_CASE("save_saelens writes the cfg.json and tensors SAELens writes", "[sae][io]") {
  const std::string arch = GENERATE(as<std::string>{}, "topk", "batchtopk", "relu", "jumprelu", "gated");
  INFO("architecture " << arch);
  // The fixture is what SAELens 6.54's save_inference_model wrote for these weights; fpokit loads
  // it and writes it again.
  const auto theirs = sae_fixture("saelens_" + arch);
  TempDir tmp;
  const auto ours = tmp / ("saelens_" + arch);
  save_saelens(*load_saelens(theirs), ours);
  // To check that SAELens loads fpokit's output (needs Python and the peers venv):
  //   FPOKIT_SAELENS_EXPORT_DIR=DIR build/tests/test_sae "<this test>", then
  //   generate_sae_library_files.py --check-fpokit-written DIR
  if (const char* keep = std::getenv("FPOKIT_SAELENS_EXPORT_DIR")) {
    const fs::path copy = fs::path(keep) / ours.filename();
    core::remove_tree(copy);
    copy_folder(ours, copy);
  }

  // Tensors: the same names, dtypes, shapes and values; in fact the same file, byte for byte (the
  // same header, tensor order and data layout as Python's safetensors writes).
  CHECK(test::read_bytes(ours / "sae_weights.safetensors") == test::read_bytes(theirs / "sae_weights.safetensors"));
  const lm::SafetensorsFile a(theirs / "sae_weights.safetensors"), b(ours / "sae_weights.safetensors");
  std::set<std::string> names_a, names_b;
  for (const auto& t : a.tensors()) names_a.insert(t.name);
  for (const auto& t : b.tensors()) names_b.insert(t.name);
  CHECK(names_b == names_a);
  for (const auto& t : a.tensors()) {
    INFO("tensor " << t.name);
    const auto* mine = b.find(t.name);
    if (!mine) continue;  // reported by the name check above
    CHECK(dtype_name(mine->dtype) == dtype_name(t.dtype));
    CHECK(mine->shape == t.shape);
    CHECK(torch::equal(b.load(t.name), a.load(t.name)));
  }

  // cfg.json: every top-level field, with SAELens's value.
  const auto want = read_json(theirs / "cfg.json"), got = read_json(ours / "cfg.json");
  CHECK(keys_of(got) == keys_of(want));
  for (const auto& [key, value] : want.items()) {
    INFO("cfg.json field " << key);
    if (key != "metadata") CHECK(got.value(key, nlohmann::json()) == value);
  }
  // metadata: SAELens's keys with its values, but for those SaeConfig cannot know; fpokit adds only
  // its own fpokit_* keys. Of training_architecture_details fpokit writes what SaeConfig holds.
  const auto& want_meta = want["metadata"];
  const auto& got_meta = got["metadata"];
  for (const auto& [key, value] : want_meta.items()) {
    INFO("metadata field " << key);
    if (kSaeLensMetadataNotWritten.count(key)) {
      CHECK_FALSE(got_meta.contains(key));
    } else if (key == "training_architecture_details") {
      REQUIRE(got_meta.contains(key));
      for (const auto& [detail, v] : got_meta[key].items()) {
        INFO("training_architecture_details." << detail);
        CHECK(value.value(detail, nlohmann::json()) == v);
      }
    } else {
      CHECK(got_meta.value(key, nlohmann::json()) == value);
    }
  }
  for (const auto& [key, value] : got_meta.items()) {
    INFO("metadata field fpokit added: " << key);
    CHECK((want_meta.contains(key) || key.rfind("fpokit_", 0) == 0));
  }
  // The details fpokit needs to restore the SAE are among those written.
  if (arch == "batchtopk") CHECK(got_meta["training_architecture_details"]["k"] == 4);
  if (arch == "jumprelu") CHECK(got_meta["training_architecture_details"]["jumprelu_bandwidth"] == 0.05);
}

TEST_CASE("an activation scale is folded on save and gives the same reconstruction", "[sae][io]") {
  TempDir tmp;
  auto sae = load_saelens(sae_fixture("saelens_topk"));
  sae->mutable_config().normalization = ActivationNormalization::ExpectedAverageOnlyIn;
  sae->mutable_config().activation_scale = 2.5;
  const auto x = lm::SafetensorsFile(sae_fixture("reference_topk.safetensors")).load("x");
  const auto want = sae->reconstruct(x);
  save_saelens(*sae, tmp / "scaled");
  const auto cfg = read_json(tmp / "scaled" / "cfg.json");
  CHECK(cfg["normalize_activations"] == "none");
  auto folded = load_sae(tmp / "scaled");
  CHECK(folded->config().normalization == ActivationNormalization::None);
  CHECK(max_abs_diff(folded->reconstruct(x), want) < kTol);
  // And fold_activation_scale in memory does the same.
  sae->fold_activation_scale();
  CHECK(max_abs_diff(sae->reconstruct(x), want) < kTol);
}

TEST_CASE("a SAELens topk SAE with rescale_acts_by_decoder_norm is folded on load", "[sae][io]") {
  // SAELens wrote it unfolded (decoder row norms 0.5..2) with rescale_acts_by_decoder_norm: it
  // selects on pre·‖W_dec_i‖ and decodes with W_dec/‖W_dec_i‖.
  const auto dir = sae_fixture("saelens_topk_rescaled");
  CHECK(read_json(dir / "cfg.json")["rescale_acts_by_decoder_norm"] == true);
  const auto W_dec_saved = lm::SafetensorsFile(dir / "sae_weights.safetensors").load("W_dec");
  CHECK(W_dec_saved.norm(2, 1).max().item<double>() == Approx(2.0).epsilon(1e-6));
  const lm::SafetensorsFile lib(sae_fixture("library_outputs.safetensors"));
  auto sae = load_sae(dir);
  const auto out = sae->forward(lib.load("x"));
  CHECK(max_abs_diff(out.features, lib.load("saelens_topk_rescaled.features")) < kTol);
  CHECK(max_abs_diff(out.reconstruction, lib.load("saelens_topk_rescaled.reconstruction")) < kTol);
  CHECK(max_abs_diff(sae->W_dec.norm(2, 1), torch::ones({48})) < 1e-6);
}

TEST_CASE("the sparsify reader gives the reference TopK encode/decode", "[sae][io]") {
  const auto dir = sae_fixture("sparsify/layers.1");
  CHECK(detect_format(dir) == SaeFormat::Sparsify);
  auto sae = load_sae(dir);
  CHECK(sae->config().architecture == Architecture::TopK);
  CHECK(sae->config().k == 4);
  // sparsify wrote num_latents 48 next to its default expansion_factor 32: num_latents wins.
  CHECK(read_json(dir / "cfg.json")["expansion_factor"] == 32);
  CHECK(sae->config().d_sae == 48);
  CHECK(sae->config().hook_name == "blocks.1.hook_resid_post");
  const lm::SafetensorsFile ref(sae_fixture("reference_topk.safetensors"));
  const auto out = sae->forward(ref.load("x"));
  CHECK(max_abs_diff(out.pre, ref.load("pre")) < kTol);
  CHECK(max_abs_diff(out.features, ref.load("features")) < kTol);
  CHECK(max_abs_diff(out.reconstruction, ref.load("reconstruction")) < kTol);
}

TEST_CASE("the Gemma Scope params.npz reader gives the reference JumpReLU encode/decode", "[sae][io]") {
  const auto file = sae_fixture("gemma_scope/params.npz");
  CHECK(detect_format(file) == SaeFormat::GemmaScope);
  CHECK(detect_format(sae_fixture("gemma_scope")) == SaeFormat::GemmaScope);
  auto sae = load_sae(sae_fixture("gemma_scope"));
  CHECK(sae->config().architecture == Architecture::JumpReLU);
  CHECK_FALSE(sae->config().apply_b_dec_to_input);
  const lm::SafetensorsFile ref(sae_fixture("reference_gemma_scope.safetensors"));
  const auto out = sae->forward(ref.load("x"));
  CHECK(max_abs_diff(out.pre, ref.load("pre")) < kTol);
  CHECK(max_abs_diff(out.features, ref.load("features")) < kTol);
  CHECK(max_abs_diff(out.reconstruction, ref.load("reconstruction")) < kTol);

  // Converted to SAELens and back: still the same SAE (apply_b_dec_to_input false kept).
  TempDir tmp;
  save_saelens(*sae, tmp / "converted");
  CHECK(read_json(tmp / "converted" / "cfg.json")["apply_b_dec_to_input"] == false);
  auto converted = load_sae(tmp / "converted");
  CHECK(max_abs_diff(converted->forward(ref.load("x")).reconstruction, ref.load("reconstruction")) < kTol);

  const auto params = read_npz(file);
  CHECK(params.size() == 5);
  CHECK(params.at("W_enc").sizes() == torch::IntArrayRef({16, 48}));
}

TEST_CASE("bad Gemma Scope npz files throw CheckpointError naming file and tensor", "[sae][io][errors]") {
  auto msg = [](const std::string& name) {
    try {
      load_gemma_scope(sae_fixture("bad/" + name));
    } catch (const CheckpointError& e) {
      return std::string(e.what());
    }
    FAIL("no CheckpointError for " << name);
    return std::string();
  };
  CHECK_THAT(msg("missing_threshold.npz"), Contains("missing_threshold.npz") && Contains("missing tensor threshold"));
  CHECK_THAT(msg("d_in_mismatch.npz"), Contains("W_dec") && Contains("[48, 15]") && Contains("[48, 16]"));
  CHECK_THAT(msg("int_dtype.npz"), Contains("b_enc") && Contains("dtype"));
  CHECK_THAT(msg("fortran.npz"), Contains("W_enc.npy") && Contains("fortran_order"));
  CHECK_THAT(msg("truncated.npz"), Contains("truncated.npz"));
  CHECK_THAT(msg("not_a_zip.npz"), Contains("not_a_zip.npz") && Contains("zip"));
  CHECK_THAT(msg("bad_magic.npz"), Contains("W_enc.npy") && Contains("magic"));
  CHECK_THROWS_AS(load_gemma_scope(sae_fixture("bad/no_such_file.npz")), CheckpointError);
}

TEST_CASE("bad SAELens and sparsify folders throw InputError naming file and tensor", "[sae][io][errors]") {
  TempDir tmp;
  SECTION("missing tensor") {
    const auto dir = tmp / "sae";
    copy_folder(sae_fixture("saelens_jumprelu"), dir);
    const lm::SafetensorsFile src(sae_fixture("saelens_jumprelu/sae_weights.safetensors"));
    lm::write_safetensors(dir / "sae_weights.safetensors", {{"W_enc", src.load("W_enc")},
                                                            {"W_dec", src.load("W_dec")},
                                                            {"b_enc", src.load("b_enc")},
                                                            {"b_dec", src.load("b_dec")}});
    CHECK_THROWS_WITH(load_sae(dir), Contains("sae_weights.safetensors") && Contains("missing tensor threshold"));
  }
  SECTION("d_in in cfg.json does not match the tensors") {
    const auto dir = tmp / "sae";
    copy_folder(sae_fixture("saelens_topk"), dir);
    auto cfg = read_json(dir / "cfg.json");
    cfg["d_in"] = 32;
    write_json(dir / "cfg.json", cfg);
    CHECK_THROWS_AS(load_sae(dir), CheckpointError);
    CHECK_THROWS_WITH(load_sae(dir), Contains("W_enc") && Contains("[16, 48]") && Contains("[32, 48]"));
  }
  SECTION("unknown architecture") {
    const auto dir = tmp / "sae";
    copy_folder(sae_fixture("saelens_topk"), dir);
    auto cfg = read_json(dir / "cfg.json");
    cfg["architecture"] = "transcoder";
    write_json(dir / "cfg.json", cfg);
    CHECK_THROWS_AS(load_sae(dir), ConfigError);
    CHECK_THROWS_WITH(load_sae(dir), Contains("cfg.json") && Contains("transcoder"));
  }
  SECTION("gated config over TopK weights") {
    const auto dir = tmp / "sae";
    copy_folder(sae_fixture("saelens_topk"), dir);
    auto cfg = read_json(dir / "cfg.json");
    cfg["architecture"] = "gated";
    write_json(dir / "cfg.json", cfg);
    CHECK_THROWS_AS(load_sae(dir), CheckpointError);
    CHECK_THROWS_WITH(load_sae(dir), Contains("sae_weights.safetensors") && Contains("missing tensor b_gate"));
  }
  SECTION("k larger than d_sae") {
    const auto dir = tmp / "sae";
    copy_folder(sae_fixture("saelens_topk"), dir);
    auto cfg = read_json(dir / "cfg.json");
    cfg["k"] = 100;
    write_json(dir / "cfg.json", cfg);
    CHECK_THROWS_WITH(load_sae(dir), Contains("cfg.json") && Contains("k must be"));
  }
  SECTION("corrupt cfg.json") {
    const auto dir = tmp / "sae";
    copy_folder(sae_fixture("saelens_topk"), dir);
    std::ofstream(dir / "cfg.json") << "{\"d_in\": ";
    CHECK_THROWS_AS(load_sae(dir), ConfigError);
  }
  SECTION("sparsify with a missing tensor and an unsupported activation") {
    const auto dir = tmp / "layers.2";
    copy_folder(sae_fixture("sparsify/layers.1"), dir);
    const lm::SafetensorsFile src(sae_fixture("sparsify/layers.1/sae.safetensors"));
    lm::write_safetensors(dir / "sae.safetensors", {{"encoder.weight", src.load("encoder.weight")},
                                                    {"W_dec", src.load("W_dec")},
                                                    {"b_dec", src.load("b_dec")}});
    CHECK_THROWS_WITH(load_sae(dir), Contains("sae.safetensors") && Contains("encoder.bias"));
    auto cfg = read_json(dir / "cfg.json");
    cfg["activation"] = "groupmax";
    write_json(dir / "cfg.json", cfg);
    CHECK_THROWS_WITH(load_sae(dir), Contains("groupmax"));
  }
  SECTION("not an SAE") {
    CHECK_THROWS_AS(load_sae(tmp.path()), CheckpointError);
    CHECK_THROWS_AS(load_sae(tmp / "nothing"), CheckpointError);
  }
}

TEST_CASE("a config whose width disagrees with the weights is an error before anything is allocated",
          "[sae][io][errors]") {
  // Found by fuzz_sae_cfg: "d_in": 4.33333e12 (an integral float) made the loader build a
  // [d_in, d_sae] SAE, terabytes, before comparing it with the file's tensors.
  fpokit::test::TempDir tmp;
  copy_folder(sae_fixture("saelens_topk"), tmp / "wide");
  auto cfg = read_json(tmp / "wide" / "cfg.json");
  cfg["d_in"] = 4.33333e12;
  std::ofstream(tmp / "wide" / "cfg.json") << cfg.dump();
  CHECK_THROWS_WITH(load_sae(tmp / "wide"), Catch::Contains("tensor W_enc has shape") &&
                                                Catch::Contains("implies [4333330000000, ") &&
                                                Catch::Contains("the config and the weights disagree"));
  copy_folder(sae_fixture("sparsify/layers.1"), tmp / "layers.1");
  auto sp = read_json(tmp / "layers.1" / "cfg.json");
  sp["num_latents"] = 4000000000000;
  std::ofstream(tmp / "layers.1" / "cfg.json") << sp.dump();
  CHECK_THROWS_WITH(load_sae(tmp / "layers.1"), Catch::Contains("tensor encoder.weight has shape") &&
                                                    Catch::Contains("the config and the weights disagree"));
}
