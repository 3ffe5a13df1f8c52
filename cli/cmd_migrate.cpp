// sigil migrate --to postgresql://...: the home's SQLite database copied into an empty
// PostgreSQL database (service::migrate_database), with a progress bar when stderr is a terminal (cli/progress.hpp).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "ca/service/migrate.hpp"
#include "cli/common.hpp"
#include "cli/progress.hpp"

namespace sigil::cli {
namespace {

struct MigrateOptions {
  std::string to;
  std::string password_file;
};

void print(const Globals& g, const service::Migrated& m) {
  const auto& r = m.report;
  if (g.json) {
    nlohmann::ordered_json tables = nlohmann::ordered_json::object();
    for (const auto& t : r.tables) tables[t.table] = t.rows;
    nlohmann::ordered_json j = {{"database", m.url},
                                {"tables", tables},
                                {"rows", r.rows},
                                {"certificates", r.certificates},
                                {"certificates_sha256", r.certificate_sha256},
                                {"kept", m.kept.string()}};
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::cout << "Copied into " << m.url << " (one transaction, verified before commit):\n";
  for (const auto& t : r.tables) std::printf("  %-30s %12lld\n", t.table.c_str(), static_cast<long long>(t.rows));
  std::printf("  %-30s %12lld\n", "rows in all", static_cast<long long>(r.rows));
  std::cout << "  certificates sha256: " << r.certificate_sha256 << "\n"
            << "sigil.json now names it; the SQLite database is kept as " << m.kept.string() << "\n";
}

Status run_migrate(const Globals& g, const MigrateOptions& o) {
  SystemClock clock;
  Result<service::Migrated> m = [&] {
    Progress bar("copying rows");
    return service::migrate_database({g.home, o.to, o.password_file, cli_actor()}, clock,
                                     [&bar](std::int64_t done, std::int64_t total) { bar.update(done, total); });
  }();
  if (!m) return m.error();
  print(g, *m);
  return {};
}

}  // namespace

void add_migrate(CLI::App& app, Globals& g) {
  auto o = std::make_shared<MigrateOptions>();
  CLI::App* c = app.add_subcommand("migrate", "Move the CA's SQLite database into an empty PostgreSQL database");
  c->add_option("--to", o->to, "postgresql:// URL of the empty target database (no password in it)")->required();
  c->add_option("--database-password-file", o->password_file,
                "File holding the PostgreSQL password (absolute, or relative to the home), written to sigil.json");
  c->footer(
      "Stop `sigil serve` first. Every table is copied from one snapshot in one transaction; row counts and a\n"
      "checksum of every certificate's DER are compared before it commits. Then sigil.json names the URL and\n"
      "the SQLite file is kept as <file>.migrated-<UTC time>. A target holding any row is refused.");
  c->callback([&g, o] { g.status = run_migrate(g, *o); });
}

}  // namespace sigil::cli
