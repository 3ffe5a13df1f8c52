// libFuzzer: RFC 7512 PKCS#11 URIs as `sigil init --root-key`, `intermediate csr --key` and the
// .p11 files hand them to the parser. Never a crash. Properties: an error has a detail; what
// parsed writes back (to_string, canonical) as a URI that parses to the same canonical text, and
// never carries pin-value.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ca/crypto/pkcs11.hpp"
#include "tests/fuzz/fuzz_common.hpp"

using namespace sigil;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto u = crypto::pkcs11::parse_uri(text);
  if (!u) {
    SIGIL_FUZZ_ASSERT(!u.error().detail.empty());
    return 0;
  }
  const std::string canonical = u->to_string();
  auto again = crypto::pkcs11::parse_uri(canonical);
  SIGIL_FUZZ_ASSERT(again.has_value());
  SIGIL_FUZZ_ASSERT(!again->pin_value.has_value());
  SIGIL_FUZZ_ASSERT(again->to_string() == canonical);
  SIGIL_FUZZ_ASSERT(again->object == u->object && again->id == u->id && again->token == u->token);
  return 0;
}
