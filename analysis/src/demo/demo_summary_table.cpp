// The table `fpokit demo` prints (and writes as summary.txt) from its summary JSON.
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>

#include "fpokit/analysis/demo/demo_run.h"

namespace fpokit::analysis {

namespace {

using nlohmann::json;

std::string fixed(const json& v, int digits) {
  if (!v.is_number()) return "-";
  const double x = v.get<double>();
  if (!std::isfinite(x)) return "nan";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", digits, x);
  return buf;
}

std::string sci(const json& v) {
  if (!v.is_number()) return "-";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.2e", v.get<double>());
  return buf;
}

std::string pad(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

// A token as the table shows it: quoted, with line breaks and tabs written as \n and \t so that a
// row stays one line.
std::string shown_token(const std::string& token) {
  std::string out = "'";
  for (const char c : token) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else out += c;
  }
  return out + "'";
}

std::string list(const json& tokens) {
  std::string out;
  for (const auto& t : tokens) {
    if (!out.empty()) out += " ";
    out += shown_token(t.get<std::string>());
  }
  return out.empty() ? "-" : out;
}

}  // namespace

std::string demo_summary_table(const json& s) {
  std::ostringstream out;
  const auto& sae = s.at("sae");
  const auto& budget = s.at("budget");
  out << "fpokit demo" << (s.value("quick", false) ? " --quick" : "") << " on " << s.at("demo_dir").get<std::string>()
      << " (" << s.at("device").get<std::string>() << ")\n";
  out << "SAE " << sae.at("hook").get<std::string>() << " (" << sae.at("d_sae").get<int64_t>() << " latents"
      << (sae.value("retrained", false) ? ", retrained" : "") << "): FVU " << fixed(sae.at("fvu"), 4) << ", L0 "
      << fixed(sae.at("l0"), 1) << ", CE loss recovered " << fixed(sae.at("ce_loss_recovered"), 3) << "\n";
  out << "every method: " << budget.at("steps").get<int64_t>() << " steps of " << budget.at("batch_size").get<int64_t>()
      << " pairs at learning rate " << budget.at("learning_rate").get<double>()
      << ", reference = the base model; held-out pairs and prompts never trained on\n\n";

  out << pad("model", 7) << pad("settings", 28) << pad("acc", 6) << pad("margin", 9) << pad("acc@dpo", 8)
      << pad("margin@dpo", 11) << pad("KL/token", 10) << pad("feat. MSE", 11) << pad("polite", 8) << "train s\n";
  const auto& base = s.at("base");
  out << pad("base", 7) << pad("-", 28) << pad("-", 6) << pad("-", 9) << pad("-", 8) << pad("-", 11) << pad("0", 10)
      << pad(sci(base.at("feature_mse")), 11) << pad(fixed(base.at("samples").at("polite_fraction"), 2), 8) << "-\n";
  for (const auto& m : s.at("methods")) {
    const auto& h = m.at("heldout");
    out << pad(m.at("name").get<std::string>(), 7) << pad(m.at("settings").get<std::string>(), 28)
        << pad(fixed(h.at("reward_accuracy"), 2), 6) << pad(fixed(h.at("reward_margin"), 3), 9)
        << pad(fixed(h.at("dpo_beta_0.1").at("reward_accuracy"), 2), 8)
        << pad(fixed(h.at("dpo_beta_0.1").at("reward_margin"), 3), 11) << pad(sci(m.at("kl_to_base")), 10)
        << pad(sci(h.at("feature_mse")), 11) << pad(fixed(m.at("samples").at("polite_fraction"), 2), 8)
        << fixed(m.at("train_seconds"), 1) << "\n";
  }
  out << "\nacc, margin: held-out reward accuracy and margin under the method's own reward; @dpo: DPO's reward at\n"
         "beta 0.1 for every model; KL/token: mean KL(model || base) of the next-token distributions on held-out "
         "text;\n"
         "feat. MSE: FPO's feature distance to the base on held-out pairs (top-50); polite: fraction of samples the\n"
         "lexicon classifier calls polite. Base log-prob preference for the chosen side (per-token mean): "
      << fixed(base.at("mean_logp_preference"), 2) << "\n";

  out << "\nTop shifted features (ranking " << s.at("drift").at("ranking").get<std::string>()
      << "), with the tokens each promotes (logit lens) and fires on most:\n";
  for (const auto& m : s.at("methods")) {
    out << "  " << m.at("name").get<std::string>() << ":\n";
    for (const auto& f : m.at("top_features")) {
      out << "    #" << pad(std::to_string(f.at("feature").get<int64_t>()), 6) << " delta_write "
          << pad(fixed(f.at("delta_write"), 3), 8) << " lens " << pad(list(f.at("logit_lens")), 48) << " fires on "
          << list(f.at("top_tokens")) << (f.value("contrast_word", false) ? "  *" : "") << "\n";
    }
  }
  out << "  (* a word of the polite/rude lexicon)\n";

  if (s.contains("sample_example")) {
    const auto& e = s.at("sample_example");
    out << "\nSamples for the first held-out prompt (temperature 1):\n  " << e.at("prompt").get<std::string>() << "\n";
    for (const auto& [model, text] : e.at("completions").items())
      out << "    " << pad(model, 7) << text.get<std::string>() << "\n";
  }
  const auto& stages = s.at("stage_seconds");
  out << "\nwall time: ";
  bool first = true;
  for (const char* k : {"sae", "train", "eval", "drift", "samples", "total"}) {
    if (!stages.contains(k)) continue;
    out << (first ? "" : ", ") << k << " " << fixed(stages.at(k), 1) << " s";
    first = false;
  }
  out << "\noutputs: " << s.at("out").get<std::string>() << "/ (summary.json, summary.txt, samples.jsonl, "
      << "sae_eval.json, drift.h5, drift.html, and each method's run folder)\n";
  out << "drift report: " << s.at("drift").at("report").get<std::string>() << "\n"
      << "HTML view:    " << s.at("drift").at("html").get<std::string>() << "\n";
  return out.str();
}

}  // namespace fpokit::analysis
