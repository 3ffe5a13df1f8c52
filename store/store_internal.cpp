#include "store/store_internal.hpp"

#include <charconv>

#include "ca/base/encoding.hpp"

namespace sigil::store::internal {

namespace {
constexpr std::size_t kMaxPageTokenSize = 1024;
constexpr std::string_view kPageTokenVersion = "1";
}  // namespace

std::string encode_page_token(const CertificateRecord& last) {
  return base64url_encode(
      as_bytes(std::string(kPageTokenVersion) + ":" + std::to_string(last.not_after) + ":" + last.serial));
}

Result<PageKey> decode_page_token(std::string_view token) {
  const Error bad = make_error(Errc::invalid_argument, "malformed page token");
  if (token.size() > kMaxPageTokenSize) return bad;
  const auto decoded = base64url_decode(token);  // canonical only: no stray bits, no padding
  if (!decoded) return bad;
  std::string_view rest = as_chars(*decoded);
  const auto version_end = rest.find(':');
  if (version_end == std::string_view::npos || rest.substr(0, version_end) != kPageTokenVersion) {
    return bad;
  }
  rest.remove_prefix(version_end + 1);
  const auto number_end = rest.find(':');
  if (number_end == std::string_view::npos) return bad;
  PageKey key;
  const char* first = rest.data();
  const char* last = rest.data() + number_end;
  const auto [ptr, ec] = std::from_chars(first, last, key.not_after);
  if (ec != std::errc() || ptr != last || first == last) return bad;
  key.serial = std::string(rest.substr(number_end + 1));
  if (key.serial.empty()) return bad;
  return key;
}

Result<CertStatus> parse_status(std::string_view s) {
  if (s == "pending") return CertStatus::pending;
  if (s == "valid") return CertStatus::valid;
  if (s == "revoked") return CertStatus::revoked;
  return make_error(Errc::storage, "store: unknown certificate status '" + std::string(s) + "'");
}

bool is_known_reason(std::int64_t code) {
  return (code >= 0 && code <= 10) && code != 7;  // RFC 5280: 7 is unused
}

bool is_sha256_hex(std::string_view s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

}  // namespace sigil::store::internal
