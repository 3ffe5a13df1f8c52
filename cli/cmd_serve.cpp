// sigil serve: wires the store, the issuer, authorization and the REST API into the TLS server,
// keeps the server's own certificate fresh, and handles signals (HUP reload, TERM/INT drain).
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <thread>

#include "acme/jws/nonce.hpp"
#include "acme/ra/ra.hpp"
#include "acme/va/va.hpp"
#include "acme/wfe/wfe.hpp"
#include "ca/api/api.hpp"
#include "ca/base/duration.hpp"
#include "ca/base/encoding.hpp"
#include "ca/base/file.hpp"
#include "ca/base/log.hpp"
#include "ca/crypto/oids.hpp"
#include "ca/http/http.hpp"
#include "cli/common.hpp"

namespace sigil::cli {
namespace {

struct ServeOptions {
  std::string api_listen, acme_listen, public_listen;
  std::string dns_resolver;
  int http01_port = 0, tlsalpn01_port = 0;
};

acme::va::Config va_config(const AcmeOptions& a) {
  acme::va::Config v;
  v.dns_resolver = a.validation.dns_resolver;
  v.http01_port = static_cast<int>(a.validation.http01_port);
  v.tlsalpn01_port = static_cast<int>(a.validation.tlsalpn01_port);
  v.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(a.validation.timeout);
  v.max_concurrency = static_cast<int>(a.validation.concurrency);
  v.forbidden_ranges = a.validation.forbidden_ranges;
  return v;
}

acme::ra::Config ra_config(const AcmeOptions& a) {
  acme::ra::Config r;
  r.order_lifetime = a.order_lifetime;
  r.valid_authorization_lifetime = a.authorization_lifetime;
  r.profiles = a.profiles;
  r.eab_required = a.eab_required;
  r.limits.new_orders_per_account_per_hour = a.new_orders_per_account_per_hour;
  r.limits.failed_validations_per_identifier_per_hour = a.failed_validations_per_identifier_per_hour;
  r.limits.new_accounts_per_address_per_hour = a.new_accounts_per_address_per_hour;
  return r;
}

Result<std::shared_ptr<const authz::Policy>> authz_policy(const Config& c) {
  std::vector<authz::Rule> rules;
  for (const auto& r : c.authorization) {
    authz::Rule rule;
    rule.identity = r.identity;
    SIGIL_TRY(rule.role, authz::parse_role(r.role));
    rule.identifiers = r.identifiers;
    rule.profiles = r.profiles;
    if (!r.max_ttl.empty()) {
      SIGIL_TRY(rule.max_ttl, parse_duration(r.max_ttl));
    }
    rules.push_back(std::move(rule));
  }
  return std::make_shared<const authz::Policy>(std::move(rules));
}

// The server's own TLS identity: a fresh key in memory (never on disk), a certificate from the
// intermediate like any other, stored and audited.
struct ServerIdentity {
  std::string chain_pem;
  std::string key_pem;
  TimePoint not_before, not_after;
  std::string serial;
};

Result<ServerIdentity> issue_server_identity(IssuerContext& ctx) {
  SIGIL_TRY(crypto::KeyType type, crypto::parse_key_type(ctx.config.key_type));
  SIGIL_TRY(auto key, crypto::KeySigner::generate(type));
  std::vector<crypto::GeneralName> names;
  for (const auto& n : ctx.config.server_dns) names.push_back({crypto::GeneralName::Type::dns, n});
  SIGIL_TRY(Bytes csr, crypto::make_csr(*key, crypto::encode_name(""), names));
  const Seconds ttl = ctx.config.tls.server_cert_ttl;
  SIGIL_TRY(auto prepared, ctx.issuer->prepare({std::string(as_chars(csr)), "server", ttl, "sigil-serve"}));
  SIGIL_TRY(auto issued, ctx.issuer->issue(std::move(prepared)));
  SIGIL_TRY(std::string key_pem, key->to_pem());
  return ServerIdentity{issued.chain_pem, key_pem, issued.not_before, issued.not_after, issued.serial};
}

// What client certificates the listeners accept: PEM of the trust anchors for OpenSSL's chain
// verification, and the key identifiers of the external CAs (tls.client_trust_anchors).
struct ClientTrust {
  std::string anchors_pem;
  std::vector<Bytes> external_key_ids;
};

// Hard-fail revocation against the store on every handshake: the certificate must be one this
// CA issued (same DER) and not revoked. The one exception is a leaf issued directly by a CA of
// tls.client_trust_anchors (its authorityKeyIdentifier is that CA's key): Sigil holds no
// revocation data for it, and its chain has been verified. A store error refuses.
std::function<Status(const crypto::Certificate&)> client_check(store::Store& store, std::vector<Bytes> external) {
  return [&store, external = std::move(external)](const crypto::Certificate& leaf) -> Status {
    SIGIL_TRY(auto rec, store.find(leaf.serial_hex()));
    if (rec && rec->der == leaf.der()) {
      if (rec->status == store::CertStatus::revoked) return make_error(Errc::unauthorized, "certificate revoked");
      if (rec->status != store::CertStatus::valid) return make_error(Errc::unauthorized, "certificate not valid");
      return {};
    }
    if (!external.empty()) {
      if (const auto* aki = leaf.tbs().find(crypto::oid::authority_key_identifier)) {
        auto kid = crypto::decode_authority_key_id(aki->value);
        if (kid && std::find(external.begin(), external.end(), *kid) != external.end()) return {};
      }
    }
    return make_error(Errc::unauthorized, "certificate not issued by this CA");
  };
}

Status run_serve(const Globals& g, const ServeOptions& o) {
  // Signals go to the one thread that waits for them: block them before any thread exists.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  log::set_level(log::Level::info);

  SIGIL_TRY(auto ctx, open_issuer(g.home));
  Config& config = ctx->config;
  if (!o.api_listen.empty()) config.listeners.api = o.api_listen;
  if (!o.acme_listen.empty()) config.listeners.acme = o.acme_listen;
  if (!o.public_listen.empty()) config.listeners.public_ = o.public_listen;
  if (!o.dns_resolver.empty()) config.acme.validation.dns_resolver = o.dns_resolver;
  if (o.http01_port) config.acme.validation.http01_port = o.http01_port;
  if (o.tlsalpn01_port) config.acme.validation.tlsalpn01_port = o.tlsalpn01_port;
  // Trust anchors for client certificates: the roots, and the CAs of tls.client_trust_anchors;
  // the intermediates (the current one and the replaced ones still answering) ride along so
  // clients that send only their leaf still verify. Read again on SIGHUP.
  auto client_trust = [&ctx](const Config& c) -> Result<ClientTrust> {
    SIGIL_TRY(auto roots, load_roots(ctx->home));
    ClientTrust t;
    for (const auto& r : roots) t.anchors_pem += r.pem();
    for (const auto* a : ctx->issuer->authorities()) t.anchors_pem += a->pem;
    for (const auto& name : c.tls.client_trust_anchors) {
      const fs::path file = fs::path(name).is_absolute() ? fs::path(name) : ctx->home.dir / name;
      SIGIL_TRY(std::string pem, read_file(file));
      auto certs = crypto::certificates_from_pem(pem);
      if (!certs) return certs.error().context("tls.client_trust_anchors: " + file.string());
      for (const auto& cert : *certs) {
        auto kid = cert.subject_key_id();
        if (!cert.is_ca() || !kid)
          return make_error(Errc::invalid_argument, "tls.client_trust_anchors: " + file.string() +
                                                        ": not a CA certificate with a subjectKeyIdentifier");
        t.anchors_pem += cert.pem();
        t.external_key_ids.push_back(*kid);
      }
    }
    return t;
  };
  SIGIL_TRY(ClientTrust trust, client_trust(config));
  std::mutex trust_mu;
  Metrics metrics;
  SIGIL_TRY(auto initial_policy, authz_policy(config));
  std::atomic<std::shared_ptr<const authz::Policy>> policy(initial_policy);
  // The one Revoker: REST and ACME revocations go through it.
  revocation::Revoker revoker(*ctx->store, *ctx->issuer, ctx->clock, metrics);
  api::Deps deps{*ctx->issuer, revoker, *ctx->store, *ctx->store, *ctx->store, policy, ctx->clock, metrics};
  api::register_gauges(deps);
  // The intermediate's remaining life, for alerting (and checked below at start and daily).
  metrics.gauge_fn("sigil_intermediate_expiry_seconds", "Seconds until the issuing intermediate expires", [&ctx] {
    return std::chrono::duration<double>(ctx->issuer->certificate().tbs().not_after - ctx->clock.now()).count();
  });
  auto check_intermediate_life = [&ctx] {
    const auto left =
        std::chrono::duration_cast<Seconds>(ctx->issuer->certificate().tbs().not_after - ctx->clock.now());
    const std::string days = std::to_string(left.count() / 86400);
    if (left < Seconds(30 * 86400))
      log::error("the intermediate expires within 30 days: roll a new one now (ops/README.md)", {{"days_left", days}});
    else if (left < Seconds(90 * 86400))
      log::warn("the intermediate expires within 90 days: plan its rotation (ops/README.md)", {{"days_left", days}});
  };
  check_intermediate_life();

  // CRLs and OCSP for every intermediate that still has unexpired certificates: CRLs built from
  // the store now, then kept fresh (revocations by any process, half-life); OCSP by a delegated
  // responder per intermediate, responses pre-signed, revocations applied within a poll. New
  // leaves name their CRL shard (open_issuer set the layout from revocation.*).
  revocation::CrlOptions crl_options;
  crl_options.validity = config.revocation.crl_validity;
  crl_options.public_url = config.public_url;
  crl_options.shards = static_cast<int>(config.revocation.crl_shards);
  crl_options.delta_interval = config.revocation.delta_crl_interval;
  revocation::OcspOptions ocsp_options;
  ocsp_options.validity = config.revocation.ocsp_validity;
  ocsp_options.responder_ttl = config.revocation.ocsp_responder_ttl;
  ocsp_options.sign_with_intermediate = config.revocation.ocsp_sign_with_intermediate;
  revocation::Publishers publishers(*ctx->issuer, *ctx->store, *ctx->store, *ctx->store, ctx->clock, metrics,
                                    crl_options, ocsp_options);
  for (const auto* a : ctx->issuer->authorities()) {
    SIGIL_TRY_STATUS(publishers.add(*a));
    if (a != &ctx->issuer->current())
      log::info("a replaced intermediate keeps answering for its certificates",
                {{"issuer", a->id.substr(0, 16)}, {"not_after", format_rfc3339(a->cert.tbs().not_after)}});
  }
  // The server's certificate, and its OCSP response signed before any handshake asks to staple
  // it (the handshake only reads the cache).
  auto next_identity = [&]() -> Result<ServerIdentity> {
    SIGIL_TRY(ServerIdentity id, issue_server_identity(*ctx));
    if (auto warmed = publishers.warm_staple(id.serial); !warmed)
      log::warn("OCSP response for the server certificate not signed yet", {{"error", warmed.error().detail}});
    return id;
  };
  SIGIL_TRY(ServerIdentity identity, next_identity());
  auto tls_for = [&](const ServerIdentity& id, bool api) {
    http::TlsSettings t;
    t.chain_pem = id.chain_pem;
    t.key_pem = id.key_pem;
    {
      std::lock_guard lock(trust_mu);  // SIGHUP may replace it meanwhile
      t.client_ca_pem = trust.anchors_pem;
      t.check_client = client_check(*ctx->store, trust.external_key_ids);
    }
    t.allow_tls12 = !api && config.tls.acme_allow_tls12;
    t.client_skew = config.tls.client_skew;
    t.require_client_auth_eku = api;  // the acme listener's renew route accepts any certificate Sigil issued
    t.ocsp_staple = [&publishers, serial = id.serial] { return publishers.staple(serial); };
    return t;
  };

  const fs::path root_crl_file = ctx->home.ca_dir() / "root.crl";
  SIGIL_TRY(auto roots, load_roots(ctx->home));
  std::vector<Bytes> root_ders;
  for (const auto& r : roots) root_ders.push_back(r.der());
  api::PublicDeps public_deps{publishers, std::move(root_ders),
                              [root_crl_file]() -> std::optional<Bytes> {
                                auto text = read_file(root_crl_file);
                                if (!text) return std::nullopt;
                                if (text->find("-----BEGIN X509 CRL-----") == std::string::npos) return as_bytes(*text);
                                auto der = pem_decode_one(*text, "X509 CRL");
                                return der ? std::optional<Bytes>(*der) : std::nullopt;
                              },
                              ctx->clock};

  // ACME: the validation authority, the registration authority over the same store and issuer,
  // and the web front end on the acme listener.
  SIGIL_TRY(auto validator, acme::va::Validator::create(va_config(config.acme)));
  acme::ra::Ra ra(ra_config(config.acme), {*ctx->store, *ctx->store, *ctx->store}, *ctx->issuer, revoker, *validator,
                  ctx->clock);
  acme::jws::NonceStore nonces(ctx->clock);
  acme::wfe::Deps wfe_deps{ra, nonces, {config.acme.terms_of_service, config.acme.website}, ctx->clock, metrics};
  auto acme_routes = api::acme_router(deps);
  acme::wfe::add_routes(*acme_routes, wfe_deps);

  http::Limits limits;
  limits.max_body = static_cast<std::size_t>(config.limits.max_body);
  limits.max_header = static_cast<std::size_t>(config.limits.max_header);
  limits.request_timeout = config.limits.request_timeout;
  limits.max_connections_per_address = static_cast<int>(config.limits.max_connections_per_address);
  http::Server server(metrics, ctx->clock, limits);
  SIGIL_TRY(std::string api_addr, server.listen({"api", config.listeners.api, http::TlsMode::mutual,
                                                 api::api_router(deps), config.tls.max_connection_age},
                                                tls_for(identity, true)));
  SIGIL_TRY(std::string acme_addr, server.listen({"acme", config.listeners.acme, http::TlsMode::server, acme_routes,
                                                  config.tls.max_connection_age},
                                                 tls_for(identity, false)));
  SIGIL_TRY(std::string public_addr,
            server.listen({"public", config.listeners.public_, http::TlsMode::none, api::public_router(public_deps)},
                          std::nullopt));
  server.start();
  std::cout << "api https://" << api_addr << "\n"
            << "acme https://" << acme_addr << "\n"
            << "public http://" << public_addr << "\n"
            << std::flush;
  log::info("serving", {{"api", api_addr},
                        {"acme", acme_addr},
                        {"public", public_addr},
                        {"server_cert", identity.serial},
                        {"not_after", format_rfc3339(identity.not_after)}});

  // The server's certificate is replaced at two thirds of its TTL (or on SIGHUP).
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false, renew_now = false;
  auto renew = [&] {
    auto next = next_identity();
    if (!next) {
      log::error("server certificate renewal failed", {{"error", next.error().detail}});
      return false;
    }
    for (const char* l : {"api", "acme"}) {
      if (auto s = server.update_tls(l, tls_for(*next, std::string(l) == "api")); !s) {
        log::error("TLS update failed", {{"listener", l}, {"error", s.error().detail}});
        return false;
      }
    }
    metrics.add("sigil_server_certificate_renewals_total", {});
    log::info("server certificate renewed", {{"serial", next->serial}, {"not_after", format_rfc3339(next->not_after)}});
    identity = std::move(*next);
    return true;
  };
  std::thread renewer([&] {
    TimePoint next_life_check = ctx->clock.now() + std::chrono::hours(24);
    std::unique_lock lock(mu);
    while (!stopping) {
      // Two thirds into the TTL asked for (notBefore is backdated, so it cannot be the base).
      const TimePoint due = identity.not_after - config.tls.server_cert_ttl / 3;
      const auto wait = std::max<std::chrono::system_clock::duration>(due - ctx->clock.now(), std::chrono::seconds(0));
      cv.wait_for(lock, std::min<std::chrono::system_clock::duration>(wait, std::chrono::seconds(30)),
                  [&] { return stopping || renew_now; });
      if (stopping) break;
      if (ctx->clock.now() >= next_life_check) {
        check_intermediate_life();
        next_life_check = ctx->clock.now() + std::chrono::hours(24);
      }
      if (renew_now || ctx->clock.now() >= due) {
        renew_now = false;
        lock.unlock();
        const bool ok = renew();
        lock.lock();
        if (!ok) cv.wait_for(lock, std::chrono::seconds(10), [&] { return stopping; });
      }
    }
  });

  for (;;) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == SIGHUP) {
      log::info("reloading (SIGHUP)");
      auto fresh = load_config(ctx->home.config());
      if (fresh) {
        if (auto p = authz_policy(*fresh))
          policy.store(*p);
        else
          log::error("reload: authorization policy refused", {{"error", p.error().detail}});
        // The identifier policy and profiles too (listeners, limits and TLS options need a restart).
        auto profiles = fresh->effective_profiles();
        auto updated =
            profiles ? ctx->issuer->update_policy(fresh->policy, std::move(*profiles)) : Status(profiles.error());
        if (!updated) log::error("reload: identifier policy refused", {{"error", updated.error().detail}});
      } else {
        log::error("reload: sigil.json refused; keeping the running configuration", {{"error", fresh.error().detail}});
      }
      // A new intermediate (`sigil intermediate install`): published, then issuing; the one it
      // replaces keeps answering for its own.
      if (auto a = reload_intermediate(*ctx); !a) {
        log::error("reload: intermediate refused; keeping the current one", {{"error", a.error().detail}});
      } else if (*a != &ctx->issuer->current()) {
        auto added = publishers.add(**a);
        if (added) added = ctx->issuer->make_current((*a)->id);
        if (added)
          log::info("issuing from a new intermediate",
                    {{"issuer", (*a)->id.substr(0, 16)}, {"not_after", format_rfc3339((*a)->cert.tbs().not_after)}});
        else
          log::error("reload: new intermediate not taken", {{"error", added.error().detail}});
      }
      // The trust anchors (the roots, tls.client_trust_anchors, every intermediate answering).
      if (auto anchors = client_trust(fresh ? *fresh : config)) {
        std::lock_guard lock(trust_mu);
        trust = std::move(*anchors);
      } else {
        log::error("reload: trust anchors refused; keeping the current ones", {{"error", anchors.error().detail}});
      }
      std::lock_guard lock(mu);
      renew_now = true;
      cv.notify_all();
      continue;
    }
    log::info("stopping: draining connections", {{"signal", std::to_string(sig)}});
    break;
  }
  {
    std::lock_guard lock(mu);
    stopping = true;
    cv.notify_all();
  }
  renewer.join();
  server.stop(std::chrono::milliseconds(5000));
  server.wait();
  ra.drain();
  publishers.stop();
  log::info("stopped");
  return {};
}

}  // namespace

void add_serve(CLI::App& app, Globals& g) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* c = app.add_subcommand("serve", "Run the CA service: REST API (mTLS), ACME and public listeners");
  c->add_option("--api-listen", o->api_listen,
                "api listener address (default from sigil.json: 127.0.0.1:9443; port 0 picks one)");
  c->add_option("--acme-listen", o->acme_listen, "acme listener address (default 127.0.0.1:8443)");
  c->add_option("--public-listen", o->public_listen, "public plain-HTTP listener address (default 127.0.0.1:8080)");
  c->add_option("--dns-resolver", o->dns_resolver,
                "DNS server for ACME validation, e.g. 127.0.0.1:8053 (default: acme.validation.dns_resolver, "
                "else /etc/resolv.conf's)");
  c->add_option("--http01-port", o->http01_port, "port ACME http-01 validation connects to (default 80)")
      ->check(CLI::Range(1, 65535));
  c->add_option("--tlsalpn01-port", o->tlsalpn01_port, "port ACME tls-alpn-01 validation connects to (default 443)")
      ->check(CLI::Range(1, 65535));
  c->footer(
      "Signals: SIGHUP reloads sigil.json's authorization, identifier policy and profiles, the trust anchors\n"
      "and a newly installed intermediate (issuing from it; the replaced one keeps serving its CRLs and OCSP),\n"
      "and renews the server certificate (listeners, limits and TLS options need a restart);\n"
      "SIGTERM/SIGINT stop accepting, drain connections (up to 5 s) and exit.");
  c->callback([&g, o] { g.status = run_serve(g, *o); });
}

}  // namespace sigil::cli
