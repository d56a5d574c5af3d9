#include "policy/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <random>

namespace sac {
namespace {

using ::testing::HasSubstr;

SafetensorsFile Sample() {
  SafetensorsFile f;
  f.tensors["policy.fc0.weight"] = {{2, 3}, {1, 2, 3, 4, 5, 6}};
  f.tensors["policy.fc0.bias"] = {{2}, {-1, 0.5}};
  f.tensors["empty"] = {{0}, {}};
  f.metadata["task"] = "Hopper-v5";
  f.metadata["note"] = "quote \" backslash \\ newline \n tab \t";
  return f;
}

TEST(Safetensors, RoundTrip) {
  const std::string bytes = SerializeSafetensors(Sample());
  EXPECT_EQ(bytes.size() % 4, 0u);
  auto back = ParseSafetensors(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->tensors.at("policy.fc0.weight").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(back->tensors.at("policy.fc0.weight").values[5], 6.f);
  EXPECT_EQ(back->tensors.at("policy.fc0.bias").values[0], -1.f);
  EXPECT_EQ(back->metadata, Sample().metadata);
}

TEST(Safetensors, RejectsBadFiles) {
  const std::string good = SerializeSafetensors(Sample());
  EXPECT_THAT(ParseSafetensors("abc").status().message(), HasSubstr("shorter than 8"));
  std::string huge = good;
  huge[7] = 0x7f;
  EXPECT_THAT(ParseSafetensors(huge).status().message(), HasSubstr("exceeds the file"));
  // Truncated data buffer: offsets point past the end.
  EXPECT_THAT(ParseSafetensors(good.substr(0, good.size() - 4)).status().message(),
              HasSubstr("outside the data buffer"));
  // Broken JSON.
  std::string broken = good;
  broken[8] = '[';
  EXPECT_FALSE(ParseSafetensors(broken).ok());
}

std::string WithHeader(const std::string& json, size_t data_bytes) {
  std::string out(8, '\0');
  const uint64_t n = json.size();
  std::memcpy(out.data(), &n, 8);
  return out + json + std::string(data_bytes, '\0');
}

TEST(Safetensors, ReadsTheMetadataAloneFromAFile) {
  const std::string path = ::testing::TempDir() + "/metadata_only.safetensors";
  const std::string bytes = SerializeSafetensors(Sample());
  std::ofstream(path, std::ios::binary) << bytes;
  auto metadata = ReadSafetensorsMetadata(path);
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  EXPECT_EQ(*metadata, Sample().metadata);
  // The tensors are not read: a file cut after its header still lists.
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, 8 + header_len);
  metadata = ReadSafetensorsMetadata(path);
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  EXPECT_EQ(*metadata, Sample().metadata);
  // A file cut inside its header does not.
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, 8 + header_len / 2);
  EXPECT_THAT(ReadSafetensorsMetadata(path).status().message(), HasSubstr("exceeds the file"));
  std::ofstream(path, std::ios::binary | std::ios::trunc) << "abc";
  EXPECT_THAT(ReadSafetensorsMetadata(path).status().message(), HasSubstr("shorter than 8"));
  EXPECT_EQ(ReadSafetensorsMetadata(path + ".missing").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(Safetensors, ChecksDtypeSizesAndOverlap) {
  EXPECT_THAT(
      ParseSafetensors(WithHeader(R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", 4))
          .status()
          .message(),
      HasSubstr("expected F32"));
  EXPECT_THAT(
      ParseSafetensors(WithHeader(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4))
          .status()
          .message(),
      HasSubstr("4 bytes for 2 float32"));
  EXPECT_THAT(
      ParseSafetensors(WithHeader(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                  R"("b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})",
                                  8))
          .status()
          .message(),
      HasSubstr("overlap"));
  EXPECT_THAT(
      ParseSafetensors(WithHeader(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0))
          .status()
          .message(),
      HasSubstr("invalid shape"));
  EXPECT_THAT(ParseSafetensors(WithHeader(R"({"__metadata__":{"k":3}})", 0)).status().message(),
              HasSubstr("not a string"));
}

}  // namespace
}  // namespace sac

namespace sac {
namespace {

// Hostile files: every single-byte change, truncation and a few thousand random
// multi-byte mutations of a valid file either parse or fail with an error;
// none may crash or read outside the bytes (run under ASan by make
// test-sanitize).
TEST(Safetensors, MutatedFilesParseOrFailCleanly) {
  const std::string good = SerializeSafetensors(Sample());
  for (size_t n = 0; n < good.size(); ++n) {
    (void)ParseSafetensors(good.substr(0, n));
  }
  for (size_t i = 0; i < good.size(); ++i) {
    for (const char c : {'\0', '\xff', '"', '{', '}', '[', ']', ',', ':', '9', '-', '\\'}) {
      std::string bad = good;
      bad[i] = c;
      (void)ParseSafetensors(bad);
    }
  }
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255);
  int parsed = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string bad = good;
    const int edits = 1 + round % 8;
    for (int e = 0; e < edits; ++e) {
      bad[std::uniform_int_distribution<size_t>(0, bad.size() - 1)(rng)] =
          static_cast<char>(byte(rng));
    }
    if (ParseSafetensors(bad).ok()) ++parsed;
  }
  // Most random edits land in the data buffer (any float is a valid float).
  EXPECT_GT(parsed, 0);
}

}  // namespace
}  // namespace sac
