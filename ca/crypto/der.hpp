#pragma once
// A small, strict DER writer and reader (X.690). Pure C++: the hot issuance path builds and
// inspects certificates with these instead of OpenSSL's decoder/encoder round trips.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ca/base/clock.hpp"
#include "ca/base/error.hpp"
#include "ca/base/file.hpp"

namespace sigil::crypto::der {

using ByteView = std::span<const std::uint8_t>;

namespace tag {
constexpr std::uint8_t kBoolean = 0x01, kInteger = 0x02, kBitString = 0x03, kOctetString = 0x04, kNull = 0x05,
                       kOid = 0x06, kEnumerated = 0x0a, kUtf8String = 0x0c, kPrintableString = 0x13, kIa5String = 0x16,
                       kUtcTime = 0x17, kGeneralizedTime = 0x18, kSequence = 0x30, kSet = 0x31;
constexpr std::uint8_t context(unsigned n) { return static_cast<std::uint8_t>(0x80 | n); }
constexpr std::uint8_t context_constructed(unsigned n) { return static_cast<std::uint8_t>(0xa0 | n); }
}  // namespace tag

// Object identifiers, as the bytes of their DER contents (what follows tag and length).
std::string oid_to_string(ByteView contents);  // dotted form, for messages

class Writer {
 public:
  // Nested structure: auto m = w.begin(tag::kSequence); ...; w.end(m);
  std::size_t begin(std::uint8_t tag);
  void end(std::size_t mark);

  void tlv(std::uint8_t tag, ByteView contents);
  void raw(ByteView encoded);  // an already-encoded TLV
  void boolean(bool v);
  void null();
  void small_integer(std::int64_t v);
  void unsigned_integer(ByteView big_endian);  // minimal encoding, positive
  void oid(ByteView contents) { tlv(tag::kOid, contents); }
  void bit_string(ByteView bits, std::uint8_t unused_bits = 0);
  void octet_string(ByteView v) { tlv(tag::kOctetString, v); }
  void string(std::uint8_t tag, std::string_view s);
  // RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; seconds, Zulu.
  // `generalized` forces GeneralizedTime (OCSP, RFC 6960, uses it always).
  void time(TimePoint t, bool generalized = false);
  void reserve(std::size_t n) { buf_.reserve(n); }
  std::size_t size() const { return buf_.size(); }
  // Removes bytes [from, size): undoes what was written since a mark.
  void truncate(std::size_t from) { buf_.resize(from); }
  // KeyUsage-style named bit list with trailing zero bits trimmed (X.690 §11.2.2).
  void named_bits(std::uint32_t bits, int highest_bit);

  Bytes take() { return std::move(buf_); }
  const Bytes& bytes() const { return buf_; }

 private:
  void length(std::size_t n);
  Bytes buf_;
};

struct Tlv {
  std::uint8_t tag = 0;
  ByteView contents;
  ByteView whole;  // tag + length + contents
};

class Reader {
 public:
  explicit Reader(ByteView data) : data_(data) {}
  bool empty() const { return data_.empty(); }
  bool peek(std::uint8_t tag) const { return !data_.empty() && data_[0] == tag; }
  Result<Tlv> next();
  Result<Tlv> expect(std::uint8_t tag);
  // Reads a tagged element if present.
  Result<bool> optional(std::uint8_t tag, Tlv& out);

 private:
  ByteView data_;
};

// Contents helpers, all strict.
Result<bool> read_boolean(const Tlv& t);
Result<std::int64_t> read_small_integer(const Tlv& t);  // fits in int64
Result<ByteView> read_bit_string_bytes(const Tlv& t);   // no unused bits allowed
Result<std::uint32_t> read_named_bits(const Tlv& t);    // KeyUsage: bit 0 is the MSB of byte 0
Result<TimePoint> read_time(const Tlv& t);              // UTCTime or GeneralizedTime, Zulu
// One TLV that must span all of `data`.
Result<Tlv> read_single(ByteView data, std::uint8_t tag);

}  // namespace sigil::crypto::der
