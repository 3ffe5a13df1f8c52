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

const char* to_string(Engine e) { return e == Engine::postgresql ? "postgresql" : "sqlite"; }

}  // namespace sigil::store

namespace sigil::store {
namespace {
struct ReasonName {
  RevocationReason reason;
  const char* name;
  bool leaf;  // the one allow-list (is_leaf_revocation_reason)
};
constexpr ReasonName kReasons[] = {
    {RevocationReason::unspecified, "unspecified", true},
    {RevocationReason::key_compromise, "keyCompromise", true},
    {RevocationReason::ca_compromise, "cACompromise", false},
    {RevocationReason::affiliation_changed, "affiliationChanged", true},
    {RevocationReason::superseded, "superseded", true},
    {RevocationReason::cessation_of_operation, "cessationOfOperation", true},
    {RevocationReason::certificate_hold, "certificateHold", false},
    {RevocationReason::remove_from_crl, "removeFromCRL", false},
    {RevocationReason::privilege_withdrawn, "privilegeWithdrawn", true},
    {RevocationReason::aa_compromise, "aACompromise", false},
};

const ReasonName* find_reason(RevocationReason r) {
  for (const auto& n : kReasons)
    if (n.reason == r) return &n;
  return nullptr;
}

Error not_for_a_leaf(const std::string& what) {
  return make_error(
      Errc::bad_revocation_reason,
      "revocation reason " + what + " is not accepted for a leaf certificate (use " + kRevocationReasonNames + ")");
}
}  // namespace

const char* to_string(RevocationReason r) {
  const ReasonName* n = find_reason(r);
  return n ? n->name : "unspecified";
}

bool is_leaf_revocation_reason(RevocationReason r) {
  const ReasonName* n = find_reason(r);
  return n && n->leaf;
}

Result<RevocationReason> leaf_revocation_reason(int code) {
  const auto r = static_cast<RevocationReason>(code);
  if (!is_leaf_revocation_reason(r)) {
    const ReasonName* n = find_reason(r);
    return not_for_a_leaf(std::to_string(code) + (n ? std::string(" (") + n->name + ")" : std::string()));
  }
  return r;
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
    if (name == n.name) {
      if (!n.leaf) return not_for_a_leaf("'" + std::string(name) + "'");
      return n.reason;
    }
  return make_error(Errc::invalid_argument,
                    "unknown revocation reason '" + std::string(name) + "' (use " + kRevocationReasonNames + ")");
}

}  // namespace sigil::store
