// sigil admin renew: re-issues the home's admin client certificate on the CA host. The ordinary
// identifier policy never allows the admin identity (so no issuer role can mint an admin
// credential), which also means the admin certificate cannot renew itself through the API; an
// operator with the home (and so the intermediate's key) can, here, even once it has expired.
// The pair is installed by the rotation agent's installer: a reader never sees a certificate
// with the wrong key, and the previous pair stays as admin.crt.prev / admin.key.prev.
#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "ca/base/duration.hpp"
#include "ca/base/encoding.hpp"
#include "ca/base/file.hpp"
#include "ca/service/admin.hpp"
#include "cli/common.hpp"
#include "cli/renew/agent.hpp"

namespace sigil::cli {

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
  SIGIL_TRY(service::AdminCertificate current, service::current_admin_certificate(home));
  AdminRenewed r;
  const TimePoint now = ctx->clock.now();
  r.serial = current.cert.serial_hex();
  r.not_after = current.cert.tbs().not_after;
  r.renew_after = current.window.start;
  const renew::Decision d = renew::decide(now, current.window, o.force);
  r.decision = !o.force && now >= r.not_after ? "expired" : d.reason;
  if (!d.due) {
    report(g, home, r);
    return {};
  }
  // Installed by the rotation agent's installer: a reader never sees a certificate with the
  // wrong key.
  auto install = [&home](const service::AdminMaterial& m) {
    return renew::install({home.admin_cert(), home.admin_key(), {}}, {m.issued.serial, m.issued.chain_pem, m.key_pem});
  };
  SIGIL_TRY(issuer::Issued issued,
            service::renew_admin_certificate(*ctx, current, {o.rotate_key, r.decision, cli_actor()}, install));
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
