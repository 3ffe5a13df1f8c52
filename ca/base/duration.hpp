#pragma once
// Human durations ("90s", "15m", "24h", "7d", "5y", "1h30m") and RFC 3339 UTC timestamps.
#include <string>
#include <string_view>

#include "ca/base/clock.hpp"
#include "ca/base/error.hpp"

namespace sigil {

Result<Seconds> parse_duration(std::string_view text);
std::string format_duration(Seconds d);  // largest exact unit: "24h", "90d", "5m"

std::string format_rfc3339(TimePoint t);  // 2026-11-26T20:04:52Z
Result<TimePoint> parse_rfc3339(std::string_view text);

// RFC 9110 §5.6.7 IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
std::string format_http_date(TimePoint t);
Result<TimePoint> parse_http_date(std::string_view text);

}  // namespace sigil
