#pragma once
// What the web console reads beyond certificates (GET /api/v1/hierarchy, /api/v1/stats,
// /api/v1/audit) and `sigil audit list` prints: the CA hierarchy with expiries, counts, rates,
// the expiry timeline, CRL and OCSP freshness, and the audit log page by page. One definition for
// the REST API (wired into api::Overview by the serve runtime) and the CLI.
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ca/api/api.hpp"
#include "ca/base/clock.hpp"
#include "ca/issuer/issuer.hpp"
#include "ca/revocation/revocation.hpp"
#include "store/store.hpp"

namespace sigil::service::overview {

// An audit query's parameters, as GET /api/v1/audit takes them and `sigil audit list` passes its
// flags: since (a duration back from `now`, "24h", or an RFC 3339 time), actor, action, outcome
// (exact matches), limit (1..1000, default 100), page_token (a previous page's next_page_token).
// invalid_argument naming the parameter for anything else.
inline constexpr int kDefaultAuditLimit = 100;
Result<store::AuditFilter> audit_filter(const std::map<std::string, std::string>& query, TimePoint now);
// {"items": [{id, at, actor, action, target, outcome, detail}], "next_page_token": "..." when
// more rows follow}; newest first.
Result<nlohmann::json> audit(store::AuditReader& log, const std::map<std::string, std::string>& query, TimePoint now);

// {"roots": [...], "intermediates": [...]}: each CA certificate's subject, issuer, serial,
// validity, seconds left and expiry level (health::ca_expiry_level); each intermediate also
// whether it issues now, its id and the URLs it publishes (CA certificate, CRLs, OCSP). `roots`
// are the DERs the public listener serves; `links` what it links (revocation::Publishers).
nlohmann::json hierarchy(const std::vector<Bytes>& roots, const issuer::Issuer& issuer,
                         const std::vector<revocation::Publishers::Links>& links, TimePoint now);

// Counts by status, issuance and revocation rates over the last hour and day (the audit log, so
// every node's), valid certificates expiring per day over the next 90 days, and the freshness
// of every published CRL and of OCSP (a response for a valid certificate, from the responder).
Result<nlohmann::json> stats(store::Store& store, revocation::Publishers& publishers, const issuer::Issuer& issuer,
                             TimePoint now);

// The three, over the serve runtime's parts, for api::Deps::overview.
api::Overview sources(store::Store& store, revocation::Publishers& publishers, const issuer::Issuer& issuer,
                      const std::vector<Bytes>& roots, const Clock& clock);

}  // namespace sigil::service::overview
