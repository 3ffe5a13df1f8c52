#include "ca/service/runtime.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "acme/jws/nonce.hpp"
#include "acme/ra/ra.hpp"
#include "acme/va/va.hpp"
#include "acme/wfe/wfe.hpp"
#include "ca/api/api.hpp"
#include "ca/authz/client_check.hpp"
#include "ca/base/duration.hpp"
#include "ca/base/encoding.hpp"
#include "ca/base/file.hpp"
#include "ca/base/log.hpp"
#include "ca/http/http.hpp"
#include "ca/revocation/revoker.hpp"
#include "ca/service/gauges.hpp"
#include "ca/service/health.hpp"
#include "ca/service/nonce_key.hpp"
#include "ca/service/overview.hpp"
#include "ca/service/own_names.hpp"
#include "ca/service/readiness.hpp"
#include "ca/service/server_identity.hpp"

namespace sigil::service {
namespace {

void apply(const ServeOverrides& o, Config& config) {
  if (!o.api_listen.empty()) config.listeners.api = o.api_listen;
  if (!o.acme_listen.empty()) config.listeners.acme = o.acme_listen;
  if (!o.public_listen.empty()) config.listeners.public_ = o.public_listen;
  if (!o.dns_resolver.empty()) config.acme.validation.dns_resolver = o.dns_resolver;
  if (o.http01_port) config.acme.validation.http01_port = o.http01_port;
  if (o.tlsalpn01_port) config.acme.validation.tlsalpn01_port = o.tlsalpn01_port;
}

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

revocation::CrlOptions crl_options(const Config& config) {
  revocation::CrlOptions o;
  o.validity = config.revocation.crl_validity;
  o.public_url = config.public_url;
  o.shards = static_cast<int>(config.revocation.crl_shards);
  o.delta_interval = config.revocation.delta_crl_interval;
  return o;
}

revocation::OcspOptions ocsp_options(const Config& config) {
  revocation::OcspOptions o;
  o.validity = config.revocation.ocsp_validity;
  o.responder_ttl = config.revocation.ocsp_responder_ttl;
  o.sign_with_intermediate = config.revocation.ocsp_sign_with_intermediate;
  o.max_cached = static_cast<std::size_t>(config.revocation.ocsp_cache_entries);
  return o;
}

http::Limits http_limits(const Config& config) {
  http::Limits limits;
  limits.max_body = static_cast<std::size_t>(config.limits.max_body);
  limits.max_header = static_cast<std::size_t>(config.limits.max_header);
  limits.request_timeout = config.limits.request_timeout;
  limits.max_connections_per_address = static_cast<int>(config.limits.max_connections_per_address);
  return limits;
}

// Trust anchors for client certificates: the roots, and the CAs of tls.client_trust_anchors;
// the intermediates (the current one and the replaced ones still answering) ride along so
// clients that send only their leaf still verify.
Result<authz::ClientTrust> load_client_trust(const IssuerContext& ctx, const Config& c) {
  SIGIL_TRY(auto roots, load_roots(ctx.home));
  std::string own;
  for (const auto& r : roots) own += r.pem();
  for (const auto* a : ctx.issuer->authorities()) own += a->pem;
  std::vector<authz::ExternalAnchors> external;
  for (const auto& name : c.tls.client_trust_anchors) {
    const fs::path file = fs::path(name).is_absolute() ? fs::path(name) : ctx.home.dir / name;
    SIGIL_TRY(std::string pem, read_file(file));
    external.push_back({file.string(), std::move(pem)});
  }
  return authz::client_trust(std::move(own), external);
}

// The client check's view of the store: a certificate this CA issued, by serial.
authz::IssuedLookup issued_lookup(store::CertificateReader& store) {
  return [&store](const std::string& serial) -> Result<std::optional<authz::IssuedRecord>> {
    SIGIL_TRY(auto rec, store.find(serial));
    if (!rec) return std::optional<authz::IssuedRecord>();
    using State = authz::IssuedRecord::State;
    const State state = rec->status == store::CertStatus::valid     ? State::valid
                        : rec->status == store::CertStatus::revoked ? State::revoked
                                                                    : State::other;
    return std::optional<authz::IssuedRecord>(authz::IssuedRecord{rec->der, state});
  };
}

// The offline root's CRL (installed into the home by `sigil root crl --out`), PEM or DER.
std::function<std::optional<Bytes>()> root_crl_reader(fs::path file) {
  return [file = std::move(file)]() -> std::optional<Bytes> {
    auto text = read_file(file);
    if (!text) return std::nullopt;
    if (text->find("-----BEGIN X509 CRL-----") == std::string::npos) return as_bytes(*text);
    auto der = pem_decode_one(*text, "X509 CRL");
    return der ? std::optional<Bytes>(*der) : std::nullopt;
  };
}

// The intermediate's remaining life, logged at start and daily, with the status thresholds.
void check_intermediate_life(const IssuerContext& ctx) {
  const auto left = std::chrono::duration_cast<Seconds>(ctx.issuer->certificate().tbs().not_after - ctx.clock.now());
  const std::string days = std::to_string(left.count() / 86400);
  const auto level = health::ca_expiry_level(left);
  if (level == health::Level::error)
    log::error("the intermediate expires within 30 days: roll a new one now (ops/README.md)", {{"days_left", days}});
  else if (level == health::Level::warn)
    log::warn("the intermediate expires within 90 days: plan its rotation (ops/README.md)", {{"days_left", days}});
}

}  // namespace

struct Runtime::Impl {
  std::unique_ptr<IssuerContext> ctx;
  TimePoint started_at;
  Metrics metrics;
  std::atomic<std::shared_ptr<const authz::Policy>> policy;
  std::unique_ptr<revocation::Revoker> revoker;  // the one: REST and ACME revocations go through it
  std::unique_ptr<api::Deps> deps;
  std::unique_ptr<revocation::Publishers> publishers;
  std::unique_ptr<api::PublicDeps> public_deps;
  std::unique_ptr<acme::va::Validator> validator;
  std::unique_ptr<acme::ra::Ra> ra;
  std::unique_ptr<acme::jws::NonceStore> nonces;
  std::unique_ptr<acme::wfe::Deps> wfe_deps;
  std::unique_ptr<http::Server> server;
  Listening listening;
  std::unique_ptr<Readiness> readiness;
  std::atomic<std::int64_t> tls_not_after{0};  // the served server certificate's (unix seconds)

  std::mutex trust_mu;  // reload replaces the trust while the renewer reads it
  authz::ClientTrust trust;

  std::mutex mu;  // the renewer's state
  std::condition_variable cv;
  bool stopping = false, renew_now = false, stopped = false;
  ServerIdentity identity;  // the renewer thread's own once started
  std::thread renewer;

  Config& config() { return ctx->config; }
  Status wire_revocation();
  Result<ServerIdentity> next_identity();
  http::TlsSettings tls_for(const ServerIdentity& id, bool api);
  Status wire_acme();
  Status wire_readiness();
  api::ReadinessProbe readiness_probe();
  Status listen();
  bool renew();
  void renew_loop();
  void reload_policy(const Result<Config>& fresh);
  void reload_intermediate();
};

// CRLs and OCSP for every intermediate that still has unexpired certificates: CRLs built from
// the store now, then kept fresh (revocations by any process, half-life); OCSP by a delegated
// responder per intermediate, responses pre-signed, revocations applied within a poll. New
// leaves name their CRL shard (open_issuer set the layout from revocation.*).
// Several nodes on one database: each shard's CRLs are signed by one node at a time and served
// by all (the store's hold_crl_signer). OCSP stays per node: its pre-signed responses are a
// cache no other node writes (no shared mutable cache to keep coherent), a node's OCSP never
// waits on the database (it polls the revocation sequence, so every node re-signs a revocation
// within a poll), and each node's responder certificate is issued and recorded like any other
// certificate, so relying parties accept any node's answer.
Status Runtime::Impl::wire_revocation() {
  publishers =
      std::make_unique<revocation::Publishers>(*ctx->issuer, *ctx->store, *ctx->store, *ctx->store, *ctx->store,
                                               ctx->clock, metrics, crl_options(config()), ocsp_options(config()));
  for (const auto* a : ctx->issuer->authorities()) {
    SIGIL_TRY_STATUS(publishers->add(*a));
    if (a != &ctx->issuer->current())
      log::info("a replaced intermediate keeps answering for its certificates",
                {{"issuer", a->id.substr(0, 16)}, {"not_after", format_rfc3339(a->cert.tbs().not_after)}});
  }
  SIGIL_TRY(auto roots, load_roots(ctx->home));
  std::vector<Bytes> root_ders;
  for (const auto& r : roots) root_ders.push_back(r.der());
  public_deps.reset(new api::PublicDeps{*publishers, std::move(root_ders), root_crl_reader(ctx->home.root_crl()),
                                        ctx->clock, readiness_probe()});
  return {};
}

// The server's certificate, and its OCSP response signed before any handshake asks to staple
// it (the handshake only reads the cache).
Result<ServerIdentity> Runtime::Impl::next_identity() {
  SIGIL_TRY(ServerIdentity id, issue_server_identity(*ctx));
  if (auto warmed = publishers->warm_staple(id.serial); !warmed)
    log::warn("OCSP response for the server certificate not signed yet", {{"error", warmed.error().detail}});
  return id;
}

http::TlsSettings Runtime::Impl::tls_for(const ServerIdentity& id, bool api) {
  http::TlsSettings t;
  t.chain_pem = id.chain_pem;
  t.key_pem = id.key_pem;
  {
    std::lock_guard lock(trust_mu);  // SIGHUP may replace it meanwhile
    t.client_ca_pem = trust.anchors_pem;
    t.check_client = authz::client_check(issued_lookup(*ctx->store), trust.external_key_ids);
  }
  t.allow_tls12 = !api && config().tls.acme_allow_tls12;
  t.client_skew = config().tls.client_skew;
  t.require_client_auth_eku = api;  // the acme listener's renew route accepts any certificate Sigil issued
  t.ocsp_staple = [p = publishers.get(), serial = id.serial] { return p->staple(serial); };
  return t;
}

// ACME: the validation authority, the registration authority over the same store and issuer,
// and the web front end on the acme listener.
Status Runtime::Impl::wire_acme() {
  SIGIL_TRY(validator, acme::va::Validator::create(va_config(config().acme)));
  ra = std::make_unique<acme::ra::Ra>(ra_config(config().acme), acme::ra::Stores{*ctx->store, *ctx->store, *ctx->store},
                                      *ctx->issuer, *revoker, *validator, ctx->clock);
  // Nonces any node can check (one key in every node's home) and spend once (in the store).
  SIGIL_TRY(Bytes nonce_key, load_or_create_nonce_key(ctx->home));
  // SQLite keeps spent nonces in this process's memory: nonces from before its start are refused,
  // or one spent before a restart could be replayed after it.
  const TimePoint issued_since = ctx->store->engine() == store::Engine::sqlite ? started_at : TimePoint::min();
  SIGIL_TRY(auto nonce_store, acme::jws::NonceStore::create(std::move(nonce_key), *ctx->store, ctx->clock,
                                                            acme::jws::kNonceLifetime, issued_since));
  nonces = std::make_unique<acme::jws::NonceStore>(std::move(nonce_store));
  wfe_deps.reset(
      new acme::wfe::Deps{*ra, *nonces, {config().acme.terms_of_service, config().acme.website}, ctx->clock, metrics});
  return {};
}

// This node's heartbeat and readiness checks: the first now (so /health is right from the
// first request), then every second in the background.
Status Runtime::Impl::wire_readiness() {
  store::NodeRecord self{new_node_id(), host_name(), "", sigil_version(), to_unix(started_at), 0};
  Readiness::Probes probes;
  probes.signer = [ctx = ctx.get()]() -> Status {
    static constexpr std::string_view kProbe = "sigil readiness probe";
    const issuer::Authority& a = ctx->issuer->current();
    const crypto::ByteView msg(reinterpret_cast<const std::uint8_t*>(kProbe.data()), kProbe.size());
    SIGIL_TRY(Bytes sig, a.key->sign(msg));
    return crypto::verify_signature(a.key->public_key(), a.key->signature_algorithm(), msg, sig);
  };
  probes.tls_not_after = [this] { return from_unix(tls_not_after.load()); };
  readiness = std::make_unique<Readiness>(*ctx->store, ctx->clock, std::move(self), std::move(probes));
  readiness->check();
  return {};
}

// Every listener's GET /health. Null until wire_readiness ran: nothing serves before it.
api::ReadinessProbe Runtime::Impl::readiness_probe() {
  return [this] { return readiness->state(); };
}

Status Runtime::Impl::listen() {
  server = std::make_unique<http::Server>(metrics, ctx->clock, http_limits(config()));
  auto acme_routes = api::acme_router(*deps);
  acme::wfe::add_routes(*acme_routes, *wfe_deps);
  const auto age = config().tls.max_connection_age;
  SIGIL_TRY(listening.api,
            server->listen({"api", config().listeners.api, http::TlsMode::mutual, api::api_router(*deps), age},
                           tls_for(identity, true)));
  SIGIL_TRY(listening.acme, server->listen({"acme", config().listeners.acme, http::TlsMode::server, acme_routes, age},
                                           tls_for(identity, false)));
  SIGIL_TRY(listening.public_, server->listen({"public", config().listeners.public_, http::TlsMode::none,
                                               api::public_router(*public_deps)},
                                              std::nullopt));
  server->start();
  const std::string& dns = config().server_dns.front();
  listening.api_url = listener_url(listening.api, true, identity.ip_addresses, dns);
  listening.acme_url = listener_url(listening.acme, true, identity.ip_addresses, dns);
  listening.public_url = listener_url(listening.public_, false, {}, dns);
  readiness->set_urls(listening.api_url + " " + listening.acme_url + " " + listening.public_url);
  readiness->start();
  return {};
}

bool Runtime::Impl::renew() {
  auto next = next_identity();
  if (!next) {
    log::error("server certificate renewal failed", {{"error", next.error().detail}});
    return false;
  }
  for (const char* l : {"api", "acme"}) {
    if (auto s = server->update_tls(l, tls_for(*next, std::string(l) == "api")); !s) {
      log::error("TLS update failed", {{"listener", l}, {"error", s.error().detail}});
      return false;
    }
  }
  metrics.add("sigil_server_certificate_renewals_total", {});
  log::info("server certificate renewed", {{"serial", next->serial}, {"not_after", format_rfc3339(next->not_after)}});
  identity = std::move(*next);
  tls_not_after = to_unix(identity.not_after);
  return true;
}

// The server's certificate is replaced in its renewal window (or on reload); the intermediate's
// remaining life is checked daily.
void Runtime::Impl::renew_loop() {
  TimePoint next_life_check = ctx->clock.now() + std::chrono::hours(24);
  std::unique_lock lock(mu);
  while (!stopping) {
    const TimePoint due = server_renewal_window(identity.not_after, config().tls.server_cert_ttl).start;
    const auto wait = std::max<std::chrono::system_clock::duration>(due - ctx->clock.now(), std::chrono::seconds(0));
    cv.wait_for(lock, std::min<std::chrono::system_clock::duration>(wait, std::chrono::seconds(30)),
                [&] { return stopping || renew_now; });
    if (stopping) break;
    if (ctx->clock.now() >= next_life_check) {
      check_intermediate_life(*ctx);
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
}

// The authorization policy, the identifier policy and profiles (listeners, limits and TLS
// options need a restart).
void Runtime::Impl::reload_policy(const Result<Config>& fresh) {
  if (!fresh) {
    log::error("reload: sigil.json refused; keeping the running configuration", {{"error", fresh.error().detail}});
    return;
  }
  if (auto p = authz_policy(*fresh))
    policy.store(*p);
  else
    log::error("reload: authorization policy refused", {{"error", p.error().detail}});
  auto profiles = fresh->effective_profiles();
  auto updated = profiles ? ctx->issuer->update_policy(fresh->policy, std::move(*profiles)) : Status(profiles.error());
  if (!updated) log::error("reload: identifier policy refused", {{"error", updated.error().detail}});
}

// A new intermediate (`sigil intermediate install`): published, then issuing; the one it
// replaces keeps answering for its own.
void Runtime::Impl::reload_intermediate() {
  auto a = service::reload_intermediate(*ctx);
  if (!a) {
    log::error("reload: intermediate refused; keeping the current one", {{"error", a.error().detail}});
    return;
  }
  if (*a == &ctx->issuer->current()) return;
  auto added = publishers->add(**a);
  if (added) added = ctx->issuer->make_current((*a)->id);
  if (added)
    log::info("issuing from a new intermediate",
              {{"issuer", (*a)->id.substr(0, 16)}, {"not_after", format_rfc3339((*a)->cert.tbs().not_after)}});
  else
    log::error("reload: new intermediate not taken", {{"error", added.error().detail}});
}

Runtime::Runtime(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Runtime::~Runtime() {
  if (!impl_) return;
  stop();
}

const Listening& Runtime::listening() const { return impl_->listening; }

Result<std::unique_ptr<Runtime>> Runtime::start(const std::string& home, const ServeOverrides& overrides) {
  auto m = std::make_unique<Impl>();
  Impl& i = *m;
  SIGIL_TRY(i.ctx, open_issuer(home));
  i.started_at = i.ctx->clock.now();
  apply(overrides, i.config());
  SIGIL_TRY(i.trust, load_client_trust(*i.ctx, i.config()));
  SIGIL_TRY(auto initial_policy, authz_policy(i.config()));
  i.policy.store(initial_policy);
  i.revoker = std::make_unique<revocation::Revoker>(*i.ctx->store, *i.ctx->issuer, i.ctx->clock, i.metrics);
  i.deps.reset(new api::Deps{*i.ctx->issuer, *i.revoker, *i.ctx->store, *i.ctx->store, *i.ctx->store, i.policy,
                             i.ctx->clock, i.metrics, i.readiness_probe()});
  api::describe_metrics(*i.deps);
  register_health_gauges(i.metrics, *i.ctx);  // for alerting; the intermediate's life is also checked daily
  check_intermediate_life(*i.ctx);
  SIGIL_TRY_STATUS(i.wire_revocation());
  // The console's hierarchy, stats and audit log, over what the public listener serves.
  i.deps->overview =
      overview::sources(*i.ctx->store, *i.publishers, *i.ctx->issuer, i.public_deps->roots, i.ctx->clock);
  SIGIL_TRY(i.identity, i.next_identity());
  i.tls_not_after = to_unix(i.identity.not_after);
  SIGIL_TRY_STATUS(i.wire_readiness());
  SIGIL_TRY_STATUS(i.wire_acme());
  SIGIL_TRY_STATUS(i.listen());
  log::info("serving", {{"api", i.listening.api},
                        {"acme", i.listening.acme},
                        {"public", i.listening.public_},
                        {"server_cert", i.identity.serial},
                        {"not_after", format_rfc3339(i.identity.not_after)}});
  i.renewer = std::thread([&i] { i.renew_loop(); });
  return std::unique_ptr<Runtime>(new Runtime(std::move(m)));
}

void Runtime::reload() {
  Impl& i = *impl_;
  log::info("reloading (SIGHUP)");
  auto fresh = load_config(i.ctx->home.config());
  i.reload_policy(fresh);
  i.reload_intermediate();
  // The trust anchors (the roots, tls.client_trust_anchors, every intermediate answering).
  if (auto anchors = load_client_trust(*i.ctx, fresh ? *fresh : i.config())) {
    std::lock_guard lock(i.trust_mu);
    i.trust = std::move(*anchors);
  } else {
    log::error("reload: trust anchors refused; keeping the current ones", {{"error", anchors.error().detail}});
  }
  std::lock_guard lock(i.mu);
  i.renew_now = true;
  i.cv.notify_all();
}

void Runtime::stop() {
  Impl& i = *impl_;
  {
    std::lock_guard lock(i.mu);
    if (i.stopped) return;
    i.stopped = i.stopping = true;
    i.cv.notify_all();
  }
  if (i.renewer.joinable()) i.renewer.join();
  i.server->stop(std::chrono::milliseconds(5000));
  i.server->wait();
  i.ra->drain();
  i.readiness->stop();
  i.publishers->stop();
  log::info("stopped");
}

}  // namespace sigil::service
