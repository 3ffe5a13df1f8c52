// sigil audit list: the audit log, newest first, filtered by time, actor, action and outcome. On
// the local home (the store, as `sigil list` opens it) or, with --server, through GET
// /api/v1/audit; both through service::overview, so the JSON is the REST API's.
#include <CLI/CLI.hpp>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "ca/service/overview.hpp"
#include "cli/common.hpp"
#include "cli/remote.hpp"

namespace sigil::cli {
namespace {
using nlohmann::json;

struct AuditOptions {
  std::string since, actor, action, outcome, page_token;
  int limit = service::overview::kDefaultAuditLimit;
  RemoteOptions remote;
};

// The flags as the REST API's query parameters (only those given).
std::map<std::string, std::string> query_of(const AuditOptions& o) {
  std::map<std::string, std::string> q{{"limit", std::to_string(o.limit)}};
  for (const auto& [k, v] : {std::pair{"since", &o.since}, std::pair{"actor", &o.actor}, std::pair{"action", &o.action},
                             std::pair{"outcome", &o.outcome}, std::pair{"page_token", &o.page_token}})
    if (!v->empty()) q[k] = *v;
  return q;
}

Result<json> audit_page(const Globals& g, const AuditOptions& o) {
  const auto query = query_of(o);
  if (o.remote.server.empty()) {
    SIGIL_TRY(auto ctx, open_store(g.home));
    return service::overview::audit(*ctx->store, query, ctx->clock.now());
  }
  // The same checks before anything goes on the wire, so a bad flag reads the same either way.
  SIGIL_TRY_STATUS(service::overview::audit_filter(query, TimePoint{}));
  SIGIL_TRY(Remote remote, Remote::connect(g, o.remote));
  std::string target = "/api/v1/audit";
  char sep = '?';
  for (const auto& [k, v] : query) {
    target += sep + k + "=" + query_escape(v);
    sep = '&';
  }
  return remote.call("GET", target);
}

std::string str(const json& j, const char* k) {
  return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : "";
}

Status run_audit_list(const Globals& g, const AuditOptions& o) {
  SIGIL_TRY(json page, audit_page(g, o));
  if (g.json) {
    std::cout << page.dump(2) << "\n";
    return {};
  }
  const json& items = page["items"];
  for (const auto& e : items)
    std::cout << std::left << std::setw(21) << str(e, "at") << ' ' << std::setw(8) << str(e, "outcome") << ' '
              << std::setw(23) << str(e, "action") << ' ' << std::setw(33) << str(e, "actor") << ' ' << std::setw(33)
              << str(e, "target") << ' ' << str(e, "detail") << "\n";
  std::cout << items.size() << (items.size() == 1 ? " entry" : " entries") << "\n";
  if (page.contains("next_page_token")) std::cout << "older: --page-token " << str(page, "next_page_token") << "\n";
  return {};
}
}  // namespace

void add_audit(CLI::App& app, Globals& g) {
  CLI::App* audit = app.add_subcommand("audit", "Read the audit log");
  audit->require_subcommand(1);
  auto o = std::make_shared<AuditOptions>();
  CLI::App* list = audit->add_subcommand(
      "list",
      "Audit rows, newest first, one line each (TIME OUTCOME ACTION ACTOR TARGET DETAIL); --json as GET /api/v1/audit");
  list->add_option("--since", o->since, "Only rows from this long ago (24h, 7d) or this RFC 3339 time on");
  list->add_option("--actor", o->actor,
                   "Only this actor, exactly (api:admin.example, cli:root@host, an ACME account URL)");
  list->add_option("--action", o->action, "Only this action, exactly (issue, revoke, acme-eab-create, ...)");
  list->add_option("--outcome", o->outcome, "Only this outcome: ok or refused");
  list->add_option("--limit", o->limit, "At most this many rows (1..1000), then the next page's token")
      ->capture_default_str();
  list->add_option("--page-token", o->page_token, "Continue with older rows (a previous page's token)");
  add_remote_flags(list, o->remote);
  list->callback([&g, o] { g.status = run_audit_list(g, *o); });
}

}  // namespace sigil::cli
