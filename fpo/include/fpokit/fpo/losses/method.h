#pragma once
// The preference-optimisation methods and what each needs, decided here once: the trainer, the
// training run and the CLI read these traits instead of comparing method names.
#include <string_view>
#include <vector>

namespace fpokit::fpo {

enum class Method { Fpo, Dpo, Ipo, Hinge, Robust, Simpo, Tdpo1, Tdpo2, Kto, Orpo, Sft };

struct MethodTraits {
  Method method;
  std::string_view name;  // the --method spelling
  // Reads the reference model's log-probs (π_ref): the DPO family, TDPO, KTO and FPO. SimPO, ORPO
  // and SFT are reference-free.
  bool needs_reference;
  // The reference must run beside the policy at every step (TDPO's token-level KL needs the
  // reference's whole next-token distribution, which no cache holds); the others cache per-pair
  // values once (reference_cache.h).
  bool reference_online;
  // Constrains SAE features: needs --sae (FPO).
  bool needs_sae;
  // Reads unpaired prompt/completion/label rows (KTO) instead of chosen/rejected pairs.
  bool unpaired_labels;
  // The option holding the method's β (its one strength parameter; ORPO's λ), "" for SFT: what
  // `train` points to when another method's β is given.
  std::string_view strength_option;
};

// Every method, in the order --help lists them.
const std::vector<MethodTraits>& all_methods();
const MethodTraits& method_traits(Method m);

std::string_view method_name(Method m);  // "fpo", "dpo", ...
// "fpo|dpo|ipo|hinge|robust|simpo|tdpo1|tdpo2|kto|orpo|sft"; throws ConfigError listing them.
Method parse_method(std::string_view name);

}  // namespace fpokit::fpo
