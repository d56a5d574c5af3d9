// Writes the seed corpus of every fuzz target (tests/fuzz/corpus/<target>/)
// with the project's real writers: EncodeCheckpoint, WriteSnapshot,
// FrameRecord + EncodeRecord, SerializeSafetensors, EncodeTensor, ConfigToText,
// serialized requests. Each seed is checked to decode before it is written.
// Usage: fuzz_make_seeds <corpus folder>   (rerun after a format change)
#include <google/protobuf/text_format.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/config.h"
#include "common/tensor_codec.h"
#include "learner/checkpoint_file.h"
#include "policy/policy_metadata.h"
#include "policy/safetensors.h"
#include "replay_server/rows.h"
#include "replay_server/snapshot.h"
#include "replay_server/table.h"
#include "replay_server/test_batches.h"
#include "replay_server/wal.h"
#include "sac/v1/actor_config.pb.h"
#include "sac/v1/learner_config.pb.h"
#include "sac/v1/replay.pb.h"
#include "sac/v1/replay_config.pb.h"
#include "sac/v1/sacctl_config.pb.h"
#include "tests/fuzz/memory_fs.h"

namespace {

namespace fs = std::filesystem;
namespace replay = sac::replay;
namespace v1 = sac::v1;

fs::path g_root;
int g_written = 0;

void Check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "make_seeds: %s\n", what.c_str());
    std::exit(1);
  }
}

// Writes corpus/<target>/seed-<name> (or <prefix>-<name>).
void Write(const std::string& target, const std::string& name, const std::string& bytes,
           const std::string& prefix = "seed") {
  const fs::path dir = g_root / target;
  fs::create_directories(dir);
  std::ofstream out(dir / (prefix + "-" + name), std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  Check(out.good(), "cannot write " + (dir / name).string());
  ++g_written;
}

std::string U8(int v) { return std::string(1, static_cast<char>(v)); }
std::string U16(size_t v) {
  return std::string{static_cast<char>(v & 0xFF), static_cast<char>((v >> 8) & 0xFF)};
}

constexpr int64_t kObs = 3, kAct = 2;

void TensorCodec() {
  std::vector<float> m = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  v1::Tensor t;
  sac::EncodeMatrix(m, 4, 3, &t);
  Check(sac::DecodeTensor(t, "seed").ok(), "tensor seed");
  // [flags][n][dims][u16 rows][tensor]
  Write("tensor_codec", "matrix-any-rows",
        U8(1) + U8(2) + U8(0xFF) + U8(3) + U16(4) + t.SerializeAsString());
  Write("tensor_codec", "matrix-exact",
        U8(0) + U8(2) + U8(4) + U8(3) + U16(4) + t.SerializeAsString());
  v1::Tensor v;
  sac::EncodeVector(std::vector<float>{0.5f, -1.5f, 3}, &v);
  Write("tensor_codec", "vector", U8(1) + U8(1) + U8(3) + U16(3) + v.SerializeAsString());
  v1::Tensor flags;
  flags.add_shape(4);
  flags.set_data(std::string("\0\1\1\0", 4));
  Write("tensor_codec", "flag-column", U8(0) + U8(0) + U16(4) + flags.SerializeAsString());
  v1::Tensor scalar;
  sac::EncodeTensor(std::vector<float>{2.5f}, {}, &scalar);
  Write("tensor_codec", "scalar", U8(1) + U8(0) + U16(0) + scalar.SerializeAsString());
}

void Safetensors() {
  v1::PolicyMetadata meta;
  meta.set_task("HalfCheetah-v5");
  meta.set_obs_dim(17);
  meta.set_act_dim(2);
  sac::EncodeVector(std::vector<float>{-1, -1}, meta.mutable_action_low());
  sac::EncodeVector(std::vector<float>{1, 1}, meta.mutable_action_high());
  meta.add_hidden_sizes(4);
  meta.add_hidden_sizes(4);
  meta.set_activation("relu");
  meta.set_variant("v2");
  meta.set_version(12);
  meta.set_env_steps(5000);
  meta.set_updates(4000);
  meta.set_wall_time_seconds(123.25);
  meta.set_log_std_min(-20);
  meta.set_log_std_max(2);
  sac::SafetensorsFile file;
  file.metadata = sac::PolicyMetadataToStrings(meta);
  file.tensors["trunk.0.weight"] = {{4, 17}, std::vector<float>(68, 0.25f)};
  file.tensors["trunk.0.bias"] = {{4}, {0.1f, 0.2f, 0.3f, 0.4f}};
  file.tensors["mean.weight"] = {{2, 4}, std::vector<float>(8, -0.5f)};
  const std::string bytes = sac::SerializeSafetensors(file);
  auto parsed = sac::ParseSafetensors(bytes);
  Check(parsed.ok() && sac::PolicyMetadataFromStrings(parsed->metadata).ok(), "safetensors seed");
  Write("safetensors", "policy", bytes);
  sac::SafetensorsFile plain;
  plain.tensors["x"] = {{2, 2}, {1, 2, 3, 4}};
  plain.tensors["empty"] = {{0}, {}};
  Write("safetensors", "plain", sac::SerializeSafetensors(plain));
}

void Checkpoint() {
  namespace learner = sac::learner;
  learner::CheckpointContents c;
  c.strings["config"] = "variant: \"v2\"\nbatch_size: 256\n";
  c.strings["counters.updates"] = "4000";
  learner::CheckpointArray f{learner::ArrayDtype::kFloat32, {2, 3}, std::string(24, '\0')};
  learner::CheckpointArray u{learner::ArrayDtype::kUint8, {5}, "\1\2\3\4\5"};
  learner::CheckpointArray i{learner::ArrayDtype::kInt64, {1}, std::string(8, '\7')};
  c.arrays["actor.trunk.0.weight"] = f;
  c.arrays["rng.state"] = u;
  c.arrays["step"] = i;
  const std::string image = learner::EncodeCheckpoint(c);
  Check(learner::DecodeCheckpoint(image, "seed").ok(), "checkpoint seed");
  Write("checkpoint", "image", U8(0) + image);
  // Mode 1: the payload alone (header 24 bytes, trailer 12).
  Write("checkpoint", "payload", U8(1) + image.substr(24, image.size() - 36));
  Write("checkpoint", "empty", U8(0) + learner::EncodeCheckpoint({}));
}

// A table of `rows` test rows, obs 3 act 2, with the given capacity.
replay::TableContents TableOf(int64_t rows, int64_t capacity) {
  replay::TableOptions o;
  o.spec = {kObs, kAct};
  o.capacity = capacity;
  auto table = replay::ReplayTable::Create(o);
  Check(table.ok(), "table");
  if (rows > 0) {
    const v1::TransitionBatch b = replay::testing::MakeBatch(1, rows, kObs, kAct);
    auto valid = replay::ValidateBatch(b, o.spec, 1000);
    Check(valid.ok(), "batch");
    (*table)->Insert(valid->rows);
  }
  return (*table)->Copy();
}

void Snapshot() {
  for (auto [rows, cap] : {std::pair<int64_t, int64_t>{5, 8}, {12, 8}, {0, 8}}) {
    sac::fuzz::MemoryFileSystem mfs;
    auto path = replay::WriteSnapshot(&mfs, "/d", TableOf(rows, cap), 3);
    Check(path.ok(), "snapshot write");
    const std::string file = *mfs.ReadFile(*path);
    uint64_t seg = 0;
    Check(replay::ReadSnapshot(&mfs, *path, &seg).ok(), "snapshot seed");
    const std::string name = absl::StrCat(rows, "-rows-cap-", cap);
    // [mode][capacity - 1][...]; mode 1: between the magic and the checksum.
    Write("snapshot", name, U8(0) + U8(static_cast<int>(cap - 1)) + file);
    Write("snapshot", name + "-body",
          U8(1) + U8(static_cast<int>(cap - 1)) + file.substr(8, file.size() - 20));
    Write("snapshot", name + "-prioritized", U8(3) + U8(15) + file.substr(8, file.size() - 20));
  }
}

std::string Record(uint64_t first_id, int64_t rows, uint64_t first_key) {
  const v1::TransitionBatch b = replay::testing::MakeBatch(first_id, rows, kObs, kAct);
  auto valid = replay::ValidateBatch(b, {kObs, kAct}, 1000);
  Check(valid.ok(), "record batch");
  std::string body = replay::EncodeRecord(first_key, valid->rows, {kObs, kAct});
  uint64_t key = 0;
  Check(replay::DecodeRecord(body, {kObs, kAct}, &key).ok() && key == first_key, "record seed");
  return body;
}

void Wal() {
  const std::string r1 = Record(1, 3, 0), r2 = Record(4, 5, 3), r3 = Record(9, 20, 8);
  // Mode 0: a raw segment file; a torn tail.
  const std::string segment = replay::FrameRecord(r1) + replay::FrameRecord(r2);
  Write("wal", "segment", U8(0) + segment);
  Write("wal", "segment-torn", U8(0) + segment + replay::FrameRecord(r3).substr(0, 40));
  // Mode 1: [u16 len][body] records, framed by the target.
  Write("wal", "records", U8(1) + U16(r1.size()) + r1 + U16(r2.size()) + r2 + U16(r3.size()) + r3);
  Write("wal", "records-prioritized-torn", U8(3) + U16(r1.size()) + r1 + U16(0) + "tail");
  // Mode 5: two segments.
  Write("wal", "two-segments", U8(5) + U16(r1.size()) + r1 + U16(0) + U16(r2.size()) + r2 + U16(0));
}

std::string Request(uint64_t sequence, uint64_t first_id, int64_t rows) {
  v1::InsertRequest r;
  r.set_sequence(sequence);
  *r.mutable_batch() = replay::testing::MakeBatch(first_id, rows, kObs, kAct);
  const std::string bytes = r.SerializeAsString();
  return U16(bytes.size()) + bytes;
}

void ReplayRpc() {
  // [op][auth][...]
  Write("replay_rpc", "insert", U8(0) + U8(0) + Request(1, 1, 4) + Request(2, 5, 2));
  Write("replay_rpc", "insert-no-token", U8(0) + U8(1) + Request(1, 1, 4));
  Write("replay_rpc", "insert-bad-sequence", U8(0) + U8(0) + Request(5, 1, 1) + Request(5, 2, 1));
  v1::SampleRequest s;
  s.set_batch_size(4);
  Write("replay_rpc", "sample", U8(1) + U8(0) + s.SerializeAsString());
  Write("replay_rpc", "sample-wrong-token", U8(1) + U8(2) + s.SerializeAsString());
  v1::UpdatePrioritiesRequest u;
  for (uint64_t k = 0; k < 4; ++k) u.add_key(k);
  sac::EncodeVector(std::vector<float>{0.5f, 1, 2, 0}, u.mutable_priority());
  Write("replay_rpc", "update-priorities", U8(2) + U8(0) + u.SerializeAsString());
  Write("replay_rpc", "status", U8(3) + U8(0));
}

// "--name=value" for each set scalar field at the top level of `m`.
std::string TopLevelFlags(const google::protobuf::Message& m) {
  std::string out;
  const auto* d = m.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    if (f->is_repeated() || f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
      continue;
    }
    std::string value;
    google::protobuf::TextFormat::PrintFieldValueToString(m, f, -1, &value);
    if (f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_STRING) {
      value = m.GetReflection()->GetString(m, f);
      if (value.empty()) continue;
    }
    absl::StrAppend(&out, out.empty() ? "" : "\n", "--", f->name(), "=", value);
  }
  return out;
}

void Config() {
  v1::ReplayServerConfig replay_config;
  replay_config.set_task("Hopper-v5");
  v1::LearnerConfig learner_config;
  v1::ActorConfig actor_config;
  v1::LocalCommand local;
  google::protobuf::Message* configs[] = {&replay_config, &learner_config, &actor_config, &local};
  for (int schema = 0; schema < 4; ++schema) {
    google::protobuf::Message* m = configs[schema];
    sac::FillDefaults(m);
    const std::string text = sac::ConfigToText(*m);
    const std::string name = m->GetDescriptor()->name();
    Write("config", name + "-text", U8(schema) + U8(0) + text);
    Write("config", name + "-file", U8(schema) + U8(1) + text);
    Write("config", name + "-flags", U8(schema) + U8(0) + std::string(1, '\0') + TopLevelFlags(*m));
  }
  Write("config", "replay-override",
        U8(0) + U8(0) + "capacity: 1000\nrate_limiter { min_size_to_sample: 10 }" +
            std::string(1, '\0') + "--selector=prioritized\n--durability.enabled=false\n--help");
}

// Inputs that crashed a decoder once (the fix and its unit test are named in
// docs/reliability.md); replayed by every bounded run.
void Regressions() {
  // A snapshot header whose row count overflows size x row bytes to the real
  // payload size (0 here, dims 0): ReadSnapshot resized a column to 2^63 rows.
  v1::ReplaySnapshotHeader header;
  header.set_size(uint64_t{1} << 63);
  header.set_payload_bytes(0);
  const std::string h = header.SerializeAsString();
  const uint32_t len = static_cast<uint32_t>(h.size());
  const std::string body = std::string(reinterpret_cast<const char*>(&len), 4) + h;
  Write("snapshot", "size-overflow", U8(1) + U8(7) + body, "regress");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus folder>\n", argv[0]);
    return 2;
  }
  g_root = argv[1];
  TensorCodec();
  Safetensors();
  Checkpoint();
  Snapshot();
  Wal();
  ReplayRpc();
  Config();
  Regressions();
  std::printf("make_seeds: %d seeds written under %s\n", g_written, g_root.c_str());
  return 0;
}
