// sigil admin renew: re-issues the home's admin client certificate on the CA host. The ordinary
// identifier policy never allows the admin identity (so no issuer role can mint an admin
// credential), which also means the admin certificate cannot renew itself through the API; an
// operator with the home (and so the intermediate's key) can, here, even once it has expired.
// The pair is installed by the rotation agent's installer: a reader never sees a certificate
// with the wrong key, and the previous pair stays as admin.crt.prev / admin.key.prev.
#include <iostream>
#include <nlohmann/json.hpp>

#include "ca/base/duration.hpp"
#include "ca/base/encoding.hpp"
#include "ca/base/file.hpp"
#include "cli/common.hpp"
#include "cli/renew/agent.hpp"

namespace sigil::cli {

Result<issuer::Issued> issue_admin_certificate(const crypto::Signer& ca_key, crypto::Certificate ca_cert,
                                               const Config& config, const crypto::Signer& admin_key,
                                               const Clock& clock, store::CertificateLedger& ledger) {
  SIGIL_TRY(Bytes csr,
            crypto::make_csr(admin_key, crypto::encode_name(""), {{crypto::GeneralName::Type::dns, kAdminIdentity}}));
  SIGIL_TRY(policy::Profiles profiles, config.effective_profiles());
  const policy::Profile* client = profiles.find("client");
  if (!client)
    return make_error(Errc::invalid_argument, "sigil.json has no `client` profile for the admin certificate");
  const Seconds ttl = client->max_ttl;
  // A policy that allows exactly the admin identity: the ordinary policy never does.
  policy::IdentifierPolicy admin_only;
  admin_only.dns_names = {kAdminIdentity};
  SIGIL_TRY(auto is, issuer::Issuer::create(ca_key, std::move(ca_cert), std::move(admin_only), std::move(profiles),
                                            {config.public_url, config.backdate}, clock, ledger));
  // Sharded like every other certificate issued on the host (see open_issuer).
  SIGIL_TRY_STATUS(is->update_crl_layout(
      {static_cast<int>(config.revocation.crl_shards), config.revocation.delta_crl_interval.count() > 0}));
  SIGIL_TRY(auto prepared, is->prepare({std::string(as_chars(csr)), "client", ttl, cli_actor()}));
  return is->issue(std::move(prepared));
}

namespace {
using nlohmann::json;

struct AdminRenewOptions {
  bool rotate_key = false;
  bool force = false;
};

struct AdminRenewed {
  bool renewed = false;
  std::string decision;  // renew::decide's reason, or "expired"
  std::string serial, new_serial;
  TimePoint not_after{}, renew_after{}, new_not_after{};
  bool rotated_key = false;
};

void report(const Globals& g, const Home& home, const AdminRenewed& r) {
  if (g.json) {
    json j = {{"renewed", r.renewed},
              {"decision", r.decision},
              {"serial", r.serial},
              {"not_after", format_rfc3339(r.not_after)},
              {"renew_after", format_rfc3339(r.renew_after)},
              {"certificate", fs::absolute(home.admin_cert()).string()},
              {"key", fs::absolute(home.admin_key()).string()}};
    if (r.renewed) {
      j["new_serial"] = r.new_serial;
      j["new_not_after"] = format_rfc3339(r.new_not_after);
      j["rotated_key"] = r.rotated_key;
    }
    std::cout << j.dump(2) << "\n";
  } else if (!r.renewed) {
    std::cout << "admin certificate " << r.serial << " is not due for renewal until " << format_rfc3339(r.renew_after)
              << " (expires " << format_rfc3339(r.not_after) << "); nothing changed (--force renews now)\n";
  } else {
    std::cout << "admin certificate renewed (" << r.decision << "): serial " << r.new_serial << ", expires "
              << format_rfc3339(r.new_not_after) << (r.rotated_key ? ", new key" : ", same key") << "\n"
              << "  " << fs::absolute(home.admin_cert()).string() << " (previous pair: admin.crt.prev, admin.key.prev; "
              << r.serial << " stays valid until " << format_rfc3339(r.not_after) << ")\n";
  }
}

Status run_admin_renew(const Globals& g, const AdminRenewOptions& o) {
  SIGIL_TRY(auto ctx, open_store(g.home));
  const Home& home = ctx->home;
  auto current = load_certificate(home.admin_cert());
  if (!current) return current.error().context("the admin certificate (made by sigil init)");

  AdminRenewed r;
  const TimePoint now = ctx->clock.now();
  r.serial = current->serial_hex();
  r.not_after = current->tbs().not_after;
  const policy::RenewalWindow window = policy::renewal_window(current->tbs().not_before, r.not_after);
  r.renew_after = window.start;
  const renew::Decision d = renew::decide(now, window, o.force);
  r.decision = !o.force && now >= r.not_after ? "expired" : d.reason;
  if (!d.due) {
    report(g, home, r);
    return {};
  }

  // The key: the current one (whatever the certificate's state), or a new one of the CA's type.
  std::unique_ptr<crypto::KeySigner> admin_key;
  renew::NewMaterial m;
  if (o.rotate_key) {
    SIGIL_TRY(crypto::KeyType type, crypto::parse_key_type(ctx->config.key_type));
    SIGIL_TRY(admin_key, crypto::KeySigner::generate(type));
    SIGIL_TRY(m.key_pem, admin_key->to_pem());
  } else {
    SIGIL_TRY(admin_key, load_key(home.admin_key()));
    if (admin_key->public_key().spki != current->public_key().spki)
      return make_error(Errc::invalid_argument, home.admin_key().string() + " is not the key of " +
                                                    home.admin_cert().string() + "; use --rotate-key");
  }

  // A directory that cannot be written fails here, before a certificate is issued for nothing.
  {
    const fs::path probe = home.admin_cert().parent_path() / ".sigil-admin-renew.probe";
    if (auto s = write_file_atomic(probe, "", kPrivateMode); !s)
      return s.error().context("HOME/admin is not writable; nothing was issued");
    std::error_code ec;
    fs::remove(probe, ec);
  }
  SIGIL_TRY(auto ca_key, load_key(home.ca_key()));
  SIGIL_TRY(crypto::Certificate ca_cert, load_certificate(home.ca_cert()));
  SIGIL_TRY(issuer::Issued issued,
            issue_admin_certificate(*ca_key, std::move(ca_cert), ctx->config, *admin_key, ctx->clock, *ctx->store));
  m.serial = issued.serial;
  m.chain_pem = issued.chain_pem;
  // The old certificate is not revoked: it keeps working until it expires. A certificate that
  // could not be installed is recorded (persist before release) but never reached a file.
  if (auto s = renew::install({home.admin_cert(), home.admin_key(), {}}, m); !s)
    return s.error().context("the new admin certificate " + issued.serial +
                             " was not installed; the previous pair is unchanged");
  SIGIL_TRY_STATUS(ctx->store->append(
      {to_unix(ctx->clock.now()), cli_actor(), "admin.renew", issued.serial, "ok",
       "replaces " + r.serial + " (" + r.decision + ")" + (o.rotate_key ? ", new key" : ", same key")}));
  r.renewed = true;
  r.new_serial = issued.serial;
  r.new_not_after = issued.not_after;
  r.rotated_key = o.rotate_key;
  report(g, home, r);
  return {};
}

}  // namespace

void add_admin(CLI::App& app, Globals& g) {
  CLI::App* admin = app.add_subcommand("admin", "The home's admin client certificate (on the CA host)");
  admin->require_subcommand(1);
  auto o = std::make_shared<AdminRenewOptions>();
  CLI::App* c = admin->add_subcommand("renew", "Re-issue HOME/admin/admin.{crt,key} when due (cron or a timer)");
  c->add_flag("--rotate-key", o->rotate_key, "Generate a new key of the CA's key_type (default: keep the key)");
  c->add_flag("--force", o->force, "Renew now, whatever the renewal window says");
  c->footer(
      "Re-issues the admin client certificate (identity sigil-admin, profile client, the profile's maximum\n"
      "TTL) with the intermediate in the home, through a policy that allows exactly that identity. Due\n"
      "at two thirds of the current certificate's lifetime (the one renewal window); before that it says\n"
      "so, changes nothing and exits 0 unless --force. Works after the certificate has expired. The new\n"
      "pair is installed like `sigil renew` does: admin.crt and admin.key become symlinks into\n"
      "HOME/admin/.sigil-renew/live/, swapped in one rename; the previous pair stays as admin.crt.prev\n"
      "and admin.key.prev and is not revoked (it works until it expires). Recorded in the audit log\n"
      "(admin.renew). On any failure the current pair is unchanged and the exit code is non-zero.\n"
      "--json: {renewed, decision, serial, not_after, renew_after, certificate, key} and, when renewed,\n"
      "new_serial, new_not_after, rotated_key.");
  c->callback([&g, o] { g.status = run_admin_renew(g, *o); });
}

}  // namespace sigil::cli
