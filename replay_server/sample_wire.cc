#include "replay_server/sample_wire.h"

#include <bit>
#include <cstring>
#include <initializer_list>

namespace sac::replay {
namespace {

// Protobuf wire format: a tag is (field number << 3) | wire type; wire type 0
// is a varint, 2 a length-delimited field (bytes, a message, a packed list).
constexpr uint8_t Tag(int field, int wire_type) {
  return static_cast<uint8_t>((field << 3) | wire_type);
}
constexpr int kVarint = 0, kLength = 2;

size_t VarintSize(uint64_t v) { return (static_cast<size_t>(std::bit_width(v | 1)) + 6) / 7; }

uint8_t* PutVarint(uint64_t v, uint8_t* out) {
  while (v >= 0x80) {
    *out++ = static_cast<uint8_t>(v | 0x80);
    v >>= 7;
  }
  *out++ = static_cast<uint8_t>(v);
  return out;
}

// A length-delimited field of `payload` bytes (tag, length, payload).
size_t LengthField(size_t payload) { return 1 + VarintSize(payload) + payload; }

template <typename T>
size_t PackedPayload(const T* values, int64_t n) {
  size_t bytes = 0;
  for (int64_t i = 0; i < n; ++i) bytes += VarintSize(values[i]);
  return bytes;
}

// A packed repeated varint field of `payload` bytes; protobuf leaves out an
// empty one.
size_t PackedField(int64_t n, size_t payload) { return n == 0 ? 0 : LengthField(payload); }

template <typename T>
uint8_t* PutPacked(int field, const T* values, int64_t n, size_t payload, uint8_t* out) {
  if (n == 0) return out;
  *out++ = Tag(field, kLength);
  out = PutVarint(payload, out);
  for (int64_t i = 0; i < n; ++i) out = PutVarint(values[i], out);
  return out;
}

// A proto3 bytes field; left out when empty.
size_t BytesField(size_t n) { return n == 0 ? 0 : LengthField(n); }

uint8_t* PutBytes(int field, const void* data, size_t n, uint8_t* out) {
  if (n == 0) return out;
  *out++ = Tag(field, kLength);
  out = PutVarint(n, out);
  std::memcpy(out, data, n);
  return out + n;
}

// sac.v1.Tensor {repeated int64 shape = 1; bytes data = 2;}: the packed
// shape's payload, and the tensor's.
size_t ShapePayload(std::initializer_list<int64_t> shape) {
  size_t bytes = 0;
  for (int64_t d : shape) bytes += VarintSize(static_cast<uint64_t>(d));
  return bytes;
}
size_t TensorPayload(std::initializer_list<int64_t> shape, size_t data_bytes) {
  return LengthField(ShapePayload(shape)) + BytesField(data_bytes);
}

uint8_t* PutTensor(int field, std::initializer_list<int64_t> shape, const float* data,
                   size_t data_bytes, uint8_t* out) {
  *out++ = Tag(field, kLength);
  out = PutVarint(TensorPayload(shape, data_bytes), out);
  *out++ = Tag(1, kLength);
  out = PutVarint(ShapePayload(shape), out);
  for (int64_t d : shape) out = PutVarint(static_cast<uint64_t>(d), out);
  return PutBytes(2, data, data_bytes, out);
}

}  // namespace

size_t SampleResponseWriter::MaxBytes(const TableSpec& spec, int64_t rows) {
  // Per row: obs, action, reward, next_obs and probability as float32, two
  // flag bytes, policy_version and key (64-bit varints, at most 10 bytes each)
  // and actor_id (32-bit, at most 5). Per response: tags, lengths and shapes,
  // fewer than 32 fields of at most 1 + 10 + 10 bytes.
  const size_t n = static_cast<size_t>(rows);
  const size_t floats = 2 * static_cast<size_t>(spec.obs_dim) + spec.act_dim + 2;
  return n * (floats * sizeof(float) + 2 + 10 + 10 + 5) + size_t{32} * 21;
}

void SampleResponseWriter::Reset(const TableSpec& spec, int64_t rows) {
  spec_ = spec;
  rows_ = rows;
  const size_t n = static_cast<size_t>(rows);
  obs_.resize(n * spec.obs_dim);
  action_.resize(n * spec.act_dim);
  reward_.resize(n);
  next_obs_.resize(n * spec.obs_dim);
  probability_.resize(n);
  terminated_.resize(n);
  truncated_.resize(n);
  policy_version_.resize(n);
  key_.resize(n);
  actor_id_.resize(n);
  columns_ = {obs_.data(),         action_.data(),     reward_.data(),    next_obs_.data(),
              probability_.data(), terminated_.data(), truncated_.data(), policy_version_.data(),
              key_.data(),         actor_id_.data()};
}

size_t SampleResponseWriter::BatchPayload() const {
  const int64_t b = rows_, od = spec_.obs_dim, ad = spec_.act_dim;
  const size_t f = sizeof(float);
  return LengthField(TensorPayload({b, od}, obs_.size() * f)) +
         LengthField(TensorPayload({b, ad}, action_.size() * f)) +
         LengthField(TensorPayload({b}, reward_.size() * f)) +
         LengthField(TensorPayload({b, od}, next_obs_.size() * f)) +
         BytesField(terminated_.size()) + BytesField(truncated_.size()) +
         PackedField(b, policy_version_bytes_) + PackedField(b, actor_id_bytes_);
}

size_t SampleResponseWriter::Measure(uint64_t table_size) {
  const int64_t b = rows_;
  table_size_ = table_size;
  policy_version_bytes_ = PackedPayload(policy_version_.data(), b);
  actor_id_bytes_ = PackedPayload(actor_id_.data(), b);
  key_bytes_ = PackedPayload(key_.data(), b);
  return LengthField(BatchPayload()) + PackedField(b, key_bytes_) +
         LengthField(TensorPayload({b}, probability_.size() * sizeof(float))) +
         (table_size == 0 ? 0 : 1 + VarintSize(table_size));
}

void SampleResponseWriter::Encode(uint8_t* out) const {
  const int64_t b = rows_, od = spec_.obs_dim, ad = spec_.act_dim;
  const size_t f = sizeof(float);
  // SampleResponse.batch = 1
  *out++ = Tag(1, kLength);
  out = PutVarint(BatchPayload(), out);
  // TransitionBatch: obs 1, action 2, reward 3, next_obs 4, terminated 5,
  // truncated 6, policy_version 7, actor_id 8.
  out = PutTensor(1, {b, od}, obs_.data(), obs_.size() * f, out);
  out = PutTensor(2, {b, ad}, action_.data(), action_.size() * f, out);
  out = PutTensor(3, {b}, reward_.data(), reward_.size() * f, out);
  out = PutTensor(4, {b, od}, next_obs_.data(), next_obs_.size() * f, out);
  out = PutBytes(5, terminated_.data(), terminated_.size(), out);
  out = PutBytes(6, truncated_.data(), truncated_.size(), out);
  out = PutPacked(7, policy_version_.data(), b, policy_version_bytes_, out);
  out = PutPacked(8, actor_id_.data(), b, actor_id_bytes_, out);
  // SampleResponse: key 2, probability 3, table_size 4.
  out = PutPacked(2, key_.data(), b, key_bytes_, out);
  out = PutTensor(3, {b}, probability_.data(), probability_.size() * f, out);
  if (table_size_ != 0) {
    *out++ = Tag(4, kVarint);
    PutVarint(table_size_, out);
  }
}

}  // namespace sac::replay
