#include "fpokit/analysis/demo/demo_settings.h"

namespace fpokit::analysis {

std::vector<DemoMethodSettings> demo_method_settings() {
  // docs/demo.md, 'How the settings were chosen': the learning rate of each method from
  // {3e-5, 1e-4, 3e-4} at its usual strength, the one that reaches held-out accuracy with the
  // smallest KL to the base; FPO's α from {0.5, 2, 8} at that learning rate.
  std::vector<DemoMethodSettings> out;
  {
    DemoMethodSettings s{"dpo", fpo::Method::Dpo, 1e-4, {}, ""};
    s.loss.dpo.beta = 0.1;
    s.strength = "beta 0.1";
    out.push_back(s);
  }
  {
    DemoMethodSettings s{"simpo", fpo::Method::Simpo, 1e-4, {}, ""};
    s.loss.simpo.beta = 2.0;
    s.loss.simpo.gamma_beta_ratio = 0.5;
    s.strength = "beta 2, gamma/beta 0.5";
    out.push_back(s);
  }
  {
    DemoMethodSettings s{"tdpo2", fpo::Method::Tdpo2, 1e-4, {}, ""};
    s.loss.tdpo.beta = 0.1;
    s.loss.tdpo.alpha = 0.5;
    s.strength = "beta 0.1, alpha 0.5";
    out.push_back(s);
  }
  {
    DemoMethodSettings s{"fpo", fpo::Method::Fpo, 1e-4, {}, ""};
    s.loss.fpo.beta = 0.1;
    s.loss.fpo.alpha = 2.0;
    s.loss.fpo.top_k = 50;
    s.strength = "beta 0.1, alpha 2, top-k 50";
    out.push_back(s);
  }
  return out;
}

DemoBudget demo_budget(bool quick) {
  DemoBudget b;
  b.batch_size = 16;
  b.steps = quick ? 24 : 64;              // 64 × 16 = one epoch of the 1024 training pairs
  b.drift_tokens = quick ? 8192 : 23040;  // 23040: all of corpus_heldout.jsonl in rows of 128
  b.drift_bootstrap = quick ? 0 : 100;
  b.sae_eval_tokens = quick ? 8192 : 23040;
  b.sae_retrain_tokens = quick ? 500'000 : 2'000'000;
  b.sample_prompts = quick ? 12 : 32;
  return b;
}

}  // namespace fpokit::analysis
