#include "acme/client/client.hpp"

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "acme/jws/jws.hpp"
#include "ca/base/duration.hpp"
#include "ca/base/encoding.hpp"
#include "ca/base/file.hpp"
#include "ca/base/log.hpp"
#include "ca/base/metrics.hpp"
#include "ca/crypto/oids.hpp"
#include "ca/http/client.hpp"

namespace sigil::acme::client {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::optional<std::string> header(const http::Response& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k.size() != name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < k.size() && same; ++i) same = std::tolower(k[i]) == std::tolower(name[i]);
    if (same) return v;
  }
  return std::nullopt;
}

// "https://host:port/path" -> ("https://host:port", "/path").
std::pair<std::string, std::string> split_url(const std::string& url) {
  const auto scheme = url.find("://");
  const auto slash = scheme == std::string::npos ? std::string::npos : url.find('/', scheme + 3);
  if (slash == std::string::npos) return {url, "/"};
  return {url.substr(0, slash), url.substr(slash)};
}

// The Host header for an origin: "https://ca:8443" -> "ca:8443" (the default port left out). The
// ACME server builds its URLs from it, and http::Client sends the host alone.
std::string host_of(const std::string& origin) {
  const auto scheme = origin.find("://");
  std::string authority = scheme == std::string::npos ? origin : origin.substr(scheme + 3);
  const bool tls = origin.rfind("https://", 0) == 0;
  const std::string default_port = tls ? ":443" : ":80";
  if (authority.size() > default_port.size() &&
      authority.compare(authority.size() - default_port.size(), default_port.size(), default_port) == 0)
    authority.resize(authority.size() - default_port.size());
  return authority;
}

Error problem(const http::Response& r, const std::string& what) {
  auto j = json::parse(r.body, nullptr, false);
  std::string detail = what + ": HTTP " + std::to_string(r.status);
  if (j.is_object()) detail += " " + j.value("type", std::string()) + ": " + j.value("detail", std::string());
  return make_error(r.status == 429 ? Errc::rate_limited : Errc::unauthorized, detail);
}

}  // namespace

Result<std::string> ari_cert_id(const crypto::Certificate& cert) {
  const auto* aki = cert.tbs().find(crypto::oid::authority_key_identifier);
  if (!aki) return make_error(Errc::invalid_argument, "the certificate has no authority key identifier");
  SIGIL_TRY(Bytes id, crypto::decode_authority_key_id(aki->value));
  return base64url_encode(id) + "." + base64url_encode(cert.tbs().serial);
}

struct AcmeClient::Impl {
  AcmeClientOptions options;
  std::string origin;
  std::string host;  // the Host header: origin's authority
  std::unique_ptr<http::Client> client;
  json directory;
  std::string nonce;
  std::unique_ptr<crypto::KeySigner> account_key;
  std::string kid;  // account URL once known

  Result<http::Response> get(const std::string& url) {
    auto [o, path] = split_url(url);
    if (o != origin) return make_error(Errc::invalid_argument, "the ACME server sent a URL of another origin: " + url);
    return client->request("GET", path, "", {{"Host", host}});
  }

  Status fresh_nonce() {
    SIGIL_TRY(http::Response r, get(directory.value("newNonce", std::string())));
    auto n = header(r, "replay-nonce");
    if (!n) return make_error(Errc::internal, "the ACME server sent no Replay-Nonce");
    nonce = *n;
    return {};
  }

  // A signed POST (payload "" is POST-as-GET); one retry on badNonce, as RFC 8555 §6.5 asks.
  Result<http::Response> post(const std::string& url, const std::string& payload, bool use_jwk = false) {
    auto [o, path] = split_url(url);
    if (o != origin) return make_error(Errc::invalid_argument, "the ACME server sent a URL of another origin: " + url);
    for (int attempt = 0;; ++attempt) {
      if (nonce.empty()) SIGIL_TRY_STATUS(fresh_nonce());
      json prot = {{"alg", acme::jws::alg_for(account_key->public_key().algorithm)}, {"nonce", nonce}, {"url", url}};
      if (use_jwk || kid.empty())
        prot["jwk"] = json::parse(acme::jws::public_jwk(account_key->public_key()));
      else
        prot["kid"] = kid;
      nonce.clear();
      SIGIL_TRY(std::string body, acme::jws::sign(*account_key, prot.dump(), payload));
      SIGIL_TRY(http::Response r,
                client->request("POST", path, body, {{"Content-Type", "application/jose+json"}, {"Host", host}}));
      if (auto n = header(r, "replay-nonce")) nonce = *n;
      if (r.status == 400 && attempt == 0 && r.body.find("urn:ietf:params:acme:error:badNonce") != std::string::npos)
        continue;
      return r;
    }
  }

  Status account() {
    const fs::path key_file = options.account_dir / "account.key";
    const fs::path url_file = options.account_dir / "account.url";
    if (auto pem = read_file(key_file)) {
      SIGIL_TRY(account_key, crypto::KeySigner::from_pem(*pem));
    } else {
      SIGIL_TRY_STATUS(make_dirs(options.account_dir, 0700));
      SIGIL_TRY(account_key, crypto::KeySigner::generate(crypto::KeyType::ec_p256));
      SIGIL_TRY(std::string key_pem, account_key->to_pem());
      SIGIL_TRY_STATUS(write_file_atomic(key_file, key_pem, kPrivateMode));
    }
    if (auto url = read_file(url_file); url && !url->empty()) {
      kid = *url;
      return {};
    }
    const std::string new_account = directory.value("newAccount", std::string());
    json payload = {{"termsOfServiceAgreed", true}};
    if (!options.contact.empty()) payload["contact"] = json::array({options.contact});
    if (!options.eab_kid.empty()) {
      SIGIL_TRY(Bytes mac_key, base64url_decode(options.eab_hmac));
      const std::string prot = json{{"alg", "HS256"}, {"kid", options.eab_kid}, {"url", new_account}}.dump();
      const std::string jwk = acme::jws::public_jwk(account_key->public_key());
      const std::string input = base64url_encode(as_bytes(prot)) + "." + base64url_encode(as_bytes(jwk));
      payload["externalAccountBinding"] = {
          {"protected", base64url_encode(as_bytes(prot))},
          {"payload", base64url_encode(as_bytes(jwk))},
          {"signature", base64url_encode(crypto::hmac_sha256(mac_key, as_bytes(input)))}};
    }
    SIGIL_TRY(http::Response r, post(new_account, payload.dump(), true));
    if (r.status != 200 && r.status != 201) return problem(r, "newAccount");
    auto loc = header(r, "location");
    if (!loc) return make_error(Errc::internal, "newAccount: no Location");
    kid = *loc;
    return write_file_atomic(url_file, kid);
  }

  // Polls `url` (POST-as-GET) until its status leaves `waiting`, within `limit`.
  Result<json> poll(const std::string& url, std::initializer_list<const char*> waiting, Seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      SIGIL_TRY(http::Response r, post(url, ""));
      if (r.status != 200) return problem(r, "polling " + url);
      json j = json::parse(r.body, nullptr, false);
      if (!j.is_object()) return make_error(Errc::internal, "polling " + url + ": not JSON");
      const std::string st = j.value("status", std::string());
      bool wait = false;
      for (auto w : waiting) wait = wait || st == w;
      if (!wait) return j;
      if (std::chrono::steady_clock::now() >= deadline)
        return make_error(Errc::internal, "timed out waiting on " + url + " (status " + st + ")");
      int after = 1;
      if (auto ra = header(r, "retry-after")) after = std::clamp(std::atoi(ra->c_str()), 1, 10);
      std::this_thread::sleep_for(std::chrono::seconds(after));
    }
  }
};

AcmeClient::AcmeClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AcmeClient::~AcmeClient() = default;

Result<std::unique_ptr<AcmeClient>> AcmeClient::connect(AcmeClientOptions options) {
  auto impl = std::make_unique<Impl>();
  auto [origin, path] = split_url(options.directory_url);
  impl->origin = origin;
  impl->host = host_of(origin);
  http::ClientOptions co;
  co.ca_pem = options.ca_pem;
  co.timeout = std::chrono::seconds(30);
  SIGIL_TRY(impl->client, http::Client::create(origin, co));
  impl->options = std::move(options);
  SIGIL_TRY(http::Response r, impl->client->request("GET", path, "", {{"Host", impl->host}}));
  if (r.status != 200) return make_error(Errc::io, "ACME directory: HTTP " + std::to_string(r.status));
  impl->directory = json::parse(r.body, nullptr, false);
  if (!impl->directory.is_object()) return make_error(Errc::io, "ACME directory is not JSON");
  return std::unique_ptr<AcmeClient>(new AcmeClient(std::move(impl)));
}

Result<std::optional<policy::RenewalWindow>> AcmeClient::renewal_info(const crypto::Certificate& cert) {
  if (!impl_->directory.contains("renewalInfo")) return std::optional<policy::RenewalWindow>();
  SIGIL_TRY(std::string id, ari_cert_id(cert));
  SIGIL_TRY(http::Response r, impl_->get(impl_->directory["renewalInfo"].get<std::string>() + "/" + id));
  if (r.status != 200) return problem(r, "renewalInfo");
  json j = json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("suggestedWindow")) return make_error(Errc::internal, "renewalInfo: no window");
  SIGIL_TRY(TimePoint start, parse_rfc3339(j["suggestedWindow"].value("start", std::string())));
  SIGIL_TRY(TimePoint end, parse_rfc3339(j["suggestedWindow"].value("end", std::string())));
  return std::optional<policy::RenewalWindow>(policy::RenewalWindow{start, end});
}

Result<Renewed> AcmeClient::renew(const crypto::Certificate& cert, const crypto::Signer& csr_key) {
  Impl& c = *impl_;
  SIGIL_TRY_STATUS(c.account());
  // The names of the current certificate.
  const auto* san = cert.tbs().find(crypto::oid::subject_alt_name);
  if (!san) return make_error(Errc::invalid_argument, "the certificate has no subjectAltName");
  SIGIL_TRY(auto names, crypto::decode_general_names(san->value));
  json ids = json::array();
  for (const auto& n : names) {
    if (n.type == crypto::GeneralName::Type::dns)
      ids.push_back({{"type", "dns"}, {"value", n.value}});
    else if (n.type == crypto::GeneralName::Type::ip)
      ids.push_back({{"type", "ip"}, {"value", n.value}});
    else
      return make_error(Errc::invalid_argument, "ACME cannot renew " + crypto::to_string(n));
  }
  json order_req = {{"identifiers", ids}};
  if (c.directory.contains("renewalInfo")) {
    if (auto id = ari_cert_id(cert)) order_req["replaces"] = *id;
  }
  const std::string new_order = c.directory.value("newOrder", std::string());
  SIGIL_TRY(http::Response r, c.post(new_order, order_req.dump()));
  // `replaces` is advice (RFC 9773 §5): a server may refuse it, e.g. for a certificate another
  // requester obtained (the first ACME renewal of one the REST API issued), one an earlier
  // order of ours already replaces (a run that died before installing), or one of a previous
  // intermediate. Ask once more without it; a refusal of the order itself comes back again.
  if (r.status >= 400 && r.status < 500 && r.status != 429 && order_req.contains("replaces")) {
    order_req.erase("replaces");
    SIGIL_TRY(r, c.post(new_order, order_req.dump()));
  }
  if (r.status != 201) return problem(r, "newOrder");
  auto order_url = header(r, "location");
  if (!order_url) return make_error(Errc::internal, "newOrder: no Location");
  json order = json::parse(r.body, nullptr, false);

  // http-01 on a listener of our own, only while authorizations are pending.
  std::mutex mu;
  std::map<std::string, std::string> tokens;  // token -> key authorization
  std::unique_ptr<http::Server> responder;
  Metrics metrics;
  SIGIL_TRY(auto account_jwk, acme::jws::parse_jwk(acme::jws::public_jwk(c.account_key->public_key())));
  for (const auto& authz_url : order.value("authorizations", json::array())) {
    SIGIL_TRY(http::Response ar, c.post(authz_url.get<std::string>(), ""));
    if (ar.status != 200) return problem(ar, "authorization");
    json authz = json::parse(ar.body, nullptr, false);
    if (authz.value("status", std::string()) == "valid") continue;
    // (A copy: value() returns a temporary, which a pointer into it would outlive.)
    std::optional<json> http01;
    for (const auto& ch : authz.value("challenges", json::array()))
      if (ch.is_object() && ch.value("type", std::string()) == "http-01") http01 = ch;
    if (!http01)
      return make_error(Errc::invalid_argument, "no http-01 challenge offered for a name (wildcards need dns-01)");
    if (!responder) {
      auto router = std::make_shared<http::Router>();
      router->add({"GET", "/.well-known/acme-challenge/{token}", http::Auth::none,
                   [&](const http::Request& req) {
                     std::lock_guard lock(mu);
                     auto it = tokens.find(req.params.at("token"));
                     if (it == tokens.end()) return http::Response::text(404, "no such token\n");
                     return http::Response::text(200, it->second, "application/octet-stream");
                   },
                   ""});
      responder = std::make_unique<http::Server>(metrics, http::Limits{}, 1, 1);
      SIGIL_TRY(std::string bound,
                responder->listen({"http01", c.options.http01_listen, http::TlsMode::none, router}, std::nullopt));
      responder->start();
      log::write(log::Level::debug, "http-01 responder listening", {{"address", bound}});
    }
    const std::string token = http01->value("token", std::string());
    {
      std::lock_guard lock(mu);
      tokens[token] = acme::jws::key_authorization(token, account_jwk.thumbprint);
    }
    SIGIL_TRY(http::Response cr, c.post(http01->value("url", std::string()), "{}"));
    if (cr.status != 200) return problem(cr, "challenge");
    SIGIL_TRY(json done, c.poll(authz_url.get<std::string>(), {"pending"}, Seconds(90)));
    if (done.value("status", std::string()) != "valid")
      return make_error(Errc::unauthorized,
                        "authorization for " + done.value("identifier", json::object()).value("value", std::string()) +
                            " is " + done.value("status", std::string()) + ": " + done.dump().substr(0, 400));
  }
  if (responder) responder->stop(std::chrono::milliseconds(500));

  SIGIL_TRY(json ready, c.poll(*order_url, {"pending"}, Seconds(30)));
  if (ready.value("status", std::string()) != "ready")
    return make_error(Errc::internal, "order is " + ready.value("status", std::string()) + ", not ready");
  SIGIL_TRY(Bytes csr, crypto::make_csr(csr_key, crypto::encode_name(""), names));
  SIGIL_TRY(http::Response fr,
            c.post(ready.value("finalize", std::string()), json{{"csr", base64url_encode(csr)}}.dump()));
  if (fr.status != 200) return problem(fr, "finalize");
  SIGIL_TRY(json valid, c.poll(*order_url, {"processing", "ready"}, Seconds(60)));
  if (valid.value("status", std::string()) != "valid" || !valid.contains("certificate"))
    return make_error(Errc::internal, "order ended " + valid.value("status", std::string()));
  SIGIL_TRY(http::Response cert_r, c.post(valid["certificate"].get<std::string>(), ""));
  if (cert_r.status != 200) return problem(cert_r, "certificate download");
  SIGIL_TRY(auto leaf,
            crypto::Certificate::from_pem(cert_r.body.substr(
                0, cert_r.body.find("-----END CERTIFICATE-----") + std::string("-----END CERTIFICATE-----").size())));
  return Renewed{leaf.serial_hex(), cert_r.body};
}

}  // namespace sigil::acme::client
