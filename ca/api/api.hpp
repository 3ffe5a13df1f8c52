#pragma once
// The REST API: JSON <-> domain, problem documents. Sees only the plain HTTP facade.
#include <atomic>
#include <memory>
#include <nlohmann/json.hpp>

#include "ca/authz/authz.hpp"
#include "ca/base/clock.hpp"
#include "ca/base/metrics.hpp"
#include "ca/http/http.hpp"
#include "ca/issuer/issuer.hpp"
#include "store/store.hpp"

namespace sigil::api {

struct Deps {
  issuer::Issuer& issuer;
  store::Store& store;
  // Replaced as a whole on reload; each request reads one snapshot.
  std::atomic<std::shared_ptr<const authz::Policy>>& policy;
  const Clock& clock;
  Metrics& metrics;
};

// The api listener's routes (mTLS): certificates, revocation, renewal, metrics, health.
std::shared_ptr<const http::Router> api_router(Deps& deps);
// The acme listener's routes until ACME lands: health, and renewal for any certificate Sigil
// issued (a server certificate has no clientAuth EKU, so it cannot use the api listener).
std::shared_ptr<const http::Router> acme_router(Deps& deps);
// The public listener's routes until revocation lands: health.
std::shared_ptr<const http::Router> public_router(Deps& deps);

// A certificate record as the API (and the CLI's --json) shows it; "expired" is derived.
nlohmann::json certificate_json(const store::CertificateRecord& r, std::int64_t now);

// Registers the scrape-time gauges the API owns (certificates expiring within 7 days).
void register_gauges(Deps& deps);

}  // namespace sigil::api
