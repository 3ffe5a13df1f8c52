#include "ca/crypto/extensions.hpp"

#include <algorithm>
#include <string>

#include "ca/crypto/oids.hpp"
#include "ca/crypto/x509_internal.hpp"

namespace sigil::crypto {

using namespace detail;

namespace {

using der::ByteView;

// X.690 §8.19: at least one subidentifier, each in minimal base-128 (no leading 0x80), the last
// octet ending one. Anything else cannot name an extension, and oid_to_string would misprint it.
bool well_formed_oid(ByteView c) {
  if (c.empty() || (c.back() & 0x80)) return false;
  bool start = true;
  for (std::uint8_t b : c) {
    if (start && b == 0x80) return false;
    start = !(b & 0x80);
  }
  return true;
}

bool less(ByteView a, ByteView b) { return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end()); }

}  // namespace

Result<std::vector<Extension>> parse_extensions(ByteView der_bytes, const ExtensionRules& rules) {
  SIGIL_TRY(Tlv seq, der::read_single(der_bytes, tag::kSequence));
  Reader r(seq.contents);
  if (r.empty() && !rules.allow_empty) return bad("empty extensions");
  std::vector<Extension> out;
  while (!r.empty()) {
    if (out.size() == kMaxExtensions) return bad("more than " + std::to_string(kMaxExtensions) + " extensions");
    SIGIL_TRY(Tlv ext, r.expect(tag::kSequence));
    Reader xr(ext.contents);
    SIGIL_TRY(Tlv o, xr.expect(tag::kOid));
    if (!well_formed_oid(o.contents)) return bad("malformed extension OID");
    Extension e;
    e.oid = o.contents;
    auto name = [&] { return der::oid_to_string(e.oid); };
    Tlv crit;
    SIGIL_TRY(bool has_crit, xr.optional(tag::kBoolean, crit));
    if (has_crit) {
      SIGIL_TRY(e.critical, der::read_boolean(crit));
      if (!e.critical) return bad("DER forbids an explicit critical FALSE (extension " + name() + ")");
    }
    auto value = xr.expect(tag::kOctetString);
    if (!value || !xr.empty()) return bad("bad extension " + name());
    e.value = value->contents;
    if (e.critical && std::none_of(rules.understood.begin(), rules.understood.end(),
                                   [&](ByteView u) { return oid::equal(u, e.oid); }))
      return bad("unsupported critical extension " + name());
    out.push_back(e);
  }
  // Sorted, then neighbours compared: n log n for any n (n is capped anyway).
  std::vector<ByteView> oids;
  oids.reserve(out.size());
  for (const Extension& e : out) oids.push_back(e.oid);
  std::sort(oids.begin(), oids.end(), less);
  const auto dup =
      std::adjacent_find(oids.begin(), oids.end(), [](ByteView a, ByteView b) { return oid::equal(a, b); });
  if (dup != oids.end()) return bad("duplicate extension " + der::oid_to_string(*dup));
  return out;
}

}  // namespace sigil::crypto
