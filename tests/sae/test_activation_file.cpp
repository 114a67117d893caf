// The offline activation cache (HDF5): round trips in both storage dtypes, appends across chunk
// boundaries, range reads, the writer's temporary-file discipline, and one CheckpointError line
// (naming the file, never printing HDF5's error stack) for each kind of corrupt input.
#include <torch/torch.h>

#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

#include "fpokit/core/errors.h"
#include "fpokit/core/io/hdf5_handle.h"
#include "fpokit/core/io/hdf5_structure_check.h"
#include "fpokit/sae/data/activation_file.h"
#include "test_support.h"

// After every LibTorch header: c10 defines its own CHECK.
#include <catch2/catch.hpp>

using namespace fpokit;
using namespace fpokit::sae;
using Catch::Contains;
using fpokit::test::TempDir;
namespace fs = std::filesystem;

namespace {

// Listed out of name order on purpose: the reader must keep the written (creation) order.
const std::vector<std::string> kHooks = {"blocks.1.hook_resid_post", "blocks.0.hook_resid_mid"};
const std::vector<int64_t> kDIn = {5, 3};

ActivationFileInfo make_info(const std::string& storage_dtype) {
  ActivationFileInfo info;
  info.model_name = "tiny-llama (test)";
  info.hook_names = kHooks;
  info.d_in = kDIn;
  info.context_size = 16;
  info.storage_dtype = storage_dtype;
  return info;
}

// Everything that was appended, concatenated, to compare against what is read back.
struct Written {
  std::vector<torch::Tensor> activations;  // per hook, in the dtype they were appended in
  torch::Tensor token_ids, positions, sequence_ids;
  int64_t rows = 0;
};

// Appends batches of the given sizes (odd sizes, crossing chunk boundaries) and commits.
// Hook 0 is appended as float64 and hook 1 as float32: any floating dtype is accepted.
Written write_cache(const fs::path& path, const ActivationFileInfo& info, int64_t chunk_rows,
                    const std::vector<int64_t>& batches) {
  torch::manual_seed(1234);
  Written w;
  std::vector<std::vector<torch::Tensor>> per_hook(info.hook_names.size());
  std::vector<torch::Tensor> tokens, positions, sequences;
  ActivationFileWriter writer(path, info, chunk_rows);
  for (const int64_t n : batches) {
    std::vector<torch::Tensor> acts;
    for (size_t h = 0; h < info.hook_names.size(); ++h) {
      auto a = torch::randn({n, info.d_in[h]}, h == 0 ? torch::kFloat64 : torch::kFloat32) * 3.0;
      per_hook[h].push_back(a);
      acts.push_back(a);
    }
    auto tok = torch::randint(0, 50000, {n}, torch::kInt64);
    auto pos = (torch::arange(w.rows, w.rows + n, torch::kInt32) % info.context_size).to(torch::kInt32);
    auto seq = torch::arange(w.rows, w.rows + n, torch::kInt64).div(info.context_size, "floor");
    tokens.push_back(tok);
    positions.push_back(pos);
    sequences.push_back(seq);
    writer.append(acts, tok, pos, seq);
    w.rows += n;
    CHECK(writer.num_rows() == w.rows);
  }
  writer.commit();
  for (auto& parts : per_hook) w.activations.push_back(torch::cat(parts));
  w.token_ids = torch::cat(tokens);
  w.positions = torch::cat(positions).to(torch::kInt64);
  w.sequence_ids = torch::cat(sequences);
  return w;
}

bool same(const torch::Tensor& a, const torch::Tensor& b) {
  return a.sizes() == b.sizes() && a.scalar_type() == b.scalar_type() && torch::equal(a, b);
}

std::vector<std::string> folder_entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  return names;
}

// Captures what is written to file descriptor 2 (HDF5 prints its error stack with fprintf).
class StderrCapture {
 public:
  explicit StderrCapture(const fs::path& file) : file_(file) {
    std::fflush(stderr);
    saved_ = ::dup(2);
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 2);
    ::close(fd);
  }
  ~StderrCapture() { restore(); }
  std::string text() {
    restore();
    std::ifstream in(file_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  fs::path file_;
  int saved_ = -1;
};

// Opening `path` throws a one-line CheckpointError naming the file and containing `fragment`,
// and prints nothing.
void require_checkpoint_error(const fs::path& path, const std::string& fragment, const fs::path& scratch) {
  INFO("file " << path.string());
  std::string message;
  StderrCapture capture(scratch);
  try {
    ActivationFileReader reader(path);
    FAIL("no exception");
  } catch (const CheckpointError& e) {
    message = e.what();
  }
  const std::string printed = capture.text();
  INFO("message: " << message);
  CHECK_THAT(message, Contains(path.filename().string()));
  CHECK_THAT(message, Contains(fragment));
  CHECK(message.find('\n') == std::string::npos);
  CHECK(printed.empty());
}

// Identifiers (files, datasets, attributes, ...) HDF5 still has open in this process: 0 when every
// handle was closed, including on the error paths.
ssize_t open_hdf5_objects() { return H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL); }

// A committed float32 cache with 10 rows, to be damaged by a test.
fs::path valid_cache(const TempDir& tmp, const std::string& name) {
  const fs::path path = tmp / name;
  write_cache(path, make_info("float32"), 4, {3, 7});
  return path;
}

}  // namespace

TEST_CASE("float32 activation cache round-trips across chunk boundaries", "[sae][acts]") {
  TempDir tmp;
  const fs::path path = tmp / "acts.h5";
  const std::vector<int64_t> batches = {1, 3, 5, 0, 7, 2, 11};  // 29 rows in chunks of 4
  const Written w = write_cache(path, make_info("float32"), 4, batches);
  REQUIRE(w.rows == 29);
  CHECK(open_hdf5_objects() == 0);

  ActivationFileReader reader(path);
  const auto& info = reader.info();
  CHECK(info.model_name == "tiny-llama (test)");
  CHECK(info.hook_names == kHooks);
  CHECK(info.d_in == kDIn);
  CHECK(info.context_size == 16);
  CHECK(info.storage_dtype == "float32");
  CHECK(info.num_rows == 29);
  CHECK(reader.num_rows() == 29);
  CHECK(reader.hook_index("blocks.1.hook_resid_post") == std::optional<size_t>(0));
  CHECK(reader.hook_index("blocks.0.hook_resid_mid") == std::optional<size_t>(1));
  CHECK_FALSE(reader.hook_index("blocks.2.hook_resid_post").has_value());

  for (size_t h = 0; h < kHooks.size(); ++h) {
    const torch::Tensor expected = w.activations[h].to(torch::kFloat32);
    const torch::Tensor all = reader.read_activations(h, 0, 29);
    CHECK(all.device().is_cpu());
    CHECK(same(all, expected));
  }
  CHECK(same(reader.read_token_ids(0, 29), w.token_ids));
  CHECK(same(reader.read_positions(0, 29), w.positions));
  CHECK(same(reader.read_sequence_ids(0, 29), w.sequence_ids));
}

TEST_CASE("activation cache reads arbitrary row ranges", "[sae][acts]") {
  TempDir tmp;
  const fs::path path = tmp / "acts.h5";
  const Written w = write_cache(path, make_info("float32"), 4, {6, 9, 2});
  ActivationFileReader reader(path);
  // Every (start, count) pair, including empty ranges at the ends.
  for (int64_t start = 0; start <= w.rows; ++start) {
    for (int64_t count = 0; start + count <= w.rows; ++count) {
      INFO("rows [" << start << ", " << start + count << ")");
      for (size_t h = 0; h < kHooks.size(); ++h) {
        const torch::Tensor got = reader.read_activations(h, start, count);
        REQUIRE(got.sizes().vec() == std::vector<int64_t>{count, kDIn[h]});
        REQUIRE(same(got, w.activations[h].slice(0, start, start + count).to(torch::kFloat32)));
      }
      REQUIRE(same(reader.read_token_ids(start, count), w.token_ids.slice(0, start, start + count)));
      REQUIRE(same(reader.read_positions(start, count), w.positions.slice(0, start, start + count)));
      REQUIRE(same(reader.read_sequence_ids(start, count), w.sequence_ids.slice(0, start, start + count)));
    }
  }
}

TEST_CASE("bfloat16 activation cache is exact against to(kBFloat16)", "[sae][acts]") {
  TempDir tmp;
  const fs::path path = tmp / "acts_bf16.h5";
  const Written w = write_cache(path, make_info("bfloat16"), 8, {5, 13, 1, 9});
  ActivationFileReader reader(path);
  CHECK(reader.info().storage_dtype == "bfloat16");
  REQUIRE(reader.num_rows() == 28);
  for (size_t h = 0; h < kHooks.size(); ++h) {
    const torch::Tensor expected = w.activations[h].to(torch::kBFloat16).to(torch::kFloat32);
    const torch::Tensor got = reader.read_activations(h, 0, 28);
    CHECK(got.scalar_type() == torch::kFloat32);
    CHECK(same(got, expected));
    CHECK(same(reader.read_activations(h, 11, 9), expected.slice(0, 11, 20)));
  }
  CHECK(same(reader.read_token_ids(3, 20), w.token_ids.slice(0, 3, 23)));

  // bfloat16 input is stored bit for bit.
  const fs::path path2 = tmp / "acts_bf16_in.h5";
  const auto a0 = torch::randn({4, 5}).to(torch::kBFloat16);
  const auto a1 = torch::randn({4, 3}).to(torch::kBFloat16);
  {
    ActivationFileWriter writer(path2, make_info("bfloat16"));
    writer.append({a0, a1}, torch::arange(4), torch::arange(4), torch::zeros({4}, torch::kInt64));
    writer.commit();
  }
  ActivationFileReader reader2(path2);
  CHECK(same(reader2.read_activations(0, 0, 4), a0.to(torch::kFloat32)));
  CHECK(same(reader2.read_activations(1, 0, 4), a1.to(torch::kFloat32)));
}

TEST_CASE("activation cache reads outside the file throw out_of_range", "[sae][acts]") {
  TempDir tmp;
  const fs::path path = valid_cache(tmp, "acts.h5");  // 10 rows
  ActivationFileReader reader(path);
  CHECK_THROWS_AS(reader.read_activations(0, 8, 3), std::out_of_range);
  CHECK_THROWS_WITH(reader.read_activations(0, 8, 3),
                    Contains("rows [8, 11)") && Contains("10 rows") && Contains("acts.h5"));
  CHECK_THROWS_AS(reader.read_activations(0, -1, 2), std::out_of_range);
  CHECK_THROWS_AS(reader.read_activations(0, 2, -1), std::out_of_range);
  CHECK_THROWS_AS(reader.read_activations(0, 11, 0), std::out_of_range);
  CHECK_THROWS_AS(reader.read_activations(0, 1, std::numeric_limits<int64_t>::max()), std::out_of_range);
  CHECK_THROWS_WITH(reader.read_activations(2, 0, 1), Contains("hook index 2") && Contains("2 hooks"));
  CHECK_THROWS_AS(reader.read_token_ids(10, 1), std::out_of_range);
  CHECK_THROWS_AS(reader.read_positions(-3, 1), std::out_of_range);
  CHECK_THROWS_AS(reader.read_sequence_ids(0, 11), std::out_of_range);
  CHECK(reader.read_token_ids(10, 0).numel() == 0);
}

TEST_CASE("uncommitted activation writer leaves neither file nor temp file", "[sae][acts]") {
  TempDir tmp;
  const fs::path path = tmp / "acts.h5";
  {
    ActivationFileWriter writer(path, make_info("float32"), 4);
    writer.append({torch::randn({6, 5}), torch::randn({6, 3})}, torch::arange(6), torch::arange(6),
                  torch::zeros({6}, torch::kInt64));
    // The temporary file exists while writing, under another name.
    CHECK(folder_entries(tmp.path()).size() == 1);
    CHECK_FALSE(fs::exists(path));
  }
  CHECK(folder_entries(tmp.path()).empty());

  // The same when an exception unwinds past the writer.
  try {
    ActivationFileWriter writer(path, make_info("bfloat16"), 4);
    writer.append({torch::randn({2, 5}), torch::randn({2, 3})}, torch::arange(2), torch::arange(2),
                  torch::zeros({2}, torch::kInt64));
    throw std::runtime_error("interrupted");
  } catch (const std::runtime_error&) {
  }
  CHECK(folder_entries(tmp.path()).empty());

  // A committed writer leaves exactly the file, and is closed afterwards.
  ActivationFileWriter writer(path, make_info("float32"), 4);
  writer.commit();
  CHECK(folder_entries(tmp.path()) == std::vector<std::string>{"acts.h5"});
  CHECK_THROWS_AS(writer.commit(), std::logic_error);
  CHECK_THROWS_AS(writer.append({torch::randn({1, 5}), torch::randn({1, 3})}, torch::arange(1), torch::arange(1),
                                torch::arange(1)),
                  std::logic_error);
  ActivationFileReader empty(path);
  CHECK(empty.num_rows() == 0);
  CHECK(empty.read_activations(0, 0, 0).sizes().vec() == std::vector<int64_t>{0, 5});
}

TEST_CASE("a commit whose rename fails removes the temporary file", "[sae][acts]") {
  // The target is a non-empty folder: the cache is written and closed, then rename() fails.
  TempDir tmp;
  const fs::path path = tmp / "acts.h5";
  fs::create_directory(path);
  test::write_bytes(path / "keep", "x");
  ActivationFileWriter writer(path, make_info("float32"), 4);
  writer.append({torch::randn({3, 5}), torch::randn({3, 3})}, torch::arange(3), torch::arange(3),
                torch::zeros({3}, torch::kInt64));
  CHECK_THROWS_WITH(writer.commit(), Contains("activation file " + path.string()) && Contains("cannot replace"));
  CHECK(folder_entries(tmp.path()) == std::vector<std::string>{"acts.h5"});
  CHECK(test::read_bytes(path / "keep") == "x");
}

TEST_CASE("committing an activation cache replaces an existing file", "[sae][acts]") {
  TempDir tmp;
  const fs::path path = tmp / "nested" / "acts.h5";  // the parent folder is created
  write_cache(path, make_info("float32"), 4, {3});
  write_cache(path, make_info("bfloat16"), 4, {2, 2});
  ActivationFileReader reader(path);
  CHECK(reader.num_rows() == 4);
  CHECK(reader.info().storage_dtype == "bfloat16");
  CHECK(folder_entries(tmp / "nested") == std::vector<std::string>{"acts.h5"});
}

TEST_CASE("activation writer rejects mismatched tensors before writing", "[sae][acts]") {
  TempDir tmp;
  const fs::path path = tmp / "acts.h5";
  ActivationFileWriter writer(path, make_info("float32"), 4);
  const auto ids = torch::arange(4);
  const auto seq = torch::zeros({4}, torch::kInt64);
  const auto a0 = torch::randn({4, 5});
  const auto a1 = torch::randn({4, 3});

  CHECK_THROWS_AS(writer.append({a0}, ids, ids, seq), InputError);
  CHECK_THROWS_WITH(writer.append({a0}, ids, ids, seq), Contains("1 activation tensors for 2 hooks"));
  CHECK_THROWS_WITH(writer.append({a0, torch::randn({4, 4})}, ids, ids, seq),
                    Contains("blocks.0.hook_resid_mid") && Contains("[4, 4]") && Contains("[4, 3]"));
  CHECK_THROWS_WITH(writer.append({torch::randn({3, 5}), a1}, ids, ids, seq),
                    Contains("blocks.1.hook_resid_post") && Contains("[3, 5]") && Contains("[4, 5]"));
  CHECK_THROWS_WITH(writer.append({torch::randn({4, 5, 1}), a1}, ids, ids, seq),
                    Contains("blocks.1.hook_resid_post") && Contains("[4, 5, 1]"));
  CHECK_THROWS_WITH(writer.append({torch::ones({4, 5}, torch::kInt64), a1}, ids, ids, seq),
                    Contains("blocks.1.hook_resid_post") && Contains("floating"));
  CHECK_THROWS_WITH(writer.append({a0, a1}, ids, torch::arange(3), seq), Contains("positions") && Contains("[3]"));
  CHECK_THROWS_WITH(writer.append({a0, a1}, ids.view({2, 2}), ids, seq), Contains("token_ids") && Contains("[2, 2]"));
  CHECK_THROWS_WITH(writer.append({a0, a1}, ids.to(torch::kFloat32), ids, seq),
                    Contains("token_ids") && Contains("integer"));
  CHECK_THROWS_WITH(writer.append({a0, a1}, ids + (int64_t{1} << 40), ids, seq),
                    Contains("token_ids") && Contains("int32"));
  CHECK_THROWS_AS(writer.append({a0, a1}, ids, ids, torch::Tensor()), InputError);

  // Nothing was written by the rejected calls: the writer still works.
  CHECK(writer.num_rows() == 0);
  writer.append({a0, a1}, ids, ids, seq);
  writer.commit();
  ActivationFileReader reader(path);
  CHECK(reader.num_rows() == 4);
  CHECK(same(reader.read_activations(0, 0, 4), a0));
  CHECK(same(reader.read_activations(1, 0, 4), a1));
}

TEST_CASE("activation writer rejects bad file descriptions", "[sae][acts]") {
  TempDir tmp;
  const fs::path path = tmp / "acts.h5";
  auto info = make_info("float32");
  info.hook_names.clear();
  info.d_in.clear();
  CHECK_THROWS_AS(ActivationFileWriter(path, info), InputError);
  info = make_info("float16");
  CHECK_THROWS_WITH(ActivationFileWriter(path, info), Contains("float16"));
  info = make_info("float32");
  info.d_in = {5};
  CHECK_THROWS_AS(ActivationFileWriter(path, info), InputError);
  info = make_info("float32");
  info.hook_names[1] = info.hook_names[0];
  CHECK_THROWS_WITH(ActivationFileWriter(path, info), Contains("twice"));
  info = make_info("float32");
  info.hook_names[0] = "a/b";
  CHECK_THROWS_AS(ActivationFileWriter(path, info), InputError);
  CHECK_THROWS_AS(ActivationFileWriter(path, make_info("float32"), 0), InputError);
  CHECK(folder_entries(tmp.path()).empty());
  CHECK(open_hdf5_objects() == 0);
}

TEST_CASE("activation reader rejects files that are not HDF5", "[sae][acts]") {
  TempDir tmp;
  const fs::path scratch = tmp / "stderr.txt";
  const fs::path text = tmp / "notes.h5";
  std::ofstream(text) << "these are not activations\n";
  require_checkpoint_error(text, "not an HDF5 file", scratch);

  const fs::path good = valid_cache(tmp, "good.h5");
  const fs::path truncated = tmp / "truncated.h5";
  fs::copy_file(good, truncated);
  REQUIRE(::truncate(truncated.c_str(), static_cast<off_t>(fs::file_size(good) / 2)) == 0);
  require_checkpoint_error(truncated, "truncated", scratch);

  const fs::path empty = tmp / "empty.h5";
  std::ofstream(empty).close();
  require_checkpoint_error(empty, "not an HDF5 file", scratch);

  CHECK_THROWS_AS(ActivationFileReader(tmp / "missing.h5"), CheckpointError);
  CHECK_THROWS_WITH(ActivationFileReader(tmp / "missing.h5"), Contains("missing.h5") && Contains("does not exist"));
  CHECK(open_hdf5_objects() == 0);
}

TEST_CASE("activation reader rejects HDF5 files that break the layout", "[sae][acts]") {
  TempDir tmp;
  const fs::path scratch = tmp / "stderr.txt";
  const std::string hook0 = kHooks[0];

  // Each case damages a fresh valid cache through the raw HDF5 API.
  auto damaged = [&](const std::string& name, const std::function<void(hid_t root)>& damage) {
    const fs::path path = valid_cache(tmp, name);
    core::hdf5::File file = core::hdf5::open_file(path, /*writable=*/true);
    damage(file.get());
    REQUIRE(file.close());
    return path;
  };

  require_checkpoint_error(damaged("no_format.h5", [](hid_t root) { REQUIRE(H5Adelete(root, "format") >= 0); }),
                           "'format'", scratch);
  require_checkpoint_error(
      damaged("wrong_format.h5",
              [](hid_t root) { core::hdf5::write_string_attribute(root, "format", "something-else"); }),
      "something-else", scratch);
  require_checkpoint_error(damaged("format_not_string.h5",
                                   [](hid_t root) { core::hdf5::write_int64_attribute(root, "format", 7); }),
                           "'format' is not a string", scratch);
  require_checkpoint_error(damaged("newer.h5",
                                   [](hid_t root) { core::hdf5::write_int64_attribute(root, "format_version", 2); }),
                           "newer fpokit", scratch);
  require_checkpoint_error(damaged("no_positions.h5",
                                   [](hid_t root) { REQUIRE(H5Ldelete(root, "positions", H5P_DEFAULT) >= 0); }),
                           "'positions'", scratch);
  require_checkpoint_error(damaged("no_group.h5",
                                   [](hid_t root) { REQUIRE(H5Ldelete(root, "activations", H5P_DEFAULT) >= 0); }),
                           "'activations'", scratch);
  require_checkpoint_error(damaged("no_hooks.h5",
                                   [](hid_t root) {
                                     core::hdf5::Group group = core::hdf5::open_group(root, "activations");
                                     for (const auto& name : core::hdf5::link_names(group.get()))
                                       REQUIRE(H5Ldelete(group.get(), name.c_str(), H5P_DEFAULT) >= 0);
                                   }),
                           "no hooks", scratch);
  require_checkpoint_error(damaged("extra_row.h5",
                                   [](hid_t root) {
                                     core::hdf5::Dataset tokens = core::hdf5::open_dataset(root, "token_ids");
                                     const int32_t one = 1;
                                     core::hdf5::append_rows(tokens.get(), H5T_NATIVE_INT32, &one, 1);
                                   }),
                           "row counts disagree", scratch);
  require_checkpoint_error(damaged("hook_rows.h5",
                                   [&](hid_t root) {
                                     core::hdf5::Group group = core::hdf5::open_group(root, "activations");
                                     core::hdf5::Dataset d = core::hdf5::open_dataset(group.get(), kHooks[1]);
                                     const std::vector<float> row(3, 0.5f);
                                     core::hdf5::append_rows(d.get(), H5T_NATIVE_FLOAT, row.data(), 1);
                                   }),
                           "row counts disagree", scratch);
  require_checkpoint_error(damaged("unknown_dtype.h5",
                                   [&](hid_t root) {
                                     core::hdf5::Group group = core::hdf5::open_group(root, "activations");
                                     core::hdf5::Dataset d = core::hdf5::open_dataset(group.get(), hook0);
                                     core::hdf5::write_string_attribute(d.get(), "dtype", "float16");
                                   }),
                           "float16", scratch);
  require_checkpoint_error(damaged("lying_dtype.h5",
                                   [&](hid_t root) {
                                     core::hdf5::Group group = core::hdf5::open_group(root, "activations");
                                     core::hdf5::Dataset d = core::hdf5::open_dataset(group.get(), hook0);
                                     core::hdf5::write_string_attribute(d.get(), "dtype", "bfloat16");
                                   }),
                           "4-byte floats", scratch);
  require_checkpoint_error(damaged("one_dim.h5",
                                   [&](hid_t root) {
                                     core::hdf5::Group group = core::hdf5::open_group(root, "activations");
                                     REQUIRE(H5Ldelete(group.get(), hook0.c_str(), H5P_DEFAULT) >= 0);
                                     core::hdf5::Dataset d =
                                         core::hdf5::create_row_dataset(group.get(), hook0, H5T_IEEE_F32LE, {}, 4);
                                     core::hdf5::write_string_attribute(d.get(), "dtype", "float32");
                                     core::hdf5::write_string_attribute(d.get(), "hook_name", hook0);
                                   }),
                           "expected 2-D", scratch);
  require_checkpoint_error(damaged("group_as_hook.h5",
                                   [&](hid_t root) {
                                     core::hdf5::Group group = core::hdf5::open_group(root, "activations");
                                     core::hdf5::create_group(group.get(), "stray");
                                   }),
                           "not a dataset", scratch);

  // An HDF5 file that was never an activation cache.
  const fs::path foreign = tmp / "foreign.h5";
  {
    core::hdf5::File file = core::hdf5::create_file(foreign);
    core::hdf5::Dataset d = core::hdf5::create_row_dataset(file.get(), "data", H5T_IEEE_F32LE, {2}, 4);
  }
  require_checkpoint_error(foreign, "'format'", scratch);
  CHECK(open_hdf5_objects() == 0);
}

TEST_CASE("hdf5 helpers round-trip scalar attributes and keep member order", "[sae][acts][hdf5]") {
  TempDir tmp;
  const fs::path path = tmp / "attrs.h5";
  {
    core::hdf5::File file = core::hdf5::create_file(path);
    core::hdf5::write_string_attribute(file.get(), "name", "gemma-2-2b");
    core::hdf5::write_string_attribute(file.get(), "empty", "");
    core::hdf5::write_int64_attribute(file.get(), "big", int64_t{1} << 50);
    core::hdf5::write_int64_attribute(file.get(), "big", -7);  // replaces
    core::hdf5::write_double_attribute(file.get(), "beta", 0.125);
    // A fixed-length, null-padded string, as other tools write them.
    core::hdf5::Datatype fixed(H5Tcopy(H5T_C_S1));
    REQUIRE(H5Tset_size(fixed.get(), 8) >= 0);
    REQUIRE(H5Tset_strpad(fixed.get(), H5T_STR_NULLPAD) >= 0);
    core::hdf5::Dataspace scalar(H5Screate(H5S_SCALAR));
    core::hdf5::Attribute attribute(
        H5Acreate2(file.get(), "fixed", fixed.get(), scalar.get(), H5P_DEFAULT, H5P_DEFAULT));
    const char text[8] = {'a', 'b', 'c', 0, 0, 0, 0, 0};
    REQUIRE(H5Awrite(attribute.get(), fixed.get(), text) >= 0);
    core::hdf5::Group group = core::hdf5::create_group(file.get(), "g");
    for (const char* name : {"zeta", "alpha", "mid"}) core::hdf5::create_group(group.get(), name);
  }
  core::hdf5::File file = core::hdf5::open_file(path);
  CHECK(core::hdf5::read_string_attribute(file.get(), "name") == std::optional<std::string>("gemma-2-2b"));
  CHECK(core::hdf5::read_string_attribute(file.get(), "empty") == std::optional<std::string>(""));
  CHECK(core::hdf5::read_string_attribute(file.get(), "fixed") == std::optional<std::string>("abc"));
  CHECK(core::hdf5::read_int64_attribute(file.get(), "big") == std::optional<int64_t>(-7));
  CHECK(core::hdf5::read_double_attribute(file.get(), "beta") == std::optional<double>(0.125));
  CHECK(core::hdf5::read_double_attribute(file.get(), "big") == std::optional<double>(-7.0));
  CHECK_FALSE(core::hdf5::read_string_attribute(file.get(), "absent").has_value());
  CHECK_THROWS_AS(core::hdf5::read_int64_attribute(file.get(), "name"), core::hdf5::Error);
  CHECK_THROWS_WITH(core::hdf5::read_string_attribute(file.get(), "beta"), Contains("attrs.h5") && Contains("'beta'"));
  core::hdf5::Group group = core::hdf5::open_group(file.get(), "g");
  CHECK(core::hdf5::link_names(group.get()) == std::vector<std::string>{"zeta", "alpha", "mid"});
  CHECK(core::hdf5::has_link(file.get(), "g"));
  CHECK_FALSE(core::hdf5::has_link(file.get(), "h"));
  CHECK_THROWS_AS(core::hdf5::open_dataset(file.get(), "g"), core::hdf5::Error);
}

TEST_CASE("an activation file whose attribute makes libhdf5 read without end is damaged, not a hang") {
  // Found by fuzzing: libhdf5 cannot iterate the root's attributes (open_file's generic walk skips
  // them) but opens one by name and then loops in H5HG_read; the reader's own reading, first and
  // last rows included, runs in a child process first.
  namespace h5 = fpokit::core::hdf5;
  const auto saved = h5::structure_check_time_limit();
  h5::set_structure_check_time_limit(std::chrono::milliseconds(500));
  const auto path = test::repo_file("tests/fuzz/known/activation_file-hdf5-attribute-hang-e1a88a89.h5");
  std::string message = "opened";
  try {
    const fpokit::sae::ActivationFileReader reader(path);
  } catch (const CheckpointError& e) {
    message = e.what();
  }
  h5::set_structure_check_time_limit(saved);
  CHECK_THAT(message, Catch::Contains(path.filename().string()) &&
                          Catch::Contains("is damaged: libhdf5 did not finish") &&
                          Catch::Contains("re-create it with `fpokit acts cache`"));
}
