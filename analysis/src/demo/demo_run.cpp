#include "fpokit/analysis/demo/demo_run.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include <torch/torch.h>

#include "fpokit/analysis/demo/demo_settings.h"
#include "fpokit/analysis/demo/politeness_lexicon.h"
#include "fpokit/analysis/drift/drift_report_writer.h"
#include "fpokit/analysis/drift/drift_run.h"
#include "fpokit/analysis/report/html_report.h"
#include "fpokit/core/errors.h"
#include "fpokit/core/io/atomic_output.h"
#include "fpokit/core/io/output_location.h"
#include "fpokit/core/log/log.h"
#include "fpokit/fpo/eval/preference_eval.h"
#include "fpokit/fpo/training/training_run.h"
#include "fpokit/lm/model/generation.h"
#include "fpokit/lm/model/hook_name.h"
#include "fpokit/lm/model/load_model.h"
#include "fpokit/lm/tokenizer/tokenizer.h"
#include "fpokit/sae/eval/sae_evaluation.h"
#include "fpokit/sae/io/sae_io.h"
#include "fpokit/sae/training/training_run.h"

#ifndef FPOKIT_SOURCE_DIR
#define FPOKIT_SOURCE_DIR "."
#endif

namespace fpokit::analysis {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The run folders inside the demo's --out (the SAE, each method) belong to the demo: a demo killed
// part way is run again over them. A finished demo is protected by its summary.json instead.
constexpr bool kOwnFolder = true;

// The embedded default's files, all required before anything runs.
struct DemoFiles {
  fs::path base, sae, corpus, corpus_heldout, prefs_train, prefs_heldout, lexicon;

  explicit DemoFiles(const fs::path& dir)
      : base(dir / "model"),
        sae(dir / "sae" / kDemoHook),
        corpus(dir / "corpus.jsonl"),
        corpus_heldout(dir / "corpus_heldout.jsonl"),
        prefs_train(dir / "prefs_train.jsonl"),
        prefs_heldout(dir / "prefs_heldout.jsonl"),
        lexicon(dir / "lexicon.json") {
    for (const auto* p : {&base, &sae, &corpus, &corpus_heldout, &prefs_train, &prefs_heldout, &lexicon}) {
      if (!fs::exists(*p))
        throw InputError(p->string() + ": missing from the demo folder " + dir.string() +
                         " (a source checkout has examples/demo; point --demo-dir or FPOKIT_DEMO_DIR at it)");
    }
  }
};

class Stopwatch {
 public:
  double lap() {
    const auto now = std::chrono::steady_clock::now();
    const double s = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    return s;
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

std::vector<std::string> heldout_prompts(const fs::path& prefs, int64_t n) {
  std::ifstream in(prefs);
  std::vector<std::string> out;
  std::string line;
  while (static_cast<int64_t>(out.size()) < n && std::getline(in, line)) {
    if (line.empty()) continue;
    out.push_back(json::parse(line).at("prompt").get<std::string>());
  }
  return out;
}

json sae_stage(const DemoOptions& o, const DemoFiles& files, const DemoBudget& budget, fs::path& sae_dir) {
  json j;
  sae_dir = files.sae;
  if (o.retrain_sae) {
    sae::TrainingRunOptions t;
    t.model_dir = files.base.string();
    t.device = o.device;
    t.data = files.corpus.string();
    t.harvest.context_size = budget.max_length;
    t.harvest.batch_sequences = 32;
    t.hooks = {kDemoHook};
    t.architecture = sae::Architecture::TopK;
    t.widths = {2048};
    t.ks = {16};
    t.trainer.total_tokens = budget.sae_retrain_tokens;
    t.trainer.lr = 5e-4;
    t.out = o.out / "sae";
    t.overwrite_output_dir = kOwnFolder;
    t.progress = o.progress;
    sae::run_sae_training(t);
    sae_dir = t.out / kDemoHook;
  }
  const auto device = lm::parse_device(o.device);
  const auto model = lm::load_model(files.base, {device, lm::parse_dtype("auto")});
  const auto tokenizer = lm::Tokenizer::from_directory(files.base);
  auto autoencoder = sae::load_sae(sae_dir);
  autoencoder->to(device);
  autoencoder->eval();
  sae::EvalOptions e;
  e.tokens = budget.sae_eval_tokens;
  const auto r =
      sae::evaluate_sae(model, *tokenizer, *autoencoder, lm::HookName::parse(kDemoHook), files.corpus_heldout, e);
  core::write_text_file_atomically(o.out / "sae_eval.json", sae::eval_result_json(r).dump(2) + "\n");
  j = {{"path", sae_dir.string()},
       {"retrained", o.retrain_sae},
       {"hook", kDemoHook},
       {"d_sae", autoencoder->config().d_sae},
       {"fvu", r.fvu},
       {"l0", r.l0},
       {"ce_loss_recovered", r.ce_loss_recovered},
       {"eval_tokens", r.tokens}};
  return j;
}

void train_stage(const DemoOptions& o, const DemoFiles& files, const fs::path& train_pairs, const DemoBudget& budget,
                 const fs::path& sae_dir, const DemoMethodSettings& m) {
  fpo::PreferenceRunOptions r;
  r.model_dir = files.base.string();
  r.data = train_pairs.string();
  r.device = o.device;
  r.tokenization.max_length = budget.max_length;
  r.tokenization.max_prompt_length = budget.max_length / 2;
  auto& t = r.trainer;
  t.method = m.method;
  t.loss = m.loss;
  t.learning_rate = budget.learning_rate;
  t.lr_scheduler_type = core::LrScheduler::Constant;
  t.max_steps = budget.steps;
  t.per_device_train_batch_size = budget.batch_size;
  t.logging_steps = std::max<int64_t>(1, budget.steps / 8);
  t.save_steps = 0;
  t.seed = budget.seed;
  if (m.method == fpo::Method::Fpo) r.sae = sae_dir.string();
  r.out = o.out / m.name;
  r.overwrite_output_dir = kOwnFolder;
  r.progress = o.progress;
  if (!fpo::run_preference_training(r)) throw std::logic_error("demo: a training run stopped early");
}

// Held-out measurements of one model against the base as the reference: its own reward (m; none
// for the base), DPO's at β 0.1, FPO's feature distance D and (base only) the mean per-token
// log-prob preference. An evaluation a model's own already covers is not run twice.
json eval_stage(const DemoOptions& o, const DemoFiles& files, const DemoBudget& budget, const fs::path& sae_dir,
                const fs::path& model, const DemoMethodSettings* m) {
  const auto evaluate = [&](fpo::Method method, const fpo::PreferenceLossOptions& loss) {
    fpo::PreferenceEvalOptions e;
    e.model_dir = model.string();
    e.data = files.prefs_heldout.string();
    e.device = o.device;
    e.method = method;
    e.loss = loss;
    e.tokenization.max_length = budget.max_length;
    e.tokenization.max_prompt_length = budget.max_length / 2;
    if (fpo::method_traits(method).needs_reference) e.ref_model_dir = files.base.string();
    if (method == fpo::Method::Fpo) e.sae = sae_dir.string();
    return fpo::evaluate_preference_data(e).metrics;
  };
  json j;
  std::map<std::string, double> own;
  if (m) {
    own = evaluate(m->method, m->loss);
    j["reward_definition"] = fpo::reward_definition(m->method);
    j["reward_accuracy"] = own.at("rewards/accuracies");
    j["reward_margin"] = own.at("rewards/margins");
  }
  const bool own_is_dpo = m && m->method == fpo::Method::Dpo && m->loss.dpo.beta == 0.1;
  fpo::PreferenceLossOptions dpo;
  dpo.dpo.beta = 0.1;
  const auto d = own_is_dpo ? own : evaluate(fpo::Method::Dpo, dpo);
  j["dpo_beta_0.1"] = {{"reward_accuracy", d.at("rewards/accuracies")}, {"reward_margin", d.at("rewards/margins")}};
  // FPO's D on the held-out pairs: the squared feature shift over topk(policy) ∪ topk(reference),
  // averaged over chosen and rejected (it does not depend on β or α).
  const bool own_is_fpo = m && m->method == fpo::Method::Fpo && m->loss.fpo.top_k == 50;
  fpo::PreferenceLossOptions f;
  f.fpo.top_k = 50;
  const auto fm = own_is_fpo ? own : evaluate(fpo::Method::Fpo, f);
  j["feature_mse"] = (fm.at("fpo/feature_mse/chosen") + fm.at("fpo/feature_mse/rejected")) / 2;
  if (!m) {
    // The base's preference before alignment: how often the chosen completion has the higher mean
    // per-token log-prob (a reference-free, length-normalised reward's accuracy).
    const auto s = evaluate(fpo::Method::Simpo, fpo::PreferenceLossOptions{});
    j["mean_logp_chosen"] = s.at("logps/chosen");
    j["mean_logp_rejected"] = s.at("logps/rejected");
    j["mean_logp_preference"] = s.at("rewards/accuracies");
  }
  return j;
}

json sample_stage(const DemoOptions& o, const fs::path& model_dir, const std::string& label,
                  const std::vector<std::string>& prompts, const PolitenessLexicon& lexicon, const DemoBudget& budget,
                  std::vector<json>& rows) {
  const auto device = lm::parse_device(o.device);
  auto model = lm::load_model(model_dir, {device, lm::parse_dtype("auto")});
  model->eval();
  const auto tokenizer = lm::Tokenizer::from_directory(model_dir);
  int64_t polite = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    lm::GenerationOptions g;
    g.max_new_tokens = budget.sample_tokens;
    g.temperature = 1.0;  // the model's own distribution: what alignment changed, not its mode
    g.seed = 1000 + i;
    // The base model learnt documents separated by BOS (packed like SAE training data), so a
    // completion ends at BOS as well as at EOS.
    g.stop_ids = tokenizer->eos_ids();
    if (tokenizer->bos_id()) g.stop_ids.push_back(*tokenizer->bos_id());
    const auto r = lm::generate(*model, tokenizer->encode(prompts[i], true), g);
    const auto text = tokenizer->decode(r.new_tokens, /*skip_special_tokens=*/true);
    const bool is_polite = lexicon.is_polite(text);
    polite += is_polite;
    rows.push_back({{"model", label}, {"prompt", prompts[i]}, {"completion", text}, {"polite", is_polite}});
  }
  return {{"polite_fraction", prompts.empty() ? 0.0 : static_cast<double>(polite) / prompts.size()},
          {"samples", prompts.size()}};
}

std::string vocab_string(const DriftResult& d, int64_t id) {
  const auto it = std::find(d.vocab_ids.begin(), d.vocab_ids.end(), id);
  if (it == d.vocab_ids.end() || *it != id) return "#" + std::to_string(id);
  return d.vocab_strings[static_cast<size_t>(it - d.vocab_ids.begin())];
}

// The five most shifted features of one aligned model (ranking abs_delta_write: the change of the
// feature's write to the residual stream), with the tokens its decoder direction promotes under
// the aligned model and the tokens it fires on most there.
json top_features(const DriftResult& d, const AlignedDrift& a, const PolitenessLexicon& lexicon) {
  json out = json::array();
  const auto ranking =
      std::find_if(a.rankings.begin(), a.rankings.end(), [](const Ranking& r) { return r.name == "abs_delta_write"; });
  if (ranking == a.rankings.end()) return out;
  const auto& ex = a.examples;
  for (size_t i = 0; i < std::min<size_t>(5, ranking->features.size()); ++i) {
    const int32_t f = ranking->features[i];
    json feature = {{"feature", f}, {"delta_write", ranking->values[i]}};
    json lens = json::array(), contexts = json::array();
    bool contrast = false;
    const auto row = std::find(ex.features.begin(), ex.features.end(), f);
    if (row != ex.features.end()) {
      const auto r = static_cast<size_t>(row - ex.features.begin());
      const auto k = static_cast<size_t>(a.lens_aligned.k);
      for (size_t j = 0; j < std::min<size_t>(5, k); ++j) {
        const auto token = vocab_string(d, a.lens_aligned.promoted_ids[r * k + j]);
        contrast = contrast || lexicon.is_contrast_word(token);
        lens.push_back(token);
      }
      const auto n_ex = static_cast<size_t>(ex.n_examples), w = static_cast<size_t>(ex.window);
      for (size_t e = 0; e < n_ex && contexts.size() < 5; ++e) {
        const size_t at = r * n_ex + e;
        if (ex.group[at] != 0 || ex.sequence[at] < 0) continue;  // the top contexts under the aligned model
        const int32_t id = ex.token_ids[at * w + w / 2];
        if (id < 0) continue;
        const auto token = vocab_string(d, id);
        contrast = contrast || lexicon.is_contrast_word(token);
        contexts.push_back(token);
      }
    }
    feature["logit_lens"] = lens;
    feature["top_tokens"] = contexts;
    feature["contrast_word"] = contrast;
    out.push_back(feature);
  }
  return out;
}

double mean_kl(const AlignedDrift& a) {
  for (const auto& k : a.kl)
    if (k.split == "all") return k.kl.mean();
  return std::nan("");
}

}  // namespace

fs::path default_demo_dir() {
  if (const char* env = std::getenv("FPOKIT_DEMO_DIR"); env && *env) return env;
  return fs::path(FPOKIT_SOURCE_DIR) / "examples" / "demo";
}

json run_demo(const DemoOptions& options) {
  DemoOptions o = options;
  if (o.demo_dir.empty()) o.demo_dir = default_demo_dir();
  const DemoFiles files(o.demo_dir);
  const auto lexicon = PolitenessLexicon::load(files.lexicon);
  lm::parse_device(o.device);  // InputError for an unknown device, before any work
  if (fs::exists(o.out / "summary.json") && !o.force)
    throw InputError(o.out.string() +
                     ": holds a finished demo (summary.json); give --force to run it again there, or "
                     "another --out");
  // A file or an unwritable folder: one line, before any work. The contents of an unfinished
  // demo's folder are no reason to refuse (kOwnFolder).
  core::check_output_location(o.out, core::OutputKind::Directory, {.resume = false, .overwrite = true}, "--out");
  fs::create_directories(o.out);
  const auto budget = demo_budget(o.quick);
  const auto methods = demo_method_settings();
  json summary = {{"demo_dir", fs::absolute(o.demo_dir).string()},
                  {"out", fs::absolute(o.out).string()},
                  {"device", o.device},
                  {"quick", o.quick},
                  {"budget",
                   {{"steps", budget.steps},
                    {"batch_size", budget.batch_size},
                    {"learning_rate", budget.learning_rate},
                    {"max_length", budget.max_length},
                    {"drift_tokens", budget.drift_tokens},
                    {"sample_prompts", budget.sample_prompts},
                    {"seed", budget.seed}}}};
  json stages = json::object();
  Stopwatch clock, total;

  // 1. The SAE.
  fs::path sae_dir;
  core::log::info("demo 1/5: the SAE at " + std::string(kDemoHook) + (o.retrain_sae ? " (retraining)" : ""));
  summary["sae"] = sae_stage(o, files, budget, sae_dir);
  stages["sae"] = clock.lap();

  // 2. Training, the same budget for every method. Only the pairs the steps use are read, so that
  // the offline reference pass of --quick covers those and no more.
  const fs::path train_pairs = o.out / "prefs_train_used.jsonl";
  {
    std::ifstream in(files.prefs_train);
    std::string text, line;
    for (int64_t n = 0; n < budget.steps * budget.batch_size && std::getline(in, line); ++n) text += line + "\n";
    core::write_text_file_atomically(train_pairs, text);
  }
  json runs = json::array();
  for (const auto& m : methods) {
    core::log::info("demo 2/5: training " + m.name + " (" + m.strength + ", learning rate " +
                    (std::ostringstream() << budget.learning_rate).str() + ", " + std::to_string(budget.steps) +
                    " steps)");
    Stopwatch run_clock;
    train_stage(o, files, train_pairs, budget, sae_dir, m);
    runs.push_back({{"name", m.name},
                    {"method", std::string(fpo::method_name(m.method))},
                    {"settings", m.strength},
                    {"learning_rate", budget.learning_rate},
                    {"train_seconds", run_clock.lap()},
                    {"model", fs::absolute(o.out / m.name / "model").string()}});
  }
  stages["train"] = clock.lap();

  // 3. Held-out evaluation against the base.
  core::log::info("demo 3/5: held-out evaluation of the base and the " + std::to_string(methods.size()) + " runs");
  summary["base"] = eval_stage(o, files, budget, sae_dir, files.base, nullptr);
  for (size_t i = 0; i < methods.size(); ++i)
    runs[i]["heldout"] = eval_stage(o, files, budget, sae_dir, o.out / methods[i].name / "model", &methods[i]);
  stages["eval"] = clock.lap();

  // 4. The drift report.
  core::log::info("demo 4/5: the drift report of the aligned models against the base");
  DriftOptions d;
  d.base = files.base;
  for (const auto& m : methods) {
    d.aligned.push_back(o.out / m.name);
    d.labels.push_back(m.name);
  }
  d.sae = sae_dir;
  d.data = files.corpus_heldout;
  d.out = o.out / "drift.h5";
  d.tokens = budget.drift_tokens;
  d.context_size = budget.max_length;
  d.bootstrap = budget.drift_bootstrap;
  d.top = 20;
  d.device = o.device;
  d.force = true;  // the demo's own report, replaced with the demo (o.force checked above)
  const auto drift = run_drift(d);
  write_drift_report(drift, d.out, true);
  write_drift_report_html(d.out, o.out / "drift.html", true, {});
  for (size_t i = 0; i < methods.size(); ++i) {
    runs[i]["kl_to_base"] = mean_kl(drift.aligned[i]);
    runs[i]["top_features"] = top_features(drift, drift.aligned[i], lexicon);
  }
  summary["drift"] = {{"report", fs::absolute(d.out).string()},
                      {"html", fs::absolute(o.out / "drift.html").string()},
                      {"tokens", drift.analysed_tokens},
                      {"ranking", "abs_delta_write"}};
  stages["drift"] = clock.lap();

  // 5. Samples from the base and every aligned model, on the same held-out prompts and seeds.
  core::log::info("demo 5/5: sampling " + std::to_string(budget.sample_prompts) + " held-out prompts per model");
  const auto prompts = heldout_prompts(files.prefs_heldout, budget.sample_prompts);
  std::vector<json> rows;
  summary["base"]["samples"] = sample_stage(o, files.base, "base", prompts, lexicon, budget, rows);
  for (size_t i = 0; i < methods.size(); ++i)
    runs[i]["samples"] =
        sample_stage(o, o.out / methods[i].name / "model", methods[i].name, prompts, lexicon, budget, rows);
  std::string samples;
  json first = json::object();  // the first prompt's completion from every model, for the table
  for (const auto& r : rows) {
    samples += r.dump() + "\n";
    if (!prompts.empty() && r.at("prompt") == prompts[0] && !first.contains(r.at("model").get<std::string>()))
      first[r.at("model").get<std::string>()] = r.at("completion");
  }
  if (!prompts.empty()) summary["sample_example"] = {{"prompt", prompts[0]}, {"completions", first}};
  core::write_text_file_atomically(o.out / "samples.jsonl", samples);
  stages["samples"] = clock.lap();

  stages["total"] = total.lap();
  summary["methods"] = runs;
  summary["stage_seconds"] = stages;
  summary["outputs"] = {{"summary", fs::absolute(o.out / "summary.json").string()},
                        {"table", fs::absolute(o.out / "summary.txt").string()},
                        {"samples", fs::absolute(o.out / "samples.jsonl").string()},
                        {"sae_eval", fs::absolute(o.out / "sae_eval.json").string()}};
  core::write_text_file_atomically(o.out / "summary.txt", demo_summary_table(summary));
  core::write_text_file_atomically(o.out / "summary.json", summary.dump(2) + "\n");
  return summary;
}

}  // namespace fpokit::analysis
