#pragma once
// The ACME web front end (RFC 8555 §7): routes under /acme/ on the acme listener. Each POST
// is parsed and checked here (JWS structure, nonce, url, key, signature), then handed to the
// RA. Every response carries a fresh Replay-Nonce and a Link to the directory.
#include <string>

#include "acme/jws/nonce.hpp"
#include "acme/ra/ra.hpp"
#include "ca/base/metrics.hpp"
#include "ca/http/http.hpp"

namespace sigil::acme::wfe {

struct Meta {
  std::string terms_of_service;  // URL; when set, newAccount must agree to it
  std::string website;
};

struct Deps {
  ra::Ra& ra;
  jws::NonceStore& nonces;
  Meta meta;
  const Clock& clock;
  Metrics& metrics;
};

// Adds the ACME routes to the acme listener's router. `deps` must outlive the router.
void add_routes(http::Router& router, Deps& deps);

}  // namespace sigil::acme::wfe
