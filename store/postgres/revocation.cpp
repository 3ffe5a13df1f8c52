// Revocation on PostgreSQL: revoking and blocking keys, streaming revoked serials, CRL numbers and
// CRLs. Revocations are numbered from the one-row revocation_counter inside their own transaction:
// the row lock serializes them until commit, so they commit in sequence order and a poller that
// has seen N never misses an N - 1 committing late (what MAX(revocation_seq) + 1 cannot promise
// with several writers).
#include "store/postgres/postgres_internal.hpp"
#include "store/store_internal.hpp"

namespace sigil::store::postgres::detail {

namespace {

// Rows per FETCH of a streamed scan: a CRL of a million entries crosses in 1000 round trips
// holding at most 1000 rows.
constexpr int kStreamBatch = 1000;

// The counter first, then the certificate: every revocation takes the two locks in that order, so
// two never deadlock. The certificate's UPDATE is a later statement, so at READ COMMITTED it reads
// a snapshot taken after the counter's lock was granted (it sees what earlier revokers committed).
// A refused revocation rolls back, and its number with it.
const Statement kTakeSequence{"take_revocation_sequence", "number revocation",
                              "UPDATE revocation_counter SET last = last + 1 WHERE id = 1 RETURNING last"};
const Statement kMarkRevoked{"mark_revoked", "revoke certificate",
                             "UPDATE certificates SET status = 'revoked', revoked_at = $1, revocation_reason = $2, "
                             "revocation_seq = $4 WHERE serial = $3 AND status = 'valid'"};
const Statement kBlockKey{"block_key", "block key",
                          "INSERT INTO blocked_keys (key_sha256, reason, blocked_at, serial) VALUES ($1, $2, $3, $4) "
                          "ON CONFLICT (key_sha256) DO NOTHING"};
const Statement kBlockedKey{"blocked_key", "read blocked key",
                            "SELECT key_sha256, reason, blocked_at, serial FROM blocked_keys WHERE key_sha256 = $1"};
// Serials in bytewise order (COLLATE "C", the column's own: its indexes serve it), as on SQLite.
const Statement kRevokedScan{"revoked_scan", "read revoked certificates",
                             "SELECT serial, revoked_at, revocation_reason FROM certificates "
                             "WHERE issuer_id = $1 AND crl_shard = $2 AND status = 'revoked' AND not_after >= $3 "
                             "ORDER BY serial COLLATE \"C\""};
// A delta CRL's few entries: from the sequence's index, sorted afterwards.
const Statement kRevokedSinceScan{"revoked_since_scan", "read recently revoked certificates",
                                  "SELECT serial, revoked_at, revocation_reason FROM certificates "
                                  "WHERE revocation_seq > $3 AND issuer_id = $1 AND crl_shard = $2 "
                                  "AND status = 'revoked' AND not_after >= $4 ORDER BY serial COLLATE \"C\""};
const Statement kCertificateScan{"certificate_scan", "read certificates",
                                 "SELECT serial, revoked_at, revocation_reason, status FROM certificates "
                                 "WHERE issuer_id = $1 AND status <> 'pending' AND not_after >= $2"};
const Statement kCountRevoked{"count_revoked", "count revoked certificates",
                              "SELECT COUNT(*) FROM certificates "
                              "WHERE issuer_id = $1 AND crl_shard = $2 AND status = 'revoked' AND not_after >= $3"};
const Statement kCrlShards{"crl_shards", "read CRL shards",
                           "SELECT shard FROM crl_shards WHERE issuer_id = $1 AND not_after_max >= $2 ORDER BY shard"};
const Statement kRevokedShardsSince{"revoked_shards_since", "read revoked shards",
                                    "SELECT DISTINCT crl_shard FROM certificates "
                                    "WHERE revocation_seq > $2 AND issuer_id = $1 ORDER BY crl_shard"};
// The counter, not MAX(revocation_seq): it is what the latest committed revocation set.
const Statement kRevocationSequence{"revocation_sequence", "read revocation sequence",
                                    "SELECT last FROM revocation_counter WHERE id = 1"};
const Statement kRevokedSince{"revoked_since", "read recent revocations",
                              "SELECT serial, revocation_seq FROM certificates WHERE revocation_seq > $1 "
                              "ORDER BY revocation_seq LIMIT $2"};
// One statement, so unique across nodes by construction: the row lock of the upsert orders
// concurrent callers, each of which gets the number its own increment made.
const Statement kNextCrlNumber{"next_crl_number", "allocate CRL number",
                               "INSERT INTO crl_numbers (issuer_id, shard, last_number) VALUES ($1, $2, 1) "
                               "ON CONFLICT (issuer_id, shard) DO UPDATE SET last_number = crl_numbers.last_number + 1 "
                               "RETURNING last_number"};
// Two signers racing (a failover) both save; the higher number stays whichever commits last.
const Statement kSaveCrl{
    "save_crl", "save CRL",
    "INSERT INTO crl_state (issuer_id, shard, delta, number, base_number, this_update, next_update, der) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
    "ON CONFLICT (issuer_id, shard, delta) DO UPDATE SET number = EXCLUDED.number, "
    "base_number = EXCLUDED.base_number, this_update = EXCLUDED.this_update, next_update = EXCLUDED.next_update, "
    "der = EXCLUDED.der WHERE EXCLUDED.number > crl_state.number"};
const Statement kLatestCrl{"latest_crl", "read CRL",
                           "SELECT number, this_update, next_update, der, shard, delta, base_number FROM crl_state "
                           "WHERE issuer_id = $1 AND shard = $2 AND delta = $3"};
const Statement kLatestCrlThisUpdate{"latest_crl_this_update", "read CRL thisUpdate",
                                     "SELECT this_update FROM crl_state WHERE issuer_id = $1 AND shard = $2 "
                                     "AND delta = $3"};
const Statement kListCrls{"list_crls", "list CRLs",
                          "SELECT number, this_update, next_update, der, shard, delta, base_number FROM crl_state "
                          "WHERE issuer_id = $1 ORDER BY shard, delta"};

Status stream_revoked(Pool& pool, const Statement& st, const Params& params,
                      const std::function<Status(const RevokedSerial&)>& fn) {
  return stream(pool, st, params, kStreamBatch, [&](const Rows& rows, int i) {
    return fn(RevokedSerial{rows.text(i, 0), rows.int64(i, 1), static_cast<RevocationReason>(rows.int64(i, 2))});
  });
}

std::vector<int> shards_of(const Rows& rows) {
  std::vector<int> out;
  for (int i = 0; i < rows.size(); ++i) out.push_back(static_cast<int>(rows.int64(i, 0)));
  return out;
}

CrlRecord crl_of(const Rows& rows, int i, const std::string& issuer_id) {
  return CrlRecord{issuer_id,          rows.int64(i, 0),         rows.int64(i, 1),
                   rows.int64(i, 2),   rows.bytes(i, 3),         static_cast<int>(rows.int64(i, 4)),
                   rows.boolean(i, 5), rows.optional_int64(i, 6)};
}

}  // namespace

Status PgStore::revoke(const std::string& serial, std::int64_t at, RevocationReason reason,
                       const std::string& key_sha256, const AuditEntry& audit) {
  const auto code = static_cast<std::int64_t>(reason);
  SIGIL_TRY_STATUS(leaf_revocation_reason(static_cast<int>(code)));
  // A compromised key must never be certified again: without its hash the revocation could
  // not block it, so it is refused rather than half done.
  const bool block = reason == RevocationReason::key_compromise;
  if (block && !internal::is_sha256_hex(key_sha256))
    return make_error(Errc::invalid_argument, "a keyCompromise revocation needs the key's SHA-256 (64 hex digits)");
  // READ COMMITTED: the status guard is re-checked after waiting on a concurrent revoker's lock.
  return transaction(pool_, Isolation::read_committed, [&](Conn& c) -> Status {
    SIGIL_TRY(Rows seq, c.run(kTakeSequence));
    if (seq.empty()) return make_error(Errc::storage, "postgresql: revocation_counter has no row");
    SIGIL_TRY(Rows done, c.run(kMarkRevoked, Params().add(at).add(code).add(serial).add(seq.int64(0, 0))));
    if (done.affected() == 0) return explain_unchanged(c, serial, "revoke");
    if (block) {
      SIGIL_TRY(Rows blocked, c.run(kBlockKey, Params().add(key_sha256).add(code).add(at).add(serial)));
      (void)blocked;
    }
    return insert_audit(c, audit);
  });
}

Result<std::optional<BlockedKey>> PgStore::blocked_key(const std::string& key_sha256) {
  SIGIL_TRY(Rows rows, read(pool_, kBlockedKey, Params().add(key_sha256)));
  if (rows.empty()) return std::optional<BlockedKey>{};
  return std::optional<BlockedKey>(
      BlockedKey{rows.text(0, 0), static_cast<RevocationReason>(rows.int64(0, 1)), rows.int64(0, 2), rows.text(0, 3)});
}

Status PgStore::for_each_revoked(const std::string& issuer_id, int shard, std::int64_t not_after_min,
                                 const std::function<Status(const RevokedSerial&)>& fn) {
  return stream_revoked(pool_, kRevokedScan, Params().add(issuer_id).add(shard).add(not_after_min), fn);
}

Status PgStore::for_each_revoked_since(const std::string& issuer_id, int shard, std::int64_t sequence,
                                       std::int64_t not_after_min,
                                       const std::function<Status(const RevokedSerial&)>& fn) {
  return stream_revoked(pool_, kRevokedSinceScan, Params().add(issuer_id).add(shard).add(sequence).add(not_after_min),
                        fn);
}

Status PgStore::for_each_certificate(const std::string& issuer_id, std::int64_t not_after_min,
                                     const std::function<Status(const RevokedSerial&, bool revoked)>& fn) {
  return stream(
      pool_, kCertificateScan, Params().add(issuer_id).add(not_after_min), kStreamBatch, [&](const Rows& rows, int i) {
        const bool revoked = rows.text(i, 3) == "revoked";
        RevokedSerial r{rows.text(i, 0), revoked ? rows.int64(i, 1) : 0,
                        revoked ? static_cast<RevocationReason>(rows.int64(i, 2)) : RevocationReason::unspecified};
        return fn(r, revoked);
      });
}

Result<std::int64_t> PgStore::count_revoked(const std::string& issuer_id, int shard, std::int64_t not_after_min) {
  SIGIL_TRY(Rows rows, read(pool_, kCountRevoked, Params().add(issuer_id).add(shard).add(not_after_min)));
  return rows.int64(0, 0);
}

Result<std::vector<int>> PgStore::crl_shards(const std::string& issuer_id, std::int64_t not_after_min) {
  SIGIL_TRY(Rows rows, read(pool_, kCrlShards, Params().add(issuer_id).add(not_after_min)));
  return shards_of(rows);
}

Result<std::vector<int>> PgStore::revoked_shards_since(const std::string& issuer_id, std::int64_t sequence) {
  SIGIL_TRY(Rows rows, read(pool_, kRevokedShardsSince, Params().add(issuer_id).add(sequence)));
  return shards_of(rows);
}

Result<std::int64_t> PgStore::revocation_sequence() {
  SIGIL_TRY(Rows rows, read(pool_, kRevocationSequence));
  if (rows.empty()) return make_error(Errc::storage, "postgresql: revocation_counter has no row");
  return rows.int64(0, 0);
}

Result<std::vector<std::pair<std::string, std::int64_t>>> PgStore::revoked_since(std::int64_t sequence, int limit) {
  if (limit < 1 || limit > 100000) return make_error(Errc::invalid_argument, "limit out of range");
  SIGIL_TRY(Rows rows, read(pool_, kRevokedSince, Params().add(sequence).add(limit)));
  std::vector<std::pair<std::string, std::int64_t>> out;
  for (int i = 0; i < rows.size(); ++i) out.emplace_back(rows.text(i, 0), rows.int64(i, 1));
  return out;
}

Result<std::int64_t> PgStore::next_crl_number(const std::string& issuer_id, int shard) {
  if (shard < 0) return make_error(Errc::invalid_argument, "CRL shard is negative");
  // Autocommit: the statement is its own transaction, committed before the CRL is signed.
  SIGIL_TRY(Rows rows, read(pool_, kNextCrlNumber, Params().add(issuer_id).add(shard)));
  if (rows.empty()) return make_error(Errc::storage, "postgresql: no CRL number returned");
  return rows.int64(0, 0);
}

Status PgStore::save_crl(const CrlRecord& crl) {
  if (crl.shard < 0) return make_error(Errc::invalid_argument, "CRL shard is negative");
  if (crl.delta != crl.base_number.has_value())
    return make_error(Errc::invalid_argument, "a delta CRL, and only one, has a base CRL number");
  SIGIL_TRY(Rows done, read(pool_, kSaveCrl,
                            Params()
                                .add(crl.issuer_id)
                                .add(crl.shard)
                                .add(crl.delta)
                                .add(crl.number)
                                .add(crl.base_number)
                                .add(crl.this_update)
                                .add(crl.next_update)
                                .add(crl.der)));
  (void)done;  // no row changed: a newer CRL is already saved
  return {};
}

Result<std::optional<CrlRecord>> PgStore::latest_crl(const std::string& issuer_id, int shard, bool delta) {
  SIGIL_TRY(Rows rows, read(pool_, kLatestCrl, Params().add(issuer_id).add(shard).add(delta)));
  if (rows.empty()) return std::optional<CrlRecord>{};
  return std::optional<CrlRecord>(crl_of(rows, 0, issuer_id));
}

Result<std::optional<std::int64_t>> PgStore::latest_crl_this_update(const std::string& issuer_id, int shard,
                                                                    bool delta) {
  SIGIL_TRY(Rows rows, read(pool_, kLatestCrlThisUpdate, Params().add(issuer_id).add(shard).add(delta)));
  if (rows.empty()) return std::optional<std::int64_t>{};
  return std::optional<std::int64_t>(rows.int64(0, 0));
}

Result<std::vector<CrlRecord>> PgStore::list_crls(const std::string& issuer_id) {
  SIGIL_TRY(Rows rows, read(pool_, kListCrls, Params().add(issuer_id)));
  std::vector<CrlRecord> out;
  for (int i = 0; i < rows.size(); ++i) out.push_back(crl_of(rows, i, issuer_id));
  return out;
}

}  // namespace sigil::store::postgres::detail
