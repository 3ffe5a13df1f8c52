// sigil renew: the rotation agent run by cron or a systemd timer. Decides whether renewal is
// due (the CA's renewal window, else two thirds of the lifetime), renews through the REST API
// (mTLS with the current certificate) or ACME, installs the new pair atomically and runs
// --exec. One log line per run; exit codes tell cron mail and monitoring what happened.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "acme/client/client.hpp"
#include "ca/base/duration.hpp"
#include "ca/base/encoding.hpp"
#include "ca/base/file.hpp"
#include "ca/base/log.hpp"
#include "ca/http/client.hpp"
#include "cli/common.hpp"
#include "cli/renew/agent.hpp"

namespace sigil::cli {
namespace {
using nlohmann::json;
namespace fs = std::filesystem;

struct RenewOptions {
  std::string cert, key, chain;
  std::string server, acme, ca;
  std::string exec;
  bool force = false, rotate_key = false, no_jitter = false;
  std::string max_jitter = "5m";
  std::string account_dir, eab_kid, eab_hmac, contact;
  std::string http01_listen = "0.0.0.0:80";
};

struct Outcome {
  renew::Exit exit = renew::Exit::ok;
  std::string decision;
  std::string window = "local";  // whose renewal window decided: "ca" or "local"
  std::string serial, new_serial;
  TimePoint not_after{}, new_not_after{};
  std::string error;
};

void report(const Globals& g, const Outcome& o) {
  if (g.json) {
    json j = {
        {"decision", o.decision}, {"window", o.window}, {"serial", o.serial}, {"exit_code", static_cast<int>(o.exit)}};
    if (o.not_after != TimePoint{}) j["not_after"] = format_rfc3339(o.not_after);
    if (!o.new_serial.empty()) {
      j["new_serial"] = o.new_serial;
      j["new_not_after"] = format_rfc3339(o.new_not_after);
    }
    if (!o.error.empty()) j["error"] = o.error;
    std::cout << j.dump() << "\n";
  }
  // The one log line of the run.
  if (o.error.empty())
    log::info("renew", {{"decision", o.decision},
                        {"window", o.window},
                        {"serial", o.new_serial.empty() ? o.serial : o.new_serial},
                        {"not_after", format_rfc3339(o.new_serial.empty() ? o.not_after : o.new_not_after)}});
  else
    log::error("renew", {{"decision", o.decision},
                         {"window", o.window},
                         {"serial", o.serial},
                         {"not_after", o.not_after == TimePoint{} ? "" : format_rfc3339(o.not_after)},
                         {"exit", std::to_string(static_cast<int>(o.exit))},
                         {"error", o.error}});
}

Result<std::string> new_key_pem(const crypto::PublicKey& like, std::unique_ptr<crypto::KeySigner>& out) {
  crypto::KeyType t = crypto::KeyType::ec_p256;
  switch (like.algorithm) {
    case crypto::KeyAlgorithm::ec_p256:
      t = crypto::KeyType::ec_p256;
      break;
    case crypto::KeyAlgorithm::ec_p384:
      t = crypto::KeyType::ec_p384;
      break;
    case crypto::KeyAlgorithm::ed25519:
      t = crypto::KeyType::ed25519;
      break;
    case crypto::KeyAlgorithm::rsa:
      t = like.bits >= 4096   ? crypto::KeyType::rsa_4096
          : like.bits >= 3072 ? crypto::KeyType::rsa_3072
                              : crypto::KeyType::rsa_2048;
      break;
  }
  SIGIL_TRY(out, crypto::KeySigner::generate(t));
  return out->to_pem();
}

// Renewal through the REST API: the current certificate authenticates (renew-self).
Result<renew::NewMaterial> renew_api(const RenewOptions& o, const std::string& ca_pem, const std::string& cert_pem,
                                     const std::string& key_pem, const crypto::PublicKey& current_key) {
  http::ClientOptions co;
  co.ca_pem = ca_pem;
  co.cert_pem = cert_pem;
  co.key_pem = key_pem;
  SIGIL_TRY(auto client, http::Client::create(o.server, co));
  json body = json::object();
  renew::NewMaterial m;
  if (o.rotate_key) {
    std::unique_ptr<crypto::KeySigner> k;
    SIGIL_TRY(m.key_pem, new_key_pem(current_key, k));
    SIGIL_TRY(Bytes csr, crypto::make_csr(*k, crypto::encode_name(""), {}));
    body = {{"rotate_key", true}, {"csr", pem_encode("CERTIFICATE REQUEST", csr)}};
  }
  SIGIL_TRY(http::Response r, client->request("POST", "/api/v1/renew", body.dump(),
                                              {{"Content-Type", "application/json"}, {"Accept", "application/json"}}));
  json j = json::parse(r.body, nullptr, false);
  if (r.status != 201) {
    std::string detail = "HTTP " + std::to_string(r.status);
    if (j.is_object()) detail += ": " + j.value("detail", std::string());
    return make_error(r.status == 403 ? Errc::forbidden : Errc::unauthorized, "the CA refused the renewal: " + detail);
  }
  if (!j.is_object() || !j.contains("chain") || !j.contains("serial"))
    return make_error(Errc::internal, "the CA's answer has no chain");
  m.serial = j["serial"].get<std::string>();
  m.chain_pem = j["chain"].get<std::string>();
  return m;
}

// GET /api/v1/renewal-info/{serial}: public, but the api listener wants a client certificate at
// the handshake, so the current one is presented; a listener that refuses it (e.g. because it
// was revoked, when the window says "now") is asked again without one.
Result<policy::RenewalWindow> api_window(const RenewOptions& o, const std::string& ca_pem, const std::string& cert_pem,
                                         const std::string& key_pem, const crypto::Certificate& cert) {
  auto get = [&](bool with_cert) -> Result<http::Response> {
    http::ClientOptions co;
    co.ca_pem = ca_pem;
    if (with_cert) {
      co.cert_pem = cert_pem;
      co.key_pem = key_pem;
    }
    co.timeout = std::chrono::seconds(15);
    SIGIL_TRY(auto client, http::Client::create(o.server, co));
    return client->request("GET", "/api/v1/renewal-info/" + cert.serial_hex(), "", {});
  };
  auto got = get(true);
  if (!got) got = get(false);  // no HTTP answer: e.g. the certificate refused (TLS 1.3: after the handshake)
  if (!got) return got.error();
  const http::Response& r = *got;
  if (r.status != 200) return make_error(Errc::not_found, "renewal-info: HTTP " + std::to_string(r.status));
  json j = json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("suggestedWindow")) return make_error(Errc::internal, "renewal-info: no window");
  SIGIL_TRY(TimePoint start, parse_rfc3339(j["suggestedWindow"].value("start", std::string())));
  SIGIL_TRY(TimePoint end, parse_rfc3339(j["suggestedWindow"].value("end", std::string())));
  return policy::RenewalWindow{start, end};
}

// The run, filling `out` as it learns (so that an exception still leaves the facts it found).
Outcome run_into(const RenewOptions& o, Outcome& out) {
  SystemClock clock;
  const TimePoint now = clock.now();
  auto cert_pem = read_file(o.cert);
  auto key_pem = read_file(o.key);
  if (!cert_pem || !key_pem) {
    out.exit = renew::Exit::failed_expiring;  // nothing valid on disk that we know of
    out.decision = "failed";
    out.error = !cert_pem ? cert_pem.error().detail : key_pem.error().detail;
    return out;
  }
  auto certs = crypto::certificates_from_pem(*cert_pem);
  if (!certs || certs->empty()) {
    out.exit = renew::Exit::failed_expiring;
    out.decision = "failed";
    out.error = "cannot read the certificate in " + o.cert;
    return out;
  }
  const crypto::Certificate& cert = certs->front();
  out.serial = cert.serial_hex();
  out.not_after = cert.tbs().not_after;
  auto fail = [&](const Error& e) {
    out.exit = renew::failure_exit(clock.now(), out.not_after);
    out.decision = "failed";
    out.error = e.detail;
    return out;
  };
  auto ca_pem = read_file(o.ca);
  if (!ca_pem) return fail(ca_pem.error().context("--ca"));

  // When: the CA's window if it offers one, else two thirds of the lifetime. A CA that cannot be
  // reached only matters once renewal is due (both paths alike): until then, exit 0.
  policy::RenewalWindow window = policy::renewal_window(cert.tbs().not_before, cert.tbs().not_after);
  std::unique_ptr<acme::client::AcmeClient> acme_client;
  std::optional<Error> acme_error;
  if (!o.acme.empty()) {
    acme::client::AcmeClientOptions ao;
    ao.directory_url = o.acme;
    ao.ca_pem = *ca_pem;
    ao.account_dir =
        o.account_dir.empty() ? fs::absolute(o.cert).parent_path() / ".sigil-acme" : fs::path(o.account_dir);
    ao.eab_kid = o.eab_kid;
    ao.eab_hmac = o.eab_hmac;
    ao.contact = o.contact;
    ao.http01_listen = o.http01_listen;
    if (auto c = acme::client::AcmeClient::connect(ao)) {
      acme_client = std::move(*c);
      if (auto w = acme_client->renewal_info(cert); w && *w) {
        window = **w;
        out.window = "ca";
      }
    } else {
      acme_error = c.error();
    }
  } else if (now < cert.tbs().not_after) {
    if (auto w = api_window(o, *ca_pem, *cert_pem, *key_pem, cert)) {
      window = *w;
      out.window = "ca";
    }
  }
  const renew::Decision d = renew::decide(now, window, o.force);
  out.decision = d.reason;
  if (!d.due) return out;
  if (acme_error) return fail(acme_error->context("ACME directory " + o.acme));
  if (o.acme.empty() && now >= cert.tbs().not_after)
    return fail(make_error(Errc::unauthorized,
                           "the certificate has expired: renew it through ACME (--acme) or ask an admin to re-issue"));
  if (!o.no_jitter && !o.force) {
    auto max = parse_duration(o.max_jitter);
    const Seconds wait = renew::jitter(max ? *max : Seconds(300));
    std::this_thread::sleep_for(wait);
  }

  renew::NewMaterial m;
  if (acme_client) {
    std::unique_ptr<crypto::KeySigner> k;
    if (o.rotate_key) {
      auto pem = new_key_pem(cert.public_key(), k);
      if (!pem) return fail(pem.error());
      m.key_pem = *pem;
    } else {
      auto cur = crypto::KeySigner::from_pem(*key_pem);
      if (!cur) return fail(cur.error().context("--key"));
      k = std::move(*cur);
    }
    auto r = acme_client->renew(cert, *k);
    if (!r) return fail(r.error());
    m.serial = r->serial;
    m.chain_pem = r->chain_pem;
  } else {
    auto r = renew_api(o, *ca_pem, *cert_pem, *key_pem, cert.public_key());
    if (!r) return fail(r.error());
    m = std::move(*r);
  }
  auto fresh = crypto::certificates_from_pem(m.chain_pem);
  if (!fresh || fresh->empty()) return fail(make_error(Errc::internal, "the CA sent no certificate"));
  // Never install a certificate for another key than the one written beside it.
  {
    auto k = crypto::KeySigner::from_pem(m.key_pem.empty() ? *key_pem : m.key_pem);
    if (!k) return fail(k.error().context("--key"));
    if ((*k)->public_key().spki != fresh->front().public_key().spki)
      return fail(make_error(Errc::internal, "the CA's certificate " + fresh->front().serial_hex() +
                                                 " is not for the key to install; nothing was changed"));
  }
  if (auto st = renew::install({o.cert, o.key, o.chain}, m); !st) return fail(st.error());
  out.new_serial = m.serial;
  out.new_not_after = fresh->front().tbs().not_after;
  out.decision = "renewed (" + d.reason + ")";
  if (!o.exec.empty()) {
    const int rc = std::system(o.exec.c_str());
    if (rc != 0) {
      out.exit = renew::failure_exit(clock.now(), out.new_not_after);
      out.error = "renewed, but --exec failed with status " + std::to_string(rc);
    }
  }
  return out;
}

// A CA's answer of an unexpected shape (a JSON field of another type) must end as a failed
// run with its exit code and log line, like any other refusal, never as a crash.
Outcome run(const RenewOptions& o) {
  Outcome out;
  try {
    run_into(o, out);
  } catch (const std::exception& e) {
    out.exit = out.not_after == TimePoint{} ? renew::Exit::failed_expiring
                                            : renew::failure_exit(SystemClock{}.now(), out.not_after);
    out.decision = "failed";
    out.error = std::string("unexpected answer from the CA: ") + e.what();
  }
  return out;
}

}  // namespace

void add_renew(CLI::App& app, Globals& g) {
  auto o = std::make_shared<RenewOptions>();
  CLI::App* c = app.add_subcommand("renew", "Renew a certificate when due (for cron or a systemd timer)");
  c->add_option("--cert", o->cert, "Certificate file (full chain, leaf first)")->required();
  c->add_option("--key", o->key, "Its private key")->required();
  c->add_option("--chain", o->chain, "Also write the issuing CA certificate(s) here");
  auto* server = c->add_option("--server", o->server,
                               "Renew through the REST API, e.g. https://ca:9443 (a certificate without clientAuth: "
                               "the acme listener, https://ca:8443)");
  auto* acme = c->add_option("--acme", o->acme, "Renew through ACME, e.g. https://ca:8443/acme/directory");
  server->excludes(acme);
  c->add_option("--ca", o->ca, "Root certificate to verify the CA with")->required();
  c->add_option("--exec", o->exec, "Run this (sh -c) after a successful renewal, e.g. 'systemctl reload nginx'");
  c->add_flag("--force", o->force, "Renew now, whatever the window says");
  c->add_flag("--rotate-key", o->rotate_key, "Generate a new key (default: keep the current key)");
  c->add_flag("--no-jitter", o->no_jitter, "Do not wait a random delay before renewing");
  c->add_option("--max-jitter", o->max_jitter, "Bound of the random delay (default 5m)");
  c->add_option("--account-dir", o->account_dir, "ACME account directory (default: <cert dir>/.sigil-acme)");
  c->add_option("--eab-kid", o->eab_kid, "ACME external account binding key id (first use)");
  c->add_option("--eab-hmac", o->eab_hmac, "Its HMAC key (base64url)");
  c->add_option("--contact", o->contact, "ACME account contact, mailto:...");
  c->add_option("--http01-listen", o->http01_listen, "Where to answer ACME http-01 (default 0.0.0.0:80)");
  c->footer(
      "Files: --cert and --key become symlinks into <cert dir>/.sigil-renew/live/, which points at one\n"
      "complete version (cert.pem, key.pem, chain.pem, combined.pem = key + full chain); a renewal writes\n"
      "a new version, then swaps that one symlink, so both paths change together. The previous pair is\n"
      "kept as <cert>.prev and <key>.prev. On any failure nothing the consumer reads changes.\n"
      "Exit codes: 0 renewed or not yet due; 10 failed, the current certificate is still valid for more\n"
      "than a day; 11 failed, the certificate has expired or expires within a day; 2 usage. An unreachable\n"
      "CA is a failure only once renewal is due. A failing --exec after a renewal is a failure too (10 or\n"
      "11 by the new certificate's expiry; the new pair stays installed). One log line per run (stderr)\n"
      "gives the decision, whose renewal window decided it (the CA's or the local one) and the expiry.");
  c->callback([&g, o] {
    if (o->server.empty() && o->acme.empty()) {
      g.status = make_error(Errc::invalid_argument, "give --server or --acme");
      return;
    }
    log::set_level(log::Level::info);  // the run's one line (and nothing chattier)
    const Outcome out = run(*o);
    report(g, out);
    g.exit_code = static_cast<int>(out.exit);
  });
}

}  // namespace sigil::cli
