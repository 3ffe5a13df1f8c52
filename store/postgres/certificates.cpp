// Certificates and the audit log on PostgreSQL: reservation, completion, lookup, listing (the page
// tokens of every engine), renewal flags. Writes run at READ COMMITTED: each is guarded by a
// constraint (a taken serial) or a compare-and-set on the row's status, which PostgreSQL
// re-evaluates after waiting on a concurrent writer's row lock, so no stronger level is needed.
#include <algorithm>
#include <variant>

#include "store/postgres/acme_internal.hpp"
#include "store/postgres/migrations.hpp"
#include "store/postgres/postgres_internal.hpp"
#include "store/store_internal.hpp"

namespace sigil::store::postgres::detail {

namespace {

#define SIGIL_PG_CERT_COLUMNS                                                             \
  "serial, issuer_id, tbs_der, der, subject, profile, requester, not_before, not_after, " \
  "created_at, status, revoked_at, revocation_reason, crl_shard"

const Statement kInsertAudit{"insert_audit", "append audit entry",
                             "INSERT INTO audit_log (at, actor, action, target, outcome, detail) "
                             "VALUES ($1, $2, $3, $4, $5, $6)"};
// An issuance's two writes are one statement each (one round trip, no BEGIN/COMMIT): the
// reservation with its names, CRL shard and audit row; the completion with its audit row.
const Statement kReserve{
    "reserve_certificate", "reserve certificate",
    "WITH cert AS (INSERT INTO certificates (serial, issuer_id, tbs_der, der, subject, profile, requester, "
    "not_before, not_after, created_at, status, crl_shard) "
    "VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8, $9, 'pending', $10) RETURNING serial), "
    "sans AS (INSERT INTO certificate_sans (serial, position, name) "
    "SELECT cert.serial, s.ord - 1, s.name FROM cert, unnest($11::text[]) WITH ORDINALITY AS s(name, ord)), "
    // The shard's CRL must be published until its last certificate expires; two nodes reserving
    // in one shard at once both land here, and the upsert keeps the later expiry.
    "shard AS (INSERT INTO crl_shards (issuer_id, shard, not_after_max) SELECT $2, $10, $8 FROM cert "
    "ON CONFLICT (issuer_id, shard) DO UPDATE "
    "SET not_after_max = GREATEST(crl_shards.not_after_max, EXCLUDED.not_after_max)) "
    "INSERT INTO audit_log (at, actor, action, target, outcome, detail) "
    "SELECT $12, $13, $14, $15, $16, $17 FROM cert"};
const Statement kComplete{"complete_certificate", "complete certificate",
                          "WITH done AS (UPDATE certificates SET der = $1, status = 'valid' "
                          "WHERE serial = $2 AND status = 'pending' RETURNING serial) "
                          "INSERT INTO audit_log (at, actor, action, target, outcome, detail) "
                          "SELECT $3, $4, $5, $6, $7, $8 FROM done"};
const Statement kStatusOf{"status_of", "read certificate status", "SELECT status FROM certificates WHERE serial = $1"};
const Statement kFind{"find_certificate", "find certificate",
                      "SELECT " SIGIL_PG_CERT_COLUMNS " FROM certificates WHERE serial = $1"};
const Statement kSansOf{"sans_of", "read subject alternative names",
                        "SELECT serial, name FROM certificate_sans WHERE serial = ANY($1::text[]) "
                        "ORDER BY serial COLLATE \"C\", position"};
const Statement kRecentAudit{"recent_audit", "read audit log",
                             "SELECT at, actor, action, target, outcome, detail FROM audit_log "
                             "ORDER BY id DESC LIMIT $1"};
const Statement kCount{"count_certificates", "count certificates", "SELECT COUNT(*) FROM certificates"};
const Statement kFlagSerial{"flag_serial", "flag for renewal",
                            "INSERT INTO renewal_flags (serial, flagged_at) SELECT serial, $2 FROM certificates "
                            "WHERE serial = $1 AND status = 'valid' AND not_after > $2 ON CONFLICT DO NOTHING"};
const Statement kFlagIssuedBefore{"flag_issued_before", "flag for renewal by issuance time",
                                  "INSERT INTO renewal_flags (serial, flagged_at) SELECT serial, $2 FROM certificates "
                                  "WHERE created_at < $1 AND status = 'valid' AND not_after > $2 "
                                  "ON CONFLICT DO NOTHING"};
const Statement kFlaggedAt{"flagged_at", "read renewal flag", "SELECT flagged_at FROM renewal_flags WHERE serial = $1"};
// What integrity_check looks at: the schema version this sigil writes, and the revocation
// counter (its row exists and is ahead of every sequence handed out, or the next revocation
// would collide with an earlier one).
const Statement kIntegrity{"integrity_check", "integrity check",
                           "SELECT (SELECT version FROM sigil_schema WHERE id = 1), "
                           "(SELECT last FROM revocation_counter WHERE id = 1), "
                           "(SELECT COALESCE(MAX(revocation_seq), 0) FROM certificates)"};

std::string dollar_placeholder(int index) { return "$" + std::to_string(index); }

// A text[] literal of `items` ("{"a","b\"c"}"), sent as one parameter.
std::string text_array(const std::vector<CertificateRecord>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (const char c : items[i].serial) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

// The certificate columns of one row (SIGIL_PG_CERT_COLUMNS), without its SANs.
Result<CertificateRecord> read_certificate(const Rows& rows, int i) {
  CertificateRecord r;
  r.serial = rows.text(i, 0);
  r.issuer_id = rows.text(i, 1);
  r.tbs_der = rows.bytes(i, 2);
  r.der = rows.bytes(i, 3);
  r.subject = rows.text(i, 4);
  r.profile = rows.text(i, 5);
  r.requester = rows.text(i, 6);
  r.not_before = rows.int64(i, 7);
  r.not_after = rows.int64(i, 8);
  r.created_at = rows.int64(i, 9);
  SIGIL_TRY(r.status, internal::parse_status(rows.text(i, 10)));
  r.revoked_at = rows.optional_int64(i, 11);
  if (!rows.is_null(i, 12)) {
    const std::int64_t code = rows.int64(i, 12);
    if (!internal::is_known_reason(code)) {
      return make_error(Errc::storage,
                        "postgresql: unknown revocation reason " + std::to_string(code) + " for " + r.serial);
    }
    r.revocation_reason = static_cast<RevocationReason>(code);
  }
  r.crl_shard = static_cast<int>(rows.int64(i, 13));
  return r;
}

// Every row of `rows` as a record, with its SANs (one more statement for all of them). SANs are
// written in the certificate's own transaction and never change, so the second read cannot see
// them differ from the first.
Result<std::vector<CertificateRecord>> read_certificates(Conn& c, const Rows& rows, int count) {
  std::vector<CertificateRecord> out;
  out.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    SIGIL_TRY(CertificateRecord r, read_certificate(rows, i));
    out.push_back(std::move(r));
  }
  if (out.empty()) return out;
  SIGIL_TRY(Rows sans, c.run(kSansOf, Params().add(text_array(out))));
  std::size_t at = 0;  // both lists are in serial order
  std::vector<std::size_t> order(out.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return out[a].serial < out[b].serial; });
  for (int i = 0; i < sans.size(); ++i) {
    const std::string serial = sans.text(i, 0);
    while (at < order.size() && out[order[at]].serial < serial) ++at;
    if (at < order.size() && out[order[at]].serial == serial) out[order[at]].sans.push_back(sans.text(i, 1));
  }
  return out;
}

}  // namespace

// Why a guarded UPDATE changed nothing, read in the same transaction: the same refusals as SQLite.
Status explain_unchanged(Conn& c, const std::string& serial, std::string_view verb) {
  SIGIL_TRY(Rows rows, c.run(kStatusOf, Params().add(serial)));
  if (rows.empty()) return make_error(Errc::not_found, "no certificate with serial " + serial);
  return make_error(Errc::conflict,
                    "cannot " + std::string(verb) + " certificate " + serial + ": it is " + rows.text(0, 0));
}

Status insert_audit(Conn& c, const AuditEntry& e) {
  SIGIL_TRY(Rows done, c.run(kInsertAudit,
                             Params().add(e.at).add(e.actor).add(e.action).add(e.target).add(e.outcome).add(e.detail)));
  (void)done;
  return {};
}

Status PgStore::reserve(const PendingCertificate& p, const AuditEntry& audit) {
  if (p.serial.empty()) return make_error(Errc::invalid_argument, "serial is empty");
  if (p.crl_shard < 0) return make_error(Errc::invalid_argument, "CRL shard is negative");
  SIGIL_TRY(Lease c, pool_.acquire());
  // The unique index decides, not a prior SELECT: two nodes drawing one serial cannot both
  // pass a check that neither has committed yet.
  auto inserted = c->run(kReserve, Params()
                                       .add(p.serial)
                                       .add(p.issuer_id)
                                       .add(p.tbs_der)
                                       .add(p.subject)
                                       .add(p.profile)
                                       .add(p.requester)
                                       .add(p.not_before)
                                       .add(p.not_after)
                                       .add(p.created_at)
                                       .add(p.crl_shard)
                                       .add(text_array(p.sans))
                                       .add(audit.at)
                                       .add(audit.actor)
                                       .add(audit.action)
                                       .add(audit.target)
                                       .add(audit.outcome)
                                       .add(audit.detail));
  if (!inserted && inserted.error().code == Errc::already_exists) {
    return make_error(Errc::already_exists, "serial " + p.serial + " already exists");
  }
  if (!inserted) return inserted.error();
  return {};
}

Status PgStore::complete(const std::string& serial, const Bytes& der, const AuditEntry& audit) {
  if (der.empty()) return make_error(Errc::invalid_argument, "certificate DER is empty");
  SIGIL_TRY(Lease c, pool_.acquire());
  SIGIL_TRY(Rows done, c->run(kComplete, Params()
                                             .add(der)
                                             .add(serial)
                                             .add(audit.at)
                                             .add(audit.actor)
                                             .add(audit.action)
                                             .add(audit.target)
                                             .add(audit.outcome)
                                             .add(audit.detail)));
  if (done.affected() == 0) return explain_unchanged(*c, serial, "complete");
  return {};
}

Result<std::optional<CertificateRecord>> PgStore::find(const std::string& serial) {
  SIGIL_TRY(Lease c, pool_.acquire());
  SIGIL_TRY(Rows rows, c->run(kFind, Params().add(serial)));
  SIGIL_TRY(std::vector<CertificateRecord> found, read_certificates(*c, rows, rows.size()));
  if (found.empty()) return std::optional<CertificateRecord>{};
  return std::optional<CertificateRecord>(std::move(found.front()));
}

Result<Page> PgStore::list(const ListFilter& filter) {
  // Serials compare bytewise (COLLATE "C"), as on SQLite, so pages and tokens are the same on
  // every engine and node. It is the column's own collation (migration 1), so the indexes serve
  // it; said again here so the order never rests on that alone.
  SIGIL_TRY(internal::ListSql list,
            internal::list_sql(filter, kMaxLimit, SIGIL_PG_CERT_COLUMNS, {dollar_placeholder, "serial COLLATE \"C\""}));
  Params params;
  for (const auto& v : list.values) std::visit([&](const auto& x) { params.add(x); }, v);
  SIGIL_TRY(Lease c, pool_.acquire());
  SIGIL_TRY(Rows rows, c->query(list.sql, params, "list certificates"));
  const int shown = std::min(rows.size(), filter.limit);
  Page page;
  SIGIL_TRY(page.items, read_certificates(*c, rows, shown));
  if (rows.size() > filter.limit) page.next_page_token = internal::encode_page_token(page.items.back());
  return page;
}

Result<std::int64_t> PgStore::flag_for_renewal(const std::optional<std::string>& serial,
                                               std::optional<std::int64_t> issued_before, std::int64_t at,
                                               const AuditEntry& audit) {
  SIGIL_TRY_STATUS(internal::check_renewal_selection(serial, issued_before));
  std::int64_t changed = 0;
  SIGIL_TRY_STATUS(transaction(pool_, Isolation::read_committed, [&](Conn& c) -> Status {
    Params params;
    if (serial) {
      params.add(*serial);
    } else {
      params.add(*issued_before);
    }
    SIGIL_TRY(Rows done, c.run(serial ? kFlagSerial : kFlagIssuedBefore, params.add(at)));
    changed = done.affected();
    return insert_audit(c, internal::renewal_audit(audit, changed));
  }));
  return changed;
}

Result<std::optional<std::int64_t>> PgStore::renewal_flagged_at(const std::string& serial) {
  SIGIL_TRY(Rows rows, read(pool_, kFlaggedAt, Params().add(serial)));
  if (rows.empty()) return std::optional<std::int64_t>();
  return std::optional<std::int64_t>(rows.int64(0, 0));
}

Status PgStore::append(const AuditEntry& entry) {
  return transaction(pool_, Isolation::read_committed, [&](Conn& c) { return insert_audit(c, entry); });
}

Result<std::vector<AuditEntry>> PgStore::recent(int limit) {
  if (limit < 1 || limit > kMaxLimit) {
    return make_error(Errc::invalid_argument, "limit must be between 1 and " + std::to_string(kMaxLimit));
  }
  SIGIL_TRY(Rows rows, read(pool_, kRecentAudit, Params().add(limit)));
  std::vector<AuditEntry> out;
  for (int i = 0; i < rows.size(); ++i) {
    out.push_back(AuditEntry{rows.int64(i, 0), rows.text(i, 1), rows.text(i, 2), rows.text(i, 3), rows.text(i, 4),
                             rows.text(i, 5)});
  }
  return out;
}

Status PgStore::backup(const std::string&, const BackupProgress&) {
  return make_error(Errc::invalid_argument, "PostgreSQL: back up with pg_dump (logical) or pg_basebackup (physical)");
}

// "ok" when the connection answers, the schema is the version this sigil writes and the
// revocation counter is ahead of every revocation; otherwise one line per problem. Page-level
// corruption is PostgreSQL's own to detect (data checksums, amcheck), not a query's.
Result<std::string> PgStore::integrity_check() {
  SIGIL_TRY(Rows rows, read(pool_, kIntegrity));
  std::string out;
  auto problem = [&out](const std::string& line) { out += (out.empty() ? "" : "\n") + line; };
  const auto expected = static_cast<std::int64_t>(kMigrations.size());
  if (rows.is_null(0, 0) || rows.int64(0, 0) != expected) {
    problem("schema version " + (rows.is_null(0, 0) ? std::string("missing") : std::to_string(rows.int64(0, 0))) +
            ", expected " + std::to_string(expected));
  }
  if (rows.is_null(0, 1)) {
    problem("revocation_counter has no row");
  } else if (rows.int64(0, 1) < rows.int64(0, 2)) {
    problem("revocation_counter (" + std::to_string(rows.int64(0, 1)) + ") is behind the highest revocation (" +
            std::to_string(rows.int64(0, 2)) + ")");
  }
  return out.empty() ? std::string("ok") : out;
}

Result<std::int64_t> PgStore::count() {
  SIGIL_TRY(Rows rows, read(pool_, kCount));
  return rows.int64(0, 0);
}

Result<std::int64_t> PgStore::count_matching(const ListFilter& filter) {
  const internal::ListSql counted = internal::count_sql(filter, {dollar_placeholder, "serial COLLATE \"C\""});
  Params params;
  for (const auto& v : counted.values) std::visit([&](const auto& x) { params.add(x); }, v);
  SIGIL_TRY(Lease c, pool_.acquire());
  SIGIL_TRY(Rows rows, c->query(counted.sql, params, "count certificates"));
  return rows.int64(0, 0);
}

}  // namespace sigil::store::postgres::detail
