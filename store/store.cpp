#include "store/store.hpp"

namespace sigil::store {

const char* to_string(CertStatus s) {
  switch (s) {
    case CertStatus::pending:
      return "pending";
    case CertStatus::valid:
      return "valid";
    case CertStatus::revoked:
      return "revoked";
  }
  return "unknown";
}

}  // namespace sigil::store

namespace sigil::store {
namespace {
struct ReasonName {
  RevocationReason reason;
  const char* name;
};
constexpr ReasonName kReasons[] = {
    {RevocationReason::unspecified, "unspecified"},
    {RevocationReason::key_compromise, "keyCompromise"},
    {RevocationReason::ca_compromise, "cACompromise"},
    {RevocationReason::affiliation_changed, "affiliationChanged"},
    {RevocationReason::superseded, "superseded"},
    {RevocationReason::cessation_of_operation, "cessationOfOperation"},
    {RevocationReason::privilege_withdrawn, "privilegeWithdrawn"},
    {RevocationReason::aa_compromise, "aACompromise"},
};
}  // namespace

const char* to_string(RevocationReason r) {
  for (const auto& n : kReasons)
    if (n.reason == r) return n.name;
  if (r == RevocationReason::certificate_hold) return "certificateHold";
  if (r == RevocationReason::remove_from_crl) return "removeFromCRL";
  return "unspecified";
}

Result<std::string> normalize_serial(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == ':') continue;
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return make_error(Errc::invalid_argument, "'" + s + "' is not a serial number (hex)");
    out += c;
  }
  if (out.empty() || out.size() > 40)
    return make_error(Errc::invalid_argument, "'" + s + "' is not a serial number (hex)");
  // The store keys serials by their DER octets in hex; a leading zero nibble is easily dropped.
  if (out.size() % 2 != 0) out.insert(out.begin(), '0');
  return out;
}

Result<RevocationReason> parse_revocation_reason(std::string_view name) {
  for (const auto& n : kReasons)
    if (name == n.name) return n.reason;
  return make_error(Errc::invalid_argument,
                    "unknown revocation reason '" + std::string(name) + "' (use " + kRevocationReasonNames + ")");
}

}  // namespace sigil::store
