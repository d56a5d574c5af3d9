#include "common/crc32c.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace sac {
namespace {

// The CRC-32C check value and the test vectors of RFC 3720 (iSCSI), B.4.
TEST(Crc32cTest, KnownVectors) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending(32, '\0');
  std::string descending(32, '\0');
  for (int i = 0; i < 32; ++i) {
    ascending[i] = static_cast<char>(i);
    descending[i] = static_cast<char>(31 - i);
  }
  EXPECT_EQ(Crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(Crc32c(descending), 0x113FDB5Cu);
}

// Extending over pieces equals one pass over the whole, at every split (the
// 8-byte loop and the byte loop meet at every offset).
TEST(Crc32cTest, ExtendsOverPieces) {
  std::string data;
  for (int i = 0; i < 77; ++i) data.push_back(static_cast<char>(i * 37 + 11));
  const uint32_t whole = Crc32c(data);
  for (size_t split = 0; split <= data.size(); ++split) {
    const uint32_t first = Crc32c(0, data.data(), split);
    EXPECT_EQ(Crc32c(first, data.data() + split, data.size() - split), whole) << split;
  }
}

}  // namespace
}  // namespace sac
