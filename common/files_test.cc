#include "common/files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

namespace sac {
namespace {

std::string TempPath(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) / name).string();
}

TEST(FilesTest, AtomicWriteReplacesTheWholeFileAndLeavesNoTemporary) {
  const std::string dir = TempPath("files_atomic");
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(MakeDirs(dir).ok());
  const std::string path = dir + "/atomic.bin";
  ASSERT_TRUE(WriteFileAtomically(path, std::string(1000, 'a')).ok());
  ASSERT_TRUE(WriteFileAtomically(path, "short").ok());
  EXPECT_EQ(*ReadWholeFile(path), "short");
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    ++entries;
    EXPECT_EQ(e.path().filename(), "atomic.bin");
  }
  EXPECT_EQ(entries, 1);
}

TEST(FilesTest, AFailedWriteNamesThePathAndKeepsTheOldFile) {
  const absl::Status s = WriteFileAtomically(TempPath("no/such/dir/file"), "x");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_NE(s.message().find("no/such/dir/file"), std::string::npos) << s;
}

TEST(FilesTest, ReadingAMissingFileIsNotFoundNamingIt) {
  const absl::StatusOr<std::string> r = ReadWholeFile(TempPath("files_missing"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound) << r.status();
  EXPECT_NE(r.status().message().find("files_missing"), std::string::npos) << r.status();
}

TEST(FilesTest, ReadWholeFileKeepsBinaryBytes) {
  const std::string path = TempPath("files_binary");
  const std::string bytes("a\0b\xff\n", 5);
  ASSERT_TRUE(WriteFileAtomically(path, bytes).ok());
  EXPECT_EQ(*ReadWholeFile(path), bytes);
}

TEST(FilesTest, MakeDirsCreatesParentsAndAcceptsAnExistingFolder) {
  const std::string dir = TempPath("files_dirs/a/b/c");
  std::filesystem::remove_all(TempPath("files_dirs"));
  ASSERT_TRUE(MakeDirs(dir).ok());
  EXPECT_TRUE(std::filesystem::is_directory(dir));
  EXPECT_TRUE(MakeDirs(dir).ok());
}

}  // namespace
}  // namespace sac
