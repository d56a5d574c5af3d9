#include "learner/checkpoint_file.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/crc32c.h"
#include "common/files.h"
#include "common/status.h"

namespace sac::learner {
namespace {

constexpr absl::string_view kMagic = "SACLCKPT";
constexpr absl::string_view kEndMagic = "SACLEND1";
constexpr size_t kHeaderSize = 8 + 4 + 4 + 8;
constexpr size_t kTrailerSize = 4 + 8;
// Bounds that no checkpoint of ours comes near; they keep a corrupt count from
// turning into a huge allocation.
constexpr uint64_t kMaxEntries = 1 << 20;
constexpr uint32_t kMaxRank = 16;

template <typename T>
void Put(std::string* out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));  // our targets are little-endian
  out->append(bytes, sizeof(T));
}

void PutBytes(std::string* out, absl::string_view bytes) {
  Put<uint64_t>(out, bytes.size());
  out->append(bytes.data(), bytes.size());
}

// Reads from a bounded buffer; every read checks the remaining size.
class Reader {
 public:
  Reader(absl::string_view data, absl::string_view source) : data_(data), source_(source) {}
  template <typename T>
  absl::Status Get(T* value) {
    if (data_.size() < sizeof(T)) return Truncated();
    std::memcpy(value, data_.data(), sizeof(T));
    data_.remove_prefix(sizeof(T));
    return absl::OkStatus();
  }
  absl::Status GetBytes(uint64_t size, std::string* out) {
    if (data_.size() < size) return Truncated();
    out->assign(data_.data(), size);
    data_.remove_prefix(size);
    return absl::OkStatus();
  }
  bool done() const { return data_.empty(); }

 private:
  absl::Status Truncated() const {
    return absl::DataLossError(
        absl::StrCat(source_, ": checkpoint payload is inconsistent (an entry runs past its end)"));
  }
  absl::string_view data_;
  absl::string_view source_;
};

}  // namespace

int64_t DtypeSize(ArrayDtype dtype) {
  switch (dtype) {
    case ArrayDtype::kFloat32:
      return 4;
    case ArrayDtype::kUint8:
      return 1;
    case ArrayDtype::kInt64:
      return 8;
  }
  return 0;
}

std::string EncodeCheckpoint(const CheckpointContents& contents) {
  std::string payload;
  Put<uint32_t>(&payload, static_cast<uint32_t>(contents.strings.size()));
  for (const auto& [key, value] : contents.strings) {
    Put<uint32_t>(&payload, static_cast<uint32_t>(key.size()));
    payload.append(key);
    PutBytes(&payload, value);
  }
  Put<uint32_t>(&payload, static_cast<uint32_t>(contents.arrays.size()));
  for (const auto& [name, array] : contents.arrays) {
    Put<uint32_t>(&payload, static_cast<uint32_t>(name.size()));
    payload.append(name);
    Put<uint8_t>(&payload, static_cast<uint8_t>(array.dtype));
    Put<uint32_t>(&payload, static_cast<uint32_t>(array.shape.size()));
    for (const int64_t dim : array.shape) Put<int64_t>(&payload, dim);
    PutBytes(&payload, array.bytes);
  }
  std::string image;
  image.reserve(kHeaderSize + payload.size() + kTrailerSize);
  image.append(kMagic.data(), kMagic.size());
  Put<uint32_t>(&image, kCheckpointFormatVersion);
  Put<uint32_t>(&image, 0);
  Put<uint64_t>(&image, payload.size());
  image.append(payload);
  Put<uint32_t>(&image, Crc32c(payload));
  image.append(kEndMagic.data(), kEndMagic.size());
  return image;
}

absl::StatusOr<CheckpointContents> DecodeCheckpoint(absl::string_view image,
                                                    absl::string_view source) {
  if (image.size() < kMagic.size() || image.substr(0, kMagic.size()) != kMagic) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": not a sac-cluster learner checkpoint (no SACLCKPT magic at the start)"));
  }
  if (image.size() < kHeaderSize) {
    return absl::DataLossError(absl::StrCat(source, ": torn checkpoint (", image.size(),
                                            " bytes, shorter than its header)"));
  }
  uint32_t version = 0;
  uint64_t payload_size = 0;
  std::memcpy(&version, image.data() + 8, 4);
  std::memcpy(&payload_size, image.data() + 16, 8);
  if (version != kCheckpointFormatVersion) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": checkpoint format version ", version,
                                                   ", this build reads ",
                                                   kCheckpointFormatVersion));
  }
  if (image.size() - kHeaderSize < kTrailerSize ||
      payload_size != image.size() - kHeaderSize - kTrailerSize) {
    return absl::DataLossError(absl::StrCat(source, ": torn or corrupt checkpoint (header says ",
                                            payload_size, " payload bytes, the file holds ",
                                            image.size(), " bytes in all)"));
  }
  const absl::string_view payload = image.substr(kHeaderSize, payload_size);
  const absl::string_view trailer = image.substr(kHeaderSize + payload_size);
  uint32_t stored_crc = 0;
  std::memcpy(&stored_crc, trailer.data(), 4);
  if (trailer.substr(4) != kEndMagic) {
    return absl::DataLossError(
        absl::StrCat(source, ": torn or corrupt checkpoint (no end marker)"));
  }
  const uint32_t crc = Crc32c(payload);
  if (crc != stored_crc) {
    return absl::DataLossError(absl::StrCat(source,
                                            ": corrupt checkpoint (CRC-32C mismatch: stored ",
                                            stored_crc, ", computed ", crc, ")"));
  }
  CheckpointContents contents;
  Reader reader(payload, source);
  uint32_t count = 0;
  RETURN_IF_ERROR(reader.Get(&count));
  if (count > kMaxEntries) return absl::DataLossError(absl::StrCat(source, ": bad entry count"));
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t key_size = 0;
    uint64_t value_size = 0;
    std::string key, value;
    RETURN_IF_ERROR(reader.Get(&key_size));
    RETURN_IF_ERROR(reader.GetBytes(key_size, &key));
    RETURN_IF_ERROR(reader.Get(&value_size));
    RETURN_IF_ERROR(reader.GetBytes(value_size, &value));
    contents.strings[key] = std::move(value);
  }
  RETURN_IF_ERROR(reader.Get(&count));
  if (count > kMaxEntries) return absl::DataLossError(absl::StrCat(source, ": bad array count"));
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t name_size = 0, rank = 0;
    uint8_t dtype = 0;
    uint64_t byte_size = 0;
    std::string name;
    CheckpointArray array;
    RETURN_IF_ERROR(reader.Get(&name_size));
    RETURN_IF_ERROR(reader.GetBytes(name_size, &name));
    RETURN_IF_ERROR(reader.Get(&dtype));
    if (dtype > 2) {
      return absl::DataLossError(
          absl::StrCat(source, ": array ", name, " has unknown dtype ", static_cast<int>(dtype)));
    }
    array.dtype = static_cast<ArrayDtype>(dtype);
    RETURN_IF_ERROR(reader.Get(&rank));
    if (rank > kMaxRank) {
      return absl::DataLossError(absl::StrCat(source, ": array ", name, " rank"));
    }
    int64_t elements = 1;
    for (uint32_t d = 0; d < rank; ++d) {
      int64_t dim = 0;
      RETURN_IF_ERROR(reader.Get(&dim));
      if (dim < 0 || (dim > 0 && elements > (int64_t{1} << 40) / dim)) {
        return absl::DataLossError(absl::StrCat(source, ": array ", name, " has a bad shape"));
      }
      elements *= dim;
      array.shape.push_back(dim);
    }
    RETURN_IF_ERROR(reader.Get(&byte_size));
    if (static_cast<int64_t>(byte_size) != elements * DtypeSize(array.dtype)) {
      return absl::DataLossError(absl::StrCat(source, ": array ", name, " holds ", byte_size,
                                              " bytes for ", elements, " elements"));
    }
    RETURN_IF_ERROR(reader.GetBytes(byte_size, &array.bytes));
    contents.arrays[name] = std::move(array);
  }
  if (!reader.done()) {
    return absl::DataLossError(absl::StrCat(source, ": trailing bytes in the checkpoint payload"));
  }
  return contents;
}

absl::Status WriteCheckpointFile(const std::string& path, const CheckpointContents& contents) {
  return WriteFileAtomically(path, EncodeCheckpoint(contents));
}

absl::StatusOr<CheckpointContents> ReadCheckpointFile(const std::string& path) {
  absl::StatusOr<std::string> image = ReadWholeFile(path);
  if (!image.ok()) return image.status();
  return DecodeCheckpoint(*image, path);
}

}  // namespace sac::learner
