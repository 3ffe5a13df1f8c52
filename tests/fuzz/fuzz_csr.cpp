// libFuzzer: CSR parsing (PEM or DER) and signature verification of whatever parses.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ca/crypto/crypto.hpp"
#include "ca/crypto/x509.hpp"
#include "tests/fuzz/fuzz_common.hpp"

using namespace sigil;
using namespace sigil::crypto;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto csr = Csr::from_pem_or_der(text);
  if (!csr) {
    const Errc c = csr.error().code;
    SIGIL_FUZZ_ASSERT(c == Errc::bad_csr || c == Errc::bad_public_key);
    return 0;
  }
  // What parsed is self-consistent.
  SIGIL_FUZZ_ASSERT(signature_fits_key(csr->signature_algorithm(), csr->public_key().algorithm));
  auto again = parse_spki(csr->public_key().spki);
  SIGIL_FUZZ_ASSERT(again.has_value());
  SIGIL_FUZZ_ASSERT(again->key == csr->public_key().key);
  (void)verify_signature(csr->public_key(), csr->signature_algorithm(), csr->info_der(), csr->signature());
  (void)name_to_string(csr->subject());
  (void)name_is_empty(csr->subject());
  for (const GeneralName& n : csr->sans()) {
    auto back = parse_general_name_text(to_string(n));
    SIGIL_FUZZ_ASSERT(back.has_value() && *back == n);
  }
  (void)key_identifier(csr->public_key());
  // The DER form parses the same way as the PEM form.
  auto der = Csr::from_der(csr->der());
  SIGIL_FUZZ_ASSERT(der.has_value());
  SIGIL_FUZZ_ASSERT(der->sans() == csr->sans());
  return 0;
}
