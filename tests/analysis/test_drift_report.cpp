// The drift report file (schema fpokit-feature-drift, docs/drift-schema.md) read back through the
// HDF5 C API, the h5py view of it, and `fpokit drift` on bad input: one line, exit 2, no report.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <map>

#include "fpokit/analysis/drift/drift_report_writer.h"
#include "fpokit/analysis/drift/drift_run.h"
#include "fpokit/analysis/stats/feature_drift_stats.h"
#include "fpokit/core/io/hdf5_arrays.h"
#include "fpokit/core/io/hdf5_handle.h"
#include "drift_test_util.h"

using namespace fpokit;
namespace h5 = fpokit::core::hdf5;
using fpokit::test::drift_fixture;
using fpokit::test::quoted;
using fpokit::test::small_drift_options;

namespace {

struct Shape {
  H5T_class_t type_class;
  size_t size;
  std::vector<int64_t> dims;
};

// A group by path ("provenance/sae").
h5::Group group_at(hid_t file, const std::string& path) {
  h5::Group g(H5Gopen2(file, path.c_str(), H5P_DEFAULT));
  INFO(path);
  REQUIRE(g.valid());
  return g;
}

Shape shape_of(hid_t file, const std::string& path) {
  h5::Dataset d(H5Dopen2(file, path.c_str(), H5P_DEFAULT));
  INFO(path);
  REQUIRE(d.valid());
  h5::Datatype t(H5Dget_type(d.get()));
  return {H5Tget_class(t.get()), H5Tget_size(t.get()), h5::dataset_shape(d.get())};
}

// `fpokit drift` on the fixture with small settings; `args` adds or replaces options ("" = a flag).
std::string drift_command(const std::map<std::string, std::string>& args) {
  std::map<std::string, std::string> all{{"--base", quoted(drift_fixture("base"))},
                                         {"--sae", quoted(drift_fixture("sae"))},
                                         {"--data", quoted(drift_fixture("corpus.jsonl"))},
                                         {"--tokens", "124"},
                                         {"--context-size", "32"},
                                         {"--bootstrap", "10"},
                                         {"--top", "5"},
                                         {"--examples", "2"}};
  for (const auto& [k, v] : args) all[k] = v;
  std::string line = "drift";
  for (const auto& [k, v] : all) line += " " + k + (v.empty() ? "" : " " + v);
  return test::fpokit_cmd(line);
}

}  // namespace

TEST_CASE("drift report: every documented dataset and attribute, with its dtype and shape") {
  test::TempDir tmp;
  const auto path = tmp / "report.h5";
  auto o = small_drift_options();
  o.tokens = 16 * 31;
  auto r = analysis::run_drift(o);
  r.command_line = "fpokit drift (test)";
  r.config_toml = "[drift]\ntokens=496\n";
  analysis::write_drift_report(r, path, false);
  REQUIRE(std::filesystem::exists(path));
  // No temporary file is left beside it.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(tmp.path())) files += e.is_regular_file() ? 1 : 0;
  CHECK(files == 1);

  const auto file = h5::open_file(path);
  const hid_t f = file.get();
  CHECK(h5::read_string_attribute(f, "schema") == std::string(analysis::kDriftSchema));
  CHECK(h5::read_string_attribute(f, "schema_version") == std::string(analysis::kDriftSchemaVersion));
  for (const char* a : {"fpokit_version", "git_commit", "created_utc", "command_line", "hook", "data_kind"})
    CHECK(h5::read_string_attribute(f, a).has_value());
  CHECK(h5::read_string_array_attribute(f, "aligned_labels") == std::vector<std::string>{"planted"});

  // /features: every statistic as float32 [d_sae], feature_id int32, tags categorical.
  for (const auto& c : analysis::stats::FeatureDriftStats::columns()) {
    const auto s = shape_of(f, "features/" + std::string(c.name));
    CHECK(s.type_class == H5T_FLOAT);
    CHECK(s.size == 4);
    CHECK(s.dims == std::vector<int64_t>{24});
    h5::Dataset d(H5Dopen2(f, ("features/" + std::string(c.name)).c_str(), H5P_DEFAULT));
    CHECK(h5::read_string_attribute(d.get(), "description").value_or("").size() > 5);
    CHECK(h5::read_string_attribute(d.get(), "formula").has_value());
    CHECK(h5::read_string_attribute(d.get(), "split") == std::string("all"));
    // Chunked with gzip + shuffle.
    h5::PropertyList dcpl(H5Dget_create_plist(d.get()));
    CHECK(H5Pget_layout(dcpl.get()) == H5D_CHUNKED);
    CHECK(H5Pget_nfilters(dcpl.get()) == 2);
  }
  const auto delta = h5::read_double_array(f, "features/delta_mean");
  const auto& st = r.aligned[0].splits[0].stats;
  for (int i = 0; i < 24; ++i) CHECK(delta[i] == Approx(static_cast<float>(st.delta_mean[i])));
  CHECK(shape_of(f, "features/feature_id").type_class == H5T_INTEGER);
  CHECK(shape_of(f, "features/tag/codes").size == 1);
  CHECK(h5::read_string_array(f, "features/tag/categories") ==
        std::vector<std::string>{"up", "down", "emerged", "vanished", "unchanged", "dead"});
  {
    const auto group = group_at(f, "features");
    CHECK(h5::read_string_attribute(group.get(), "encoding-type") == std::string("dataframe"));
    CHECK(h5::read_string_attribute(group.get(), "_index") == std::string("feature_id"));
    const auto order = h5::read_string_array_attribute(group.get(), "column-order");
    CHECK(order.size() == analysis::stats::FeatureDriftStats::columns().size() + 1);  // + tag
  }
  // Rankings, selected features, vocabulary, fidelity, global, provenance.
  {
    h5::Dataset d(H5Dopen2(f, "rankings/abs_delta_write", H5P_DEFAULT));
    REQUIRE(d.valid());
    CHECK(h5::read_string_attribute(d.get(), "metric") == std::string("delta_write"));
    CHECK(h5::read_int64_attribute(d.get(), "k") == 10);
    const auto ids = h5::read_int64_array(f, "rankings/abs_delta_write");
    CHECK(ids.front() == test::drift_expectations()["planted_feature"].get<int>());
  }
  const auto n_sel = static_cast<int64_t>(r.aligned[0].examples.features.size());
  CHECK(shape_of(f, "selected/examples/token_ids").dims == std::vector<int64_t>{n_sel, 8, 7});
  CHECK(shape_of(f, "selected/examples/act_aligned").dims == std::vector<int64_t>{n_sel, 8, 7});
  CHECK(shape_of(f, "selected/logit_lens/promoted_ids_aligned").dims == std::vector<int64_t>{n_sel, 10});
  CHECK(h5::read_string_array(f, "vocab/token_str").size() == r.vocab_ids.size());
  CHECK(h5::read_string_array(f, "sae_fidelity/model") == std::vector<std::string>{"base", "planted"});
  CHECK(shape_of(f, "global/kl_per_token/mean").dims == std::vector<int64_t>{1});
  CHECK(shape_of(f, "global/resid_delta_norm").dims.empty());
  CHECK(h5::read_string_array(f, "provenance/config_toml") == std::vector<std::string>{"[drift]\ntokens=496\n"});
  {
    const auto sae = group_at(f, "provenance/sae");
    CHECK(h5::read_int64_attribute(sae.get(), "d_sae") == 24);
    CHECK(h5::read_string_attribute(sae.get(), "sha256").value_or("").size() == 64);
    const auto data = group_at(f, "provenance/data");
    CHECK(h5::read_int64_attribute(data.get(), "analysed_tokens") == r.analysed_tokens);
    CHECK(h5::read_string_attribute(data.get(), "sha256").value_or("").size() == 64);
    const auto models = group_at(f, "provenance/models/planted");
    CHECK(h5::read_string_attribute(models.get(), "kind") == std::string("model"));
  }

  // An existing report is not replaced without overwrite.
  CHECK_THROWS_AS(analysis::write_drift_report(r, path, false), InputError);
  analysis::write_drift_report(r, path, true);
}

TEST_CASE("drift report: h5py reads the layout the C API writes (tests/fixtures/drift/h5py_view.json)") {
  // The view was made by `generate_drift.py --check-report` from a report of this schema; every
  // dataset it lists exists here with the same shape, and numpy's dtype names match.
  std::ifstream in(drift_fixture("h5py_view.json"));
  REQUIRE(in.good());
  const auto view = nlohmann::json::parse(in);
  test::TempDir tmp;
  const auto path = tmp / "report.h5";
  const auto run =
      test::run_command(drift_command({{"--aligned", quoted(drift_fixture("planted"))}, {"--out", quoted(path)}}));
  REQUIRE(run.exit_code == 0);
  const auto file = h5::open_file(path);
  for (const auto& [name, info] : view["datasets"].items()) {
    INFO(name);
    if (name.rfind("selected/", 0) == 0 || name.rfind("rankings/", 0) == 0 || name.rfind("vocab/", 0) == 0) {
      CHECK(H5Lexists(file.get(), name.c_str(), H5P_DEFAULT) > 0);  // lengths depend on the run
      continue;
    }
    const auto s = shape_of(file.get(), name);
    CHECK(s.dims == info["shape"].get<std::vector<int64_t>>());
    const auto dtype = info["dtype"].get<std::string>();
    if (dtype == "float32") CHECK((s.type_class == H5T_FLOAT && s.size == 4));
    if (dtype == "int32") CHECK((s.type_class == H5T_INTEGER && s.size == 4));
    if (dtype == "int8") CHECK((s.type_class == H5T_INTEGER && s.size == 1));
    if (dtype == "bool") CHECK(s.type_class == H5T_ENUM);
  }
  CHECK(view["tags"].size() == 24);
}

TEST_CASE("fpokit drift: writes the report and prints the summary table") {
  test::TempDir tmp;
  const auto path = tmp / "r.h5";
  const auto run = test::run_command(
      drift_command({{"--aligned", quoted(drift_fixture("planted"))}, {"--label", "dpo"}, {"--out", quoted(path)}}));
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  CHECK(run.out.find("== dpo vs base") != std::string::npos);
  CHECK(run.out.find("abs_delta_write") != std::string::npos);
  CHECK(std::filesystem::exists(path));
  // A finished report is not overwritten by accident.
  const auto again =
      test::run_command(drift_command({{"--aligned", quoted(drift_fixture("planted"))}, {"--out", quoted(path)}}));
  CHECK(again.exit_code == 2);
  CHECK(again.err.find("already exists") != std::string::npos);
  // --aligned equal to --base is allowed.
  const auto same = test::run_command(
      drift_command({{"--aligned", quoted(drift_fixture("base"))}, {"--out", quoted(tmp / "same.h5")}}));
  CHECK(same.exit_code == 0);
  // --dump-config prints the resolved options and writes nothing. (A path that does not exist is
  // for the run to report; a bare name like "x" would be looked up in the hub cache when parsed.)
  const auto dump = test::run_command(
      drift_command({{"--aligned", quoted(tmp / "x")}, {"--out", quoted(tmp / "d.h5")}, {"--dump-config", ""}}));
  CHECK(dump.exit_code == 0);
  CHECK(dump.out.find("[drift]") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(tmp / "d.h5"));
}

TEST_CASE("fpokit drift: bad input is one line, exit 2, and no report") {
  test::TempDir tmp;
  const auto out = tmp / "bad.h5";
  std::ofstream(tmp / "empty.jsonl").close();
  struct Case {
    const char* what;
    std::map<std::string, std::string> args;
    const char* message;
  };
  const auto planted = quoted(drift_fixture("planted"));
  const std::vector<Case> cases = {
      {"SAE width", {{"--aligned", planted}, {"--sae", quoted(test::fixture("sae/saelens_relu"))}}, "d_in"},
      {"hook", {{"--aligned", planted}, {"--hook", "blocks.7.hook_resid_post"}}, "blocks.7"},
      {"vocabulary", {{"--aligned", quoted(test::fixture("models/gpt2"))}}, "vocabulary"},
      {"empty data", {{"--aligned", planted}, {"--data", quoted(tmp / "empty.jsonl")}}, "no token"},
      {"missing model", {{"--aligned", quoted(tmp / "nope")}}, "no such model directory"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto args = c.args;
    args["--out"] = quoted(out);
    const auto run = test::run_command(drift_command(args));
    CHECK(run.exit_code == 2);
    CHECK(run.err.find(c.message) != std::string::npos);
    CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
    CHECK_FALSE(std::filesystem::exists(out));
  }
}

TEST_CASE("fpokit train --method fpo records its selections and drift splits constrained from unconstrained") {
  test::TempDir tmp;
  const std::string flags = " --model " + quoted(drift_fixture("base")) + " --data " +
                            quoted(drift_fixture("prefs.jsonl")) + " --sae " + quoted(drift_fixture("sae")) +
                            " --fpo-topk 3 --learning-rate 1e-3 --max-steps 4 --per-device-train-batch-size 4" +
                            " --logging-steps 2 --save-steps 2 --quiet";
  auto r = test::run_command(test::fpokit_cmd("train --method fpo" + flags + " --out " + quoted(tmp / "whole")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto sel = nlohmann::json::parse(test::read_bytes(tmp / "whole/fpo_selection.json"));
  const auto counts = sel["counts"].get<std::vector<int64_t>>();
  REQUIRE(counts.size() == 24);
  CHECK(sel["top_k"] == 3);
  CHECK(sel["hook"] == "blocks.1.hook_resid_post");
  CHECK(sel["selections"] == 2 * 4 * 4);  // chosen + rejected, 4 pairs per step, 4 steps
  int64_t total = 0, used = 0;
  for (const auto c : counts) {
    CHECK(c <= sel["selections"].get<int64_t>());
    total += c;
    used += c > 0 ? 1 : 0;
  }
  // Paper variant: each set is topk(policy) ∪ topk(reference), 3 to 6 features.
  CHECK(total >= 3 * 32);
  CHECK(total <= 6 * 32);

  // Stopped after a checkpoint and resumed: the same counts.
  r = test::run_command(
      test::fpokit_cmd("train --method fpo" + flags + " --out " + quoted(tmp / "split") + " --stop-after-steps 2"));
  REQUIRE(r.exit_code == 0);
  // A run's checkpoint folder is a model too, with the selection counts so far.
  r = test::run_command(drift_command({{"--aligned", quoted(tmp / "split")}, {"--out", quoted(tmp / "ckpt.h5")}}));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  {
    const auto file = h5::open_file(tmp / "ckpt.h5");
    const auto model = group_at(file.get(), "provenance/models/split");
    CHECK(h5::read_string_attribute(model.get(), "kind") == std::string("checkpoint"));
    CHECK(h5::read_int64_attribute(model.get(), "checkpoint_step") == 2);
    CHECK(h5::read_int64_attribute(model.get(), "fpo_selections") == 16);
    CHECK(H5Lexists(file.get(), "features/constrained", H5P_DEFAULT) > 0);
  }
  r = test::run_command(
      test::fpokit_cmd("train --method fpo" + flags + " --out " + quoted(tmp / "split") + " --resume"));
  REQUIRE(r.exit_code == 0);
  CHECK(nlohmann::json::parse(test::read_bytes(tmp / "split/fpo_selection.json"))["counts"] == sel["counts"]);

  // The report: constrained = ever selected, in_topk_rate = counts / selections, unconstrained rankings.
  const auto report = tmp / "drift.h5";
  r = test::run_command(drift_command({{"--aligned", quoted(tmp / "whole")}, {"--out", quoted(report)}}));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto file = h5::open_file(report);
  const auto constrained = h5::read_int64_array(file.get(), "features/constrained");
  const auto rate = h5::read_double_array(file.get(), "features/in_topk_rate");
  int64_t n_constrained = 0;
  for (size_t f = 0; f < 24; ++f) {
    CHECK(constrained[f] == (counts[f] > 0 ? 1 : 0));
    CHECK(rate[f] == Approx(static_cast<double>(counts[f]) / 32.0));
    n_constrained += constrained[f];
  }
  CHECK(n_constrained == used);
  CHECK(H5Lexists(file.get(), "rankings/unconstrained_abs_delta_write", H5P_DEFAULT) > 0);
  const auto free = h5::read_int64_array(file.get(), "rankings/unconstrained_abs_delta_write");
  for (const auto f : free) CHECK(counts[static_cast<size_t>(f)] == 0);
  const auto models = group_at(file.get(), "provenance/models/whole");
  CHECK(h5::read_int64_attribute(models.get(), "fpo_top_k") == 3);
  const auto n_features = h5::read_double_array(file.get(), "global/fpo_constrained_summary/n_features");
  REQUIRE(n_features.size() == 2);
  CHECK(n_features[0] == static_cast<double>(used));
  CHECK(n_features[0] + n_features[1] == 24);
}

TEST_CASE("fpokit drift: a LoRA run's adapter is applied to the base") {
  test::TempDir tmp;
  auto r = test::run_command(
      test::fpokit_cmd("train --method dpo --model " + quoted(drift_fixture("base")) + " --data " +
                       quoted(drift_fixture("prefs.jsonl")) +
                       " --lora-r 2 --lora-alpha 4 --lora-targets c_attn,c_fc --learning-rate 1e-2 --max-steps 3" +
                       " --per-device-train-batch-size 4 --quiet --out " + quoted(tmp / "lora")));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE_FALSE(std::filesystem::exists(tmp / "lora/model"));
  r = test::run_command(drift_command({{"--aligned", quoted(tmp / "lora")}, {"--out", quoted(tmp / "lora.h5")}}));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto file = h5::open_file(tmp / "lora.h5");
  const auto model = group_at(file.get(), "provenance/models/lora");
  CHECK(h5::read_string_attribute(model.get(), "kind") == std::string("train_output"));
  CHECK(h5::read_string_attribute(model.get(), "weights").value_or("").find("adapter") != std::string::npos);
  double moved = 0;
  for (const double d : h5::read_double_array(file.get(), "features/mean_abs_paired_diff")) moved += d;
  CHECK(moved > 0);  // the adapters changed the activations
}

TEST_CASE("fpokit drift: models whose tokenizers differ are refused") {
  test::TempDir tmp;
  const auto other = tmp / "other";
  std::filesystem::create_directories(other);
  for (const auto& e : std::filesystem::directory_iterator(drift_fixture("planted")))
    std::filesystem::copy_file(e.path(), other / e.path().filename());
  // The same vocabulary size, two tokens' ids swapped.
  auto tok = nlohmann::json::parse(test::read_bytes(other / "tokenizer.json"));
  auto& vocab = tok["model"]["vocab"];
  const auto a = vocab["a"].get<int64_t>(), b = vocab["b"].get<int64_t>();
  vocab["a"] = b;
  vocab["b"] = a;
  test::write_bytes(other / "tokenizer.json", tok.dump());
  const auto r = test::run_command(drift_command({{"--aligned", quoted(other)}, {"--out", quoted(tmp / "x.h5")}}));
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("tokenizer differs") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(tmp / "x.h5"));
}
