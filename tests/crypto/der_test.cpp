// The DER writer and reader (X.690), cross-checked against OpenSSL's decoder where it helps.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "ca/base/clock.hpp"
#include "ca/base/encoding.hpp"
#include "ca/crypto/der.hpp"
#include "ca/crypto/oids.hpp"
#include "ca/crypto/x509.hpp"
#include "tests/support/openssl.hpp"

namespace {

using namespace sigil;
using namespace sigil::crypto;
namespace tag = der::tag;

Bytes header(std::uint8_t t, std::size_t len) {
  der::Writer w;
  w.tlv(t, Bytes(len, 0x5a));
  Bytes all = w.take();
  return Bytes(all.begin(), all.end() - static_cast<std::ptrdiff_t>(len));
}

TEST_CASE("DER writer: lengths around the short/long form boundaries") {
  struct Case {
    std::size_t len;
    Bytes hdr;
  };
  const Case cases[] = {
      {0, {0x04, 0x00}},
      {1, {0x04, 0x01}},
      {127, {0x04, 0x7f}},
      {128, {0x04, 0x81, 0x80}},
      {255, {0x04, 0x81, 0xff}},
      {256, {0x04, 0x82, 0x01, 0x00}},
      {65535, {0x04, 0x82, 0xff, 0xff}},
      {65536, {0x04, 0x83, 0x01, 0x00, 0x00}},
      {70000, {0x04, 0x83, 0x01, 0x11, 0x70}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.len);
    CHECK(header(tag::kOctetString, c.len) == c.hdr);

    // begin()/end() patches the length afterwards; the bytes must be identical to tlv()'s.
    der::Writer nested;
    const auto m = nested.begin(tag::kOctetString);
    nested.raw(Bytes(c.len, 0x5a));
    nested.end(m);
    der::Writer flat;
    flat.tlv(tag::kOctetString, Bytes(c.len, 0x5a));
    CHECK(nested.bytes() == flat.bytes());

    // The reader gives back exactly the contents.
    const Bytes all = flat.take();
    auto t = der::read_single(all, tag::kOctetString);
    REQUIRE(t.has_value());
    CHECK(t->contents.size() == c.len);
    CHECK(t->whole.size() == all.size());

    // OpenSSL agrees.
    const unsigned char* p = all.data();
    test::OctPtr o(d2i_ASN1_OCTET_STRING(nullptr, &p, static_cast<long>(all.size())));
    REQUIRE(o);
    CHECK(static_cast<std::size_t>(ASN1_STRING_length(o.get())) == c.len);
  }
}

TEST_CASE("DER writer: nested structures whose inner lengths grow past 127") {
  der::Writer w;
  const auto outer = w.begin(tag::kSequence);
  const auto inner = w.begin(tag::kSequence);
  w.octet_string(Bytes(200, 1));
  w.end(inner);
  w.boolean(true);
  w.end(outer);
  const Bytes d = w.take();
  auto seq = der::read_single(d, tag::kSequence);
  REQUIRE(seq.has_value());
  der::Reader r(seq->contents);
  auto in = r.expect(tag::kSequence);
  REQUIRE(in.has_value());
  auto os = der::read_single(in->contents, tag::kOctetString);
  REQUIRE(os.has_value());
  CHECK(os->contents.size() == 200);
  auto b = r.expect(tag::kBoolean);
  REQUIRE(b.has_value());
  CHECK(der::read_boolean(*b).value() == true);
  CHECK(r.empty());
}

TEST_CASE("DER reader: non-minimal, indefinite, oversized and truncated lengths are refused") {
  const std::vector<Bytes> bad = {
      {},                                 // nothing
      {0x04},                             // tag without length
      {0x04, 0x81, 0x05, 1, 2, 3, 4, 5},  // long form for a short length
      {0x04, 0x81, 0x7f},                 // long form for 127
      {0x04, 0x82, 0x00, 0x80},           // leading zero length octet
      {0x04, 0x82, 0x00, 0xff},
      {0x30, 0x80, 0x00, 0x00},                    // indefinite length
      {0x04, 0x85, 0x01, 0x00, 0x00, 0x00, 0x00},  // five length octets
      {0x04, 0x82, 0x01},                          // length octets cut short
      {0x04, 0x03, 0x01, 0x02},                    // contents shorter than the length
      {0x04, 0x81, 0x80},                          // 128 announced, none present
      {0x1f, 0x81, 0x01, 0x00},                    // multi-byte tag
  };
  for (const Bytes& b : bad) {
    der::Reader r(b);
    auto t = r.next();
    REQUIRE_FALSE(t.has_value());
    CHECK(t.error().code == Errc::malformed);
  }
}

TEST_CASE("DER reader: read_single refuses trailing bytes and the wrong tag") {
  const Bytes good{0x05, 0x00};
  CHECK(der::read_single(good, tag::kNull).has_value());
  const Bytes trailing{0x05, 0x00, 0x00};
  CHECK(der::read_single(trailing, tag::kNull).error().code == Errc::malformed);
  CHECK(der::read_single(good, tag::kInteger).error().code == Errc::malformed);
  der::Reader r(good);
  der::Tlv t;
  auto absent = r.optional(tag::kInteger, t);
  REQUIRE(absent.has_value());
  CHECK_FALSE(*absent);
  auto present = r.optional(tag::kNull, t);
  REQUIRE(present.has_value());
  CHECK(*present);
  CHECK(r.empty());
}

TEST_CASE("DER: small_integer encodes minimally, negatives included, and reads back") {
  struct Case {
    std::int64_t v;
    Bytes contents;
  };
  const Case cases[] = {
      {0, {0x00}},
      {1, {0x01}},
      {127, {0x7f}},
      {128, {0x00, 0x80}},
      {255, {0x00, 0xff}},
      {256, {0x01, 0x00}},
      {-1, {0xff}},
      {-128, {0x80}},
      {-129, {0xff, 0x7f}},
      {-256, {0xff, 0x00}},
      {-257, {0xfe, 0xff}},
      {std::numeric_limits<std::int64_t>::max(), {0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
      {std::numeric_limits<std::int64_t>::min(), {0x80, 0, 0, 0, 0, 0, 0, 0}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.v);
    der::Writer w;
    w.small_integer(c.v);
    const Bytes d = w.take();
    auto t = der::read_single(d, tag::kInteger);
    REQUIRE(t.has_value());
    CHECK(Bytes(t->contents.begin(), t->contents.end()) == c.contents);
    CHECK(der::read_small_integer(*t).value() == c.v);

    const unsigned char* p = d.data();
    test::AsnIntPtr ai(d2i_ASN1_INTEGER(nullptr, &p, static_cast<long>(d.size())));
    REQUIRE(ai);
    int64_t ov = 0;
    REQUIRE(ASN1_INTEGER_get_int64(&ov, ai.get()) == 1);
    CHECK(ov == c.v);
  }
}

TEST_CASE("DER: read_small_integer refuses non-minimal, empty and too long encodings") {
  const std::vector<Bytes> bad = {
      {0x02, 0x00},
      {0x02, 0x02, 0x00, 0x01},
      {0x02, 0x02, 0xff, 0x80},
      {0x02, 0x09, 0x01, 0, 0, 0, 0, 0, 0, 0, 0},
      {0x0a, 0x01, 0x01},  // ENUMERATED is not INTEGER
  };
  for (const Bytes& b : bad) {
    der::Reader r(b);
    auto t = r.next();
    REQUIRE(t.has_value());
    CHECK(der::read_small_integer(*t).error().code == Errc::malformed);
  }
}

TEST_CASE("DER: unsigned_integer strips leading zeros and pads a high bit") {
  struct Case {
    Bytes in;
    Bytes out;
  };
  const Case cases[] = {
      {{}, {0x02, 0x01, 0x00}},
      {{0x00}, {0x02, 0x01, 0x00}},
      {{0x00, 0x00, 0x01}, {0x02, 0x01, 0x01}},
      {{0x80}, {0x02, 0x02, 0x00, 0x80}},
      {{0x00, 0xff, 0x01}, {0x02, 0x03, 0x00, 0xff, 0x01}},
      {{0x7f, 0xff}, {0x02, 0x02, 0x7f, 0xff}},
  };
  for (const Case& c : cases) {
    der::Writer w;
    w.unsigned_integer(c.in);
    CHECK(w.bytes() == c.out);
  }
}

TEST_CASE("DER: BOOLEAN is 0x00 or 0xff only") {
  der::Writer w;
  w.boolean(true);
  w.boolean(false);
  CHECK(w.bytes() == Bytes{0x01, 0x01, 0xff, 0x01, 0x01, 0x00});
  const Bytes lax{0x01, 0x01, 0x01};
  CHECK(der::read_boolean(der::read_single(lax, tag::kBoolean).value()).error().code == Errc::malformed);
  const Bytes longer{0x01, 0x02, 0xff, 0xff};
  CHECK(der::read_boolean(der::read_single(longer, tag::kBoolean).value()).error().code == Errc::malformed);
}

Result<std::uint32_t> named(const Bytes& d) {
  SIGIL_TRY(der::Tlv t, der::read_single(d, tag::kBitString));
  return der::read_named_bits(t);
}

TEST_CASE("DER: named bit lists drop trailing zero bits (key usage)") {
  struct Case {
    std::uint32_t bits;
    Bytes der;
  };
  const Case cases[] = {
      {0, {0x03, 0x01, 0x00}},
      {ku::digital_signature, {0x03, 0x02, 0x07, 0x80}},
      {ku::digital_signature | ku::key_encipherment, {0x03, 0x02, 0x05, 0xa0}},
      {ku::key_cert_sign | ku::crl_sign, {0x03, 0x02, 0x01, 0x06}},
      {ku::digital_signature | ku::key_cert_sign | ku::crl_sign, {0x03, 0x02, 0x01, 0x86}},
      {1u << 7, {0x03, 0x02, 0x00, 0x01}},        // encipherOnly
      {1u << 8, {0x03, 0x03, 0x07, 0x00, 0x80}},  // decipherOnly
  };
  for (const Case& c : cases) {
    CAPTURE(c.bits);
    der::Writer w;
    w.named_bits(c.bits, 8);
    CHECK(w.bytes() == c.der);
    CHECK(named(c.der).value() == c.bits);
  }
  // Every combination of the nine KeyUsage bits round-trips, and OpenSSL reads the same bits.
  for (std::uint32_t bits = 0; bits < 512; ++bits) {
    der::Writer w;
    w.named_bits(bits, 8);
    const Bytes d = w.take();
    REQUIRE(named(d).value() == bits);
    const unsigned char* p = d.data();
    test::Ptr<ASN1_BIT_STRING, ASN1_BIT_STRING_free> bs(d2i_ASN1_BIT_STRING(nullptr, &p, static_cast<long>(d.size())));
    REQUIRE(bs);
    for (int i = 0; i < 9; ++i) CHECK(ASN1_BIT_STRING_get_bit(bs.get(), i) == static_cast<int>((bits >> i) & 1));
  }
}

TEST_CASE("DER: named bit lists with trailing zeros or junk unused bits are refused") {
  const std::vector<Bytes> bad = {
      {0x03, 0x02, 0x00, 0x80},           // unused 0 but the last bit is zero: trailing zeros
      {0x03, 0x02, 0x06, 0x80},           // one trailing zero bit kept
      {0x03, 0x03, 0x07, 0x80, 0x00},     // a whole trailing zero octet
      {0x03, 0x02, 0x07, 0x81},           // non-zero unused bit
      {0x03, 0x01, 0x03},                 // unused bits without any octet
      {0x03, 0x02, 0x08, 0x80},           // more than 7 unused bits
      {0x03, 0x00},                       // no unused-bits octet
      {0x03, 0x06, 0x00, 1, 1, 1, 1, 1},  // longer than 32 bits
  };
  for (const Bytes& b : bad) {
    auto r = named(b);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::malformed);
  }
}

std::string time_text(TimePoint t, std::uint8_t* out_tag) {
  der::Writer w;
  w.time(t);
  const Bytes d = w.take();
  *out_tag = d[0];
  return std::string(d.begin() + 2, d.end());
}

TEST_CASE("DER: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5)") {
  struct Case {
    std::int64_t unix;
    std::uint8_t tag;
    const char* text;
  };
  const Case cases[] = {
      {2524607999, tag::kUtcTime, "491231235959Z"},            // 2049-12-31T23:59:59Z
      {2524608000, tag::kGeneralizedTime, "20500101000000Z"},  // 2050-01-01T00:00:00Z
      {-631152000, tag::kUtcTime, "500101000000Z"},            // 1950-01-01T00:00:00Z
      {-631152001, tag::kGeneralizedTime, "19491231235959Z"},  // 1949-12-31T23:59:59Z
      {1795723492, tag::kUtcTime, "261126200452Z"},           {951825600, tag::kUtcTime, "000229120000Z"},
      {4102444800, tag::kGeneralizedTime, "21000101000000Z"},
  };
  for (const Case& c : cases) {
    const std::string expect = c.text;
    CAPTURE(expect);
    std::uint8_t t = 0;
    CHECK(time_text(from_unix(c.unix), &t) == expect);
    CHECK(t == c.tag);
    der::Writer w;
    w.time(from_unix(c.unix));
    const Bytes d = w.take();
    der::Reader r(d);
    auto tlv = r.next();
    REQUIRE(tlv.has_value());
    auto back = der::read_time(*tlv);
    REQUIRE(back.has_value());
    CHECK(to_unix(*back) == c.unix);
    // OpenSSL reads the same instant.
    const unsigned char* p = d.data();
    test::Ptr<ASN1_TIME, ASN1_TIME_free> at(d2i_ASN1_TIME(nullptr, &p, static_cast<long>(d.size())));
    REQUIRE(at);
    int day = 0, sec = 0;
    test::Ptr<ASN1_TIME, ASN1_TIME_free> ref(ASN1_TIME_set(nullptr, static_cast<time_t>(c.unix)));
    REQUIRE(ASN1_TIME_diff(&day, &sec, ref.get(), at.get()) == 1);
    CHECK(day == 0);
    CHECK(sec == 0);
  }
}

TEST_CASE("DER: malformed times are refused") {
  auto tlv = [](std::uint8_t t, std::string s) {
    der::Writer w;
    w.string(t, s);
    return w.take();
  };
  const std::vector<Bytes> bad = {
      tlv(tag::kUtcTime, "491231235959"),          tlv(tag::kUtcTime, "4912312359Z"),
      tlv(tag::kUtcTime, "491231235959+0000"),     tlv(tag::kUtcTime, "491331235959Z"),
      tlv(tag::kUtcTime, "491200235959Z"),         tlv(tag::kUtcTime, "491231245959Z"),
      tlv(tag::kUtcTime, "491231236059Z"),         tlv(tag::kUtcTime, "491231235960Z"),
      tlv(tag::kUtcTime, "4912312359a9Z"),         tlv(tag::kGeneralizedTime, "20500101000000.5Z"),
      tlv(tag::kGeneralizedTime, "205001010000Z"), tlv(tag::kGeneralizedTime, "20500101000000"),
      tlv(tag::kUtf8String, "491231235959Z"),
  };
  for (const Bytes& b : bad) {
    der::Reader r(b);
    auto t = r.next();
    REQUIRE(t.has_value());
    CHECK(der::read_time(*t).error().code == Errc::malformed);
  }
}

der::Tlv time_tlv(const Bytes& storage) {
  der::Reader r(storage);
  auto t = r.next();
  REQUIRE(t.has_value());
  return *t;
}

// Regression (found by fuzz_certificate): read_time() converts with from_unix(), whose
// system_clock nanoseconds overflow for years after 2262 (signed overflow, undefined
// behaviour). RFC 5280 4.1.2.5 recommends 99991231235959Z for "no expiration": such a time
// must be refused as malformed or represented correctly, never wrapped.
TEST_CASE("DER: GeneralizedTime far in the future is refused or exact, never wrapped") {
  for (const std::string text : {"99991231235959Z", "22630101000000Z", "16000101000000Z"}) {
    CAPTURE(text);
    der::Writer w;
    w.string(tag::kGeneralizedTime, text);
    const Bytes d = w.take();
    auto t = der::read_time(time_tlv(d));
    if (!t) continue;  // refusing is acceptable
    der::Writer back;
    back.time(*t);
    CHECK(to_hex(back.bytes()) == to_hex(d));
  }
}

// Known leniency (reported): read_time() range-checks each field but not the day against the
// month, so "February 31" is accepted and silently becomes March 3 (OpenSSL refuses it).
TEST_CASE("DER: impossible calendar dates are refused") {
  for (const std::string text : {"490231000000Z", "490431000000Z", "490229000000Z"}) {  // 2049 is no leap year
    CAPTURE(text);
    der::Writer w;
    w.string(tag::kUtcTime, text);
    const Bytes d = w.take();
    CHECK_FALSE(der::read_time(time_tlv(d)).has_value());
  }
}

TEST_CASE("DER: OIDs print in dotted form") {
  CHECK(der::oid_to_string(oid::ecdsa_with_sha256) == "1.2.840.10045.4.3.2");
  CHECK(der::oid_to_string(oid::ed25519) == "1.3.101.112");
  CHECK(der::oid_to_string(oid::secp384r1) == "1.3.132.0.34");
  CHECK(der::oid_to_string(oid::authority_info_access) == "1.3.6.1.5.5.7.1.1");
  const Bytes big{0x88, 0x37, 0x03};  // 2.999.3 (first subidentifier 40*2 + 999)
  CHECK(der::oid_to_string(big) == "2.999.3");
}

TEST_CASE("DER: bit strings with unused bits are refused where whole octets are expected") {
  const Bytes ok{0x03, 0x03, 0x00, 0xab, 0xcd};
  auto v = der::read_bit_string_bytes(der::read_single(ok, tag::kBitString).value());
  REQUIRE(v.has_value());
  CHECK(v->size() == 2);
  const Bytes unused{0x03, 0x03, 0x04, 0xab, 0xc0};
  CHECK(der::read_bit_string_bytes(der::read_single(unused, tag::kBitString).value()).error().code == Errc::malformed);
  const Bytes empty{0x03, 0x00};
  CHECK(der::read_bit_string_bytes(der::read_single(empty, tag::kBitString).value()).error().code == Errc::malformed);
}

}  // namespace
