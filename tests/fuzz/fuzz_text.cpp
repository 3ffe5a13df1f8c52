// libFuzzer: the text codecs (base64, base64url, hex, durations, RFC 3339 and HTTP dates). The decoders
// are strict, so whatever they accept must re-encode to the very same text (or, for durations
// and times, to text that parses back to the same value).
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ca/base/duration.hpp"
#include "ca/base/encoding.hpp"
#include "tests/fuzz/fuzz_common.hpp"

using namespace sigil;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // Canonical base64: decoding then encoding gives the input back.
  if (auto b = base64_decode(text)) SIGIL_FUZZ_ASSERT(base64_encode(*b) == text);
  if (auto b = base64url_decode(text)) SIGIL_FUZZ_ASSERT(base64url_encode(*b) == text);
  if (auto b = from_hex(text)) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    SIGIL_FUZZ_ASSERT(to_hex(*b) == lower);
  }
  if (auto d = parse_duration(text)) {
    auto back = parse_duration(format_duration(*d));
    SIGIL_FUZZ_ASSERT(back.has_value() && *back == *d);
  }
  if (auto t = parse_rfc3339(text)) {
    auto back = parse_rfc3339(format_rfc3339(*t));
    SIGIL_FUZZ_ASSERT(back.has_value() && *back == *t);
  }
  if (auto t = parse_http_date(text)) {
    auto back = parse_http_date(format_http_date(*t));
    SIGIL_FUZZ_ASSERT(back.has_value() && *back == *t);
  }
  return 0;
}
