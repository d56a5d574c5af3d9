#include "common/config.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "common/logging.h"
#include "common/status.h"
#include "sac/v1/options.pb.h"

namespace sac {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Collects text-format parse errors as one message.
class CollectErrors : public google::protobuf::io::ErrorCollector {
 public:
  explicit CollectErrors(absl::string_view source) : source_(source) {}
  void AddError(int line, int column, const std::string& message) override {
    if (!errors_.empty()) errors_ += "; ";
    absl::StrAppend(&errors_, source_, ":", line + 1, ":", column + 1, ": ", message);
  }
  void AddWarning(int line, int column, const std::string& message) override {
    AddError(line, column, message);
  }
  const std::string& errors() const { return errors_; }

 private:
  std::string source_;
  std::string errors_;
};

std::string FieldNames(const Descriptor* d) {
  std::vector<std::string> names;
  names.reserve(d->field_count());
  for (int i = 0; i < d->field_count(); ++i) names.push_back(d->field(i)->name());
  return absl::StrJoin(names, ", ");
}

// A repeated field that each --flag extends by one whole value ((sac.v1.append)).
bool AppendsPerFlag(const FieldDescriptor* f) {
  return f->is_repeated() && f->options().GetExtension(v1::append);
}

std::string TypeName(const FieldDescriptor* f) {
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) return f->message_type()->name();
  std::string t = f->type_name();
  if (AppendsPerFlag(f)) {
    return absl::StrCat(t, ", repeatable");
  }
  return f->is_repeated() ? absl::StrCat("list of ", t) : t;
}

// Parses one scalar `value` into field `f` of `msg` (appending when repeated).
absl::Status SetScalar(const FieldDescriptor* f, absl::string_view value, absl::string_view path,
                       Message* msg) {
  const Reflection* r = msg->GetReflection();
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
    if (f->is_repeated()) {
      r->AddString(msg, f, std::string(value));
    } else {
      r->SetString(msg, f, std::string(value));
    }
    return absl::OkStatus();
  }
  std::string text(value);
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_BOOL) {
    if (text == "1" || text == "yes") text = "true";
    if (text == "0" || text == "no") text = "false";
  }
  // "name: value" merged into the field's message appends to a repeated field
  // and sets a singular one; errors go to the collector, not to the log.
  google::protobuf::TextFormat::Parser parser;
  CollectErrors errors(path);
  parser.RecordErrorsTo(&errors);
  // Parsed into an empty message first: the value must set exactly this field
  // once (so "3 other_field: 4" cannot set a second field).
  std::unique_ptr<Message> scratch(msg->New());
  std::vector<const FieldDescriptor*> set;
  const bool parsed = parser.MergeFromString(absl::StrCat(f->name(), ": ", text), scratch.get()) &&
                      errors.errors().empty();
  if (parsed) scratch->GetReflection()->ListFields(*scratch, &set);
  // Numbers, bools and enum names never hold spaces or colons: "3 shards: 4" is not a value.
  const bool one_token = text.find_first_of(" \t\n:{}<>#,") == std::string::npos;
  if (!parsed || !one_token || set.size() != 1 || set[0] != f ||
      (f->is_repeated() && scratch->GetReflection()->FieldSize(*scratch, f) != 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", path, ": '", value, "' is not a valid ", f->type_name()));
  }
  msg->MergeFrom(*scratch);  // sets a singular field, appends to a repeated one
  return absl::OkStatus();
}

absl::Status CheckNumber(const FieldDescriptor* f, double v, absl::string_view path) {
  const auto& o = f->options();
  if (o.HasExtension(v1::min) && !(v >= o.GetExtension(v1::min))) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", v, " is below the minimum ", o.GetExtension(v1::min)));
  }
  if (o.HasExtension(v1::max) && !(v <= o.GetExtension(v1::max))) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", v, " is above the maximum ", o.GetExtension(v1::max)));
  }
  return absl::OkStatus();
}

double NumberAt(const Message& m, const FieldDescriptor* f, int index) {
  const Reflection* r = m.GetReflection();
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f);
    case FieldDescriptor::CPPTYPE_INT64:
      return static_cast<double>(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f));
    case FieldDescriptor::CPPTYPE_UINT32:
      return rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f);
    case FieldDescriptor::CPPTYPE_UINT64:
      return static_cast<double>(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f);
    case FieldDescriptor::CPPTYPE_FLOAT:
      return rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f);
    default:
      return 0;
  }
}

bool IsNumber(const FieldDescriptor* f) {
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
      return true;
    default:
      return false;
  }
}

absl::Status ValidateRangesAt(const Message& m, const std::string& prefix) {
  const Descriptor* d = m.GetDescriptor();
  const Reflection* r = m.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    const std::string path = prefix.empty() ? f->name() : absl::StrCat(prefix, ".", f->name());
    const auto& o = f->options();
    if (f->is_repeated()) {
      const int n = r->FieldSize(m, f);
      if (o.HasExtension(v1::min_count) && n < static_cast<int>(o.GetExtension(v1::min_count))) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": ", n, " values, at least ",
                                                       o.GetExtension(v1::min_count), " required"));
      }
      if (o.HasExtension(v1::max_count) && n > static_cast<int>(o.GetExtension(v1::max_count))) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": ", n, " values, at most ",
                                                       o.GetExtension(v1::max_count), " allowed"));
      }
      for (int k = 0; k < n; ++k) {
        const std::string item = absl::StrCat(path, "[", k, "]");
        if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
          RETURN_IF_ERROR(ValidateRangesAt(r->GetRepeatedMessage(m, f, k), item));
        } else if (IsNumber(f)) {
          RETURN_IF_ERROR(CheckNumber(f, NumberAt(m, f, k), item));
        }
      }
      continue;
    }
    if (!r->HasField(m, f)) continue;
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      RETURN_IF_ERROR(ValidateRangesAt(r->GetMessage(m, f), path));
    } else if (IsNumber(f)) {
      RETURN_IF_ERROR(CheckNumber(f, NumberAt(m, f, 0), path));
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING && o.HasExtension(v1::one_of)) {
      const std::string value = r->GetString(m, f);
      const std::vector<std::string> allowed = absl::StrSplit(o.GetExtension(v1::one_of), '|');
      if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": '", value, "' is not one of ", absl::StrJoin(allowed, ", ")));
      }
    }
  }
  return absl::OkStatus();
}

void FlagHelpAt(const Descriptor* d, const std::string& prefix, std::string* out) {
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    const std::string path = prefix.empty() ? f->name() : absl::StrCat(prefix, ".", f->name());
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !f->is_repeated()) {
      FlagHelpAt(f->message_type(), path, out);
      continue;
    }
    std::string line = absl::StrCat("  --", path, " (", TypeName(f));
    if (f->has_default_value()) {
      std::string def;
      switch (f->cpp_type()) {
        case FieldDescriptor::CPPTYPE_STRING:
          def = absl::StrCat("\"", f->default_value_string(), "\"");
          break;
        case FieldDescriptor::CPPTYPE_BOOL:
          def = f->default_value_bool() ? "true" : "false";
          break;
        case FieldDescriptor::CPPTYPE_DOUBLE:
          def = absl::StrCat(f->default_value_double());
          break;
        case FieldDescriptor::CPPTYPE_FLOAT:
          def = absl::StrCat(f->default_value_float());
          break;
        case FieldDescriptor::CPPTYPE_INT32:
          def = absl::StrCat(f->default_value_int32());
          break;
        case FieldDescriptor::CPPTYPE_INT64:
          def = absl::StrCat(f->default_value_int64());
          break;
        case FieldDescriptor::CPPTYPE_UINT32:
          def = absl::StrCat(f->default_value_uint32());
          break;
        case FieldDescriptor::CPPTYPE_UINT64:
          def = absl::StrCat(f->default_value_uint64());
          break;
        default:
          break;
      }
      if (!def.empty()) absl::StrAppend(&line, ", default ", def);
    }
    absl::StrAppend(&line, ")");
    const auto& o = f->options();
    if (o.HasExtension(v1::one_of)) absl::StrAppend(&line, " {", o.GetExtension(v1::one_of), "}");
    if (o.HasExtension(v1::help)) absl::StrAppend(&line, "  ", o.GetExtension(v1::help));
    absl::StrAppend(out, line, "\n");
  }
}

}  // namespace

absl::Status MergeConfigText(absl::string_view text, absl::string_view source, Message* config) {
  google::protobuf::TextFormat::Parser parser;
  CollectErrors errors(source);
  parser.RecordErrorsTo(&errors);
  Message* scratch = config->New();
  scratch->CopyFrom(*config);
  const bool ok = parser.MergeFromString(std::string(text), scratch);
  if (!ok || !errors.errors().empty()) {
    delete scratch;
    return absl::InvalidArgumentError(
        errors.errors().empty() ? absl::StrCat(source, ": cannot parse") : errors.errors());
  }
  config->CopyFrom(*scratch);
  delete scratch;
  return absl::OkStatus();
}

absl::Status MergeConfigFile(const std::string& path, Message* config) {
  absl::StatusOr<std::string> text = ReadWholeFile(path);
  if (!text.ok()) return Annotate(text.status(), "--config");
  return MergeConfigText(*text, path, config);
}

absl::Status ApplyOverride(absl::string_view path, absl::string_view value, Message* config) {
  const std::vector<std::string> parts = absl::StrSplit(path, '.');
  Message* msg = config;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Descriptor* d = msg->GetDescriptor();
    const FieldDescriptor* f = d->FindFieldByName(parts[i]);
    if (f == nullptr) {
      const std::string where = i == 0 ? "" : absl::StrCat(" in ", d->name());
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", path, ": no field '",
                                                     parts[i], "'", where,
                                                     " (fields: ", FieldNames(d), ")"));
    }
    const bool last = i + 1 == parts.size();
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (last || f->is_repeated()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--", path, ": '", parts[i], "' is a group of settings; set one of its fields (",
            FieldNames(f->message_type()), ")"));
      }
      msg = msg->GetReflection()->MutableMessage(msg, f);
      continue;
    }
    if (!last) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", path, ": '", parts[i], "' has no fields"));
    }
    // Parse into a scratch copy so that a bad value changes nothing.
    std::unique_ptr<Message> scratch(msg->New());
    scratch->CopyFrom(*msg);
    if (AppendsPerFlag(f)) {
      RETURN_IF_ERROR(SetScalar(f, value, path, scratch.get()));
    } else if (f->is_repeated()) {
      scratch->GetReflection()->ClearField(scratch.get(), f);
      if (!value.empty()) {
        for (absl::string_view item : absl::StrSplit(value, ',')) {
          RETURN_IF_ERROR(SetScalar(f, absl::StripAsciiWhitespace(item), path, scratch.get()));
        }
      }
    } else {
      RETURN_IF_ERROR(SetScalar(f, value, path, scratch.get()));
    }
    msg->CopyFrom(*scratch);
  }
  return absl::OkStatus();
}

void FillDefaults(Message* config) {
  const Descriptor* d = config->GetDescriptor();
  const Reflection* r = config->GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->is_repeated() || f->containing_oneof() != nullptr) continue;
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      FillDefaults(r->MutableMessage(config, f));
      continue;
    }
    if (!f->has_presence() || r->HasField(*config, f)) continue;
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        r->SetInt32(config, f, f->default_value_int32());
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        r->SetInt64(config, f, f->default_value_int64());
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        r->SetUInt32(config, f, f->default_value_uint32());
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        r->SetUInt64(config, f, f->default_value_uint64());
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        r->SetDouble(config, f, f->default_value_double());
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        r->SetFloat(config, f, f->default_value_float());
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        r->SetBool(config, f, f->default_value_bool());
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        r->SetEnum(config, f, f->default_value_enum());
        break;
      case FieldDescriptor::CPPTYPE_STRING:
        r->SetString(config, f, f->default_value_string());
        break;
      default:
        break;
    }
  }
}

absl::Status ValidateRanges(const Message& config) { return ValidateRangesAt(config, ""); }

std::string ConfigToText(const Message& config, bool single_line) {
  google::protobuf::TextFormat::Printer printer;
  printer.SetSingleLineMode(single_line);
  std::string out;
  printer.PrintToString(config, &out);
  return out;
}

std::string FlagHelp(const Descriptor* descriptor) {
  std::string out;
  FlagHelpAt(descriptor, "", &out);
  return out;
}

absl::StatusOr<CommandLine> ParseCommandLine(int argc, const char* const* argv, Message* config,
                                             bool allow_positional) {
  CommandLine cl;
  std::vector<std::pair<std::string, std::string>> overrides;
  std::string config_file;
  bool flags_done = false;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (flags_done || !absl::StartsWith(arg, "--")) {
      if (arg == "--") {
        flags_done = true;
        continue;
      }
      if (!allow_positional) {
        return absl::InvalidArgumentError(
            absl::StrCat("unexpected argument '", arg, "' (flags are --name=value; see --help)"));
      }
      cl.positional.emplace_back(arg);
      continue;
    }
    arg.remove_prefix(2);
    if (arg == "") {
      flags_done = true;
      continue;
    }
    const size_t eq = arg.find('=');
    const std::string name(arg.substr(0, eq));
    const bool has_value = eq != absl::string_view::npos;
    const std::string value = has_value ? std::string(arg.substr(eq + 1)) : "";
    if (name == "help" || name == "h") {
      cl.help = true;
    } else if (name == "validate_only") {
      cl.validate_only = !has_value || value == "true" || value == "1";
    } else if (name == "config") {
      if (!has_value || value.empty()) {
        return absl::InvalidArgumentError("--config needs a file: --config=FILE");
      }
      config_file = value;
    } else if (has_value) {
      overrides.emplace_back(name, value);
    } else {
      overrides.emplace_back(name, "true");  // a bare --flag sets a bool; others fail below
    }
  }
  if (cl.help) return cl;
  if (!config_file.empty()) RETURN_IF_ERROR(MergeConfigFile(config_file, config));
  for (const auto& [name, value] : overrides) {
    RETURN_IF_ERROR(ApplyOverride(name, value, config));
  }
  return cl;
}

std::vector<std::string> InitConfigOrExit(int argc, const char* const* argv,
                                          absl::string_view program, absl::string_view about,
                                          Message* config,
                                          const std::function<absl::Status(Message*)>& finalize,
                                          bool allow_positional) {
  const std::string name(program);
  absl::StatusOr<CommandLine> cl = ParseCommandLine(argc, argv, config, allow_positional);
  if (cl.ok() && cl->help) {
    std::printf(
        "%s: %.*s\n\nUsage: %s [--config=FILE] [--field.path=value ...] "
        "[--validate_only]\n\nFlags (fields of %s):\n%s",
        name.c_str(), static_cast<int>(about.size()), about.data(), name.c_str(),
        config->GetDescriptor()->full_name().c_str(), FlagHelp(config->GetDescriptor()).c_str());
    std::exit(0);
  }
  absl::Status status = cl.status();
  if (status.ok()) {
    FillDefaults(config);
    if (finalize) status = finalize(config);
  }
  if (status.ok()) status = ValidateRanges(*config);
  if (!status.ok()) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), std::string(status.message()).c_str());
    std::exit(2);
  }
  if (cl->validate_only) {
    std::printf("# %s: config valid\n%s", name.c_str(), ConfigToText(*config).c_str());
    std::exit(0);
  }
  SAC_LOG(INFO) << name << " effective config: " << ConfigToText(*config, true);
  return cl->positional;
}

}  // namespace sac
