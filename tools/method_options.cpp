#include "method_options.h"

#include <algorithm>
#include <cstdlib>
#include <utility>
#include <vector>

#include "cli_vocabulary.h"
#include "fpokit/core/errors.h"
#include "hub_names.h"

namespace fpokit::cli {

void MethodOptions::add_method_option(CLI::App& cmd, const std::string& group) {
  std::string methods;
  for (const auto& m : fpo::all_methods()) methods += (methods.empty() ? "" : "|") + std::string(m.name);
  cmd.add_option("--method", method, methods)->capture_default_str()->group(group);
}

void MethodOptions::add_loss_options(CLI::App& cmd, fpo::PreferenceLossOptions& l) {
  cmd.add_option("--beta", l.dpo.beta, "β of dpo/ipo/hinge/robust")->capture_default_str()->group("Loss");
  cmd.add_option("--label-smoothing", l.dpo.label_smoothing, "cDPO / robust ε")->capture_default_str()->group("Loss");
  cmd.add_option("--simpo-beta", l.simpo.beta, "SimPO β")->capture_default_str()->group("Loss");
  cmd.add_option("--simpo-gamma-beta-ratio", l.simpo.gamma_beta_ratio, "SimPO γ/β")
      ->capture_default_str()
      ->group("Loss");
  cmd.add_option("--simpo-sft-weight", l.simpo.sft_weight, "SimPO SFT term weight")
      ->capture_default_str()
      ->group("Loss");
  cmd.add_option("--tdpo-beta", l.tdpo.beta, "TDPO β")->capture_default_str()->group("Loss");
  cmd.add_option("--tdpo-alpha", l.tdpo.alpha, "TDPO2 α")->capture_default_str()->group("Loss");
  cmd.add_option("--kto-beta", l.kto.beta, "KTO β")->capture_default_str()->group("Loss");
  cmd.add_option("--desirable-weight", l.kto.desirable_weight, "KTO λ_D")->capture_default_str()->group("Loss");
  cmd.add_option("--undesirable-weight", l.kto.undesirable_weight, "KTO λ_U")->capture_default_str()->group("Loss");
  cmd.add_option("--orpo-lambda", l.orpo.lambda, "ORPO λ")->capture_default_str()->group("Loss");
  cmd.add_option("--orpo-nll", orpo_nll, "ORPO's NLL tokens: sequence (prompt and completion, as TRL) | completion")
      ->capture_default_str()
      ->group("Loss");

  cmd.add_option("--fpo-beta", l.fpo.beta, "FPO β")->capture_default_str()->group("FPO");
  cmd.add_option("--alpha", l.fpo.alpha, "FPO α (feature constraint weight)")->capture_default_str()->group("FPO");
  cmd.add_option("--fpo-topk", l.fpo.top_k, "FPO top-k features")->capture_default_str()->group("FPO");
  cmd.add_option("--fpo-variant", fpo_variant,
                 "paper | released (the authors' code: online reference, pooling by the padded length, topk(policy))")
      ->capture_default_str()
      ->group("FPO");
  accept_hub_name(cmd.add_option("--sae", sae, "FPO: SAE (fpokit/SAELens/sparsify folder or Gemma Scope params.npz)"),
                  core::HubRepoType::Model)
      ->group("FPO");
  cmd.add_option("--fpo-hook", fpo_hook, "FPO: hook the SAE reads (default: the SAE's own)")->group("FPO");
}

fpo::Method MethodOptions::resolve(fpo::PreferenceLossOptions& loss) const {
  loss.fpo.variant = fpo::parse_fpo_variant(fpo_variant);
  loss.orpo.nll = fpo::parse_orpo_nll(orpo_nll);
  return fpo::parse_method(method);
}

bool option_chosen(const CLI::App& cmd, const std::string& name) {
  const auto* op = cmd.get_option_no_throw("--" + name);
  if (op == nullptr || op->count() == 0) return false;
  if (given_on_command_line(name)) return true;
  const auto given = op->results().empty() ? std::string() : op->results().back();
  const auto& fallback = op->get_default_str();
  char* end_given = nullptr;
  char* end_default = nullptr;
  const double g = std::strtod(given.c_str(), &end_given), d = std::strtod(fallback.c_str(), &end_default);
  const bool numeric = !given.empty() && !fallback.empty() && *end_given == 0 && *end_default == 0;
  return !(given == fallback || (numeric && g == d));  // a dumped default is not a choice
}

void refuse_options_of_other_methods(const CLI::App& cmd, fpo::Method method) {
  using fpo::Method;
  const std::vector<Method> dpo_family{Method::Dpo, Method::Ipo, Method::Hinge, Method::Robust};
  std::vector<Method> with_reference;
  for (const auto& m : fpo::all_methods())
    if (m.needs_reference) with_reference.push_back(m.method);
  const std::vector<std::pair<std::string, std::vector<Method>>> applies_to = {
      {"beta", dpo_family},
      {"label-smoothing", {Method::Dpo, Method::Robust}},
      {"simpo-beta", {Method::Simpo}},
      {"simpo-gamma-beta-ratio", {Method::Simpo}},
      {"simpo-sft-weight", {Method::Simpo}},
      {"tdpo-beta", {Method::Tdpo1, Method::Tdpo2}},
      {"tdpo-alpha", {Method::Tdpo2}},
      {"kto-beta", {Method::Kto}},
      {"desirable-weight", {Method::Kto}},
      {"undesirable-weight", {Method::Kto}},
      {"orpo-lambda", {Method::Orpo}},
      {"orpo-nll", {Method::Orpo}},
      {"fpo-beta", {Method::Fpo}},
      {"alpha", {Method::Fpo}},
      {"fpo-topk", {Method::Fpo}},
      {"fpo-variant", {Method::Fpo}},
      {"sae", {Method::Fpo}},
      {"fpo-hook", {Method::Fpo}},
      {"ref-model", with_reference},
      {"reference-cache", with_reference},
  };
  const std::string method_text(fpo::method_name(method));
  for (const auto& [name, methods] : applies_to) {
    if (std::find(methods.begin(), methods.end(), method) != methods.end()) continue;
    if (!option_chosen(cmd, name)) continue;
    std::string for_methods;
    for (const auto m : methods) for_methods += (for_methods.empty() ? "" : ", ") + std::string(fpo::method_name(m));
    std::string hint;
    bool strength = false;  // some method's β
    for (const auto& m : fpo::all_methods()) strength = strength || m.strength_option == "--" + name;
    const auto own = fpo::method_traits(method).strength_option;
    if (strength && !own.empty()) hint = "; --method " + method_text + " takes its β from " + std::string(own);
    throw InputError("--" + name + " does not apply to --method " + method_text + " (it is for " + for_methods + ")" +
                     hint + "; remove it");
  }
}

}  // namespace fpokit::cli
