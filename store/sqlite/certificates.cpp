// Certificates: reservation, completion, lookup, listing (with page tokens) and renewal flags.
#include "store/sqlite/sqlite_internal.hpp"

namespace sigil::store::sqlite::detail {

using internal::decode_page_token;
using internal::encode_page_token;
using internal::PageKey;

Status SqliteStore::reserve(const PendingCertificate& p, const AuditEntry& audit) {
  if (p.serial.empty()) return make_error(Errc::invalid_argument, "serial is empty");
  if (p.crl_shard < 0) return make_error(Errc::invalid_argument, "CRL shard is negative");
  return group_write([&]() -> Status {
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
  });
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

Result<Page> SqliteStore::list(const ListFilter& filter) {
  if (filter.limit < 1 || filter.limit > kMaxLimit) {
    return make_error(Errc::invalid_argument, "limit must be between 1 and " + std::to_string(kMaxLimit));
  }
  std::optional<PageKey> after;
  if (!filter.page_token.empty()) {
    SIGIL_TRY(after, decode_page_token(filter.page_token));
  }

  // Each condition is written so an index serves it: status = ... AND not_after in a range,
  // or a scan of (not_after, serial) in order, skipping the few pending rows.
  using Value = std::variant<std::int64_t, std::string>;
  std::string sql = "SELECT " SIGIL_CERT_COLUMNS " FROM certificates WHERE ";
  std::vector<Value> values;
  switch (filter.status) {
    case ListFilter::Status::any:
      sql += "status <> 'pending'";
      break;
    case ListFilter::Status::valid:
      sql += "status = 'valid'";
      // One lower bound on not_after, so the index range starts at the right place: when the
      // page key is past `now` it implies not_after > now, otherwise not_after > now implies it.
      if (after && after->not_after <= filter.now) after.reset();
      if (!after) {
        sql += " AND not_after > ?";
        values.emplace_back(filter.now);
      }
      break;
    case ListFilter::Status::revoked:
      sql += "status = 'revoked'";
      break;
    case ListFilter::Status::expired:
      sql += "status <> 'pending' AND not_after <= ?";
      values.emplace_back(filter.now);
      break;
  }
  if (filter.expiring_before) {
    sql += " AND not_after <= ?";
    values.emplace_back(*filter.expiring_before);
  }
  if (filter.profile) {
    sql += " AND profile = ?";
    values.emplace_back(*filter.profile);
  }
  if (after) {
    sql += " AND (not_after, serial) > (?, ?)";
    values.emplace_back(after->not_after);
    values.emplace_back(after->serial);
  }
  sql += " ORDER BY not_after, serial LIMIT ?";
  // One row more than asked for tells whether there is a next page.
  values.emplace_back(static_cast<std::int64_t>(filter.limit) + 1);

  std::lock_guard lock(mu_);
  SIGIL_TRY(sqlite3_stmt * stmt, list_statement(sql));
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
  if (serial.has_value() == issued_before.has_value())
    return make_error(Errc::invalid_argument, "flag either one serial or the certificates issued before a time");
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
    AuditEntry a = audit;
    a.detail += (a.detail.empty() ? "" : "; ") + std::to_string(changed) + " certificate(s) flagged";
    return insert_audit(a);
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
