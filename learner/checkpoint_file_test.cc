#include "learner/checkpoint_file.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace sac::learner {
namespace {

CheckpointContents Sample() {
  CheckpointContents c;
  c.strings["format"] = "test";
  c.strings["binary"] = std::string("a\0b", 3);
  CheckpointArray a;
  a.dtype = ArrayDtype::kFloat32;
  a.shape = {2, 3};
  const float values[6] = {1, 2, 3, 4, 5, -6.5f};
  a.bytes.assign(reinterpret_cast<const char*>(values), sizeof(values));
  c.arrays["w"] = a;
  CheckpointArray r;
  r.dtype = ArrayDtype::kUint8;
  r.shape = {5};
  r.bytes = "\x01\x02\x03\x04\x05";
  c.arrays["rng"] = r;
  return c;
}

std::string TempPath(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) / name).string();
}

TEST(CheckpointFileTest, RoundTripsThroughAFile) {
  const std::string path = TempPath("roundtrip.ckpt");
  ASSERT_TRUE(WriteCheckpointFile(path, Sample()).ok());
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp." + std::to_string(::getpid())));
  absl::StatusOr<CheckpointContents> back = ReadCheckpointFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->strings, Sample().strings);
  ASSERT_EQ(back->arrays.size(), 2u);
  EXPECT_EQ(back->arrays["w"].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(back->arrays["w"].bytes, Sample().arrays["w"].bytes);
  EXPECT_EQ(back->arrays["rng"].dtype, ArrayDtype::kUint8);
  EXPECT_EQ(back->arrays["rng"].bytes, "\x01\x02\x03\x04\x05");
}

TEST(CheckpointFileTest, EveryTruncationIsDetectedAsTorn) {
  const std::string image = EncodeCheckpoint(Sample());
  for (size_t size = 8; size < image.size(); ++size) {
    absl::StatusOr<CheckpointContents> c = DecodeCheckpoint(image.substr(0, size), "f");
    ASSERT_FALSE(c.ok()) << size;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kDataLoss) << size << " " << c.status();
  }
}

TEST(CheckpointFileTest, EveryFlippedPayloadByteIsDetected) {
  const std::string image = EncodeCheckpoint(Sample());
  for (size_t i = 24; i < image.size(); ++i) {
    std::string bad = image;
    bad[i] ^= 0x40;
    absl::StatusOr<CheckpointContents> c = DecodeCheckpoint(bad, "f");
    ASSERT_FALSE(c.ok()) << i;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kDataLoss) << i;
  }
}

TEST(CheckpointFileTest, ForeignFileIsRejectedWithAClearMessage) {
  absl::StatusOr<CheckpointContents> c = DecodeCheckpoint("PK\x03\x04 a zip file", "other.zip");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("other.zip: not a sac-cluster learner checkpoint"),
            std::string::npos)
      << c.status();
  const std::string path = TempPath("missing.ckpt");
  EXPECT_EQ(ReadCheckpointFile(path).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace sac::learner
