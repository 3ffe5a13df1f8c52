// sigil migrate --to postgresql://...: the home's SQLite database copied into an empty
// PostgreSQL database (service::migrate_database), with a progress bar when stderr is a terminal.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "ca/service/migrate.hpp"
#include "cli/common.hpp"

namespace sigil::cli {
namespace {

struct MigrateOptions {
  std::string to;
  std::string password_file;
};

// A one-line bar redrawn in place on stderr, at most every 100 ms (and at the end).
class ProgressBar {
 public:
  void operator()(std::int64_t done, std::int64_t total) {
    const auto now = std::chrono::steady_clock::now();
    if (done < total && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    constexpr int kWidth = 40;
    const int filled = total > 0 ? static_cast<int>(done * kWidth / total) : kWidth;
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.resize(kWidth, '.');
    std::fprintf(stderr, "\r[%s] %lld/%lld rows", bar.c_str(), static_cast<long long>(done),
                 static_cast<long long>(total));
    if (done >= total) std::fputc('\n', stderr);
    std::fflush(stderr);
  }

 private:
  std::chrono::steady_clock::time_point last_{};
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
  ProgressBar bar;
  store::transfer::Progress progress;
  if (::isatty(STDERR_FILENO) == 1) progress = [&bar](std::int64_t done, std::int64_t total) { bar(done, total); };
  SystemClock clock;
  SIGIL_TRY(const service::Migrated m,
            service::migrate_database({g.home, o.to, o.password_file, cli_actor()}, clock, progress));
  print(g, m);
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
