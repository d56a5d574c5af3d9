// Fuzz target: configuration text and flags (common/config.h), what every
// process reads from --config=FILE and its command line, and the replay shard's
// options derived from its config (replay_server/shard.h ShardOptionsFromConfig).
// Input: [u8 schema][u8 mode][text] '\0' [flags, one per line]. schema % 4:
// ReplayServerConfig, LearnerConfig, ActorConfig, sacctl's LocalCommand. Mode
// bit 0: the text goes through a file given as --config=FILE (ParseCommandLine
// reads it) instead of MergeConfigText. Fuzzed flags naming --config are
// dropped (they would read arbitrary files).
// Properties: errors are INVALID_ARGUMENT with a message; a config that
// parses, gets its defaults and passes the range checks prints as text (one
// line or many) that parses back to the same message.
#include <google/protobuf/util/field_comparator.h>
#include <google/protobuf/util/message_differencer.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/config.h"
#include "replay_server/shard.h"
#include "sac/v1/actor_config.pb.h"
#include "sac/v1/learner_config.pb.h"
#include "sac/v1/replay_config.pb.h"
#include "sac/v1/sacctl_config.pb.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using google::protobuf::Message;
using sac::fuzz::Fail;

std::unique_ptr<Message> NewConfig(int schema) {
  switch (schema % 4) {
    case 0:
      return std::make_unique<sac::v1::ReplayServerConfig>();
    case 1:
      return std::make_unique<sac::v1::LearnerConfig>();
    case 2:
      return std::make_unique<sac::v1::ActorConfig>();
    default:
      return std::make_unique<sac::v1::LocalCommand>();
  }
}

void CheckError(const absl::Status& s, const char* step) {
  if (s.code() != absl::StatusCode::kInvalidArgument || s.message().empty()) {
    Fail(absl::StrCat(step, ": error is not INVALID_ARGUMENT with a message: ", s.ToString()));
  }
}

bool Same(const Message& a, const Message& b) {
  google::protobuf::util::DefaultFieldComparator comparator;
  comparator.set_treat_nan_as_equal(true);
  google::protobuf::util::MessageDifferencer differencer;
  differencer.set_field_comparator(&comparator);
  return differencer.Compare(a, b);
}

// The --config file of this process, removed at exit.
const std::string& ConfigPath() {
  static const std::string* path = [] {
    auto* p = new std::string(absl::StrCat("/tmp/sac-fuzz-config-", getpid(), ".txt"));
    std::atexit([] { unlink(ConfigPath().c_str()); });
    return p;
  }();
  return *path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sac::fuzz::FuzzInput in(data, size);
  const int schema = in.Byte();
  const uint8_t mode = in.Byte();
  const absl::string_view rest = in.Rest();
  const size_t nul = rest.find('\0');
  const absl::string_view text = rest.substr(0, nul);
  const absl::string_view flag_text =
      nul == absl::string_view::npos ? absl::string_view() : rest.substr(nul + 1);

  std::vector<std::string> args = {"sac-fuzz"};
  std::unique_ptr<Message> config = NewConfig(schema);
  if (mode & 1) {
    {
      std::ofstream file(ConfigPath(), std::ios::binary | std::ios::trunc);
      file.write(text.data(), static_cast<std::streamsize>(text.size()));
    }
    args.push_back("--config=" + ConfigPath());
  } else {
    absl::Status s = sac::MergeConfigText(text, "fuzz.txt", config.get());
    if (!s.ok()) {
      CheckError(s, "MergeConfigText");
      return 0;
    }
  }
  if (!flag_text.empty()) {
    for (absl::string_view flag : absl::StrSplit(flag_text, '\n')) {
      if (absl::StartsWith(flag, "--config")) continue;
      args.emplace_back(flag);
    }
  }
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  auto cl = sac::ParseCommandLine(static_cast<int>(argv.size()), argv.data(), config.get());
  if (!cl.ok()) {
    CheckError(cl.status(), "ParseCommandLine");
    return 0;
  }
  if (cl->help) return 0;
  sac::FillDefaults(config.get());
  absl::Status valid = sac::ValidateRanges(*config);
  if (!valid.ok()) {
    CheckError(valid, "ValidateRanges");
    return 0;
  }
  for (bool single_line : {false, true}) {
    const std::string printed = sac::ConfigToText(*config, single_line);
    std::unique_ptr<Message> back = NewConfig(schema);
    absl::Status s = sac::MergeConfigText(printed, "printed", back.get());
    if (!s.ok()) Fail("printed config does not parse: " + s.ToString() + "\n" + printed);
    if (!Same(*config, *back)) Fail("printed config parses to another message:\n" + printed);
  }
  if (schema % 4 == 0) {
    auto options = sac::replay::ShardOptionsFromConfig(
        static_cast<const sac::v1::ReplayServerConfig&>(*config));
    if (!options.ok()) {
      const auto code = options.status().code();
      if (code != absl::StatusCode::kInvalidArgument && code != absl::StatusCode::kNotFound &&
          code != absl::StatusCode::kResourceExhausted) {
        Fail("shard options: unexpected error " + options.status().ToString());
      }
    } else if (options->table.spec.obs_dim < 1 || options->table.spec.act_dim < 1 ||
               options->table.capacity < 1) {
      Fail("shard options from a valid config describe an impossible table");
    }
  }
  return 0;
}
