#include "ca/base/duration.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <limits>

namespace sigil {

Result<Seconds> parse_duration(std::string_view text) {
  auto bad = [&] {
    return make_error(Errc::invalid_argument,
                      "invalid duration '" + std::string(text) + "' (use e.g. 90s, 15m, 24h, 7d, 5y)");
  };
  if (text.empty()) return bad();
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return bad();
    std::int64_t n = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      n = n * 10 + (text[i] - '0');
      if (n > 1'000'000'000) return bad();
      ++i;
    }
    if (i == text.size()) return bad();  // a unit is required
    std::int64_t unit = 0;
    switch (text[i]) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      case 'w':
        unit = 7 * 86400;
        break;
      case 'y':
        unit = 365 * 86400;
        break;
      default:
        return bad();
    }
    ++i;
    total += n * unit;
    if (total > std::int64_t{200} * 365 * 86400) return bad();
  }
  return Seconds(total);
}

std::string format_duration(Seconds d) {
  const std::int64_t s = d.count();
  struct Unit {
    std::int64_t secs;
    char c;
  };
  const Unit units[] = {{365 * 86400, 'y'}, {86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
  for (Unit u : units) {
    if (s != 0 && s % u.secs == 0 && s / u.secs <= 1'000'000'000) return std::to_string(s / u.secs) + u.c;
  }
  // No single unit fits (parse_duration caps each number at 10^9): days, hours, minutes, seconds.
  std::string out;
  std::int64_t rest = s;
  for (Unit u : {units[1], units[2], units[3], units[4]}) {
    if (rest >= u.secs) {
      out += std::to_string(rest / u.secs) + u.c;
      rest %= u.secs;
    }
  }
  return out.empty() ? "0s" : out;
}

std::string format_rfc3339(TimePoint t) {
  const std::time_t tt = static_cast<std::time_t>(to_unix(t));
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

namespace {
bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
int days_in_month(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : kDays[m - 1];
}
// Calendar fields in range (1970..2261: what a TimePoint holds); false otherwise.
bool valid_civil(const std::tm& tm) {
  const int y = tm.tm_year + 1900, m = tm.tm_mon + 1;
  return y >= 1970 && y <= 2261 && m >= 1 && m <= 12 && tm.tm_mday >= 1 && tm.tm_mday <= days_in_month(y, m) &&
         tm.tm_hour >= 0 && tm.tm_hour <= 23 && tm.tm_min >= 0 && tm.tm_min <= 59 && tm.tm_sec >= 0 && tm.tm_sec <= 59;
}
}  // namespace

Result<TimePoint> parse_rfc3339(std::string_view text) {
  // Exactly YYYY-MM-DDTHH:MM:SSZ.
  auto bad = [&] {
    return make_error(Errc::invalid_argument,
                      "invalid time '" + std::string(text) + "' (use RFC 3339 UTC, e.g. 2026-01-02T15:04:05Z)");
  };
  constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:ddZ";
  if (text.size() != kShape.size()) return bad();
  for (std::size_t i = 0; i < kShape.size(); ++i) {
    if (kShape[i] == 'd' ? !std::isdigit(static_cast<unsigned char>(text[i])) : text[i] != kShape[i]) return bad();
  }
  auto num = [&](std::size_t at, std::size_t n) {
    int v = 0;
    for (std::size_t i = 0; i < n; ++i) v = v * 10 + (text[at + i] - '0');
    return v;
  };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(5, 2) - 1;
  tm.tm_mday = num(8, 2);
  tm.tm_hour = num(11, 2);
  tm.tm_min = num(14, 2);
  tm.tm_sec = num(17, 2);
  if (!valid_civil(tm)) return bad();
  return from_unix(static_cast<std::int64_t>(timegm(&tm)));
}

std::string format_http_date(TimePoint t) {
  // IMF-fixdate by hand (no gmtime_r, whose glibc takes the time-zone lock, and no snprintf):
  // it is written into OCSP and CRL responses and every response's Date header.
  const std::int64_t secs = to_unix(t);
  std::int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  const std::int64_t rem = secs - days * 86400;
  const int weekday = static_cast<int>((days % 7 + 11) % 7);  // 1970-01-01 was a Thursday
  // Civil date from days since the epoch (H. Hinnant's algorithm, proleptic Gregorian).
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const std::int64_t doe = days - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  const std::int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::string out = "Www, DD Mmm YYYY HH:MM:SS GMT";
  auto two = [&](std::size_t at, int v) {
    out[at] = static_cast<char>('0' + v / 10);
    out[at + 1] = static_cast<char>('0' + v % 10);
  };
  out.replace(0, 3, kDays[weekday]);
  two(5, day);
  out.replace(8, 3, kMonths[month - 1]);
  const int y = static_cast<int>(std::clamp<std::int64_t>(year, 0, 9999));
  two(12, y / 100);
  two(14, y % 100);
  two(17, static_cast<int>(rem / 3600));
  two(20, static_cast<int>(rem / 60 % 60));
  two(23, static_cast<int>(rem % 60));
  return out;
}

Result<TimePoint> parse_http_date(std::string_view text) {
  std::tm tm{};
  const std::string s(text);
  const char* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end != '\0' || !valid_civil(tm))
    return make_error(Errc::invalid_argument, "invalid HTTP date '" + s + "'");
  return from_unix(static_cast<std::int64_t>(timegm(&tm)));
}

}  // namespace sigil
