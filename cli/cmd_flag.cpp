// sigil flag-renewal: an incident tool. Flags certificates for early replacement, so ACME
// renewalInfo and the REST renewal-info answer "now" and every `sigil renew` (and every ARI
// client) replaces them on its next run, without revoking anything first.
#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "ca/base/duration.hpp"
#include "cli/common.hpp"

namespace sigil::cli {
namespace {

struct FlagOptions {
  std::string serial;
  std::string issued_before;  // RFC 3339
  std::string reason;
};

Status run_flag(const Globals& g, const FlagOptions& o) {
  std::optional<std::string> serial;
  std::optional<std::int64_t> before;
  if (!o.serial.empty()) {
    SIGIL_TRY(std::string s, store::normalize_serial(o.serial));
    serial = s;
  } else {
    auto t = parse_rfc3339(o.issued_before);
    if (!t) return make_error(Errc::invalid_argument, "--issued-before: " + t.error().detail);
    before = to_unix(*t);
  }
  SIGIL_TRY(auto ctx, open_store(g.home));
  const std::int64_t now = to_unix(ctx->clock.now());
  const std::string target = serial ? *serial : "issued-before " + o.issued_before;
  SIGIL_TRY(std::int64_t n, ctx->store->flag_for_renewal(serial, before, now,
                                                         {now, cli_actor(), "flag-renewal", target, "ok", o.reason}));
  if (serial && n == 0) {
    SIGIL_TRY(auto rec, ctx->store->find(*serial));
    if (!rec) return make_error(Errc::not_found, "no certificate with serial " + *serial);
    SIGIL_TRY(auto already, ctx->store->renewal_flagged_at(*serial));
    if (!already) return make_error(Errc::conflict, "certificate " + *serial + " is not valid (revoked or expired)");
  }
  if (g.json)
    std::cout << nlohmann::json{{"flagged", n}, {"target", target}}.dump(2) << "\n";
  else
    std::cout << n << " certificate(s) newly flagged for renewal (" << target << ")\n";
  return {};
}

}  // namespace

void add_flag_renewal(CLI::App& app, Globals& g) {
  auto o = std::make_shared<FlagOptions>();
  CLI::App* c = app.add_subcommand("flag-renewal", "Ask for early replacement of certificates (incidents)");
  auto* serial = c->add_option("--serial", o->serial, "One certificate");
  auto* before = c->add_option("--issued-before", o->issued_before,
                               "Every valid certificate issued before this time (RFC 3339, e.g. 2026-11-27T00:00:00Z)");
  serial->excludes(before);
  c->add_option("--reason", o->reason, "Recorded in the audit log");
  c->footer(
      "Flagged certificates get a renewal window in the past from ACME renewalInfo and from\n"
      "GET /api/v1/renewal-info/{serial}: `sigil renew` and ARI clients replace them on their next run.");
  c->callback([&g, o] {
    if (o->serial.empty() && o->issued_before.empty()) {
      g.status = make_error(Errc::invalid_argument, "give --serial or --issued-before");
      return;
    }
    g.status = run_flag(g, *o);
  });
}

}  // namespace sigil::cli
