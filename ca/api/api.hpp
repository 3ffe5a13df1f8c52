#pragma once
// The REST API: JSON <-> domain, problem documents. Sees only the plain HTTP facade.
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "ca/authz/authz.hpp"
#include "ca/base/clock.hpp"
#include "ca/base/metrics.hpp"
#include "ca/http/http.hpp"
#include "ca/issuer/issuer.hpp"
#include "ca/revocation/revocation.hpp"
#include "ca/revocation/revoker.hpp"
#include "store/store.hpp"

namespace sigil::api {

// What GET /health (readiness: a load balancer sends traffic only to a 200) says of this node:
// the parts failing now ("database", "signer", "tls"); none: ready. `detail` is one line for an
// operator, never SQL or other internal detail. The probe only reads memory (a background job
// does the checking), so it answers on the I/O thread.
struct Readiness {
  std::vector<std::string> failing;
  std::string detail;
  std::string node;  // this process's node id (store::NodeRecord::id)
};
// Empty: always ready (a router without the serve runtime, as in unit tests).
using ReadinessProbe = std::function<Readiness()>;

// What the web console's read-only endpoints show (GET /api/v1/hierarchy, /api/v1/stats,
// /api/v1/audit with its query parameters as given), computed by ca/service (service::overview)
// and wired by the serve runtime. One left empty answers 503.
struct Overview {
  std::function<Result<nlohmann::json>()> hierarchy;
  std::function<Result<nlohmann::json>()> stats;
  std::function<Result<nlohmann::json>(const std::map<std::string, std::string>& query)> audit;
};

// Each store interface the handlers use, and no more (the composition root passes its one store).
struct Deps {
  issuer::Issuer& issuer;
  revocation::Revoker& revoker;            // the only way a handler revokes a certificate
  store::CertificateReader& certificates;  // listing, showing, renewal
  store::AuditWriter& audit;               // refusals
  store::AcmeRepository& acme;             // EAB keys and ACME accounts, for operators
  // Replaced as a whole on reload; each request reads one snapshot.
  std::atomic<std::shared_ptr<const authz::Policy>>& policy;
  const Clock& clock;
  Metrics& metrics;
  ReadinessProbe readiness;
  Overview overview = {};
};

// The api listener's routes (mTLS): certificates, revocation, renewal, metrics, health, and the
// web console (/ui/, ca/ui's files) with the read-only endpoints it adds.
// Every listener answers GET /health (readiness, 503 with Retry-After naming what fails) and
// GET /health/live (200 while the process serves), without authentication.
std::shared_ptr<const http::Router> api_router(Deps& deps);
// The acme listener's routes until ACME lands: health, and renewal for any certificate Sigil
// issued (a server certificate has no clientAuth EKU, so it cannot use the api listener).
// The ACME routes (acme/wfe) are added to it by the composition root.
std::shared_ptr<http::Router> acme_router(Deps& deps);
// What relying parties fetch without TLS: CA certificates (AIA caIssuers, /ca/roots.pem), OCSP and
// CRLs, with HTTP caching (ETag, Last-Modified, max-age to nextUpdate, 304, HEAD).
struct PublicDeps {
  // Every intermediate's CA certificate, CRLs and OCSP responder (the current and the replaced
  // ones that have not expired).
  revocation::Publishers& publishers;
  // The roots: /ca/root.crt is the first (Sigil's own), /ca/roots.pem all of them (a second
  // root staged for a rollover included).
  std::vector<Bytes> roots;
  // The offline root's CRL (installed into the home by `sigil root crl --out`), if any.
  std::function<std::optional<Bytes>()> root_crl;
  const Clock& clock;
  ReadinessProbe readiness;
};
std::shared_ptr<const http::Router> public_router(PublicDeps& deps);

// A certificate record as the API (and the CLI's --json) shows it; "expired" is derived.
nlohmann::json certificate_json(const store::CertificateRecord& r, std::int64_t now);
// An EAB key as the API and `sigil acme eab list --json` show it (never its HMAC key); "state"
// is revoked, unused or bound.
nlohmann::json eab_key_json(const store::EabKey& k);

// A new ACME external account binding key (RFC 8555 §7.3.4): `kid` ("" = random), a random
// 256-bit HMAC key, `allow` narrowing what the bound account may order (domains: the name and
// its subdomains; CIDRs). The one way to make one, for the CLI and the REST API.
Result<store::EabKey> make_eab_key(const std::string& kid, const std::string& description,
                                   const std::vector<std::string>& allow, std::int64_t now);

// ACME accounts for operators (the CLI's `sigil acme account` and the admin REST endpoints).
// An account as they show it: id, path (/acme/acct/<id>), status, contact, terms_agreed,
// eab_kid, thumbprint, created_at; never the key itself.
nlohmann::json acme_account_json(const store::AcmeAccount& a);
// The account id in `id_or_url`: the id itself, or an account URL (".../acme/acct/<id>").
// invalid_argument for anything else.
Result<std::string> acme_account_id(const std::string& id_or_url);
// Deactivates the account (compare-and-set, audited as `actor`); an account that is not valid
// already is returned as it is (`changed` false). not_found if there is none. From then on every
// ACME request of it is refused with `unauthorized`.
struct AccountDeactivation {
  store::AcmeAccount account;
  bool changed = false;
};
Result<AccountDeactivation> deactivate_acme_account(store::AcmeRepository& store, const std::string& id,
                                                    std::int64_t now, const std::string& actor);

// Revokes the EAB key (audited as `actor`); with `deactivate_account`, also deactivates the
// account bound to it (an already revoked key is then no error). The result as the API shows it:
// {kid, state, account: the account, or null when the key was never bound}.
Result<nlohmann::json> revoke_eab(store::AcmeRepository& store, const std::string& kid, bool deactivate_account,
                                  std::int64_t now, const std::string& actor);

// Declares the metric families the API counts, so they are exposed before their first event.
void describe_metrics(Deps& deps);

}  // namespace sigil::api
