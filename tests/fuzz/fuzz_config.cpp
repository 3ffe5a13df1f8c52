// libFuzzer: sigil.json as `sigil serve` loads it (service::parse_config, what load_config calls
// on the file's text). Never a crash or an exception, only errors naming a key. Properties:
// an error has a detail; what parsed writes back (to_json) as a document that parses to the same
// text again; the profiles it names can be evaluated.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ca/service/config.hpp"
#include "tests/fuzz/fuzz_common.hpp"

using namespace sigil;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto c = service::parse_config(text);
  if (!c) {
    SIGIL_FUZZ_ASSERT(!c.error().detail.empty());
    return 0;
  }
  const std::string written = service::to_json(*c);
  auto again = service::parse_config(written);
  SIGIL_FUZZ_ASSERT(again.has_value());
  SIGIL_FUZZ_ASSERT(service::to_json(*again) == written);
  (void)c->effective_profiles();
  return 0;
}
