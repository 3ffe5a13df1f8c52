#include "ca/crypto/der.hpp"

#include <algorithm>
#include <ctime>

namespace sigil::crypto::der {
namespace {
Error bad(std::string_view what) { return make_error(Errc::malformed, "DER: " + std::string(what)); }

bool all_digits(ByteView v) {
  return std::all_of(v.begin(), v.end(), [](std::uint8_t c) { return c >= '0' && c <= '9'; });
}
int num(ByteView v, std::size_t at, std::size_t n) {
  int x = 0;
  for (std::size_t i = 0; i < n; ++i) x = x * 10 + (v[at + i] - '0');
  return x;
}
}  // namespace

std::string oid_to_string(ByteView c) {
  std::string out;
  std::uint64_t v = 0;
  bool first = true;
  for (std::uint8_t b : c) {
    v = (v << 7) | (b & 0x7f);
    if (b & 0x80) continue;
    if (first) {
      const std::uint64_t a = v < 80 ? v / 40 : 2;
      out = std::to_string(a) + "." + std::to_string(v - a * 40);
      first = false;
    } else {
      out += "." + std::to_string(v);
    }
    v = 0;
  }
  return out;
}

void Writer::length(std::size_t n) {
  if (n < 0x80) {
    buf_.push_back(static_cast<std::uint8_t>(n));
    return;
  }
  std::uint8_t tmp[8];
  int k = 0;
  while (n > 0) {
    tmp[k++] = static_cast<std::uint8_t>(n & 0xff);
    n >>= 8;
  }
  buf_.push_back(static_cast<std::uint8_t>(0x80 | k));
  while (k > 0) buf_.push_back(tmp[--k]);
}

std::size_t Writer::begin(std::uint8_t tag) {
  buf_.push_back(tag);
  buf_.push_back(0);  // placeholder, fixed in end()
  return buf_.size();
}

void Writer::end(std::size_t mark) {
  const std::size_t n = buf_.size() - mark;
  if (n < 0x80) {
    buf_[mark - 1] = static_cast<std::uint8_t>(n);
    return;
  }
  std::uint8_t tmp[8];
  int k = 0;
  for (std::size_t m = n; m > 0; m >>= 8) tmp[k++] = static_cast<std::uint8_t>(m & 0xff);
  buf_[mark - 1] = static_cast<std::uint8_t>(0x80 | k);
  buf_.insert(buf_.begin() + static_cast<std::ptrdiff_t>(mark), static_cast<std::size_t>(k), 0);
  for (int i = 0; i < k; ++i) buf_[mark + static_cast<std::size_t>(i)] = tmp[k - 1 - i];
}

void Writer::tlv(std::uint8_t tag, ByteView contents) {
  buf_.push_back(tag);
  length(contents.size());
  buf_.insert(buf_.end(), contents.begin(), contents.end());
}

void Writer::raw(ByteView encoded) { buf_.insert(buf_.end(), encoded.begin(), encoded.end()); }

void Writer::boolean(bool v) {
  const std::uint8_t b = v ? 0xff : 0x00;
  tlv(tag::kBoolean, ByteView(&b, 1));
}

void Writer::null() { tlv(tag::kNull, {}); }

void Writer::small_integer(std::int64_t v) {
  std::uint8_t tmp[9];
  int k = 0;
  std::int64_t x = v;
  do {
    tmp[k++] = static_cast<std::uint8_t>(x & 0xff);
    x >>= 8;
  } while (!((x == 0 && !(tmp[k - 1] & 0x80)) || (x == -1 && (tmp[k - 1] & 0x80))));
  std::uint8_t out[9];
  for (int i = 0; i < k; ++i) out[i] = tmp[k - 1 - i];
  tlv(tag::kInteger, ByteView(out, static_cast<std::size_t>(k)));
}

void Writer::unsigned_integer(ByteView be) {
  std::size_t i = 0;
  while (i + 1 < be.size() && be[i] == 0) ++i;
  ByteView v = be.subspan(i);
  buf_.push_back(tag::kInteger);
  const bool pad = v.empty() || (v[0] & 0x80);
  length(v.size() + (pad ? 1 : 0));
  if (pad) buf_.push_back(0);
  buf_.insert(buf_.end(), v.begin(), v.end());
}

void Writer::bit_string(ByteView bits, std::uint8_t unused_bits) {
  buf_.push_back(tag::kBitString);
  length(bits.size() + 1);
  buf_.push_back(unused_bits);
  buf_.insert(buf_.end(), bits.begin(), bits.end());
}

void Writer::string(std::uint8_t tag, std::string_view s) {
  tlv(tag, ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
}

namespace {
// Days since 1970-01-01 to a civil date (H. Hinnant's algorithm): no locale, no libc calls,
// cheap enough for a million CRL entries.
void civil_from_days(std::int64_t z, int& y, int& m, int& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  y = static_cast<int>(static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0));
}
void two(char* out, int v) {
  out[0] = static_cast<char>('0' + v / 10);
  out[1] = static_cast<char>('0' + v % 10);
}
}  // namespace

void Writer::time(TimePoint t, bool generalized) {
  const std::int64_t secs = to_unix(t);
  std::int64_t days = secs / 86400;
  std::int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  int y, mo, d;
  civil_from_days(days, y, mo, d);
  const int hh = static_cast<int>(rem / 3600), mi = static_cast<int>(rem / 60 % 60), ss = static_cast<int>(rem % 60);
  char buf[16];
  std::size_t n = 0;
  const bool utc = !generalized && y >= 1950 && y < 2050;
  if (utc) {
    two(buf, y % 100);
    n = 2;
  } else {
    two(buf, y / 100);
    two(buf + 2, y % 100);
    n = 4;
  }
  two(buf + n, mo);
  two(buf + n + 2, d);
  two(buf + n + 4, hh);
  two(buf + n + 6, mi);
  two(buf + n + 8, ss);
  buf[n + 10] = 'Z';
  string(utc ? tag::kUtcTime : tag::kGeneralizedTime, std::string_view(buf, n + 11));
}

void Writer::named_bits(std::uint32_t bits, int highest_bit) {
  // Bit n of the value is bit (7 - n%8) of byte n/8; trailing zero bits are dropped.
  int top = -1;
  for (int i = 0; i <= highest_bit; ++i)
    if (bits & (1u << i)) top = i;
  if (top < 0) {
    bit_string({}, 0);
    return;
  }
  const std::size_t nbytes = static_cast<std::size_t>(top / 8 + 1);
  std::uint8_t out[4] = {0, 0, 0, 0};
  for (int i = 0; i <= top; ++i)
    if (bits & (1u << i)) out[i / 8] = static_cast<std::uint8_t>(out[i / 8] | (0x80 >> (i % 8)));
  const auto unused = static_cast<std::uint8_t>(7 - top % 8);
  bit_string(ByteView(out, nbytes), unused);
}

Result<Tlv> Reader::next() {
  if (data_.size() < 2) return bad("truncated element");
  const std::uint8_t t = data_[0];
  if ((t & 0x1f) == 0x1f) return bad("multi-byte tags are not supported");
  std::size_t len = data_[1];
  std::size_t hdr = 2;
  if (len & 0x80) {
    const std::size_t k = len & 0x7f;
    if (k == 0) return bad("indefinite length");
    if (k > 4 || data_.size() < 2 + k) return bad("bad length");
    len = 0;
    for (std::size_t i = 0; i < k; ++i) len = (len << 8) | data_[2 + i];
    if (len < 0x80 || (k > 1 && data_[2] == 0)) return bad("non-minimal length");
    hdr = 2 + k;
  }
  if (len > data_.size() - hdr) return bad("length exceeds input");
  Tlv out{t, data_.subspan(hdr, len), data_.subspan(0, hdr + len)};
  data_ = data_.subspan(hdr + len);
  return out;
}

Result<Tlv> Reader::expect(std::uint8_t t) {
  if (!peek(t)) return bad("unexpected tag");
  return next();
}

Result<bool> Reader::optional(std::uint8_t t, Tlv& out) {
  if (!peek(t)) return false;
  SIGIL_TRY(out, next());
  return true;
}

Result<bool> read_boolean(const Tlv& t) {
  if (t.tag != tag::kBoolean || t.contents.size() != 1) return bad("bad BOOLEAN");
  if (t.contents[0] != 0x00 && t.contents[0] != 0xff) return bad("non-DER BOOLEAN");
  return t.contents[0] == 0xff;
}

Result<std::int64_t> read_small_integer(const Tlv& t) {
  const ByteView c = t.contents;
  if (t.tag != tag::kInteger || c.empty() || c.size() > 8) return bad("bad INTEGER");
  if (c.size() > 1 && ((c[0] == 0 && !(c[1] & 0x80)) || (c[0] == 0xff && (c[1] & 0x80))))
    return bad("non-minimal INTEGER");
  std::int64_t v = (c[0] & 0x80) ? -1 : 0;
  for (std::uint8_t b : c) v = static_cast<std::int64_t>((static_cast<std::uint64_t>(v) << 8) | b);
  return v;
}

Result<ByteView> read_bit_string_bytes(const Tlv& t) {
  if (t.tag != tag::kBitString || t.contents.empty() || t.contents[0] != 0) return bad("bad BIT STRING");
  return t.contents.subspan(1);
}

Result<std::uint32_t> read_named_bits(const Tlv& t) {
  const ByteView c = t.contents;
  if (t.tag != tag::kBitString || c.empty() || c[0] > 7 || c.size() > 5) return bad("bad named BIT STRING");
  const int unused = c[0];
  if (c.size() == 1) {
    if (unused != 0) return bad("bad named BIT STRING");
    return 0u;
  }
  const std::uint8_t last = c.back();
  if (unused > 0 && (last & ((1 << unused) - 1)) != 0) return bad("non-zero unused bits");
  if ((last & (1 << unused)) == 0) return bad("trailing zero bits in named BIT STRING");
  std::uint32_t bits = 0;
  for (std::size_t i = 1; i < c.size(); ++i)
    for (int b = 0; b < 8; ++b)
      if (c[i] & (0x80 >> b)) bits |= 1u << ((i - 1) * 8 + static_cast<std::size_t>(b));
  return bits;
}

Result<TimePoint> read_time(const Tlv& t) {
  const ByteView c = t.contents;
  std::tm tm{};
  if (t.tag == tag::kUtcTime) {
    if (c.size() != 13 || c[12] != 'Z' || !all_digits(c.subspan(0, 12))) return bad("bad UTCTime");
    const int yy = num(c, 0, 2);
    tm.tm_year = (yy < 50 ? 2000 + yy : 1900 + yy) - 1900;
    tm.tm_mon = num(c, 2, 2) - 1;
    tm.tm_mday = num(c, 4, 2);
    tm.tm_hour = num(c, 6, 2);
    tm.tm_min = num(c, 8, 2);
    tm.tm_sec = num(c, 10, 2);
  } else if (t.tag == tag::kGeneralizedTime) {
    if (c.size() != 15 || c[14] != 'Z' || !all_digits(c.subspan(0, 14))) return bad("bad GeneralizedTime");
    tm.tm_year = num(c, 0, 4) - 1900;
    tm.tm_mon = num(c, 4, 2) - 1;
    tm.tm_mday = num(c, 6, 2);
    tm.tm_hour = num(c, 8, 2);
    tm.tm_min = num(c, 10, 2);
    tm.tm_sec = num(c, 12, 2);
  } else {
    return bad("expected a time");
  }
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
    return bad("time out of range");
  const int year = tm.tm_year + 1900;
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (tm.tm_mday < 1 || tm.tm_mday > kDays[tm.tm_mon] + (tm.tm_mon == 1 && leap ? 1 : 0)) return bad("no such day");
  // TimePoint counts nanoseconds in 64 bits (years 1678..2262). A time outside that, such as
  // RFC 5280's 99991231235959Z ("no expiration"), is refused rather than represented wrongly.
  if (year < 1678 || year > 2261) return bad("time outside the years 1678..2261");
  return from_unix(static_cast<std::int64_t>(timegm(&tm)));
}

Result<Tlv> read_single(ByteView data, std::uint8_t t) {
  Reader r(data);
  SIGIL_TRY(Tlv out, r.expect(t));
  if (!r.empty()) return bad("trailing bytes");
  return out;
}

}  // namespace sigil::crypto::der
