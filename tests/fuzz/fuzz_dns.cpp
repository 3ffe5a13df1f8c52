// libFuzzer: a DNS response as the validation authority reads it (acme/va/dns_message.cpp):
// c-ares' name expansion inside our message walk, the CNAME chain inside one answer, TXT
// character-strings. Anyone who answers the VA's queries controls these bytes. Properties: a
// parsed message keeps class IN records only, with lower-case names; following never exceeds
// the CNAME cap and never revisits a name.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "acme/va/va_internal.hpp"
#include "tests/fuzz/fuzz_common.hpp"

using namespace sigil;
namespace dns = sigil::acme::va::internal::dns;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Bytes message(data, data + size);
  const auto msg = dns::parse_message(message);
  if (!msg) return 0;
  for (const auto& r : msg->answers) {
    SIGIL_FUZZ_ASSERT(std::none_of(r.name.begin(), r.name.end(), [](char c) { return c >= 'A' && c <= 'Z'; }));
    if (r.type == dns::kTypeTxt) {
      if (auto v = dns::txt_value(r.rdata)) SIGIL_FUZZ_ASSERT(v->size() < r.rdata.size() || r.rdata.empty());
    }
  }
  // The validator asks for the first answer's owner (or a fixed name), as each record type.
  const std::string asked = msg->answers.empty() ? "_acme-challenge.example.org" : msg->answers.front().name;
  for (int type : {dns::kTypeA, dns::kTypeAaaa, dns::kTypeTxt}) {
    std::string current = asked;
    std::vector<std::string> seen{asked};
    int cnames = 0;
    auto set = dns::follow(*msg, current, type, asked, seen, cnames);
    SIGIL_FUZZ_ASSERT(cnames <= dns::kMaxCnames + 1);
    SIGIL_FUZZ_ASSERT(seen.size() <= static_cast<std::size_t>(dns::kMaxCnames) + 1);
    for (std::size_t i = 0; i < seen.size(); ++i)
      SIGIL_FUZZ_ASSERT(std::find(seen.begin() + static_cast<std::ptrdiff_t>(i) + 1, seen.end(), seen[i]) ==
                        seen.end());
    if (set && !set->rdata.empty()) SIGIL_FUZZ_ASSERT(current == seen.back());
  }
  return 0;
}
