// Certificates: reservation, completion, lookup, listing (with page tokens) and renewal flags.
#include "store/sqlite/sqlite_internal.hpp"

namespace sigil::store::sqlite::detail {

using internal::encode_page_token;

Status SqliteStore::reserve(const PendingCertificate& p, const AuditEntry& audit) {
  if (p.serial.empty()) return make_error(Errc::invalid_argument, "serial is empty");
  if (p.crl_shard < 0) return make_error(Errc::invalid_argument, "CRL shard is negative");
  // Deferred: a reservation precedes a signature that is released only after complete()'s
  // durable commit, which makes this one durable too; a process crash loses neither.
  return group_write(
      [&]() -> Status {
        {
          Query q = use(Sql::insert_certificate);
          q.bind(1, p.serial).bind(2, p.issuer_id).bind(3, p.tbs_der).bind(4, p.subject);
          q.bind(5, p.profile).bind(6, p.requester).bind(7, p.not_before).bind(8, p.not_after);
          q.bind(9, p.created_at).bind(10, static_cast<std::int64_t>(p.crl_shard));
          Status st = q.run();
          if (!st) {
            if (q.last_rc() == SQLITE_CONSTRAINT_UNIQUE) {
              return make_error(Errc::already_exists, "serial " + p.serial + " already exists");
            }
            return st;
          }
        }
        for (std::size_t i = 0; i < p.sans.size(); ++i) {
          Query q = use(Sql::insert_san);
          q.bind(1, p.serial).bind(2, static_cast<std::int64_t>(i)).bind(3, p.sans[i]);
          SIGIL_TRY_STATUS(q.run());
        }
        {
          // The shard's CRL must be published until this certificate expires.
          Query q = use(Sql::note_crl_shard);
          q.bind(1, p.issuer_id).bind(2, static_cast<std::int64_t>(p.crl_shard)).bind(3, p.not_after);
          SIGIL_TRY_STATUS(q.run());
        }
        return insert_audit(audit);
      },
      Durability::deferred);
}

Status SqliteStore::complete(const std::string& serial, const Bytes& der, const AuditEntry& audit) {
  if (der.empty()) return make_error(Errc::invalid_argument, "certificate DER is empty");
  return group_write([&]() -> Status {
    {
      Query q = use(Sql::mark_valid);
      q.bind(1, der).bind(2, serial);
      SIGIL_TRY_STATUS(q.run());
    }
    if (sqlite3_changes(db_.get()) == 0) return explain_unchanged(serial, "complete");
    return insert_audit(audit);
  });
}

Result<std::optional<CertificateRecord>> SqliteStore::find(const std::string& serial) {
  std::lock_guard lock(mu_);
  Query q = use(Sql::find);
  q.bind(1, serial);
  SIGIL_TRY(bool row, q.step());
  if (!row) return std::optional<CertificateRecord>{};
  SIGIL_TRY(CertificateRecord record, read_certificate(q));
  return std::optional<CertificateRecord>(std::move(record));
}

namespace {
std::string question_mark(int) { return "?"; }
}  // namespace

Result<Page> SqliteStore::list(const ListFilter& filter) {
  SIGIL_TRY(internal::ListSql list,
            internal::list_sql(filter, kMaxLimit, SIGIL_CERT_COLUMNS, {question_mark, "serial"}));
  const auto& values = list.values;
  std::lock_guard lock(mu_);
  SIGIL_TRY(sqlite3_stmt * stmt, list_statement(list.sql));
  Query q(db_.get(), stmt, "list certificates");
  for (std::size_t i = 0; i < values.size(); ++i) {
    std::visit([&](const auto& v) { q.bind(static_cast<int>(i + 1), v); }, values[i]);
  }
  Page page;
  const auto limit = static_cast<std::size_t>(filter.limit);
  for (;;) {
    SIGIL_TRY(bool row, q.step());
    if (!row) break;
    if (page.items.size() == limit) {
      page.next_page_token = encode_page_token(page.items.back());
      break;
    }
    SIGIL_TRY(CertificateRecord record, read_certificate(q));
    page.items.push_back(std::move(record));
  }
  return page;
}

Result<std::int64_t> SqliteStore::flag_for_renewal(const std::optional<std::string>& serial,
                                                   std::optional<std::int64_t> issued_before, std::int64_t at,
                                                   const AuditEntry& audit) {
  SIGIL_TRY_STATUS(internal::check_renewal_selection(serial, issued_before));
  std::int64_t changed = 0;
  auto written = group_write([&]() -> Status {
    {
      Query q = use(serial ? Sql::flag_serial : Sql::flag_issued_before);
      if (serial)
        q.bind(1, *serial).bind(2, at);
      else
        q.bind(1, *issued_before).bind(2, at);
      SIGIL_TRY_STATUS(q.run());
    }
    changed = sqlite3_changes(db_.get());
    return insert_audit(internal::renewal_audit(audit, changed));
  });
  if (!written) return written.error();
  return changed;
}

Result<std::optional<std::int64_t>> SqliteStore::renewal_flagged_at(const std::string& serial) {
  std::lock_guard lock(mu_);
  Query q = use(Sql::flagged_at);
  q.bind(1, serial);
  SIGIL_TRY(bool row, q.step());
  if (!row) return std::optional<std::int64_t>();
  return std::optional<std::int64_t>(q.int64(0));
}

Result<std::int64_t> SqliteStore::count() {
  std::lock_guard lock(mu_);
  Query q = use(Sql::count);
  SIGIL_TRY(bool row, q.step());
  if (!row) return make_error(Errc::storage, "sqlite: COUNT returned no row");
  return q.int64(0);
}

Result<CertificateRecord> SqliteStore::read_certificate(const Query& q) {
  CertificateRecord r;
  r.serial = q.text(0);
  r.issuer_id = q.text(1);
  r.tbs_der = q.blob(2);
  r.der = q.blob(3);
  r.subject = q.text(4);
  r.profile = q.text(5);
  r.requester = q.text(6);
  r.not_before = q.int64(7);
  r.not_after = q.int64(8);
  r.created_at = q.int64(9);
  SIGIL_TRY(r.status, parse_status(q.text(10)));
  if (!q.is_null(11)) r.revoked_at = q.int64(11);
  r.crl_shard = static_cast<int>(q.int64(13));
  if (!q.is_null(12)) {
    const std::int64_t code = q.int64(12);
    if (!is_known_reason(code)) {
      return make_error(Errc::storage,
                        "sqlite: unknown revocation reason " + std::to_string(code) + " for " + r.serial);
    }
    r.revocation_reason = static_cast<RevocationReason>(code);
  }
  Query sans = use(Sql::sans_of);
  sans.bind(1, r.serial);
  for (;;) {
    SIGIL_TRY(bool row, sans.step());
    if (!row) break;
    r.sans.push_back(sans.text(0));
  }
  return r;
}

}  // namespace sigil::store::sqlite::detail
