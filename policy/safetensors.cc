#include "policy/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status.h"

namespace sac {
namespace {

// The JSON subset safetensors headers use: objects, arrays, strings, integers.
// An object member. Its own struct, not std::pair<std::string, Json>: the pair
// would be instantiated while Json is incomplete, which clang 14 (the fuzz
// build) rejects.
struct JsonMember;

struct Json {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = kNull;
  double number = 0;
  bool is_integer = false;
  int64_t integer = 0;
  std::string str;
  std::vector<Json> items;
  std::vector<JsonMember> members;
};

struct JsonMember {
  std::string first;
  Json second;
};

class JsonParser {
 public:
  explicit JsonParser(absl::string_view text) : s_(text) {}

  absl::StatusOr<Json> ParseDocument() {
    Json v;
    RETURN_IF_ERROR(Parse(&v, 0));
    SkipSpace();
    if (pos_ != s_.size()) return Error("trailing characters");
    return v;
  }

 private:
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("safetensors header: ", what, " at byte ", pos_));
  }
  void SkipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t')) {
      ++pos_;
    }
  }
  bool Consume(char c) {
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  absl::Status Parse(Json* out, int depth) {
    if (depth > 16) return Error("nesting too deep");
    SkipSpace();
    if (pos_ >= s_.size()) return Error("unexpected end");
    const char c = s_[pos_];
    if (c == '{') {
      ++pos_;
      out->kind = Json::kObject;
      if (Consume('}')) return absl::OkStatus();
      do {
        SkipSpace();
        std::string key;
        RETURN_IF_ERROR(ParseString(&key));
        if (!Consume(':')) return Error("expected ':'");
        Json value;
        RETURN_IF_ERROR(Parse(&value, depth + 1));
        out->members.push_back({std::move(key), std::move(value)});
      } while (Consume(','));
      if (!Consume('}')) return Error("expected '}'");
      return absl::OkStatus();
    }
    if (c == '[') {
      ++pos_;
      out->kind = Json::kArray;
      if (Consume(']')) return absl::OkStatus();
      do {
        Json value;
        RETURN_IF_ERROR(Parse(&value, depth + 1));
        out->items.push_back(std::move(value));
      } while (Consume(','));
      if (!Consume(']')) return Error("expected ']'");
      return absl::OkStatus();
    }
    if (c == '"') {
      out->kind = Json::kString;
      return ParseString(&out->str);
    }
    if (s_.substr(pos_, 4) == "true" || s_.substr(pos_, 5) == "false") {
      out->kind = Json::kBool;
      pos_ += s_[pos_] == 't' ? 4 : 5;
      return absl::OkStatus();
    }
    if (s_.substr(pos_, 4) == "null") {
      pos_ += 4;
      return absl::OkStatus();
    }
    return ParseNumber(out);
  }

  absl::Status ParseNumber(Json* out) {
    const size_t start = pos_;
    bool integer = true;
    if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c >= '0' && c <= '9') {
        ++pos_;
      } else if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
        integer = false;
        ++pos_;
      } else {
        break;
      }
    }
    if (pos_ == start) return Error("unexpected character");
    const std::string text(s_.substr(start, pos_ - start));
    out->kind = Json::kNumber;
    char* end = nullptr;
    out->number = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size()) return Error("bad number");
    if (integer) {
      errno = 0;
      const int64_t v = std::strtoll(text.c_str(), &end, 10);
      if (errno == 0 && end == text.c_str() + text.size()) {
        out->is_integer = true;
        out->integer = v;
      }
    }
    return absl::OkStatus();
  }

  absl::Status ParseString(std::string* out) {
    if (pos_ >= s_.size() || s_[pos_] != '"') return Error("expected a string");
    ++pos_;
    while (pos_ < s_.size()) {
      const char c = s_[pos_++];
      if (c == '"') return absl::OkStatus();
      if (static_cast<unsigned char>(c) < 0x20) return Error("control character in string");
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) break;
      const char e = s_[pos_++];
      switch (e) {
        case '"':
          out->push_back('"');
          break;
        case '\\':
          out->push_back('\\');
          break;
        case '/':
          out->push_back('/');
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          if (pos_ + 4 > s_.size()) return Error("short \\u escape");
          unsigned cp = 0;
          for (int i = 0; i < 4; ++i) {
            const char h = s_[pos_++];
            cp <<= 4;
            if (h >= '0' && h <= '9') {
              cp |= h - '0';
            } else if (h >= 'a' && h <= 'f') {
              cp |= h - 'a' + 10;
            } else if (h >= 'A' && h <= 'F') {
              cp |= h - 'A' + 10;
            } else {
              return Error("bad \\u escape");
            }
          }
          // UTF-8 encode (surrogate pairs are kept as two 3-byte sequences).
          if (cp < 0x80) {
            out->push_back(static_cast<char>(cp));
          } else if (cp < 0x800) {
            out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
            out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
          } else {
            out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
            out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
          }
          break;
        }
        default:
          return Error("bad escape");
      }
    }
    return Error("unterminated string");
  }

  absl::string_view s_;
  size_t pos_ = 0;
};

void AppendJsonString(absl::string_view s, std::string* out) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          *out += buf;
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

// The string map of a header's "__metadata__" entry.
absl::Status TakeMetadata(const Json& entry, std::map<std::string, std::string>* out) {
  if (entry.kind != Json::kObject) {
    return absl::InvalidArgumentError("safetensors: __metadata__ is not an object");
  }
  for (const auto& [k, v] : entry.members) {
    if (v.kind != Json::kString) {
      return absl::InvalidArgumentError(
          absl::StrCat("safetensors: metadata '", k, "' is not a string"));
    }
    (*out)[k] = v.str;
  }
  return absl::OkStatus();
}

// The header length of a file of `size` (>= 8) bytes, from its first 8 bytes.
absl::StatusOr<uint64_t> HeaderLength(const char* first8, uint64_t size) {
  uint64_t header_len = 0;
  std::memcpy(&header_len, first8, 8);
  if (header_len > size - 8 || header_len > (100u << 20)) {
    return absl::InvalidArgumentError(absl::StrCat("safetensors: header length ", header_len,
                                                   " exceeds the file (", size, " bytes)"));
  }
  return header_len;
}

}  // namespace

absl::StatusOr<SafetensorsFile> ParseSafetensors(absl::string_view bytes) {
  if (bytes.size() < 8) return absl::InvalidArgumentError("safetensors: file shorter than 8 bytes");
  ASSIGN_OR_RETURN(const uint64_t header_len, HeaderLength(bytes.data(), bytes.size()));
  const absl::string_view header = bytes.substr(8, header_len);
  const absl::string_view data = bytes.substr(8 + header_len);
  ASSIGN_OR_RETURN(Json root, JsonParser(header).ParseDocument());
  if (root.kind != Json::kObject) {
    return absl::InvalidArgumentError("safetensors: header is not a JSON object");
  }
  SafetensorsFile file;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& [name, entry] : root.members) {
    if (name == "__metadata__") {
      RETURN_IF_ERROR(TakeMetadata(entry, &file.metadata));
      continue;
    }
    const Json* dtype = nullptr;
    const Json* shape = nullptr;
    const Json* offsets = nullptr;
    if (entry.kind != Json::kObject) {
      return absl::InvalidArgumentError(absl::StrCat("safetensors: '", name, "' is not an object"));
    }
    for (const auto& [k, v] : entry.members) {
      if (k == "dtype") dtype = &v;
      if (k == "shape") shape = &v;
      if (k == "data_offsets") offsets = &v;
    }
    if (!dtype || dtype->kind != Json::kString || !shape || shape->kind != Json::kArray ||
        !offsets || offsets->kind != Json::kArray || offsets->items.size() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("safetensors: tensor '", name, "' lacks dtype, shape or data_offsets"));
    }
    if (dtype->str != "F32") {
      return absl::InvalidArgumentError(absl::StrCat("safetensors: tensor '", name, "' has dtype ",
                                                     dtype->str, ", expected F32"));
    }
    SafetensorsTensor t;
    uint64_t count = 1;
    for (const Json& d : shape->items) {
      if (!d.is_integer || d.integer < 0 || d.integer > (1ll << 40)) {
        return absl::InvalidArgumentError(
            absl::StrCat("safetensors: tensor '", name, "' has an invalid shape"));
      }
      t.shape.push_back(d.integer);
      count *= static_cast<uint64_t>(d.integer);
      if (count > (1ull << 40)) {
        return absl::InvalidArgumentError(
            absl::StrCat("safetensors: tensor '", name, "' is too large"));
      }
    }
    const Json& b = offsets->items[0];
    const Json& e = offsets->items[1];
    if (!b.is_integer || !e.is_integer || b.integer < 0 || e.integer < b.integer ||
        static_cast<uint64_t>(e.integer) > data.size()) {
      return absl::InvalidArgumentError(absl::StrCat("safetensors: tensor '", name,
                                                     "' has data_offsets outside the data buffer"));
    }
    const uint64_t begin = static_cast<uint64_t>(b.integer);
    const uint64_t end = static_cast<uint64_t>(e.integer);
    if (end - begin != count * sizeof(float)) {
      return absl::InvalidArgumentError(absl::StrCat("safetensors: tensor '", name, "' has ",
                                                     end - begin, " bytes for ", count,
                                                     " float32 values"));
    }
    ranges.emplace_back(begin, end);
    t.values.resize(count);
    if (count > 0) std::memcpy(t.values.data(), data.data() + begin, count * sizeof(float));
    if (!file.tensors.emplace(name, std::move(t)).second) {
      return absl::InvalidArgumentError(absl::StrCat("safetensors: tensor '", name, "' twice"));
    }
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first < ranges[i - 1].second) {
      return absl::InvalidArgumentError("safetensors: tensors overlap in the data buffer");
    }
  }
  return file;
}

absl::StatusOr<SafetensorsFile> ReadSafetensorsFile(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadWholeFile(path);
  if (!bytes.ok()) return bytes.status();
  auto parsed = ParseSafetensors(*bytes);
  if (!parsed.ok()) return Annotate(parsed.status(), path);
  return parsed;
}

absl::StatusOr<std::map<std::string, std::string>> ReadSafetensorsMetadata(
    const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read '", path, "'"));
  const std::streamoff size = in.tellg();
  char first8[8];
  in.seekg(0);
  if (size < 8 || !in.read(first8, 8)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": safetensors: file shorter than 8 bytes"));
  }
  auto header_len = HeaderLength(first8, static_cast<uint64_t>(size));
  if (!header_len.ok()) return Annotate(header_len.status(), path);
  std::string header(*header_len, '\0');
  if (!in.read(header.data(), static_cast<std::streamsize>(header.size()))) {
    return absl::DataLossError(absl::StrCat("cannot read the header of '", path, "'"));
  }
  auto root = JsonParser(header).ParseDocument();
  if (!root.ok()) return Annotate(root.status(), path);
  if (root->kind != Json::kObject) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": safetensors: header is not a JSON object"));
  }
  std::map<std::string, std::string> metadata;
  for (const auto& [name, entry] : root->members) {
    if (name != "__metadata__") continue;
    if (absl::Status s = TakeMetadata(entry, &metadata); !s.ok()) return Annotate(s, path);
  }
  return metadata;
}

std::string SerializeSafetensors(const SafetensorsFile& file) {
  std::string header = "{";
  bool first = true;
  if (!file.metadata.empty()) {
    header += "\"__metadata__\":{";
    for (const auto& [k, v] : file.metadata) {
      if (!first) header += ",";
      first = false;
      AppendJsonString(k, &header);
      header += ":";
      AppendJsonString(v, &header);
    }
    header += "}";
  }
  uint64_t offset = 0;
  for (const auto& [name, t] : file.tensors) {
    if (header.size() > 1) header += ",";
    AppendJsonString(name, &header);
    header += ":{\"dtype\":\"F32\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) {
      if (i > 0) header += ",";
      header += std::to_string(t.shape[i]);
    }
    const uint64_t end = offset + t.values.size() * sizeof(float);
    absl::StrAppend(&header, "],\"data_offsets\":[", offset, ",", end, "]}");
    offset = end;
  }
  header += "}";
  while ((8 + header.size()) % 8 != 0) header += ' ';
  std::string out(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  out += header;
  for (const auto& [name, t] : file.tensors) {
    out.append(reinterpret_cast<const char*>(t.values.data()), t.values.size() * sizeof(float));
  }
  return out;
}

}  // namespace sac
