#pragma once
// The one reader of an Extensions SEQUENCE (RFC 5280 §4.1, §4.2, §5.2, §5.3; RFC 6960 §4.4).
// Certificates, a CSR's extensionRequest, CRLs and OCSP requests and responses all arrive from
// outside, so all four walk their extensions here, with the same strictness and the same bound.
#include <cstddef>
#include <span>
#include <vector>

#include "ca/base/error.hpp"
#include "ca/crypto/der.hpp"

namespace sigil::crypto {

struct Extension {
  der::ByteView oid;  // OID contents
  bool critical = false;
  der::ByteView value;  // contents of the extnValue OCTET STRING
};

// Extensions in one list, at most. Sigil writes at most 11 in a certificate and 5 in a CRL;
// Web PKI certificates with SCTs and policies carry about 12, and RFC 5280 defines fewer than 20
// for certificates. 64 leaves room for any legitimate issuer while bounding what one request can
// make a worker walk (a 600 KB certificate with 60,000 extensions fits in a revokeCert body).
inline constexpr std::size_t kMaxExtensions = 64;

struct ExtensionRules {
  // OIDs (contents) the caller acts on or knowingly lets through; a critical extension outside
  // this list is refused (RFC 5280 §4.2 and §5.2, RFC 6960 §4.4). Non-critical unknown ones pass.
  std::span<const der::ByteView> understood;
  // ASN.1 says SIZE (1..MAX); a CSR's extensionRequest is the one place encoders write it empty.
  bool allow_empty = false;
};

// Parses `der`, exactly one Extensions SEQUENCE, strictly: each Extension is { OID (well formed),
// critical BOOLEAN only when TRUE (DER omits the default), OCTET STRING } with nothing after it;
// no OID twice; at most kMaxExtensions (refused as soon as one more is seen, so the work is
// linear in the cap, not in the input). Errors are Errc::malformed; callers add their context.
Result<std::vector<Extension>> parse_extensions(der::ByteView der, const ExtensionRules& rules);

}  // namespace sigil::crypto
