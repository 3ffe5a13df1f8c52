#include "ca/base/log.hpp"

#include <atomic>
#include <cstdio>

#include "ca/base/clock.hpp"
#include "ca/base/duration.hpp"

namespace sigil::log {
namespace {
std::atomic<Level> g_min{Level::warn};

std::string quote(std::string_view v) {
  bool plain = !v.empty();
  for (char c : v) plain = plain && c > ' ' && c != '"' && c != '=' && c != '\\' && c < 127;
  if (plain) return std::string(v);
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += (c >= ' ' && c != 127) ? c : '?';
  }
  return out + '"';
}
constexpr std::string_view name(Level l) {
  switch (l) {
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warn:
      return "warn";
    case Level::error:
      return "error";
  }
  return "?";
}
}  // namespace

void set_level(Level min) { g_min = min; }

void write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  if (level < g_min.load()) return;
  std::string line =
      "ts=" + format_rfc3339(SystemClock{}.now()) + " level=" + std::string(name(level)) + " msg=" + quote(msg);
  for (const auto& [k, v] : fields) line += " " + std::string(k) + "=" + quote(v);
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace sigil::log
