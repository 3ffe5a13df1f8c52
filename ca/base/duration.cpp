#include "ca/base/duration.hpp"

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
  for (Unit u : {Unit{365 * 86400, 'y'}, Unit{86400, 'd'}, Unit{3600, 'h'}, Unit{60, 'm'}}) {
    if (s != 0 && s % u.secs == 0) return std::to_string(s / u.secs) + u.c;
  }
  return std::to_string(s) + "s";
}

std::string format_rfc3339(TimePoint t) {
  const std::time_t tt = static_cast<std::time_t>(to_unix(t));
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<TimePoint> parse_rfc3339(std::string_view text) {
  std::tm tm{};
  const std::string s(text);
  char z = 0;
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &z, &consumed) != 7 ||
      z != 'Z' || static_cast<std::size_t>(consumed) != s.size()) {
    return make_error(Errc::invalid_argument, "invalid time '" + s + "' (use RFC 3339 UTC, e.g. 2026-01-02T15:04:05Z)");
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return from_unix(static_cast<std::int64_t>(timegm(&tm)));
}

std::string format_http_date(TimePoint t) {
  const std::time_t tt = static_cast<std::time_t>(to_unix(t));
  std::tm tm{};
  gmtime_r(&tt, &tm);
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday], tm.tm_mday,
                kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

Result<TimePoint> parse_http_date(std::string_view text) {
  std::tm tm{};
  const std::string s(text);
  const char* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end != '\0') return make_error(Errc::invalid_argument, "invalid HTTP date '" + s + "'");
  return from_unix(static_cast<std::int64_t>(timegm(&tm)));
}

}  // namespace sigil
