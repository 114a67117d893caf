#include "fpokit/sae/data/activation_cache.h"

#include "fpokit/core/errors.h"
#include "fpokit/core/fault/kill_point.h"
#include "fpokit/sae/data/activation_file.h"

namespace fpokit::sae {

int64_t cache_activations(HarvestingSource& source, const std::filesystem::path& out,
                          const ActivationCacheOptions& options, const std::function<void(int64_t)>& progress) {
  if (options.tokens < 1) throw InputError("--tokens must be positive");
  ActivationFileInfo info;
  info.model_name = options.model_name;
  info.hook_names = source.hook_names();
  info.d_in = source.d_in();
  info.context_size = source.options().context_size;
  info.storage_dtype = options.storage_dtype;
  ActivationFileWriter writer(out, info);
  while (writer.num_rows() < options.tokens) {
    auto rows = source.next();
    if (!rows) break;
    const int64_t take = std::min(rows->size(), options.tokens - writer.num_rows());
    if (take < rows->size()) *rows = rows->slice(0, take);
    writer.append(rows->activations, rows->token_ids, rows->positions, rows->sequence_ids);
    core::kill_point("activation-chunk");
    if (progress) progress(writer.num_rows());
  }
  if (writer.num_rows() == 0) throw InputError("the dataset yields no token to cache (" + source.describe() + ")");
  const int64_t n = writer.num_rows();
  writer.commit();
  return n;
}

}  // namespace fpokit::sae
