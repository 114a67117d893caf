#include "fpokit/analysis/drift/drift_run.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <set>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "fpokit/analysis/drift/causal_check.h"
#include "fpokit/analysis/drift/drift_batches.h"
#include "fpokit/analysis/drift/drift_data.h"
#include "fpokit/analysis/drift/sae_directions.h"
#include "fpokit/analysis/drift/top_activations.h"
#include "fpokit/analysis/stats/feature_tags.h"
#include "fpokit/analysis/stats/paired_feature_accumulator.h"
#include "fpokit/core/errors.h"
#include "fpokit/core/io/hub_cache.h"
#include "fpokit/core/io/sha256.h"
#include "fpokit/core/log/log.h"
#include "fpokit/lm/model/hooks.h"
#include "fpokit/lm/model/log_probs.h"
#include "fpokit/lm/model/padded_batch.h"
#include "fpokit/lm/tokenizer/tokenizer.h"
#include "fpokit/sae/eval/sae_metrics.h"
#include "fpokit/sae/io/sae_io.h"

namespace fpokit::analysis {

namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// One model under analysis and what the pass accumulates for it.
struct ModelState {
  std::string label;
  lm::CausalLM model;
  sae::ReconstructionMetrics reconstruction;  // on the fidelity tokens
  double l0_sum = 0;                          // every analysed token
  int64_t l0_tokens = 0;
  torch::Tensor firing;           // int64 [d_sae]: tokens on which each feature fired
  double ce_sums[3] = {0, 0, 0};  // clean, spliced, zero-ablated
  int64_t ce_count = 0;
};

struct AlignedState {
  std::vector<stats::PairedFeatureAccumulator> accumulators;  // one per split
  std::vector<stats::ScalarSummary> kl;                       // one per split
  torch::Tensor resid_delta_sum;                              // float64 [d_model]
  int64_t resid_count = 0;
  std::unique_ptr<TopActivations> top;
};

// Forward to the logits, keeping the hook's activation.
std::pair<torch::Tensor, torch::Tensor> forward_with_activation(lm::CausalLMImpl& model, const lm::HookName& hook,
                                                                const DriftBatch& b) {
  torch::Tensor act;
  lm::Hooks hooks;
  hooks.on_read(hook, [&](const lm::HookName&, const torch::Tensor& a) { act = a; });
  auto logits = model.forward({b.ids, b.attention_mask}, &hooks);
  return {logits, act};
}

// Per-position CE of predicting ids[:, t+1] from logits[:, t], [B, L-1] float64.
torch::Tensor next_token_ce(const torch::Tensor& logits, const torch::Tensor& ids) {
  return lm::next_token_cross_entropy(logits, ids).to(torch::kFloat64);
}

// The content hash recorded as provenance. Everything hashed here was read successfully before, so
// a failure (a file in the folder fpokit does not load, unreadable) does not stop the report; it
// is said, and the hash is left empty in the report.
std::string hash_or_empty(const fs::path& p, const std::string& what) {
  try {
    return core::sha256_tree(p);
  } catch (const InputError& e) {
    core::log::warning("drift: cannot hash the " + what + " for the report's provenance (" + e.what() +
                       "); its sha256 attribute is left empty");
    return "";
  }
}

void check_same_vocabulary(const lm::Tokenizer& base, const lm::Tokenizer& other, const std::string& where) {
  if (base.vocab_size() != other.vocab_size())
    throw InputError(where + ": its tokenizer has " + std::to_string(other.vocab_size()) +
                     " tokens but the base's has " + std::to_string(base.vocab_size()) +
                     "; drift needs models that share one tokenizer");
  for (int64_t id = 0; id < base.vocab_size(); ++id)
    if (base.id_to_token(id) != other.id_to_token(id))
      throw InputError(where + ": its tokenizer differs from the base's at id " + std::to_string(id) + " ('" +
                       other.id_to_token(id) + "' vs '" + base.id_to_token(id) +
                       "'); drift needs models that share one tokenizer");
}

std::string default_label(const fs::path& p) {
  // A model from the hub cache: its repository's name, not the snapshot's commit hash.
  if (const auto hub = core::hub_name_of_path(p); hub && hub->path_in_repo.empty())
    return hub->repo_id.substr(hub->repo_id.find('/') + 1);
  auto name = p.filename().string();
  if (name.empty()) name = p.parent_path().filename().string();
  if (name == "model" || name == "adapter") name = p.parent_path().filename().string();
  // An interrupted run's checkpoint: the run's name and the step.
  if (name.rfind("checkpoint-", 0) == 0) name = p.parent_path().filename().string() + "-" + name.substr(11);
  return name.empty() ? "aligned" : name;
}

}  // namespace

DriftResult run_drift(const DriftOptions& o, const std::function<void(int64_t, int64_t)>& progress) {
  const auto start_time = std::chrono::steady_clock::now();
  DriftResult r;
  r.options = o;
  if (o.aligned.empty()) throw InputError("give at least one --aligned model");
  if (o.batch_size < 1) throw InputError("--batch-size must be positive, got " + std::to_string(o.batch_size));
  if (o.top < 1) throw InputError("--top must be positive, got " + std::to_string(o.top));
  if (o.examples < 0 || o.example_window < 0) throw InputError("--examples and --example-window must not be negative");
  if (o.bootstrap < 0) throw InputError("--bootstrap must not be negative, got " + std::to_string(o.bootstrap));
  if (!(o.alpha > 0 && o.alpha < 1)) throw InputError("--alpha must be in (0, 1), got " + std::to_string(o.alpha));
  if (!(o.min_rel_delta >= 0 && o.min_rel_delta < 1))
    throw InputError("--min-rel-delta must be in [0, 1), got " + std::to_string(o.min_rel_delta));
  if (!(o.outlier_factor > 1))
    throw InputError("--outlier-factor must be above 1, got " + std::to_string(o.outlier_factor));
  if (o.causal < 0) throw InputError("--causal must not be negative, got " + std::to_string(o.causal));
  if (o.causal > 0 && o.causal_pairs < 1)
    throw InputError("--causal-pairs must be positive, got " + std::to_string(o.causal_pairs));
  if (o.causal > 0) {
    const auto& causal_data = o.causal_data.empty() ? o.data : o.causal_data;
    std::error_code ec;
    if (!fs::exists(causal_data, ec)) throw InputError(causal_data.string() + ": no such file (--causal-data)");
    if ((o.causal_data.empty() ? (o.data_kind == "auto" ? detect_data_kind(o.data) : o.data_kind)
                               : detect_data_kind(o.causal_data)) != "preference")
      throw InputError("--causal measures the reward margin on preference pairs: " + causal_data.string() +
                       " is not prompt/chosen/rejected data; give --causal-data FILE");
  }
  if (!o.labels.empty() && o.labels.size() != o.aligned.size())
    throw InputError("--label is given " + std::to_string(o.labels.size()) + " times for " +
                     std::to_string(o.aligned.size()) + " --aligned models; give one per model or none");
  {
    std::error_code ec;
    if (!fs::is_directory(o.base, ec)) throw InputError(o.base.string() + ": no such model directory (--base)");
    for (const auto& a : o.aligned) classify_model_source(a);  // a missing or unknown folder fails here, before loading
  }

  // SAE and hook.
  auto sae_module = sae::load_sae(o.sae);
  const auto& sc = sae_module->config();
  const std::string hook_text = o.hook.empty() ? sc.hook_name : o.hook;
  if (hook_text.empty())
    throw InputError(o.sae.string() +
                     " does not say which hook it was trained on: give --hook, e.g. blocks.6.hook_resid_post");
  const auto hook = lm::HookName::parse(hook_text);
  r.hook = hook.str();
  switch (sae::detect_format(o.sae)) {
    case sae::SaeFormat::SAELens: r.sae_format = "saelens"; break;
    case sae::SaeFormat::Sparsify: r.sae_format = "sparsify"; break;
    case sae::SaeFormat::GemmaScope: r.sae_format = "gemma_scope"; break;
  }
  r.sae_architecture = std::string(sae::architecture_name(sc.architecture));
  r.sae_normalization = std::string(sae::normalization_name(sc.normalization));
  r.sae_activation_scale = sc.activation_scale;
  r.d_in = sc.d_in;
  r.d_sae = sc.d_sae;

  // Models: the base, then each aligned one; same tokenizer and vocabulary.
  lm::LoadOptions load{lm::parse_device(o.device), lm::parse_dtype(o.dtype)};
  const auto tokenizer = lm::Tokenizer::from_directory(o.base);
  std::vector<ModelState> models;
  {
    ModelState base;
    base.label = "base";
    base.model = lm::load_model(o.base, load);
    lm::check_context_fits(base.model->config(), o.context_size, "--context-size");
    for (auto& p : base.model->parameters()) p.set_requires_grad(false);
    base.model->eval();
    models.push_back(std::move(base));
  }
  const auto& base_config = models[0].model->config();
  {
    lm::Hooks check;
    check.capture(hook);
    check.validate(base_config, models[0].model->has_resid_mid());
  }
  if (sc.d_in != base_config.hidden_size)
    throw InputError(o.sae.string() + ": the SAE has d_in " + std::to_string(sc.d_in) + " but " + r.hook + " of " +
                     o.base.string() + " is " + std::to_string(base_config.hidden_size) +
                     " wide: was it trained on another model?");
  std::set<std::string> used_labels{"base"};
  for (size_t i = 0; i < o.aligned.size(); ++i) {
    auto loaded = load_model_source(o.aligned[i], o.base, load);
    const auto& c = loaded.model->config();
    const std::string where = "--aligned " + o.aligned[i].string();
    if (c.vocab_size != base_config.vocab_size || c.hidden_size != base_config.hidden_size ||
        c.num_layers != base_config.num_layers)
      throw InputError(where + ": vocabulary " + std::to_string(c.vocab_size) + ", width " +
                       std::to_string(c.hidden_size) + ", layers " + std::to_string(c.num_layers) +
                       " but the base has " + std::to_string(base_config.vocab_size) + ", " +
                       std::to_string(base_config.hidden_size) + ", " + std::to_string(base_config.num_layers) +
                       ": drift compares fine-tunes of the same model");
    if (fs::exists(loaded.source.weights / "tokenizer.json") || fs::exists(loaded.source.weights / "tokenizer.model"))
      check_same_vocabulary(*tokenizer, *lm::Tokenizer::from_directory(loaded.source.weights), where);
    std::string label = o.labels.empty() ? default_label(o.aligned[i]) : o.labels[i];
    for (int n = 2; used_labels.count(label) != 0; ++n)
      label = (o.labels.empty() ? default_label(o.aligned[i]) : o.labels[i]) + "_" + std::to_string(n);
    used_labels.insert(label);
    AlignedDrift a;
    a.label = label;
    a.source = loaded.source;
    if (!a.source.timeline.empty()) {
      a.timeline = read_drift_timeline(a.source.timeline);
      if (a.source.checkpoint_step) {  // the snapshots the analysed checkpoint had seen
        auto& snaps = a.timeline->snapshots;
        snaps.erase(std::remove_if(snaps.begin(), snaps.end(),
                                   [&](const DriftSnapshot& x) { return x.step > *a.source.checkpoint_step; }),
                    snaps.end());
      }
      core::log::info("drift: " + label + ": the training run's timeline, " +
                      std::to_string(a.timeline->snapshots.size()) + " snapshots (" + a.source.timeline.string() + ")");
    }
    r.aligned.push_back(std::move(a));
    ModelState m;
    m.label = label;
    m.model = loaded.model;
    models.push_back(std::move(m));
  }
  const auto device = models[0].model->parameters().front().device();
  sae_module->to(device);
  sae_module->eval();
  for (auto& p : sae_module->parameters()) p.set_requires_grad(false);

  // Decoder rows in raw activation space (an unfolded input scale s divides the output by s).
  const torch::Tensor directions = raw_decoder_directions(*sae_module);
  r.decoder_norms = raw_decoder_norms(*sae_module);

  // FPO selection records must describe this SAE's width.
  for (auto& a : r.aligned) {
    if (!a.source.fpo_selection) continue;
    const auto& sel = *a.source.fpo_selection;
    if (static_cast<int64_t>(sel.counts.size()) != sc.d_sae)
      throw InputError(sel.file.string() + ": counts has " + std::to_string(sel.counts.size()) +
                       " features but the SAE has " + std::to_string(sc.d_sae) + ": the run used another SAE");
    if (!sel.hook.empty() && sel.hook != r.hook)
      core::log::warning("drift: " + a.label + " constrained features at " + sel.hook + ", the report is at " + r.hook);
    a.in_topk_rate = Eigen::VectorXd::Zero(sc.d_sae);
    a.constrained.assign(static_cast<size_t>(sc.d_sae), 0);
    for (int64_t f = 0; f < sc.d_sae; ++f) {
      a.in_topk_rate[f] =
          sel.selections > 0 ? static_cast<double>(sel.counts[f]) / static_cast<double>(sel.selections) : kNaN;
      a.constrained[static_cast<size_t>(f)] = sel.counts[f] > 0 ? 1 : 0;
    }
  }

  // Data.
  DriftDataOptions data_options;
  data_options.kind = o.data_kind;
  data_options.text_field = o.text_field;
  data_options.split = o.split;
  data_options.fields = o.fields;
  data_options.chat_template = o.chat_template;
  data_options.tokens = o.tokens;
  data_options.context_size = o.context_size;
  data_options.max_length = o.max_length;
  const auto data = read_drift_data(o.data, *tokenizer, o.base, data_options);
  r.data_kind = data.kind;
  r.data_summary = data.summary;
  r.sequences = static_cast<int64_t>(data.sequences.size());
  r.units = data.units;
  const int64_t stride = drift_code_stride(data);
  core::log::info("drift: " + data.summary + ", " + std::to_string(data.tokens) + " tokens; " +
                  std::to_string(models.size()) + " models; SAE " + r.sae_architecture + " d_sae " +
                  std::to_string(sc.d_sae) + " at " + r.hook);

  const auto splits = drift_splits(data.kind);
  const int64_t F = sc.d_sae;
  stats::BootstrapOptions boot;
  boot.replicates = static_cast<int>(o.bootstrap);
  boot.seed = o.seed;
  std::vector<AlignedState> states(r.aligned.size());
  for (auto& st : states) {
    for (size_t s = 0; s < splits.size(); ++s) {
      st.accumulators.emplace_back(F, stats::LogHistogramSpec{}, boot);
      st.kl.emplace_back();
    }
    st.resid_delta_sum = torch::zeros({sc.d_in}, torch::kFloat64);
    st.top = std::make_unique<TopActivations>(F, o.examples);
  }
  TopActivations base_top(F, o.examples);

  torch::NoGradGuard no_grad;
  const auto batches = plan_drift_batches(data, o.batch_size);
  int64_t done = 0, fidelity_done = 0;
  bool threshold_set = false;
  PositionCounts position_counts;
  for (const auto& rows : batches) {
    const DriftBatch b = make_drift_batch(data, rows, stride, device);
    const int64_t N = b.positions();
    // Analysed positions before outlier removal.
    auto analysed = analysed_positions(b, position_counts);

    // Base pass.
    auto [base_logits, base_act] = forward_with_activation(*models[0].model, hook, b);
    const auto x_base = base_act.to(torch::kFloat32).reshape({N, sc.d_in});
    // Outliers: base residual norm above outlier_factor × the median of the first batch.
    const auto norms = x_base.norm(2, 1).cpu().contiguous();
    const auto* norm = norms.data_ptr<float>();
    if (!threshold_set) {
      if (const auto t = outlier_threshold(analysed, norm, o.outlier_factor)) {
        r.outlier_threshold = *t;
        threshold_set = true;
      }
    }
    for (int64_t k = 0; k < N; ++k)
      if (analysed[k] && threshold_set && norm[k] > r.outlier_threshold) {
        analysed[k] = 0;
        ++r.excluded_outliers;
      }
    int64_t batch_tokens = 0;
    for (const auto a : analysed) batch_tokens += a;
    r.analysed_tokens += batch_tokens;

    // Masks per split.
    std::vector<std::vector<uint8_t>> masks(splits.size(), std::vector<uint8_t>(N, 0));
    for (size_t s = 0; s < splits.size(); ++s)
      for (int64_t k = 0; k < N; ++k)
        if (analysed[k])
          for (const auto g : splits[s].groups)
            if (b.group[k] == static_cast<uint8_t>(g)) masks[s][k] = 1;
    const auto analysed_t = torch::tensor(std::vector<int64_t>(analysed.begin(), analysed.end())).to(torch::kBool);
    const auto analysed_index = analysed_t.nonzero().squeeze(1).to(device);
    const auto codes_t = torch::tensor(b.code, torch::kInt64);

    auto encode = [&](const torch::Tensor& x) { return sae_module->encode(sae_module->normalize_input(x)); };
    auto reconstruct = [&](const torch::Tensor& f, const torch::Tensor& x) {
      return sae_module->denormalize_output(sae_module->decode(f), x);
    };
    const auto f_base = encode(x_base);
    const auto f_base_cpu = f_base.cpu().contiguous();
    const auto base_logprobs = lm::log_probs(base_logits);
    // Reconstruction (FVU, MSE, cosine) and CE with the SAE spliced in / zero-ablated: on the first
    // fidelity_tokens (decoding and the extra forwards cost as much as the pass itself); L0 and the
    // dead fraction from every analysed token.
    const bool fidelity = fidelity_done < o.fidelity_tokens;
    auto add_fidelity = [&](ModelState& m, const torch::Tensor& x, const torch::Tensor& f) {
      const auto active = f.index_select(0, analysed_index) > 0;
      m.l0_sum += active.sum().item<double>();
      m.l0_tokens += analysed_index.numel();
      const auto fired = active.sum(0).to(torch::kInt64).cpu();
      m.firing = m.firing.defined() ? m.firing + fired : fired;
      if (fidelity)
        m.reconstruction.add(x.index_select(0, analysed_index), reconstruct(f, x).index_select(0, analysed_index),
                             f.index_select(0, analysed_index));
    };
    add_fidelity(models[0], x_base, f_base);
    base_top.add(f_base_cpu.index_select(0, analysed_index.cpu()), codes_t.index_select(0, analysed_index.cpu()));

    const auto keep = analysed_t.view({b.rows, b.length}).to(device);
    auto measure_ce = [&](ModelState& m, const torch::Tensor& logits, const torch::Tensor& x, const torch::Tensor& f) {
      const auto real_next = b.attention_mask.defined() ? b.attention_mask.slice(1, 1).to(torch::kBool)
                                                        : torch::ones({b.rows, b.length - 1}, torch::kBool).to(device);
      const auto ce_mask = (keep.slice(1, 0, -1) & real_next).to(torch::kFloat64);
      const auto x_hat = reconstruct(f, x).view(base_act.sizes()).to(base_act.scalar_type());
      const auto mask3 = keep.unsqueeze(-1);
      lm::Hooks splice, ablate;
      splice.on_write(hook, [&](const lm::HookName&, const torch::Tensor& a) { return torch::where(mask3, x_hat, a); });
      ablate.on_write(hook, [&](const lm::HookName&, const torch::Tensor& a) {
        return torch::where(mask3, torch::zeros_like(a), a);
      });
      const auto spliced = m.model->forward({b.ids, b.attention_mask}, &splice);
      const auto zero = m.model->forward({b.ids, b.attention_mask}, &ablate);
      m.ce_sums[0] += (next_token_ce(logits, b.ids) * ce_mask).sum().item<double>();
      m.ce_sums[1] += (next_token_ce(spliced, b.ids) * ce_mask).sum().item<double>();
      m.ce_sums[2] += (next_token_ce(zero, b.ids) * ce_mask).sum().item<double>();
      m.ce_count += static_cast<int64_t>(ce_mask.sum().item<double>());
    };
    if (fidelity) measure_ce(models[0], base_logits, x_base, f_base);

    std::vector<int64_t> units(b.unit.begin(), b.unit.end());
    for (size_t i = 0; i < r.aligned.size(); ++i) {
      auto& m = models[i + 1];
      auto& st = states[i];
      auto [logits, act] = forward_with_activation(*m.model, hook, b);
      const auto x = act.to(torch::kFloat32).reshape({N, sc.d_in});
      const auto f = encode(x);
      const auto f_cpu = f.cpu().contiguous();
      add_fidelity(m, x, f);
      st.top->add(f_cpu.index_select(0, analysed_index.cpu()), codes_t.index_select(0, analysed_index.cpu()));
      st.resid_delta_sum += (x - x_base).index_select(0, analysed_index).to(torch::kFloat64).sum(0).cpu();
      st.resid_count += batch_tokens;
      for (size_t s = 0; s < splits.size(); ++s) {
        stats::ActivationBatch ab;
        ab.base = f_base_cpu.data_ptr<float>();
        ab.aligned = f_cpu.data_ptr<float>();
        ab.n_tokens = N;
        ab.d_sae = F;
        ab.sequence_ids = units.data();
        ab.mask = masks[s].data();
        st.accumulators[s].add(ab);
      }
      // KL(aligned ‖ base) of the next-token distributions at every analysed position.
      const auto kl =
          lm::kl_divergence(lm::log_probs(logits), base_logprobs).reshape({N}).to(torch::kFloat64).cpu().contiguous();
      const auto* klp = kl.data_ptr<double>();
      for (size_t s = 0; s < splits.size(); ++s)
        for (int64_t k = 0; k < N; ++k)
          if (masks[s][k]) st.kl[s].add(klp[k]);
      if (fidelity) measure_ce(m, logits, x, f);
    }
    if (fidelity) fidelity_done += batch_tokens;
    done += batch_tokens;
    if (progress) progress(done, data.tokens);
  }
  r.positions = position_counts.positions;
  r.excluded_special = position_counts.excluded_special;
  r.excluded_repeat = position_counts.excluded_repeat;
  if (r.analysed_tokens == 0)
    throw InputError(o.data.string() +
                     ": every position was excluded (special tokens or outliers; raise --outlier-factor?)");

  auto fidelity_of = [&](ModelState& m) {
    SaeFidelity fd;
    fd.model = m.label;
    fd.tokens = m.l0_tokens;
    fd.reconstruction_tokens = m.reconstruction.num_tokens();
    const bool any = fd.reconstruction_tokens > 0;
    fd.fvu = any ? m.reconstruction.fvu() : kNaN;
    fd.mse = any ? m.reconstruction.mse() : kNaN;
    fd.cosine = any ? m.reconstruction.cosine_similarity() : kNaN;
    fd.l0 = m.l0_tokens > 0 ? m.l0_sum / static_cast<double>(m.l0_tokens) : kNaN;
    fd.dead_fraction = m.firing.defined() ? sae::firing_fractions(m.firing, m.l0_tokens).dead : kNaN;
    fd.ce_tokens = m.ce_count;
    if (m.ce_count > 0) {
      fd.ce_clean = m.ce_sums[0] / m.ce_count;
      fd.ce_spliced = m.ce_sums[1] / m.ce_count;
      fd.ce_zero = m.ce_sums[2] / m.ce_count;
      fd.ce_recovered = (fd.ce_zero - fd.ce_spliced) / (fd.ce_zero - fd.ce_clean);
    } else {
      fd.ce_clean = fd.ce_spliced = fd.ce_zero = fd.ce_recovered = kNaN;
    }
    return fd;
  };
  r.base_fidelity = fidelity_of(models[0]);

  // Statistics, rankings and the selected features of each aligned model.
  for (size_t i = 0; i < r.aligned.size(); ++i) {
    auto& a = r.aligned[i];
    auto& st = states[i];
    for (size_t s = 0; s < splits.size(); ++s) {
      SplitStats ss;
      ss.name = splits[s].name;
      ss.stats = st.accumulators[s].finish(&r.decoder_norms);
      ss.tags = drift_tags(ss.stats, o.alpha, o.min_rel_delta);
      a.splits.push_back(std::move(ss));
      a.kl.push_back({splits[s].name, st.kl[s]});
    }
    if (data.kind == "preference") {
      const auto& chosen = a.splits[3].stats;
      const auto& rejected = a.splits[4].stats;
      a.pref_gap_base = chosen.mean_base - rejected.mean_base;
      a.pref_gap_aligned = chosen.mean_aligned - rejected.mean_aligned;
      a.delta_pref_gap = a.pref_gap_aligned - a.pref_gap_base;
    }
    a.resid_delta_norm =
        st.resid_count > 0 ? (st.resid_delta_sum / static_cast<double>(st.resid_count)).norm().item<double>() : 0.0;
    a.fidelity = fidelity_of(models[i + 1]);
    a.rankings = compute_rankings(a.splits[0].stats, a.constrained, o.top, o.alpha, o.min_rel_delta);
    a.examples.features = ranking_union(a.rankings, o.top);
    std::sort(a.examples.features.begin(), a.examples.features.end());
    {
      const auto& hb = st.accumulators[0].histograms_base();
      const auto& ha = st.accumulators[0].histograms_aligned();
      const int64_t n_bins = hb.bins().n_bins();
      r.histogram_edges = hb.bins().edges();
      for (const int32_t f : a.examples.features) {
        a.examples.hist_base.insert(a.examples.hist_base.end(), hb.counts(f), hb.counts(f) + n_bins);
        a.examples.hist_aligned.insert(a.examples.hist_aligned.end(), ha.counts(f), ha.counts(f) + n_bins);
      }
    }
    if (a.fidelity.fvu > 2 * r.base_fidelity.fvu + 0.05)
      core::log::warning("drift: the SAE reconstructs " + a.label + " much worse than the base (FVU " +
                         std::to_string(a.fidelity.fvu) + " vs " + std::to_string(r.base_fidelity.fvu) +
                         "): feature drift there is partly SAE error");
  }

  // The causal check of each aligned model's top features (causal_check.h).
  if (o.causal > 0) {
    std::optional<DriftData> own;
    if (!o.causal_data.empty()) {
      DriftDataOptions c = data_options;
      c.kind = "preference";
      c.tokens = std::numeric_limits<int64_t>::max() / 4;
      own = read_drift_data(o.causal_data, *tokenizer, o.base, c);
    }
    const DriftData& causal_data = own ? *own : data;
    for (size_t i = 0; i < r.aligned.size(); ++i) {
      auto& a = r.aligned[i];
      CausalInputs in;
      in.base = models[0].model.get();
      in.aligned = models[i + 1].model.get();
      in.sae = sae_module.get();
      in.hook = hook;
      in.data = &causal_data;
      in.features = ranking_union(a.rankings, o.causal);
      for (const int32_t f : in.features) {
        std::string names;
        for (const auto& rk : a.rankings)
          for (int64_t p = 0; p < std::min<int64_t>(o.causal, static_cast<int64_t>(rk.features.size())); ++p)
            if (rk.features[static_cast<size_t>(p)] == f)
              names += (names.empty() ? "" : " ") + rk.name + "#" + std::to_string(p + 1);
        in.feature_rankings.push_back(names);
      }
      const auto& all = a.splits[0];
      in.controls =
          draw_control_features(all.stats.freq_base, all.stats.freq_aligned, all.tags, in.features, o.causal, o.seed);
      in.delta_mean = all.stats.delta_mean;
      core::log::info("drift: causal check of " + a.label + ": " + std::to_string(in.features.size()) +
                      " features and " + std::to_string(in.controls.size()) + " controls on " +
                      std::to_string(std::min<int64_t>(o.causal_pairs, causal_data.units)) + " pairs");
      a.causal = run_causal_check(in, CausalOptions{.n = o.causal, .pairs = o.causal_pairs, .seed = o.seed});
    }
  }

  // Contexts of the selected features: re-run only the sequences holding their top activations.
  const int64_t W = 2 * o.example_window + 1;
  std::set<int64_t> needed;
  for (size_t i = 0; i < r.aligned.size(); ++i)
    for (const int32_t f : r.aligned[i].examples.features) {
      for (const auto& [v, code] : states[i].top->top(f)) needed.insert(code / stride);
      for (const auto& [v, code] : base_top.top(f)) needed.insert(code / stride);
    }
  // Per needed sequence: each model's features (CPU [len, F]) — only for the selected features.
  std::vector<int64_t> union_features;
  {
    std::set<int64_t> u;
    for (const auto& a : r.aligned) u.insert(a.examples.features.begin(), a.examples.features.end());
    union_features.assign(u.begin(), u.end());
  }
  std::map<int64_t, int64_t> column_of;
  for (size_t j = 0; j < union_features.size(); ++j) column_of[union_features[j]] = static_cast<int64_t>(j);
  const auto union_index = torch::tensor(union_features, torch::kInt64).to(device);
  std::map<int64_t, std::vector<torch::Tensor>> contexts;  // sequence -> per model [len, n_union]
  {
    std::vector<int64_t> list(needed.begin(), needed.end());
    for (size_t start = 0; start < list.size(); start += static_cast<size_t>(o.batch_size)) {
      std::vector<int64_t> rows(list.begin() + static_cast<std::ptrdiff_t>(start),
                                list.begin() +
                                    static_cast<std::ptrdiff_t>(std::min(list.size(), start + o.batch_size)));
      const DriftBatch b = make_drift_batch(data, rows, stride, device);
      for (size_t mi = 0; mi < models.size(); ++mi) {
        lm::Hooks h;
        h.capture(hook).stop_after_last_read();
        models[mi].model->forward({b.ids, b.attention_mask}, &h);
        const auto x = h.captured().at(hook).to(torch::kFloat32).reshape({b.rows * b.length, sc.d_in});
        const auto f = sae_module->encode(sae_module->normalize_input(x)).index_select(1, union_index).cpu();
        for (int64_t row = 0; row < b.rows; ++row)
          contexts[rows[row]].push_back(f.slice(0, row * b.length, (row + 1) * b.length).contiguous());
      }
    }
  }
  std::set<int64_t> vocab;
  for (size_t i = 0; i < r.aligned.size(); ++i) {
    auto& ex = r.aligned[i].examples;
    const auto n_sel = static_cast<int64_t>(ex.features.size());
    ex.n_examples = 2 * o.examples;
    ex.window = W;
    const int64_t n_ex = ex.n_examples;
    ex.group.assign(n_sel * n_ex, -1);
    ex.sequence.assign(n_sel * n_ex, -1);
    ex.center.assign(n_sel * n_ex, -1);
    ex.token_ids.assign(n_sel * n_ex * W, -1);
    ex.act_base.assign(n_sel * n_ex * W, 0.0f);
    ex.act_aligned.assign(n_sel * n_ex * W, 0.0f);
    for (int64_t j = 0; j < n_sel; ++j) {
      const int32_t f = ex.features[j];
      const int64_t col = column_of.at(f);
      int64_t slot = 0;
      for (int group = 0; group < 2; ++group) {
        const auto entries = group == 0 ? states[i].top->top(f) : base_top.top(f);
        int64_t taken = 0;
        for (const auto& [value, code] : entries) {
          if (taken >= o.examples) break;
          const int64_t seq = code / stride, pos = code % stride;
          const auto& ids = data.sequences[seq].ids;
          const auto& ctx = contexts.at(seq);
          const int64_t e = j * n_ex + slot;
          ex.group[e] = static_cast<int8_t>(group);
          ex.sequence[e] = seq;
          ex.center[e] = static_cast<int32_t>(pos);
          const auto* fb = ctx[0].data_ptr<float>();
          const auto* fa = ctx[i + 1].data_ptr<float>();
          const int64_t cols = ctx[0].size(1);
          for (int64_t w = 0; w < W; ++w) {
            const int64_t t = pos - o.example_window + w;
            if (t < 0 || t >= static_cast<int64_t>(ids.size())) continue;
            ex.token_ids[e * W + w] = static_cast<int32_t>(ids[t]);
            vocab.insert(ids[t]);
            ex.act_base[e * W + w] = fb[t * cols + col];
            ex.act_aligned[e * W + w] = fa[t * cols + col];
          }
          ++slot;
          ++taken;
        }
        slot = (group + 1) * o.examples;
      }
    }
    // Logit lens of the selected features through each model's readout.
    const auto idx = torch::tensor(std::vector<int64_t>(ex.features.begin(), ex.features.end()), torch::kInt64);
    const auto dirs = directions.index_select(0, idx.to(directions.device()));
    r.aligned[i].lens_base = logit_lens(*models[0].model, dirs, o.logit_lens_k);
    r.aligned[i].lens_aligned = logit_lens(*models[i + 1].model, dirs, o.logit_lens_k);
    for (const auto* lens : {&r.aligned[i].lens_base, &r.aligned[i].lens_aligned}) {
      vocab.insert(lens->promoted_ids.begin(), lens->promoted_ids.end());
      vocab.insert(lens->suppressed_ids.begin(), lens->suppressed_ids.end());
    }
  }
  for (const int64_t id : vocab) {
    if (id < 0 || id >= tokenizer->vocab_size()) continue;
    r.vocab_ids.push_back(id);
    // HDF5 strings end at NUL: a token for byte 0 is stored as the text "\x00".
    std::string text;
    for (const char c : tokenizer->decode({id})) text += c == '\0' ? std::string("\\x00") : std::string(1, c);
    r.vocab_strings.push_back(std::move(text));
  }

  // Provenance hashes (content, not paths).
  r.base_hash = hash_or_empty(o.base, "base model");
  r.sae_hash = hash_or_empty(o.sae, "SAE");
  r.data_hash = hash_or_empty(o.data, "data");
  for (auto& a : r.aligned) a.content_hash = hash_or_empty(a.source.weights, "aligned model " + a.label);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  return r;
}

}  // namespace fpokit::analysis
