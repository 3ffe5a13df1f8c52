// libFuzzer: PEM decoding, with a round-trip property: every block it accepts re-encodes and
// decodes to the same label and bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ca/base/encoding.hpp"
#include "ca/crypto/x509.hpp"
#include "tests/fuzz/fuzz_common.hpp"

using namespace sigil;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  if (auto blocks = pem_decode_all(text)) {
    for (const PemBlock& b : *blocks) {
      SIGIL_FUZZ_ASSERT(!b.der.empty());
      auto again = pem_decode_all(pem_encode(b.label, b.der));
      SIGIL_FUZZ_ASSERT(again.has_value());
      SIGIL_FUZZ_ASSERT(again->size() == 1);
      SIGIL_FUZZ_ASSERT((*again)[0].label == b.label);
      SIGIL_FUZZ_ASSERT((*again)[0].der == b.der);
    }
  } else {
    SIGIL_FUZZ_ASSERT(blocks.error().code == Errc::malformed);
  }
  (void)pem_decode_one(text, "CERTIFICATE");
  (void)crypto::certificates_from_pem(text);
  return 0;
}
