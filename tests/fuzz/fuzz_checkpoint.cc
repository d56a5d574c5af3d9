// Fuzz target: the learner checkpoint container (learner/checkpoint_file.h),
// read when a learner resumes from a file on disk.
// Input: [u8 mode][bytes]. Mode even: the bytes are the whole file image. Mode
// odd: the bytes are a payload, framed here with a valid header, CRC-32C and
// end marker, so the fuzzer reaches the entry parser behind the checksum.
// Properties: errors are INVALID_ARGUMENT (foreign) or DATA_LOSS (torn,
// corrupt) naming the source; a decoded checkpoint has arrays whose bytes
// match shape x dtype, and encodes and decodes back to the same contents.
#include <cstring>

#include "common/crc32c.h"
#include "learner/checkpoint_file.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using sac::fuzz::Fail;
namespace learner = sac::learner;

template <typename T>
void Put(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(v));
}

std::string Frame(absl::string_view payload) {
  std::string image("SACLCKPT");
  Put<uint32_t>(&image, learner::kCheckpointFormatVersion);
  Put<uint32_t>(&image, 0);
  Put<uint64_t>(&image, payload.size());
  image.append(payload.data(), payload.size());
  Put<uint32_t>(&image, sac::Crc32c(payload));
  image.append("SACLEND1");
  return image;
}

bool Same(const learner::CheckpointContents& a, const learner::CheckpointContents& b) {
  if (a.strings != b.strings || a.arrays.size() != b.arrays.size()) return false;
  for (auto ia = a.arrays.begin(), ib = b.arrays.begin(); ia != a.arrays.end(); ++ia, ++ib) {
    if (ia->first != ib->first || ia->second.dtype != ib->second.dtype ||
        ia->second.shape != ib->second.shape || ia->second.bytes != ib->second.bytes) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sac::fuzz::FuzzInput in(data, size);
  const uint8_t mode = in.Byte();
  const absl::string_view rest = in.Rest();
  const std::string image = (mode & 1) ? Frame(rest) : std::string(rest);
  auto contents = learner::DecodeCheckpoint(image, "fuzz.ckpt");
  if (!contents.ok()) {
    const auto code = contents.status().code();
    if (code != absl::StatusCode::kInvalidArgument && code != absl::StatusCode::kDataLoss) {
      Fail("unexpected error code: " + contents.status().ToString());
    }
    if (contents.status().message().find("fuzz.ckpt") == absl::string_view::npos) {
      Fail("error does not name the source: " + contents.status().ToString());
    }
    return 0;
  }
  for (const auto& [name, array] : contents->arrays) {
    __int128 n = learner::DtypeSize(array.dtype);
    for (int64_t d : array.shape) {
      if (d < 0) Fail("array " + name + " has a negative dimension");
      n = n * d > (__int128{1} << 64) ? (__int128{1} << 64) : n * d;
    }
    if (n != static_cast<__int128>(array.bytes.size())) {
      Fail("array " + name + ": bytes do not match shape x dtype");
    }
  }
  auto again = learner::DecodeCheckpoint(learner::EncodeCheckpoint(*contents), "fuzz.again");
  if (!again.ok()) Fail("re-encoded checkpoint does not decode: " + again.status().ToString());
  if (!Same(*contents, *again)) Fail("encode/decode round trip differs");
  return 0;
}
