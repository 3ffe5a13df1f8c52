#include "acme/model/model.hpp"

namespace sigil::acme::model {

std::string authorization_status(const store::AcmeAuthorization& a, std::int64_t now) {
  if ((a.status == "pending" || a.status == "valid") && now >= a.expires) return "expired";
  return a.status;
}

std::string order_status(const store::AcmeOrder& o, const std::vector<store::AcmeAuthorization>& authzs,
                         std::int64_t now, bool certificate_stored) {
  if (o.status == "processing" && !o.certificate_serial.empty() && certificate_stored) return "valid";
  if (o.status == "valid" || o.status == "invalid" || o.status == "processing") return o.status;
  if (now >= o.expires) return "invalid";
  if (o.status == "ready") return "ready";
  bool all_valid = !authzs.empty();
  for (const auto& a : authzs) {
    const std::string s = authorization_status(a, now);
    if (s == "invalid" || s == "deactivated" || s == "expired" || s == "revoked") return "invalid";
    if (s != "valid") all_valid = false;
  }
  return all_valid ? "ready" : "pending";
}

std::vector<std::string> challenge_types(const store::AcmeIdentifier& id, bool wildcard) {
  if (id.type == "ip") return {"http-01", "tls-alpn-01"};
  if (wildcard) return {"dns-01"};
  return {"http-01", "dns-01", "tls-alpn-01"};
}

bool is_final(const std::string& authorization_status) { return authorization_status != "pending"; }

}  // namespace sigil::acme::model
