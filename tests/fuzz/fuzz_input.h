// Reading a fuzzer's input as a little structured stream: selector bytes,
// length-prefixed pieces, the rest. Running out of bytes yields zeros and empty
// pieces, so every input maps to some well-defined case.
#ifndef SAC_TESTS_FUZZ_FUZZ_INPUT_H_
#define SAC_TESTS_FUZZ_FUZZ_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"

namespace sac::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size)
      : data_(reinterpret_cast<const char*>(data)), size_(size) {}

  bool empty() const { return pos_ >= size_; }
  uint8_t Byte() { return pos_ < size_ ? static_cast<uint8_t>(data_[pos_++]) : 0; }
  uint16_t U16() {
    const uint16_t lo = Byte();
    return static_cast<uint16_t>(lo | (Byte() << 8));
  }
  // A piece of at most `n` bytes (fewer at the end of the input).
  absl::string_view Take(size_t n) {
    if (n > size_ - pos_) n = size_ - pos_;
    absl::string_view piece(data_ + pos_, n);
    pos_ += n;
    return piece;
  }
  // A piece whose length is given by the next two bytes.
  absl::string_view Piece() { return Take(U16()); }
  absl::string_view Rest() { return Take(size_ - pos_); }

 private:
  const char* data_;
  size_t size_;
  size_t pos_ = 0;
};

// A property the target checks failed: report and abort, so libFuzzer records
// the input as a crash.
[[noreturn]] inline void Fail(const std::string& what) {
  std::fprintf(stderr, "fuzz property violated: %s\n", what.c_str());
  std::abort();
}

}  // namespace sac::fuzz

#endif  // SAC_TESTS_FUZZ_FUZZ_INPUT_H_
