#include "ca/service/migrate.hpp"

#include <sys/stat.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "ca/base/file.hpp"
#include "ca/base/log.hpp"
#include "ca/crypto/crypto.hpp"
#include "store/postgres/postgres_transfer.hpp"
#include "store/sqlite/sqlite_transfer.hpp"

namespace sigil::service {
namespace {

// sigil.json with `database` (and `database_password_file`) changed and every other key as the
// operator wrote it, in their order; checked by the same parser every command uses.
Result<std::string> config_for(const Home& home, const MigrateRequest& req) {
  SIGIL_TRY(const std::string text, read_file(home.config()));
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return make_error(Errc::malformed, home.config().string() + ": not a JSON object");
  j["database"] = req.url;
  if (req.password_file.empty()) {
    j.erase("database_password_file");
  } else {
    j["database_password_file"] = req.password_file;
  }
  std::string out = j.dump(2) + "\n";
  SIGIL_TRY(Config parsed, parse_config(out));
  (void)parsed;
  return out;
}

Status refuse_if_serving(store::ClusterStore& db, const Clock& clock) {
  const std::int64_t now = to_unix(clock.now());
  SIGIL_TRY(const auto nodes, db.nodes(now - kServingHeartbeat.count()));
  if (nodes.empty()) return {};
  const auto& n = nodes.front();
  return make_error(Errc::conflict, "sigil serve is running on this home (node " + n.id + " on " + n.hostname +
                                        ", heartbeat " + std::to_string(now - n.last_seen) +
                                        " s ago): stop sigil serve first (a node stopped moments ago counts for " +
                                        std::to_string(kServingHeartbeat.count()) + " s)");
}

std::string utc_stamp(TimePoint t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

unsigned mode_of(const fs::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return 0640;
  return static_cast<unsigned>(st.st_mode) & 0777u;
}

}  // namespace

Result<Migrated> migrate_database(const MigrateRequest& req, const Clock& clock,
                                  const store::transfer::Progress& progress) {
  const Home home{req.home};
  SIGIL_TRY(const Config config, load_config(home.config()));
  if (is_postgres_url(config.database)) {
    return make_error(Errc::conflict, "the home's database already is PostgreSQL (" + config.database + ")");
  }
  if (!is_postgres_url(req.url)) return make_error(Errc::invalid_argument, "--to must be a postgresql:// URL");
  SIGIL_TRY(const std::string new_config_text, config_for(home, req));
  SIGIL_TRY(const Config target_config, parse_config(new_config_text));
  const fs::path db_file = fs::absolute(home.database(config));
  if (!fs::exists(db_file)) return make_error(Errc::not_found, "no SQLite database at " + db_file.string());

  Migrated out;
  out.url = req.url;
  {
    // Opening it brings an older schema to this sigil's, which the copy expects.
    SIGIL_TRY(auto sqlite_db, open_database(home, config));
    SIGIL_TRY_STATUS(refuse_if_serving(*sqlite_db, clock));
    SIGIL_TRY(auto pg_db, open_database(home, target_config));
    SIGIL_TRY(auto target, store::postgres::transfer_target(*pg_db));
    SIGIL_TRY(auto source, store::sqlite::transfer_source(db_file.string()));
    // Again just before COMMIT: a serve started during the copy would write rows it misses.
    SIGIL_TRY(out.report, store::transfer::copy(*source, *target, crypto::sha256, progress,
                                                [&] { return refuse_if_serving(*sqlite_db, clock); }));
    target.reset();  // its connection back to the pool, for the audit row
    const store::AuditEntry audit{to_unix(clock.now()),
                                  req.actor,
                                  "migrate",
                                  req.url,
                                  "ok",
                                  "copied " + std::to_string(out.report.rows) + " rows from " + db_file.string() +
                                      "; certificates sha256 " + out.report.certificate_sha256};
    if (Status st = pg_db->append(audit); !st) {
      log::warn("migrate: the audit row was not written", {{"error", st.error().detail}});
    }
  }
  // From here the data is in PostgreSQL: sigil.json first, so the home never names a file
  // that was renamed away (opening it would create an empty database).
  const std::string done = "copied into " + req.url + ", ";
  if (Status st = write_file_atomic(home.config(), new_config_text, mode_of(home.config())); !st) {
    return st.error().context(done + "but sigil.json still names " + db_file.string());
  }
  out.kept = db_file.string() + ".migrated-" + utc_stamp(clock.now());
  if (Status st = store::sqlite::retire(db_file.string(), out.kept.string()); !st) {
    return st.error().context(done + "sigil.json points at it, but " + db_file.string() + " was not renamed");
  }
  return out;
}

}  // namespace sigil::service
