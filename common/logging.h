// A small leveled logger, the one every process uses (Debian's absl has no
// absl/log). Lines go to stderr as
//   I20261125 10:50:09.123456 12345 file.cc:42] message
// SAC_LOG(INFO|WARNING|ERROR|FATAL) << ...; FATAL aborts after writing.
// Thread-safe: each line is formatted in full, then written with one write(2).
#ifndef SAC_COMMON_LOGGING_H_
#define SAC_COMMON_LOGGING_H_

#include <sstream>

namespace sac {

enum class LogLevel { kInfo = 0, kWarning = 1, kError = 2, kFatal = 3 };

// Lines below this level are dropped (default kInfo; SAC_LOG_LEVEL env var:
// info|warning|error).
void SetMinLogLevel(LogLevel level);
LogLevel MinLogLevel();

class LogMessage {
 public:
  LogMessage(LogLevel level, const char* file, int line);
  ~LogMessage();
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

// Swallows a stream expression when the level is off.
struct LogVoidify {
  void operator&(std::ostream&) {}
};

}  // namespace sac

#define SAC_LOG_LEVEL_INFO ::sac::LogLevel::kInfo
#define SAC_LOG_LEVEL_WARNING ::sac::LogLevel::kWarning
#define SAC_LOG_LEVEL_ERROR ::sac::LogLevel::kError
#define SAC_LOG_LEVEL_FATAL ::sac::LogLevel::kFatal
// NOLINTBEGIN(bugprone-macro-parentheses): unparenthesized, so that `<< x` extends the stream
#define SAC_LOG(level)                           \
  (SAC_LOG_LEVEL_##level < ::sac::MinLogLevel()) \
      ? (void)0                                  \
      : ::sac::LogVoidify() &                    \
            ::sac::LogMessage(SAC_LOG_LEVEL_##level, __FILE__, __LINE__).stream()
// NOLINTEND(bugprone-macro-parentheses)
#define SAC_CHECK(cond) \
  if (!(cond)) SAC_LOG(FATAL) << "Check failed: " #cond " "

#endif  // SAC_COMMON_LOGGING_H_
