#include "fpokit/analysis/drift/drift_timeline_recorder.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <set>

#include "fpokit/analysis/drift/drift_batches.h"
#include "fpokit/analysis/drift/rankings.h"
#include "fpokit/analysis/drift/sae_directions.h"
#include "fpokit/analysis/stats/paired_feature_accumulator.h"
#include "fpokit/core/errors.h"
#include "fpokit/core/fault/kill_point.h"
#include "fpokit/core/io/atomic_output.h"
#include "fpokit/core/io/content_fingerprint.h"
#include "fpokit/core/io/hdf5_arrays.h"
#include "fpokit/core/io/hdf5_handle.h"
#include "fpokit/core/io/sha256.h"
#include "fpokit/core/log/log.h"
#include "fpokit/lm/model/hooks.h"
#include "fpokit/lm/model/load_model.h"
#include "fpokit/lm/tokenizer/tokenizer.h"
#include "fpokit/sae/eval/sae_metrics.h"
#include "fpokit/sae/io/sae_io.h"

namespace fpokit::analysis {

namespace fs = std::filesystem;
namespace h5 = core::hdf5;

namespace {

std::string fingerprint(const fs::path& p) {
  return core::sha256_hex(core::content_fingerprint(p, true).dump()).substr(0, 16);
}

// Restores the policy's train/eval mode when a snapshot ends, however it ends.
class EvalModeScope {
 public:
  explicit EvalModeScope(lm::CausalLMImpl& m) : model_(m), was_training_(m.is_training()) { model_.eval(); }
  ~EvalModeScope() { model_.train(was_training_); }
  EvalModeScope(const EvalModeScope&) = delete;
  EvalModeScope& operator=(const EvalModeScope&) = delete;

 private:
  lm::CausalLMImpl& model_;
  bool was_training_;
};

}  // namespace

DriftTimelineRecorder::DriftTimelineRecorder(DriftTimelineOptions o, const fs::path& model_dir, const fs::path& out_dir)
    : options_(std::move(o)), out_dir_(out_dir) {
  const auto& op = options_;
  if (op.every < 1)
    throw InputError("--drift-every must be a positive number of steps, got " + std::to_string(op.every));
  if (op.tokens < 1) throw InputError("--drift-tokens must be positive, got " + std::to_string(op.tokens));
  if (op.batch_size < 1) throw InputError("--drift-batch-size must be positive, got " + std::to_string(op.batch_size));
  if (op.data.empty()) throw InputError("--drift-every needs --drift-data FILE: the tokens the snapshots measure");
  if (op.sae.empty())
    throw InputError("--drift-every needs an SAE: give --drift-sae DIR (an FPO run uses its own --sae)");
  std::error_code ec;
  if (!fs::exists(op.data, ec)) throw InputError(op.data.string() + ": no such file (--drift-data)");
  sae_ = sae::load_sae(op.sae);
  sae_->eval();
  for (auto& p : sae_->parameters()) p.set_requires_grad(false);
  const auto& sc = sae_->config();
  const std::string hook_text = op.hook.empty() ? sc.hook_name : op.hook;
  if (hook_text.empty())
    throw InputError(op.sae.string() + " does not say which hook it was trained on: give --drift-hook, e.g. " +
                     "blocks.6.hook_resid_post");
  hook_ = lm::HookName::parse(hook_text);
  const auto config = lm::load_model_config(model_dir);
  if (hook_.layer >= config.num_layers)
    throw InputError("--drift-hook " + hook_.str() + ": " + model_dir.string() + " has " +
                     std::to_string(config.num_layers) + " layers");
  if (sc.d_in != config.hidden_size)
    throw InputError(op.sae.string() + ": the SAE has d_in " + std::to_string(sc.d_in) + " but " + hook_.str() +
                     " of " + model_dir.string() + " is " + std::to_string(config.hidden_size) +
                     " wide: was it trained on another model? (--drift-sae)");
  lm::check_context_fits(config, op.context_size, "--drift-context-size");
  const auto tokenizer = lm::Tokenizer::from_directory(model_dir);
  DriftDataOptions d;
  d.kind = op.data_kind;
  d.text_field = op.text_field;
  d.split = op.split;
  d.fields = op.fields;
  d.chat_template = op.chat_template;
  d.tokens = op.tokens;
  d.context_size = op.context_size;
  d.max_length = op.max_length;
  data_ = read_drift_data(op.data, *tokenizer, model_dir, d);
  batches_ = plan_drift_batches(data_, op.batch_size);
  stride_ = drift_code_stride(data_);

  auto& s = timeline_.settings;
  s.sae = op.sae.string();
  s.sae_content = fingerprint(op.sae);
  s.hook = hook_.str();
  s.data = op.data.string();
  s.data_content = fingerprint(op.data);
  s.data_kind = data_.kind;
  s.every = op.every;
  s.tokens = op.tokens;
  s.batch_size = op.batch_size;
  s.d_sae = sc.d_sae;
  s.alpha = op.alpha;
  s.min_rel_delta = op.min_rel_delta;
  s.outlier_factor = op.outlier_factor;
}

DriftTimelineRecorder::~DriftTimelineRecorder() = default;

fs::path DriftTimelineRecorder::timeline_path() const { return out_dir_ / "drift_timeline.h5"; }
fs::path DriftTimelineRecorder::base_cache_path() const { return out_dir_ / "drift_timeline_base.h5"; }

torch::Tensor DriftTimelineRecorder::activations(lm::CausalLMImpl& policy, size_t batch) const {
  const auto device = policy.parameters().front().device();
  const DriftBatch b = make_drift_batch(data_, batches_[batch], stride_, device);
  lm::Hooks h;
  h.capture(hook_).stop_after_last_read();
  policy.forward({b.ids, b.attention_mask}, &h);
  return h.captured().at(hook_).to(torch::kFloat32).reshape({b.positions(), sae_->config().d_in});
}

void DriftTimelineRecorder::start(lm::CausalLMImpl& policy, int64_t step) {
  {
    lm::Hooks check;
    check.capture(hook_);
    check.validate(policy.config(), policy.has_resid_mid());
  }
  sae_->to(policy.parameters().front().device());
  const auto base_cache = base_cache_path();
  const auto& s = timeline_.settings;
  if (step == 0) {
    // The policy is the starting model: its activations are the base of every snapshot.
    torch::NoGradGuard no_grad;
    EvalModeScope eval(policy);
    PositionCounts counts;
    std::optional<double> threshold;
    int64_t analysed_tokens = 0;
    for (size_t i = 0; i < batches_.size(); ++i) {
      const auto x = activations(policy, i);
      const DriftBatch b = make_drift_batch(data_, batches_[i], stride_, torch::kCPU);
      auto analysed = analysed_positions(b, counts);
      const auto norms = x.norm(2, 1).cpu().contiguous();
      if (!threshold) threshold = outlier_threshold(analysed, norms.data_ptr<float>(), options_.outlier_factor);
      std::vector<int64_t> index;
      for (int64_t k = 0; k < b.positions(); ++k)
        if (analysed[k] && !(threshold && norms.data_ptr<float>()[k] > *threshold)) index.push_back(k);
      analysed_tokens += static_cast<int64_t>(index.size());
      auto idx = torch::tensor(index, torch::kInt64);
      base_rows_.push_back(x.index_select(0, idx.to(x.device())).cpu().contiguous());
      analysed_index_.push_back(idx);
    }
    if (analysed_tokens == 0)
      throw InputError(options_.data.string() +
                       ": every position was excluded (special tokens or outliers) "
                       "(--drift-data)");
    timeline_.settings.analysed_tokens = analysed_tokens;
    // The base cache: every batch's analysed positions and activations, one dataset of rows.
    core::write_file_atomically(base_cache, [&](const fs::path& tmp) {
      const auto failed = h5::failed_closes();
      auto file = h5::create_file(tmp);
      h5::write_string_attribute(file.get(), "description",
                                 "the starting model's activations at the hook on the drift timeline's analysed "
                                 "positions; a resumed fpokit train --drift-every compares against them");
      h5::write_string_attribute(file.get(), "sae_content", s.sae_content);
      h5::write_string_attribute(file.get(), "data_content", s.data_content);
      h5::write_string_attribute(file.get(), "hook", s.hook);
      h5::write_int64_attribute(file.get(), "batch_size", s.batch_size);
      h5::write_int64_attribute(file.get(), "tokens", s.tokens);
      h5::write_double_attribute(file.get(), "outlier_factor", s.outlier_factor);
      std::vector<int64_t> rows_per_batch, positions;
      for (size_t i = 0; i < base_rows_.size(); ++i) {
        rows_per_batch.push_back(base_rows_[i].size(0));
        const auto* p = analysed_index_[i].data_ptr<int64_t>();
        positions.insert(positions.end(), p, p + analysed_index_[i].numel());
      }
      const auto all = torch::cat(base_rows_).contiguous();
      h5::write_int64_array(file.get(), "rows_per_batch", {static_cast<int64_t>(rows_per_batch.size())},
                            rows_per_batch.data());
      h5::write_int64_array(file.get(), "position", {static_cast<int64_t>(positions.size())}, positions.data());
      h5::write_float_array(file.get(), "activation", {all.size(0), all.size(1)}, all.data_ptr<float>(),
                            h5::ArrayLayout{.compress = false});
      h5::finish_file(file, tmp, failed);
    });
    timeline_.snapshots.clear();
    return;
  }
  // A resumed run: the base cache and the timeline so far, from this run's start.
  std::error_code ec;
  const auto resume_hint = "; start the run afresh (--overwrite-output-dir) or resume it without --drift-every";
  if (!fs::exists(base_cache, ec) || !fs::exists(timeline_path(), ec))
    throw InputError(out_dir_.string() + " has no drift timeline from the run's start (" +
                     (fs::exists(base_cache, ec) ? timeline_path() : base_cache).filename().string() + " is missing)" +
                     resume_hint);
  auto earlier = read_drift_timeline(timeline_path());
  DriftTimelineSettings mine = s;
  mine.analysed_tokens = earlier.settings.analysed_tokens;
  if (const auto diff = earlier.settings.difference(mine); !diff.empty())
    throw InputError(timeline_path().string() + " was recorded with other settings (" + diff + ")" + resume_hint);
  {
    auto file = h5::open_file(base_cache);
    std::vector<int64_t> shape;
    const auto rows_per_batch = h5::read_int64_array(file.get(), "rows_per_batch");
    const auto positions = h5::read_int64_array(file.get(), "position");
    const auto act = h5::read_double_array(file.get(), "activation", &shape);
    const auto content = h5::read_string_attribute(file.get(), "data_content");
    int64_t total = 0;
    for (const auto r : rows_per_batch) total += r;
    if (rows_per_batch.size() != batches_.size() || content != s.data_content || shape.size() != 2 ||
        shape[0] != total || shape[1] != sae_->config().d_in || static_cast<int64_t>(positions.size()) != total)
      throw InputError(base_cache.string() + " does not match --drift-data and --drift-sae of this run" + resume_hint);
    const auto all = torch::tensor(act, torch::kFloat64).to(torch::kFloat32).view({shape[0], shape[1]});
    const auto pos = torch::tensor(positions, torch::kInt64);
    int64_t at = 0;
    for (const auto r : rows_per_batch) {
      base_rows_.push_back(all.slice(0, at, at + r).contiguous());
      analysed_index_.push_back(pos.slice(0, at, at + r).contiguous());
      at += r;
    }
  }
  timeline_.settings.analysed_tokens = earlier.settings.analysed_tokens;
  timeline_.l0_base = earlier.l0_base;
  timeline_.fvu_base = earlier.fvu_base;
  // Snapshots after the checkpoint's step were taken by the killed process after its last
  // checkpoint: they are taken again as training continues.
  for (auto& snap : earlier.snapshots)
    if (snap.step <= step) timeline_.snapshots.push_back(std::move(snap));
  std::set<int64_t> have;
  for (const auto& snap : timeline_.snapshots) have.insert(snap.step);
  for (int64_t due = 0; due < step; due += s.every)
    if (have.count(due) == 0)
      throw InputError(timeline_path().string() + " has no snapshot of step " + std::to_string(due) +
                       " although the run's checkpoint is at step " + std::to_string(step) + resume_hint);
}

void DriftTimelineRecorder::take_snapshot(lm::CausalLMImpl& policy, int64_t step) {
  const auto start_time = std::chrono::steady_clock::now();
  torch::NoGradGuard no_grad;
  EvalModeScope eval(policy);
  const auto& sc = sae_->config();
  const int64_t F = sc.d_sae;
  stats::BootstrapOptions boot;
  boot.replicates = 0;  // a snapshot's CIs would cost more than the snapshot; `fpokit drift` gives them
  stats::PairedFeatureAccumulator acc(F, stats::LogHistogramSpec{}, boot);
  sae::ReconstructionMetrics policy_fit, base_fit;
  torch::Tensor resid_sum = torch::zeros({sc.d_in}, torch::kFloat64);
  int64_t resid_count = 0;
  const auto device = policy.parameters().front().device();
  auto encode = [&](const torch::Tensor& x) { return sae_->encode(sae_->normalize_input(x)); };
  // The SAE's fit on the starting model is measured once, with the first snapshot.
  const bool measure_base = timeline_.snapshots.empty();
  for (size_t i = 0; i < batches_.size(); ++i) {
    const auto x_all = activations(policy, i);
    const auto idx = analysed_index_[i].to(device);
    const auto x = x_all.index_select(0, idx);
    const auto x_base = base_rows_[i].to(device);
    const auto f = encode(x), f_base = encode(x_base);
    policy_fit.add(x, sae_->denormalize_output(sae_->decode(f), x), f);
    if (measure_base) base_fit.add(x_base, sae_->denormalize_output(sae_->decode(f_base), x_base), f_base);
    resid_sum += (x - x_base).to(torch::kFloat64).sum(0).cpu();
    resid_count += x.size(0);
    // Dense [positions, d_sae] rows with the analysed ones filled: the accumulator counts every
    // sequence of the batch, as `fpokit drift` does.
    const DriftBatch b = make_drift_batch(data_, batches_[i], stride_, torch::kCPU);
    const int64_t N = b.positions();
    auto dense = [&](const torch::Tensor& rows) {
      return torch::zeros({N, F}, torch::kFloat32)
          .index_copy_(0, analysed_index_[i], rows.to(torch::kFloat32).cpu())
          .contiguous();
    };
    const auto fb = dense(f_base), fa = dense(f);
    std::vector<uint8_t> mask(static_cast<size_t>(N), 0);
    const auto* p = analysed_index_[i].data_ptr<int64_t>();
    for (int64_t j = 0; j < analysed_index_[i].numel(); ++j) mask[static_cast<size_t>(p[j])] = 1;
    stats::ActivationBatch ab;
    ab.base = fb.data_ptr<float>();
    ab.aligned = fa.data_ptr<float>();
    ab.n_tokens = N;
    ab.d_sae = F;
    ab.sequence_ids = b.unit.data();
    ab.mask = mask.data();
    acc.add(ab);
  }
  const auto norms = raw_decoder_norms(*sae_);
  const auto st = acc.finish(&norms);
  DriftSnapshot snap;
  snap.step = step;
  for (const auto& c : stats::FeatureDriftStats::columns()) {
    const Eigen::VectorXd& v = st.*c.member;
    snap.columns.emplace_back(v.data(), v.data() + v.size());
  }
  snap.tags = drift_tags(st, options_.alpha, options_.min_rel_delta);
  snap.resid_delta_norm = resid_count > 0 ? (resid_sum / static_cast<double>(resid_count)).norm().item<double>() : 0;
  snap.l0 = policy_fit.l0();
  snap.fvu = policy_fit.fvu();
  if (base_fit.num_tokens() > 0) {
    timeline_.l0_base = base_fit.l0();
    timeline_.fvu_base = base_fit.fvu();
  }
  snap.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  timeline_.snapshots.push_back(std::move(snap));
  write_drift_timeline(timeline_, timeline_path());
  core::kill_point("drift-snapshot-written");
}

void DriftTimelineRecorder::observe(lm::CausalLMImpl& policy, int64_t step, int64_t total_steps) {
  if (!started_) {
    start(policy, step);
    started_ = true;
  }
  const bool due = step % options_.every == 0 || step == total_steps;
  if (!due) return;
  if (!timeline_.snapshots.empty() && timeline_.snapshots.back().step >= step) return;
  take_snapshot(policy, step);
}

}  // namespace fpokit::analysis
