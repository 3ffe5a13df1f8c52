// libFuzzer: the ACME request parsers that see untrusted bytes before any authentication: the
// flattened JWS (its protected header and embedded JWK), a bare JWK, the EAB and keyChange inner
// JWS. Whatever parses must verify or be refused cleanly; a parsed JWK's canonical form must
// parse back to the same thumbprint.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "acme/jws/jws.hpp"
#include "tests/fuzz/fuzz_common.hpp"

using namespace sigil;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto j = acme::jws::parse(text)) {
    SIGIL_FUZZ_ASSERT(!j->header.nonce.empty() && (j->header.jwk.has_value() != !j->header.kid.empty()));
    if (j->header.jwk) (void)acme::jws::verify(*j, j->header.jwk->key);
  }
  if (auto k = acme::jws::parse_jwk(text)) {
    auto again = acme::jws::parse_jwk(k->canonical);
    SIGIL_FUZZ_ASSERT(again.has_value() && again->thumbprint == k->thumbprint);
    (void)acme::jws::verify_key_change(text, "https://ca/acme/key-change", "https://ca/acme/acct/1", *k);
    (void)acme::jws::verify_eab(text, *k, "https://ca/acme/new-account",
                                [](const std::string&) -> Result<Bytes> { return Bytes(32, 7); });
  }
  return 0;
}
