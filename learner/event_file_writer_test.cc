#include "learner/event_file_writer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/crc32c.h"
#include "common/files.h"
#include "google/protobuf/unknown_field_set.h"
#include "tests/testing/process.h"

namespace sac::learner {
namespace {

using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;

std::string TempDir(const std::string& name) {
  return ::sac::testing::MakeTempDir(absl::StrCat("event_file_writer_", name));
}

template <typename T>
T Load(const std::string& bytes, size_t at) {
  T v;
  std::memcpy(&v, bytes.data() + at, sizeof(T));
  return v;
}

// Splits a file image into its records, checking the framing and both
// checksums of each; a short or corrupt record fails the test.
std::vector<std::string> Unframe(const std::string& image) {
  std::vector<std::string> records;
  size_t at = 0;
  while (at < image.size()) {
    EXPECT_GE(image.size() - at, 12u) << "short record header at " << at;
    if (image.size() - at < 12) break;
    const uint64_t length = Load<uint64_t>(image, at);
    EXPECT_EQ(Load<uint32_t>(image, at + 8), MaskedCrc32c(image.substr(at, 8))) << at;
    EXPECT_GE(image.size() - at - 12, length + 4) << "short record at " << at;
    if (image.size() - at - 12 < length + 4) break;
    const std::string payload = image.substr(at + 12, length);
    EXPECT_EQ(Load<uint32_t>(image, at + 12 + length), MaskedCrc32c(payload)) << at;
    records.push_back(payload);
    at += 12 + length + 4;
  }
  return records;
}

std::string ReadFile(const std::string& path) {
  auto bytes = ReadWholeFile(path);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

// An event as protobuf's own parser sees it (no schema: field numbers, types).
struct DecodedEvent {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;
  std::vector<std::pair<std::string, float>> scalars;
};

DecodedEvent Decode(const std::string& payload) {
  DecodedEvent e;
  UnknownFieldSet event;
  EXPECT_TRUE(event.ParseFromString(payload));
  for (int i = 0; i < event.field_count(); ++i) {
    const UnknownField& f = event.field(i);
    if (f.number() == 1 && f.type() == UnknownField::TYPE_FIXED64) {
      const uint64_t bits = f.fixed64();
      std::memcpy(&e.wall_time, &bits, 8);
    } else if (f.number() == 2 && f.type() == UnknownField::TYPE_VARINT) {
      e.step = static_cast<int64_t>(f.varint());
    } else if (f.number() == 3 && f.type() == UnknownField::TYPE_LENGTH_DELIMITED) {
      e.file_version = f.length_delimited();
    } else if (f.number() == 5 && f.type() == UnknownField::TYPE_LENGTH_DELIMITED) {
      UnknownFieldSet summary;
      EXPECT_TRUE(summary.ParseFromString(f.length_delimited()));
      for (int j = 0; j < summary.field_count(); ++j) {
        EXPECT_EQ(summary.field(j).number(), 1);
        UnknownFieldSet value;
        EXPECT_TRUE(value.ParseFromString(summary.field(j).length_delimited()));
        std::pair<std::string, float> scalar;
        for (int k = 0; k < value.field_count(); ++k) {
          const UnknownField& v = value.field(k);
          if (v.number() == 1 && v.type() == UnknownField::TYPE_LENGTH_DELIMITED) {
            scalar.first = v.length_delimited();
          } else if (v.number() == 2 && v.type() == UnknownField::TYPE_FIXED32) {
            const uint32_t bits = v.fixed32();
            std::memcpy(&scalar.second, &bits, 4);
          } else {
            ADD_FAILURE() << "unexpected Summary.Value field " << v.number();
          }
        }
        e.scalars.push_back(scalar);
      }
    } else {
      ADD_FAILURE() << "unexpected Event field " << f.number() << " of type " << f.type();
    }
  }
  return e;
}

std::vector<DecodedEvent> ReadEvents(const std::string& path) {
  std::vector<DecodedEvent> events;
  for (const std::string& r : Unframe(ReadFile(path))) events.push_back(Decode(r));
  return events;
}

// Known values from an independent implementation: tensorboard 2.21.0's
// masked_crc32c (tensorboard/compat/tensorflow_stub/pywrap_tensorflow.py).
TEST(MaskedCrc32cTest, KnownVectors) {
  EXPECT_EQ(MaskedCrc32c(""), 0xa282ead8u);
  EXPECT_EQ(MaskedCrc32c("123456789"), 0xc78ab0e5u);
  EXPECT_EQ(MaskedCrc32c(std::string(32, '\0')), 0x0fd7fffau);
  EXPECT_EQ(MaskedCrc32c(std::string("\x18\0\0\0\0\0\0\0", 8)), 0x224b7fa3u);
  // The mask of the plain CRC, as the format defines it.
  const uint32_t crc = Crc32c("123456789");
  EXPECT_EQ(MaskedCrc32c("123456789"), ((crc >> 15) | (crc << 17)) + 0xa282ead8u);
}

// The bytes tensorboard 2.21.0's own classes give for the same events
// (event_pb2.Event(...).SerializeToString(), framed with its masked_crc32c).
TEST(EventEncodingTest, MatchesTensorBoardsOwnEncoding) {
  EXPECT_EQ(absl::BytesToHexString(EncodeFileVersionEvent(1700000000.5)),
            "0900002040fc54d9411a0d627261696e2e4576656e743a32");
  const std::vector<Scalar> scalars = {{"loss/q1", 0.25f}};
  const std::string event = EncodeScalarsEvent(1700000000.5, 1234, scalars);
  EXPECT_EQ(absl::BytesToHexString(event),
            "0900002040fc54d94110d2092a100a0e0a076c6f73732f7131150000803e");
  EXPECT_EQ(absl::BytesToHexString(FrameRecord(event)),
            "1e00000000000000d9dc1232"
            "0900002040fc54d94110d2092a100a0e0a076c6f73732f7131150000803e"
            "01d49e1f");
}

TEST(EventEncodingTest, ProtobufParsesEveryField) {
  const std::vector<Scalar> scalars = {
      {"loss/q1", 1.5f}, {"eval/return_mean", -3200.25f}, {std::string(300, 't'), 7.0f}};
  // A step past 2^35 takes a 6-byte varint; a tag of 300 bytes a 2-byte length.
  const int64_t step = (int64_t{1} << 35) + 3;
  const DecodedEvent e = Decode(EncodeScalarsEvent(1765000000.125, step, scalars));
  EXPECT_EQ(e.wall_time, 1765000000.125);
  EXPECT_EQ(e.step, step);
  ASSERT_EQ(e.scalars.size(), 3u);
  for (size_t i = 0; i < scalars.size(); ++i) {
    EXPECT_EQ(e.scalars[i].first, scalars[i].tag);
    EXPECT_EQ(e.scalars[i].second, scalars[i].value);
  }
}

TEST(EventFileWriterTest, WritesFileVersionThenEventsInOrder) {
  const std::string dir = TempDir("order") + "/made/by/writer";
  EventFileOptions options;
  options.dir = dir;
  std::vector<std::string> files;
  {
    EventFileWriter writer(options);
    for (int i = 0; i < 5; ++i) {
      const std::vector<Scalar> s = {{"a", static_cast<float>(i)}, {"b", -static_cast<float>(i)}};
      writer.AddScalars(int64_t{100} * i, s, 1000.0 + i);
    }
    ASSERT_TRUE(writer.Flush(absl::Seconds(30)));
    EXPECT_EQ(writer.events_written(), 5u);
    // More after a flush go to the same file; the destructor writes them.
    writer.AddScalars(500, std::vector<Scalar>{{"a", 5.0f}}, 1005.0);
    files = writer.files();
  }
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].rfind(dir + "/events.out.tfevents.", 0), 0u) << files[0];
  const auto events = ReadEvents(files[0]);
  ASSERT_EQ(events.size(), 7u);
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
  EXPECT_TRUE(events[0].scalars.empty());
  for (int i = 0; i < 6; ++i) {
    const DecodedEvent& e = events[i + 1];
    EXPECT_EQ(e.step, 100 * i);
    EXPECT_EQ(e.wall_time, 1000.0 + i);
    ASSERT_FALSE(e.scalars.empty());
    EXPECT_EQ(e.scalars[0], std::make_pair(std::string("a"), static_cast<float>(i)));
  }
}

TEST(EventFileWriterTest, TwoWritersInOneProcessUseTwoFiles) {
  const std::string dir = TempDir("two");
  EventFileOptions options;
  options.dir = dir;
  EventFileWriter first(options);
  EventFileWriter second(options);
  first.AddScalars(1, std::vector<Scalar>{{"x", 1.0f}});
  second.AddScalars(1, std::vector<Scalar>{{"x", 2.0f}});
  ASSERT_TRUE(first.Flush(absl::Seconds(30)));
  ASSERT_TRUE(second.Flush(absl::Seconds(30)));
  ASSERT_EQ(first.files().size(), 1u);
  ASSERT_EQ(second.files().size(), 1u);
  EXPECT_NE(first.files()[0], second.files()[0]);
  EXPECT_EQ(ReadEvents(first.files()[0]).size(), 2u);
  EXPECT_EQ(ReadEvents(second.files()[0]).size(), 2u);
}

// A full disk (the file is a link to /dev/full): the error is counted, the
// events of that write dropped, nothing thrown at the caller; the next events
// go to a new file that reads back whole.
TEST(EventFileWriterTest, WriteErrorIsCountedAndTheNextFileIsWhole) {
  const std::string dir = TempDir("full");
  ASSERT_EQ(symlink("/dev/full", (dir + "/events.out.tfevents.full").c_str()), 0);
  Counter errors, dropped;
  EventFileOptions options;
  options.dir = dir;
  options.file_name = "events.out.tfevents.full";
  options.errors_total = &errors;
  options.dropped_total = &dropped;
  EventFileWriter writer(options);
  writer.AddScalars(1, std::vector<Scalar>{{"x", 1.0f}});
  ASSERT_TRUE(writer.Flush(absl::Seconds(30)));
  EXPECT_EQ(writer.errors(), 1u);
  EXPECT_EQ(writer.events_dropped(), 1u);
  EXPECT_EQ(writer.events_written(), 0u);
  EXPECT_EQ(errors.Value(), 1.0);
  EXPECT_EQ(dropped.Value(), 1.0);

  writer.AddScalars(2, std::vector<Scalar>{{"x", 2.0f}});
  writer.AddScalars(3, std::vector<Scalar>{{"x", 3.0f}});
  ASSERT_TRUE(writer.Flush(absl::Seconds(30)));
  EXPECT_EQ(writer.errors(), 1u);
  EXPECT_EQ(writer.events_written(), 2u);
  const auto files = writer.files();
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[1], dir + "/events.out.tfevents.full.1");
  const auto events = ReadEvents(files[1]);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
  EXPECT_EQ(events[1].step, 2);
  EXPECT_EQ(events[2].step, 3);
}

// A folder that cannot be made (its parent is a device, not a folder).
TEST(EventFileWriterTest, OpenErrorIsCounted) {
  EventFileOptions options;
  options.dir = "/dev/null/tensorboard";
  EventFileWriter writer(options);
  writer.AddScalars(1, std::vector<Scalar>{{"x", 1.0f}});
  writer.AddScalars(2, std::vector<Scalar>{{"x", 1.0f}});
  ASSERT_TRUE(writer.Flush(absl::Seconds(30)));
  EXPECT_GE(writer.errors(), 1u);
  EXPECT_EQ(writer.events_dropped(), 2u);
  EXPECT_EQ(writer.events_written(), 0u);
}

// A write that hangs (the file is a FIFO nobody reads: open blocks) never
// blocks AddScalars: the queue fills to its bound and the rest is dropped and
// counted. Once a reader appears, everything queued is written.
TEST(EventFileWriterTest, AHangingWriteNeverBlocksTheCaller) {
  const std::string dir = TempDir("fifo");
  const std::string fifo = dir + "/events.out.tfevents.fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  Counter dropped;
  EventFileOptions options;
  options.dir = dir;
  options.file_name = "events.out.tfevents.fifo";
  options.max_queued_events = 4;
  options.dropped_total = &dropped;
  EventFileWriter writer(options);
  // Should an assertion fail before the reader below opens, the writer's
  // destructor would wait for its thread, hung in open(), forever: a reader
  // opened on the way out (and left open, so the last writes land in the
  // pipe) turns that into a plain failure.
  bool reader_opened = false;
  absl::Cleanup unblock = [&fifo, &reader_opened] {
    if (!reader_opened) (void)open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  };
  writer.AddScalars(0, std::vector<Scalar>{{"x", 0.0f}});
  // The thread has taken the first event and hangs in open().
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (writer.queued_events() > 0 && absl::Now() < deadline) {
    ASSERT_FALSE(writer.Flush(absl::Milliseconds(20)));
  }
  ASSERT_EQ(writer.queued_events(), 0u);
  for (int i = 1; i <= 10; ++i) writer.AddScalars(i, std::vector<Scalar>{{"x", 1.0f * i}});
  EXPECT_EQ(writer.queued_events(), 4u);
  EXPECT_EQ(writer.events_dropped(), 6u);
  EXPECT_EQ(dropped.Value(), 6.0);
  EXPECT_FALSE(writer.Flush(absl::Milliseconds(50)));

  // A reader: open() returns, the first event and then the 4 queued are written.
  const int reader = open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  reader_opened = true;
  ASSERT_TRUE(writer.Flush(absl::Seconds(30)));
  EXPECT_EQ(writer.events_written(), 5u);
  EXPECT_EQ(writer.errors(), 0u);
  std::string image;
  char buf[4096];
  ssize_t n;
  while ((n = read(reader, buf, sizeof(buf))) > 0) image.append(buf, static_cast<size_t>(n));
  close(reader);
  const auto records = Unframe(image);
  ASSERT_EQ(records.size(), 6u);
  EXPECT_EQ(Decode(records[1]).step, 0);
  for (int i = 2; i < 6; ++i) EXPECT_EQ(Decode(records[i]).step, i - 1);
}

}  // namespace
}  // namespace sac::learner
