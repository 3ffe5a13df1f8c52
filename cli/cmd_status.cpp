// sigil status: what an operator (or a pager) needs to know, from the home, the store and the
// running server's public listener (service::health::collect). Exit 0 when nothing needs
// action, 1 when something does (an error finding), so cron or a monitoring check can page on it.
#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "ca/service/health.hpp"
#include "cli/common.hpp"

namespace sigil::cli {
namespace {
namespace health = service::health;

void print(const Globals& g, const health::Report& r) {
  const health::Level worst = r.worst();
  if (g.json) {
    nlohmann::json j = {{"status", health::name(worst)}, {"checks", nlohmann::json::object()}};
    for (const auto& f : r.findings) {
      nlohmann::json d = f.data;
      d["level"] = health::name(f.level);
      d["summary"] = f.summary;
      j["checks"][f.check] = d;
    }
    std::cout << j.dump(2) << "\n";
    return;
  }
  for (const auto& f : r.findings)
    std::cout << (f.level == health::Level::ok     ? "  ok   "
                  : f.level == health::Level::warn ? "  WARN "
                                                   : "  ERROR")
              << "  " << f.check << ": " << f.summary << "\n";
  std::cout << (worst == health::Level::error  ? "needs action\n"
                : worst == health::Level::warn ? "ok, with warnings\n"
                                               : "ok\n");
}

Status run_status(const Globals& g, health::Level& worst) {
  SIGIL_TRY(auto ctx, open_store(g.home));
  SIGIL_TRY(health::Report report, health::collect(*ctx, ctx->clock.now()));
  worst = report.worst();
  print(g, report);
  return {};
}

}  // namespace

void add_status(CLI::App& app, Globals& g) {
  CLI::App* c = app.add_subcommand(
      "status", "Health of the CA: expiries, CRL, OCSP, database, serve nodes, expiring certificates");
  c->footer(
      "Errors (exit 1): the intermediate or root expires within 30 days; the intermediate's key cannot sign\n"
      "(its file missing, its PKCS#11 token gone or refusing the PIN); the admin certificate\n"
      "(HOME/admin/admin.crt) expires within 7 days or has expired; a CRL missing or expired (every shard\n"
      "in use, of every intermediate still answering); a stale OCSP"
      " response. Warnings (exit 0): a CA expiring within 90 days; the admin certificate inside its renewal\n"
      "window (two thirds of its life: run `sigil admin renew`) or unreadable; a CRL not rebuilt at half\n"
      "its validity; the server's certificate past three quarters of its life; the responder not reachable.\n"
      "Nodes: every `sigil serve` on this database heard from in the last 10 minutes (id, host, version,\n"
      "URLs, age of its last heartbeat); one silent for over 10 s is shown as STALE.");
  c->callback([&g] {
    health::Level worst = health::Level::ok;
    g.status = run_status(g, worst);
    if (g.status && worst == health::Level::error) g.exit_code = 1;
  });
}

}  // namespace sigil::cli
