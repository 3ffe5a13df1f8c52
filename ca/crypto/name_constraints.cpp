// The nameConstraints extension value (RFC 5280 §4.2.1.10), for a name-constrained intermediate.
// Kept apart from x509_decode.cpp: encoding only, parsing (decode_name_constraints) stays there.
#include <algorithm>

#include "ca/crypto/x509.hpp"

namespace sigil::crypto {
namespace {

namespace tag = der::tag;
using Type = GeneralName::Type;

// GeneralName context tags (RFC 5280 §4.2.1.6).
constexpr unsigned kGnEmail = 1, kGnDns = 2, kGnUri = 6, kGnIp = 7;

Error bad(const std::string& what) { return make_error(Errc::invalid_argument, "nameConstraints: " + what); }

bool is_ia5(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80 && c != 0; });
}

// "10.0.0.0/8", "fd00::/8" or a bare address (a one-address range) -> address || mask, the
// address masked: OpenSSL compares masked, other verifiers may compare the bytes as written.
Result<Bytes> ip_subtree(std::string_view text) {
  const auto slash = text.find('/');
  auto addr = ip_to_bytes(text.substr(0, slash));
  if (!addr) return bad("invalid IP range '" + std::string(text) + "'");
  const int max = static_cast<int>(addr->size()) * 8;
  int prefix = max;
  if (slash != std::string_view::npos) {
    const std::string_view p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3 || !std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return bad("invalid IP range '" + std::string(text) + "'");
    prefix = std::stoi(std::string(p));
    if (prefix > max) return bad("invalid IP range '" + std::string(text) + "'");
  }
  Bytes mask(addr->size(), 0);
  for (int bit = 0; bit < prefix; ++bit)
    mask[static_cast<std::size_t>(bit / 8)] |= static_cast<std::uint8_t>(0x80 >> (bit % 8));
  for (std::size_t i = 0; i < addr->size(); ++i) (*addr)[i] &= mask[i];
  addr->insert(addr->end(), mask.begin(), mask.end());
  return *addr;
}

// GeneralSubtrees under [n]: base only (minimum MUST be zero and maximum absent, §4.2.1.10).
Status write_subtrees(der::Writer& w, unsigned n, const std::vector<GeneralName>& names) {
  if (names.empty()) return {};
  const auto outer = w.begin(tag::context_constructed(n));
  for (const auto& g : names) {
    const auto st = w.begin(tag::kSequence);
    if (g.type == Type::ip) {
      SIGIL_TRY(Bytes b, ip_subtree(g.value));
      w.tlv(tag::context(kGnIp), b);
    } else {
      if (!is_ia5(g.value)) return bad("'" + g.value + "' is not ASCII");
      const unsigned t = g.type == Type::dns ? kGnDns : g.type == Type::email ? kGnEmail : kGnUri;
      w.string(tag::context(t), g.value);
    }
    w.end(st);
  }
  w.end(outer);
  return {};
}

}  // namespace

Result<Bytes> encode_name_constraints(const NameConstraints& nc) {
  // RFC 5280 §4.2.1.10: "either the permittedSubtrees field or the excludedSubtrees MUST be present".
  if (nc.permitted.empty() && nc.excluded.empty()) return bad("neither permitted nor excluded subtrees");
  der::Writer w;
  const auto seq = w.begin(tag::kSequence);
  SIGIL_TRY_STATUS(write_subtrees(w, 0, nc.permitted));
  SIGIL_TRY_STATUS(write_subtrees(w, 1, nc.excluded));
  w.end(seq);
  return w.take();
}

}  // namespace sigil::crypto
