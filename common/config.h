// Configuration: one schema for all processes, as proto messages (proto/sac/v1/
// *_config.proto). A process fills its config message from, in order:
//   1. the field defaults of the schema,
//   2. a text-format file given by --config=FILE,
//   3. --field.path=value flags, applied left to right (a repeated field takes a
//      comma-separated list and replaces what the file gave; one marked
//      (sac.v1.append), e.g. sacctl local's --learner_flag, instead gains the
//      whole value of each flag as one more element).
// Unknown fields and flags, malformed values and values outside the ranges the
// schema declares ((sac.v1.min), (sac.v1.max), (sac.v1.one_of), ...) are errors
// that name the field. Not thread-safe; called once at start.
#ifndef SAC_COMMON_CONFIG_H_
#define SAC_COMMON_CONFIG_H_

#include <google/protobuf/message.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sac {

// What ParseCommandLine found besides config fields.
struct CommandLine {
  bool help = false;           // --help
  bool validate_only = false;  // --validate_only
  std::vector<std::string> positional;
};

// Applies the three sources above to `config`. Positional arguments are errors
// unless `allow_positional`.
absl::StatusOr<CommandLine> ParseCommandLine(int argc, const char* const* argv,
                                             google::protobuf::Message* config,
                                             bool allow_positional = false);

// Merges a text-format file into `config`.
absl::Status MergeConfigFile(const std::string& path, google::protobuf::Message* config);
// Merges text-format `text` (named `source` in errors) into `config`.
absl::Status MergeConfigText(absl::string_view text, absl::string_view source,
                             google::protobuf::Message* config);

// Sets one field addressed by a dotted path ("rate_limiter.min_size_to_sample").
absl::Status ApplyOverride(absl::string_view path, absl::string_view value,
                           google::protobuf::Message* config);

// Gives every unset singular field its schema default, recursively, so that the
// effective config printed and saved is complete.
void FillDefaults(google::protobuf::Message* config);

// Checks the declared ranges of every set field, recursively.
absl::Status ValidateRanges(const google::protobuf::Message& config);

// Text format, one field per line; `single_line` for log lines.
std::string ConfigToText(const google::protobuf::Message& config, bool single_line = false);

// One line per flag: --path (type, default) help.
std::string FlagHelp(const google::protobuf::Descriptor* descriptor);

// The start of every process: parses flags into `config`, fills defaults, runs
// `finalize` (process checks and derived values), validates ranges. On --help it
// prints help and exits 0; on any error it prints one line
// "<program>: <error>" to stderr and exits 2; on --validate_only it prints the
// effective config and exits 0. Otherwise it logs the effective config and
// returns the positional arguments (errors for them unless allow_positional).
std::vector<std::string> InitConfigOrExit(
    int argc, const char* const* argv, absl::string_view program, absl::string_view about,
    google::protobuf::Message* config,
    const std::function<absl::Status(google::protobuf::Message*)>& finalize = nullptr,
    bool allow_positional = false);

}  // namespace sac

#endif  // SAC_COMMON_CONFIG_H_
