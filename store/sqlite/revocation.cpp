// Revocation: revoking and blocking keys, streaming revoked serials, CRL numbers and CRLs.
#include "store/sqlite/sqlite_internal.hpp"

namespace sigil::store::sqlite::detail {

Status SqliteStore::revoke(const std::string& serial, std::int64_t at, RevocationReason reason,
                           const std::string& key_sha256, const AuditEntry& audit) {
  const auto code = static_cast<std::int64_t>(reason);
  SIGIL_TRY_STATUS(leaf_revocation_reason(static_cast<int>(code)));
  // A compromised key must never be certified again: without its hash the revocation could
  // not block it, so it is refused rather than half done.
  const bool block = reason == RevocationReason::key_compromise;
  if (block && !is_sha256_hex(key_sha256))
    return make_error(Errc::invalid_argument, "a keyCompromise revocation needs the key's SHA-256 (64 hex digits)");
  return group_write([&]() -> Status {
    {
      Query q = use(Sql::mark_revoked);
      q.bind(1, at).bind(2, code).bind(3, serial);
      SIGIL_TRY_STATUS(q.run());
    }
    if (sqlite3_changes(db_.get()) == 0) return explain_unchanged(serial, "revoke");
    if (block) {
      Query q = use(Sql::block_key);
      q.bind(1, key_sha256).bind(2, code).bind(3, at).bind(4, serial);
      SIGIL_TRY_STATUS(q.run());
    }
    return insert_audit(audit);
  });
}

Result<std::optional<BlockedKey>> SqliteStore::blocked_key(const std::string& key_sha256) {
  std::lock_guard lock(mu_);
  Query q = use(Sql::blocked_key);
  q.bind(1, key_sha256);
  SIGIL_TRY(bool row, q.step());
  if (!row) return std::optional<BlockedKey>{};
  return std::optional<BlockedKey>(
      BlockedKey{q.text(0), static_cast<RevocationReason>(q.int64(1)), q.int64(2), q.text(3)});
}

Status SqliteStore::for_each_revoked(const std::string& issuer_id, int shard, std::int64_t not_after_min,
                                     const std::function<Status(const RevokedSerial&)>& fn) {
  // Its own read-only connection: a long scan (a million entries) holds no lock writers need.
  std::lock_guard lock(reader_mu_);
  if (!reader_) SIGIL_TRY_STATUS(open_reader());
  Query q(reader_.get(), reader_scan_.get(), "read revoked certificates");
  q.bind(1, issuer_id).bind(2, static_cast<std::int64_t>(shard)).bind(3, not_after_min);
  return stream_revoked(q, fn);
}

Status SqliteStore::for_each_revoked_since(const std::string& issuer_id, int shard, std::int64_t sequence,
                                           std::int64_t not_after_min,
                                           const std::function<Status(const RevokedSerial&)>& fn) {
  std::lock_guard lock(reader_mu_);
  if (!reader_) SIGIL_TRY_STATUS(open_reader());
  Query q(reader_.get(), reader_since_.get(), "read recently revoked certificates");
  q.bind(1, issuer_id).bind(2, static_cast<std::int64_t>(shard)).bind(3, sequence).bind(4, not_after_min);
  return stream_revoked(q, fn);
}

Status SqliteStore::stream_revoked(Query& q, const std::function<Status(const RevokedSerial&)>& fn) {
  for (;;) {
    SIGIL_TRY(bool row, q.step());
    if (!row) return {};
    RevokedSerial r{q.text(0), q.int64(1), static_cast<RevocationReason>(q.int64(2))};
    SIGIL_TRY_STATUS(fn(r));
  }
}

Status SqliteStore::for_each_certificate(const std::string& issuer_id, std::int64_t not_after_min,
                                         const std::function<Status(const RevokedSerial&, bool revoked)>& fn) {
  std::lock_guard lock(reader_mu_);
  if (!reader_) SIGIL_TRY_STATUS(open_reader());
  Query q(reader_.get(), reader_all_.get(), "read certificates");
  q.bind(1, issuer_id).bind(2, not_after_min);
  for (;;) {
    SIGIL_TRY(bool row, q.step());
    if (!row) return {};
    const bool revoked = q.text(3) == "revoked";
    RevokedSerial r{q.text(0), revoked ? q.int64(1) : 0,
                    revoked ? static_cast<RevocationReason>(q.int64(2)) : RevocationReason::unspecified};
    SIGIL_TRY_STATUS(fn(r, revoked));
  }
}

Status SqliteStore::open_reader() {
  SIGIL_TRY(reader_, open_connection(path_, SQLITE_OPEN_READONLY));
  SIGIL_TRY(reader_scan_, prepare(reader_.get(),
                                  "SELECT serial, revoked_at, revocation_reason FROM certificates "
                                  "INDEXED BY certificates_revoked "
                                  "WHERE issuer_id = ?1 AND crl_shard = ?2 AND status = 'revoked' AND not_after >= ?3 "
                                  "ORDER BY serial",
                                  SQLITE_PREPARE_PERSISTENT));
  // A delta CRL's few entries: from the sequence's index, sorted afterwards.
  SIGIL_TRY(reader_since_,
            prepare(reader_.get(),
                    "SELECT serial, revoked_at, revocation_reason FROM certificates "
                    "INDEXED BY certificates_revocation_seq "
                    "WHERE revocation_seq > ?3 AND issuer_id = ?1 AND crl_shard = ?2 AND status = 'revoked' "
                    "AND not_after >= ?4 ORDER BY serial",
                    SQLITE_PREPARE_PERSISTENT));
  SIGIL_TRY(reader_all_, prepare(reader_.get(),
                                 "SELECT serial, revoked_at, revocation_reason, status FROM certificates "
                                 "INDEXED BY certificates_live "
                                 "WHERE issuer_id = ?1 AND status <> 'pending' AND not_after >= ?2",
                                 SQLITE_PREPARE_PERSISTENT));
  return {};
}

Result<std::int64_t> SqliteStore::count_revoked(const std::string& issuer_id, int shard, std::int64_t not_after_min) {
  std::lock_guard lock(mu_);
  Query q = use(Sql::count_revoked);
  q.bind(1, issuer_id).bind(2, static_cast<std::int64_t>(shard)).bind(3, not_after_min);
  SIGIL_TRY(bool row, q.step());
  return row ? q.int64(0) : 0;
}

Result<std::vector<int>> SqliteStore::crl_shards(const std::string& issuer_id, std::int64_t not_after_min) {
  std::lock_guard lock(mu_);
  Query q = use(Sql::crl_shards);
  q.bind(1, issuer_id).bind(2, not_after_min);
  return read_shards(q);
}

Result<std::vector<int>> SqliteStore::revoked_shards_since(const std::string& issuer_id, std::int64_t sequence) {
  std::lock_guard lock(mu_);
  Query q = use(Sql::revoked_shards_since);
  q.bind(1, issuer_id).bind(2, sequence);
  return read_shards(q);
}

Result<std::vector<int>> SqliteStore::read_shards(Query& q) {
  std::vector<int> out;
  for (;;) {
    SIGIL_TRY(bool row, q.step());
    if (!row) return out;
    out.push_back(static_cast<int>(q.int64(0)));
  }
}

Result<std::int64_t> SqliteStore::revocation_sequence() {
  std::lock_guard lock(mu_);
  Query q = use(Sql::revocation_sequence);
  SIGIL_TRY(bool row, q.step());
  return row ? q.int64(0) : 0;
}

Result<std::vector<std::pair<std::string, std::int64_t>>> SqliteStore::revoked_since(std::int64_t sequence, int limit) {
  if (limit < 1 || limit > 100000) return make_error(Errc::invalid_argument, "limit out of range");
  std::lock_guard lock(mu_);
  Query q = use(Sql::revoked_since);
  q.bind(1, sequence).bind(2, static_cast<std::int64_t>(limit));
  std::vector<std::pair<std::string, std::int64_t>> out;
  for (;;) {
    SIGIL_TRY(bool row, q.step());
    if (!row) return out;
    out.emplace_back(q.text(0), q.int64(1));
  }
}

Result<std::int64_t> SqliteStore::next_crl_number(const std::string& issuer_id, int shard) {
  if (shard < 0) return make_error(Errc::invalid_argument, "CRL shard is negative");
  std::int64_t number = 0;
  SIGIL_TRY_STATUS(group_write([&]() -> Status {
    Query q = use(Sql::next_crl_number);
    q.bind(1, issuer_id).bind(2, static_cast<std::int64_t>(shard));
    SIGIL_TRY(bool row, q.step());
    if (!row) return make_error(Errc::storage, "sqlite: no CRL number returned");
    number = q.int64(0);
    SIGIL_TRY(bool more, q.step());  // runs the statement to completion
    (void)more;
    return {};
  }));
  return number;
}

Status SqliteStore::save_crl(const CrlRecord& crl) {
  if (crl.shard < 0) return make_error(Errc::invalid_argument, "CRL shard is negative");
  if (crl.delta != crl.base_number.has_value())
    return make_error(Errc::invalid_argument, "a delta CRL, and only one, has a base CRL number");
  return group_write([&]() -> Status {
    // The row gets a zero-filled blob of the right size, then the DER is written into it in
    // place: no extra copy of a CRL that may be tens of megabytes.
    std::int64_t rowid = 0;
    {
      Query q = use(Sql::save_crl);
      q.bind(1, crl.issuer_id).bind(2, crl.number).bind(3, crl.this_update).bind(4, crl.next_update);
      q.bind(5, static_cast<std::int64_t>(crl.der.size()));
      q.bind(6, static_cast<std::int64_t>(crl.shard)).bind(7, crl.delta).bind(8, crl.base_number);
      SIGIL_TRY(bool row, q.step());
      if (!row) return {};  // a newer CRL is already saved
      rowid = q.int64(0);
      SIGIL_TRY(bool more, q.step());
      (void)more;
    }
    sqlite3_blob* blob = nullptr;
    if (sqlite3_blob_open(db_.get(), "main", "crl_state", "der", rowid, 1, &blob) != SQLITE_OK)
      return db_error(db_.get(), "open CRL blob");
    const int rc = sqlite3_blob_write(blob, crl.der.data(), static_cast<int>(crl.der.size()), 0);
    sqlite3_blob_close(blob);
    if (rc != SQLITE_OK) return db_error(db_.get(), "write CRL blob");
    return {};
  });
}

Result<std::optional<CrlRecord>> SqliteStore::latest_crl(const std::string& issuer_id, int shard, bool delta) {
  std::lock_guard lock(mu_);
  Query q = use(Sql::latest_crl);
  q.bind(1, issuer_id).bind(2, static_cast<std::int64_t>(shard)).bind(3, delta);
  SIGIL_TRY(bool row, q.step());
  if (!row) return std::optional<CrlRecord>{};
  return std::optional<CrlRecord>(read_crl(q, issuer_id));
}

Result<std::optional<std::int64_t>> SqliteStore::latest_crl_this_update(const std::string& issuer_id, int shard,
                                                                        bool delta) {
  std::lock_guard lock(mu_);
  Query q = use(Sql::latest_crl_this_update);
  q.bind(1, issuer_id).bind(2, static_cast<std::int64_t>(shard)).bind(3, delta);
  SIGIL_TRY(bool row, q.step());
  if (!row) return std::optional<std::int64_t>{};
  return std::optional<std::int64_t>(q.int64(0));
}

Result<std::vector<CrlRecord>> SqliteStore::list_crls(const std::string& issuer_id) {
  std::lock_guard lock(mu_);
  Query q = use(Sql::list_crls);
  q.bind(1, issuer_id);
  std::vector<CrlRecord> out;
  for (;;) {
    SIGIL_TRY(bool row, q.step());
    if (!row) return out;
    out.push_back(read_crl(q, issuer_id));
  }
}

CrlRecord SqliteStore::read_crl(const Query& q, const std::string& issuer_id) {
  return CrlRecord{issuer_id,       q.int64(0),         q.int64(1), q.int64(2), q.blob(3), static_cast<int>(q.int64(4)),
                   q.int64(5) != 0, q.optional_int64(6)};
}

}  // namespace sigil::store::sqlite::detail
