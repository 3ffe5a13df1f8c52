// ca/base: the error table, Result, durations and timestamps, text encodings, atomic files.
// File tests run in a fresh directory under /tmp that is removed afterwards.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <ctime>

#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "ca/base/clock.hpp"
#include "ca/base/duration.hpp"
#include "ca/base/encoding.hpp"
#include "ca/base/error.hpp"
#include "ca/base/file.hpp"
#include "tests/support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using namespace sigil;
using namespace std::chrono_literals;

using sigil::test::TempDir;
using sigil::test::UmaskGuard;

std::set<std::string> entries(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

Bytes b(std::string_view s) { return as_bytes(s); }

// ---- errors -------------------------------------------------------------------------------

struct ExpectedRow {
  Errc code;
  std::string_view name;
  int http;
  int exit;
};
// The documented contract of the one table (exit codes: 3 input refused, 4 not found/exists,
// 5 authentication, 6 I/O or storage, 7 internal, 8 rate limited).
constexpr ExpectedRow kExpected[] = {
    {Errc::invalid_argument, "invalid_argument", 400, 3},
    {Errc::malformed, "malformed", 400, 3},
    {Errc::bad_csr, "bad_csr", 400, 3},
    {Errc::bad_public_key, "bad_public_key", 400, 3},
    {Errc::rejected_identifier, "rejected_identifier", 400, 3},
    {Errc::policy_violation, "policy_violation", 400, 3},
    {Errc::lint_failed, "lint_failed", 500, 7},
    {Errc::not_found, "not_found", 404, 4},
    {Errc::already_exists, "already_exists", 409, 4},
    {Errc::conflict, "conflict", 409, 4},
    {Errc::unauthorized, "unauthorized", 401, 5},
    {Errc::forbidden, "forbidden", 403, 5},
    {Errc::io, "io", 500, 6},
    {Errc::storage, "storage", 500, 6},
    {Errc::crypto, "crypto", 500, 7},
    {Errc::internal, "internal", 500, 7},
    {Errc::rate_limited, "rate_limited", 429, 8},
    {Errc::bad_nonce, "bad_nonce", 400, 3},
    {Errc::bad_signature_algorithm, "bad_signature_algorithm", 400, 3},
    {Errc::account_does_not_exist, "account_does_not_exist", 400, 4},
    {Errc::external_account_required, "external_account_required", 400, 5},
    {Errc::order_not_ready, "order_not_ready", 403, 3},
    {Errc::already_revoked, "already_revoked", 400, 4},
    {Errc::already_replaced, "already_replaced", 409, 4},
    {Errc::invalid_contact, "invalid_contact", 400, 3},
    {Errc::bad_revocation_reason, "bad_revocation_reason", 400, 3},
    {Errc::unsupported_identifier, "unsupported_identifier", 400, 3},
    {Errc::unsupported_media_type, "unsupported_media_type", 415, 3},
};

TEST_CASE("every Errc has its own row in the error table") {
  // The enum is dense from 0 to unsupported_media_type; each value must find the row named after it.
  const auto last = static_cast<int>(Errc::unsupported_media_type);
  REQUIRE(static_cast<int>(std::size(kExpected)) == last + 1);
  std::set<std::string_view> names;
  for (int i = 0; i <= last; ++i) {
    const auto code = static_cast<Errc>(i);
    const ExpectedRow& want = kExpected[i];
    REQUIRE(want.code == code);
    const ErrorInfo& got = info(code);
    CAPTURE(want.name);
    CHECK(got.name == want.name);
    CHECK(got.http_status == want.http);
    CHECK(got.exit_code == want.exit);
    CHECK_FALSE(got.problem_type.empty());
    // Same answer on every call (one table, no per-call construction).
    CHECK(&info(code) == &got);
    names.insert(got.name);
  }
  CHECK(names.size() == std::size(kExpected));
}

TEST_CASE("ACME-facing error codes map to the RFC 8555 problem types") {
  CHECK(info(Errc::malformed).problem_type == "urn:ietf:params:acme:error:malformed");
  CHECK(info(Errc::bad_csr).problem_type == "urn:ietf:params:acme:error:badCSR");
  CHECK(info(Errc::bad_public_key).problem_type == "urn:ietf:params:acme:error:badPublicKey");
  CHECK(info(Errc::rejected_identifier).problem_type == "urn:ietf:params:acme:error:rejectedIdentifier");
  CHECK(info(Errc::unauthorized).problem_type == "urn:ietf:params:acme:error:unauthorized");
  for (Errc c : {Errc::io, Errc::storage, Errc::crypto, Errc::internal})
    CHECK(info(c).problem_type == "urn:ietf:params:acme:error:serverInternal");
}

Result<int> half(int x) {
  if (x % 2 != 0) return make_error(Errc::invalid_argument, "odd");
  return x / 2;
}
Result<int> quarter(int x) {
  SIGIL_TRY(int h, half(x));
  SIGIL_TRY(int q, half(h));
  return q;
}
Status even_status(int x) {
  SIGIL_TRY_STATUS(half(x));
  return {};
}

TEST_CASE("Result carries a value or an error and SIGIL_TRY propagates the first error") {
  auto ok = quarter(12);
  REQUIRE(ok.has_value());
  CHECK(*ok == 3);
  auto bad = quarter(6);  // 6 -> 3 -> odd
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == Errc::invalid_argument);
  CHECK(bad.error().detail == "odd");
  CHECK(even_status(4).has_value());
  CHECK(even_status(5).error().code == Errc::invalid_argument);

  Status s;
  CHECK(static_cast<bool>(s));
  Error e = make_error(Errc::io, "disk full");
  Error ctx = e.context("writing root.key");
  CHECK(ctx.code == Errc::io);
  CHECK(ctx.detail == "writing root.key: disk full");

  Result<std::string> moved = std::string("payload");
  std::string taken = std::move(moved).value();
  CHECK(taken == "payload");
}

// ---- durations and times --------------------------------------------------------------------

TEST_CASE("parse_duration accepts the documented units and combinations") {
  struct Case {
    const char* text;
    std::int64_t secs;
  };
  const Case cases[] = {{"90s", 90},
                        {"15m", 900},
                        {"24h", 86400},
                        {"7d", 7 * 86400},
                        {"2w", 14 * 86400},
                        {"5y", 5 * 365 * 86400},
                        {"1h30m", 5400},
                        {"1d12h", 129600},
                        {"0s", 0},
                        {"200y", 200LL * 365 * 86400},
                        {"1000000000s", 1000000000}};
  for (const Case& c : cases) {
    const std::string text = c.text;
    CAPTURE(text);
    auto d = parse_duration(c.text);
    REQUIRE(d.has_value());
    CHECK(d->count() == c.secs);
  }
}

TEST_CASE("parse_duration refuses malformed and overflowing input") {
  for (const std::string text : {"", "90", "h", "1.5h", "-1h", "+1h", " 1h", "1h ", "1H", "1x", "1hh", "1h30", "d1",
                                 "1000000001s",            // a component above 10^9
                                 "99999999999999999999s",  // would overflow int64
                                 "201y", "200y1s", "73001d", "1000000000y"}) {
    CAPTURE(text);
    auto d = parse_duration(text);
    REQUIRE_FALSE(d.has_value());
    CHECK(d.error().code == Errc::invalid_argument);
  }
}

TEST_CASE("format_duration uses the largest exact unit and round-trips through parse_duration") {
  CHECK(format_duration(Seconds(0)) == "0s");
  CHECK(format_duration(Seconds(59)) == "59s");
  CHECK(format_duration(Seconds(90)) == "90s");
  CHECK(format_duration(Seconds(5400)) == "90m");
  CHECK(format_duration(Seconds(86400)) == "1d");
  CHECK(format_duration(Seconds(90 * 86400)) == "90d");
  CHECK(format_duration(Seconds(398 * 86400)) == "398d");
  CHECK(format_duration(Seconds(365 * 86400)) == "1y");
  CHECK(format_duration(Seconds(3600)) == "1h");
  for (std::int64_t s : {1LL, 61LL, 3601LL, 86399LL, 86401LL, 7 * 86400LL, 366 * 86400LL, 5 * 365 * 86400LL}) {
    auto back = parse_duration(format_duration(Seconds(s)));
    REQUIRE(back.has_value());
    CHECK(back->count() == s);
  }
}

// Regression (found by fuzz_text): a duration over 10^9 seconds that is not a whole
// number of minutes formats as "<n>s", a component parse_duration refuses.
TEST_CASE("format_duration output always parses back") {
  for (std::int64_t s : {1'000'000'001LL, 52LL * 365 * 86400 + 140 * 86400 + 306, 200LL * 365 * 86400 - 1}) {
    CAPTURE(s);
    const std::string text = format_duration(Seconds(s));
    CAPTURE(text);
    auto back = parse_duration(text);
    REQUIRE(back.has_value());
    CHECK(back->count() == s);
  }
}

TEST_CASE("RFC 3339: known instants and round trips") {
  CHECK(format_rfc3339(from_unix(0)) == "1970-01-01T00:00:00Z");
  CHECK(format_rfc3339(from_unix(1795723492)) == "2026-11-26T20:04:52Z");
  CHECK(format_rfc3339(from_unix(951825600)) == "2000-02-29T12:00:00Z");
  auto t = parse_rfc3339("2026-11-26T20:04:52Z");
  REQUIRE(t.has_value());
  CHECK(to_unix(*t) == 1795723492);
  for (std::int64_t s : {0LL, 1LL, 951825600LL, 1795723492LL, 2524607999LL, 2524608000LL, 4102444800LL}) {
    auto back = parse_rfc3339(format_rfc3339(from_unix(s)));
    REQUIRE(back.has_value());
    CHECK(to_unix(*back) == s);
  }
  // Sub-second precision is dropped on formatting (seconds resolution).
  CHECK(format_rfc3339(from_unix(10) + 999ms) == "1970-01-01T00:00:10Z");
}

TEST_CASE("RFC 3339: malformed text is refused") {
  for (const std::string text :
       {"", "2026-11-26", "2026-11-26T20:04:52", "2026-11-26 20:04:52Z", "2026-11-26T20:04:52+00:00",
        "2026-11-26T20:04:52Zjunk", "2026-11-26T20:04:52.5Z", "2026/11/26T20:04:52Z", "now"}) {
    CAPTURE(text);
    auto t = parse_rfc3339(text);
    REQUIRE_FALSE(t.has_value());
    CHECK(t.error().code == Errc::invalid_argument);
  }
}

// Regression: sscanf %2d accepts one-digit, signed and space-padded fields and no
// field is range-checked, so timegm() silently normalises impossible dates.
TEST_CASE("RFC 3339: out-of-range and non-canonical fields are refused") {
  for (const std::string text :
       {"2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-02-30T00:00:00Z", "2026-01-32T00:00:00Z",
        "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z", "2026-01-01T00:00:61Z", "2026-1-2T3:4:5Z",
        "2026--1-02T00:00:00Z", "2026-01- 2T00:00:00Z", "26-11-26T20:04:52Z"}) {
    CAPTURE(text);
    CHECK_FALSE(parse_rfc3339(text).has_value());
  }
}

// Regression (found by fuzz_certificate): TimePoint is system_clock's (nanoseconds,
// +-292 years around 1970); from_unix() of a later or earlier year overflows (signed overflow,
// undefined behaviour) and yields a wrong instant. Such years must be refused or represented.
TEST_CASE("RFC 3339: years outside the TimePoint range are refused, not wrapped") {
  for (const std::string text : {"9999-12-31T23:59:59Z", "2263-01-01T00:00:00Z", "1000-01-01T00:00:00Z"}) {
    CAPTURE(text);
    auto t = parse_rfc3339(text);
    if (t) CHECK(format_rfc3339(*t) == text);
  }
}

TEST_CASE("HTTP dates (RFC 9110 IMF-fixdate): known instants, round trips, refusals") {
  CHECK(format_http_date(from_unix(784111777)) == "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK(format_http_date(from_unix(0)) == "Thu, 01 Jan 1970 00:00:00 GMT");
  auto t = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT");
  REQUIRE(t.has_value());
  CHECK(to_unix(*t) == 784111777);
  for (std::int64_t s : {0LL, 951825600LL, 1795723492LL, 2524608000LL}) {
    auto back = parse_http_date(format_http_date(from_unix(s)));
    REQUIRE(back.has_value());
    CHECK(to_unix(*back) == s);
  }
  // The hand-written civil-date arithmetic against the C library's, across leap days and
  // century years (1900 and 2100 are not leap years; 2000 is) and before 1970.
  for (std::int64_t s = -2208988800LL; s < 4133980800LL; s += 86400LL * 7 + 3661) {
    const std::time_t tt = static_cast<std::time_t>(s);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char want[40];
    std::strftime(want, sizeof want, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    CAPTURE(s);
    REQUIRE(format_http_date(from_unix(s)) == want);
  }
  for (const auto& [s, text] : {std::pair{951782400LL, "Tue, 29 Feb 2000 00:00:00 GMT"},
                                std::pair{4107542399LL, "Sun, 28 Feb 2100 23:59:59 GMT"},
                                std::pair{4107542400LL, "Mon, 01 Mar 2100 00:00:00 GMT"}})
    CHECK(format_http_date(from_unix(s)) == text);
  for (const std::string text :
       {"", "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994 08:49:37 GMT junk", "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994", "1994-11-06T08:49:37Z"}) {
    CAPTURE(text);
    auto r = parse_http_date(text);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::invalid_argument);
  }
}

// Regression: the same from_unix() overflow as parse_rfc3339, on a header a client
// sends (If-Modified-Since): year 9999 is undefined behaviour and wraps to another date.
TEST_CASE("HTTP dates: years outside the TimePoint range are refused, not wrapped") {
  for (const std::string text : {"Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 01 Jan 2263 00:00:00 GMT"}) {
    CAPTURE(text);
    auto t = parse_http_date(text);
    if (t) CHECK(format_http_date(*t) == text);
  }
}

TEST_CASE("FakeClock travels and to_unix/from_unix are inverse") {
  FakeClock clock(from_unix(1000));
  CHECK(to_unix(clock.now()) == 1000);
  clock.advance(90s);
  CHECK(to_unix(clock.now()) == 1090);
  clock.set(from_unix(-631152000));
  CHECK(to_unix(clock.now()) == -631152000);
}

// ---- hex, base64, base64url -------------------------------------------------------------------

TEST_CASE("hex encodes lower case and decodes either case") {
  const Bytes v{0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
  CHECK(to_hex(v) == "00017f80abff");
  CHECK(to_hex(Bytes{}) == "");
  auto back = from_hex("00017F80ABff");
  REQUIRE(back.has_value());
  CHECK(*back == v);
  CHECK(from_hex("")->empty());
  for (const std::string bad : {"0", "abc", "0g", "zz", " 00", "00 ", "0x00"}) {
    CAPTURE(bad);
    auto r = from_hex(bad);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::malformed);
  }
}

TEST_CASE("base64 and base64url: RFC 4648 section 10 test vectors") {
  struct V {
    const char* plain;
    const char* b64;
    const char* url;
  };
  const V vectors[] = {{"", "", ""},
                       {"f", "Zg==", "Zg"},
                       {"fo", "Zm8=", "Zm8"},
                       {"foo", "Zm9v", "Zm9v"},
                       {"foob", "Zm9vYg==", "Zm9vYg"},
                       {"fooba", "Zm9vYmE=", "Zm9vYmE"},
                       {"foobar", "Zm9vYmFy", "Zm9vYmFy"}};
  for (const V& v : vectors) {
    const std::string plain = v.plain;
    CAPTURE(plain);
    CHECK(base64_encode(b(v.plain)) == v.b64);
    CHECK(base64url_encode(b(v.plain)) == v.url);
    auto d = base64_decode(v.b64);
    REQUIRE(d.has_value());
    CHECK(*d == b(v.plain));
    auto u = base64url_decode(v.url);
    REQUIRE(u.has_value());
    CHECK(*u == b(v.plain));
  }
  // The two alphabets differ in 62 and 63.
  const Bytes hi{0xfb, 0xff, 0xbf};
  CHECK(base64_encode(hi) == "+/+/");
  CHECK(base64url_encode(hi) == "-_-_");
  CHECK(base64url_decode("-_-_").value() == hi);
  CHECK(base64_decode("+/+/").value() == hi);
}

TEST_CASE("base64: non-canonical and malformed input is refused") {
  for (const std::string text : {"Zg", "Zg=", "Zh==", "Zm9=", "Zm8", "Z===", "====", "Zg==Zg==", "Zm9v\n", " Zm9v",
                                 "Zm 9v", "-_-_", "Zm9v=", "Z", "Zm9vY==="}) {
    CAPTURE(text);
    auto r = base64_decode(text);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::malformed);
  }
  for (const std::string text : {"Zg==", "Zm8=", "Zh", "Zm9", "Z", "+/+/", "Zm9v\n", "Zm9vY"}) {
    CAPTURE(text);
    auto r = base64url_decode(text);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::malformed);
  }
}

TEST_CASE("base64 and base64url round-trip every length up to 100") {
  std::mt19937 rng(42);
  for (std::size_t n = 0; n <= 100; ++n) {
    Bytes v(n);
    for (auto& c : v) c = static_cast<std::uint8_t>(rng());
    const std::string e = base64_encode(v);
    CHECK(e.size() % 4 == 0);
    CHECK(base64_decode(e).value() == v);
    const std::string u = base64url_encode(v);
    CHECK(u.find('=') == std::string::npos);
    CHECK(base64url_decode(u).value() == v);
  }
}

// ---- PEM ------------------------------------------------------------------------------------

TEST_CASE("pem_encode wraps at 64 columns and decodes back") {
  Bytes der(100);
  for (std::size_t i = 0; i < der.size(); ++i) der[i] = static_cast<std::uint8_t>(i * 7);
  const std::string pem = pem_encode("CERTIFICATE", der);
  CHECK(pem.rfind("-----BEGIN CERTIFICATE-----\n", 0) == 0);
  CHECK(pem.size() > 30);
  CHECK(pem.substr(pem.size() - 26) == "-----END CERTIFICATE-----\n");
  std::size_t start = pem.find('\n') + 1;
  const std::size_t first_line_end = pem.find('\n', start);
  CHECK(first_line_end - start == 64);
  auto one = pem_decode_one(pem, "CERTIFICATE");
  REQUIRE(one.has_value());
  CHECK(*one == der);
}

TEST_CASE("pem_decode_all returns every block in order and skips explanatory text") {
  const Bytes a{1, 2, 3}, c{4, 5, 6, 7};
  const std::string text = "Subject: test\nsome notes\n" + pem_encode("CERTIFICATE", a) + "between blocks\n" +
                           pem_encode("CERTIFICATE REQUEST", c) + "trailing text";
  auto blocks = pem_decode_all(text);
  REQUIRE(blocks.has_value());
  REQUIRE(blocks->size() == 2);
  CHECK((*blocks)[0].label == "CERTIFICATE");
  CHECK((*blocks)[0].der == a);
  CHECK((*blocks)[1].label == "CERTIFICATE REQUEST");
  CHECK((*blocks)[1].der == c);

  // CRLF line endings are whitespace too.
  std::string crlf;
  for (char ch : pem_encode("X", a)) {
    if (ch == '\n') crlf += '\r';
    crlf += ch;
  }
  CHECK(pem_decode_all(crlf).value().at(0).der == a);

  // No block at all is an empty list, not an error.
  auto none = pem_decode_all("just some text\n");
  REQUIRE(none.has_value());
  CHECK(none->empty());
  CHECK(pem_decode_all("")->empty());
}

TEST_CASE("PEM: broken blocks are refused") {
  const std::string good = pem_encode("CERTIFICATE", Bytes{1, 2, 3});
  const std::string body = "AQID\n";
  const std::vector<std::string> bad = {
      "-----BEGIN CERTIFICATE-----\n" + body,                                          // missing END
      "-----BEGIN CERTIFICATE-----\n" + body + "-----END CERTIFICATE REQUEST-----\n",  // other label
      "-----BEGIN CERTIFICATE-----\nAQ!D\n-----END CERTIFICATE-----\n",                // bad base64
      "-----BEGIN CERTIFICATE-----\nAQI\n-----END CERTIFICATE-----\n",                 // unpadded
      "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",                      // empty
      "-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n\n" + body + "-----END CERTIFICATE-----\n",
      "-----BEGIN CERTIFICATE\n" + body,                                           // no dashes at all
      "-----BEGIN CERT\nIFICATE-----\n" + body + "-----END CERT\nIFICATE-----\n",  // label over a line
      good + "-----BEGIN CERTIFICATE-----\n" + body,                               // second block open
  };
  for (const auto& text : bad) {
    CAPTURE(text);
    auto r = pem_decode_all(text);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::malformed);
  }
}

TEST_CASE("pem_decode_one wants exactly one block with the label") {
  const std::string cert = pem_encode("CERTIFICATE", Bytes{1});
  CHECK(pem_decode_one(cert, "CERTIFICATE").has_value());
  CHECK(pem_decode_one(cert, "PRIVATE KEY").error().code == Errc::malformed);
  CHECK(pem_decode_one(cert + cert, "CERTIFICATE").error().code == Errc::malformed);
  CHECK(pem_decode_one("no pem here", "CERTIFICATE").error().code == Errc::malformed);
}

// ---- files ----------------------------------------------------------------------------------

TEST_CASE("write_file_atomic: exact mode even with umask 0, no temporary left behind") {
  TempDir dir;
  UmaskGuard um(0);
  const fs::path key = dir / "root.key";
  REQUIRE(write_file_atomic(key, "secret", kPrivateMode));
  CHECK(mode_of(key) == 0600);
  CHECK(read_file(key).value() == "secret");
  CHECK(entries(dir.path()) == std::set<std::string>{"root.key"});

  // Replacing keeps the asked mode, even when the old file had another.
  REQUIRE(::chmod(key.c_str(), 0666) == 0);
  REQUIRE(write_file_atomic(key, "secret 2", kPrivateMode));
  CHECK(mode_of(key) == 0600);
  CHECK(read_file(key).value() == "secret 2");

  const fs::path pub = dir / "root.crt";
  REQUIRE(write_file_atomic(pub, "public"));
  CHECK(mode_of(pub) == 0644);
  CHECK(entries(dir.path()) == std::set<std::string>{"root.crt", "root.key"});
}

TEST_CASE("write_file_atomic: a restrictive umask does not narrow the asked mode") {
  TempDir dir;
  UmaskGuard um(077);
  const fs::path pub = dir / "ca.crt";
  REQUIRE(write_file_atomic(pub, "x", kPublicMode));
  CHECK(mode_of(pub) == 0644);
}

TEST_CASE("write_file_atomic: empty content and binary content survive") {
  TempDir dir;
  REQUIRE(write_file_atomic(dir / "empty", ""));
  CHECK(read_file(dir / "empty").value().empty());
  std::string bin("\0\1\2\xff", 4);
  REQUIRE(write_file_atomic(dir / "bin", bin));
  CHECK(read_file(dir / "bin").value() == bin);
}

TEST_CASE("write_file_atomic: into a missing directory fails with Errc::io and creates nothing") {
  TempDir dir;
  auto st = write_file_atomic(dir / "missing" / "file", "data", kPrivateMode);
  REQUIRE_FALSE(st.has_value());
  CHECK(st.error().code == Errc::io);
  CHECK(entries(dir.path()).empty());
  auto st2 = write_file_new(dir / "missing" / "file", "data", kPrivateMode);
  REQUIRE_FALSE(st2.has_value());
  CHECK(st2.error().code == Errc::io);
  CHECK(entries(dir.path()).empty());
}

TEST_CASE("write_file_atomic: a failed rename removes its temporary file") {
  TempDir dir;
  // A non-empty directory cannot be replaced by rename().
  REQUIRE(fs::create_directory(dir / "target"));
  REQUIRE(write_file_atomic(dir / "target" / "inner", "x"));
  auto st = write_file_atomic(dir / "target", "data");
  REQUIRE_FALSE(st.has_value());
  CHECK(st.error().code == Errc::io);
  CHECK(entries(dir.path()) == std::set<std::string>{"target"});
  CHECK(entries(dir / "target") == std::set<std::string>{"inner"});
}

TEST_CASE("write_file_new: creates with the exact mode and refuses an existing file") {
  TempDir dir;
  UmaskGuard um(0);
  const fs::path p = dir / "intermediate.key";
  REQUIRE(write_file_new(p, "first", kPrivateMode));
  CHECK(mode_of(p) == 0600);
  auto again = write_file_new(p, "second", kPrivateMode);
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error().code == Errc::already_exists);
  CHECK(read_file(p).value() == "first");
  CHECK(entries(dir.path()) == std::set<std::string>{"intermediate.key"});
}

TEST_CASE("read_file: size limit, missing file") {
  TempDir dir;
  const std::string big(70000, 'a');  // more than one 64 KiB read
  REQUIRE(write_file_atomic(dir / "big", big));
  CHECK(read_file(dir / "big", 70000).value() == big);
  auto over = read_file(dir / "big", 69999);
  REQUIRE_FALSE(over.has_value());
  CHECK(over.error().code == Errc::invalid_argument);
  CHECK(read_file(dir / "big", 100).error().code == Errc::invalid_argument);
  REQUIRE(write_file_atomic(dir / "small", "12345"));
  CHECK(read_file(dir / "small", 5).value() == "12345");
  CHECK(read_file(dir / "small", 4).error().code == Errc::invalid_argument);
  CHECK(read_file(dir / "nope").error().code == Errc::not_found);
}

TEST_CASE("make_dirs creates nested directories with the mode and accepts existing ones") {
  TempDir dir;
  UmaskGuard um(0);
  const fs::path deep = dir / "a" / "b" / "c";
  REQUIRE(make_dirs(deep, 0700));
  CHECK(fs::is_directory(deep));
  CHECK(mode_of(dir / "a") == 0700);
  CHECK(mode_of(deep) == 0700);
  CHECK(make_dirs(deep, 0700).has_value());
  REQUIRE(write_file_atomic(dir / "file", "x"));
  CHECK(make_dirs(dir / "file", 0700).error().code == Errc::io);
}

}  // namespace
