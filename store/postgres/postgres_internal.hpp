#pragma once
// Private to store/postgres: the store class the files of this directory implement together.
// Each operation is one transaction on a pooled connection at the isolation level it needs
// (see each file's comments); uniqueness (serials, CRL numbers, finalization) is enforced by
// constraints and compare-and-set updates, never by a lock held in this process.
#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "store/postgres/pg.hpp"
#include "store/postgres/postgres_store.hpp"

namespace sigil::store::postgres::detail {

constexpr int kMaxLimit = 1000;

class PgStore final : public Store {
 public:
  explicit PgStore(ConnectOptions o, int pool_size) : pool_(std::move(o), pool_size) {}
  Pool& pool() { return pool_; }
  Engine engine() const override { return Engine::postgresql; }

  // ---- certificates and audit (certificates.cpp) ----
  Status reserve(const PendingCertificate& p, const AuditEntry& audit) override;
  Status complete(const std::string& serial, const Bytes& der, const AuditEntry& audit) override;
  Result<std::optional<CertificateRecord>> find(const std::string& serial) override;
  Result<Page> list(const ListFilter& filter) override;
  Status revoke(const std::string& serial, std::int64_t at, RevocationReason reason, const std::string& key_sha256,
                const AuditEntry& audit) override;
  Result<std::optional<BlockedKey>> blocked_key(const std::string& key_sha256) override;
  Result<std::int64_t> flag_for_renewal(const std::optional<std::string>& serial,
                                        std::optional<std::int64_t> issued_before, std::int64_t at,
                                        const AuditEntry& audit) override;
  Result<std::optional<std::int64_t>> renewal_flagged_at(const std::string& serial) override;
  Status append(const AuditEntry& entry) override;
  Result<std::vector<AuditEntry>> recent(int limit) override;
  // ---- the audit log and expiries as the console reads them (audit.cpp) ----
  Result<AuditPage> audit_page(const AuditFilter& filter) override;
  Result<std::int64_t> count_audit(const AuditFilter& filter) override;
  Result<std::vector<std::int64_t>> expiring_per_day(std::int64_t now, int days) override;
  Status backup(const std::string& path, const BackupProgress& progress = {}) override;
  Result<std::string> integrity_check() override;
  Result<std::int64_t> count() override;
  Result<std::int64_t> count_matching(const ListFilter& filter) override;

  // ---- revocation reads and CRLs (revocation.cpp) ----
  Status for_each_revoked(const std::string& issuer_id, int shard, std::int64_t not_after_min,
                          const std::function<Status(const RevokedSerial&)>& fn) override;
  Result<std::int64_t> count_revoked(const std::string& issuer_id, int shard, std::int64_t not_after_min) override;
  Status for_each_revoked_since(const std::string& issuer_id, int shard, std::int64_t sequence,
                                std::int64_t not_after_min,
                                const std::function<Status(const RevokedSerial&)>& fn) override;
  Result<std::vector<int>> crl_shards(const std::string& issuer_id, std::int64_t not_after_min) override;
  Result<std::vector<int>> revoked_shards_since(const std::string& issuer_id, std::int64_t sequence) override;
  Status for_each_certificate(const std::string& issuer_id, std::int64_t not_after_min,
                              const std::function<Status(const RevokedSerial&, bool revoked)>& fn) override;
  Result<std::int64_t> revocation_sequence() override;
  Result<std::vector<std::pair<std::string, std::int64_t>>> revoked_since(std::int64_t sequence, int limit) override;
  Result<std::int64_t> next_crl_number(const std::string& issuer_id, int shard) override;
  Status save_crl(const CrlRecord& crl) override;
  Result<std::optional<CrlRecord>> latest_crl(const std::string& issuer_id, int shard, bool delta) override;
  Result<std::optional<std::int64_t>> latest_crl_this_update(const std::string& issuer_id, int shard,
                                                             bool delta) override;
  Result<std::vector<CrlRecord>> list_crls(const std::string& issuer_id) override;

  // ---- nodes (cluster.cpp) ----
  Result<bool> spend_nonce(const std::string& nonce, std::int64_t expires_at, std::int64_t now) override;
  Status heartbeat(const NodeRecord& node) override;
  Result<std::vector<NodeRecord>> nodes(std::int64_t seen_since) override;
  Result<bool> hold_crl_signer(const std::string& issuer_id, int shard) override;

  // ---- ACME (acme.cpp) ----
  Status create_account(const AcmeAccount& a, const AuditEntry& audit) override;
  Result<std::optional<AcmeAccount>> account(const std::string& id) override;
  Result<std::optional<AcmeAccount>> account_by_thumbprint(const std::string& thumbprint) override;
  Status update_account(const AcmeAccount& a, const AcmeAccount& expected, const AuditEntry& audit) override;
  Result<std::vector<AcmeAccount>> list_accounts() override;
  Status create_order(const AcmeOrder& order, const std::vector<AcmeAuthorization>& authorizations,
                      const AuditEntry& audit, const std::optional<RateHit>& rate) override;
  Result<std::optional<AcmeOrder>> order(const std::string& id) override;
  Status update_order(const AcmeOrder& order, OrderStatus expected_status) override;
  Result<std::optional<AcmeOrder>> order_replacing(const std::string& replaces) override;
  Result<std::vector<AcmeOrder>> orders_of_account(const std::string& account_id, std::int64_t now,
                                                   const std::optional<AcmeOrderCursor>& after, int limit) override;
  Result<std::optional<AcmeAuthorization>> authorization(const std::string& id) override;
  Status update_authorization(const AcmeAuthorization& authz, AuthorizationStatus expected_status,
                              const AuditEntry* audit, const std::optional<RateHit>& rate) override;
  Result<std::optional<AcmeAuthorization>> reusable_authorization(const std::string& account_id,
                                                                  const AcmeIdentifier& identifier, bool wildcard,
                                                                  std::int64_t expires_after) override;
  Result<std::vector<AcmeAuthorization>> authorizations_of_order(const std::string& order_id) override;
  Status create_eab_key(const EabKey& key, const AuditEntry& audit) override;
  Result<std::optional<EabKey>> eab_key(const std::string& kid) override;
  Result<std::vector<EabKey>> list_eab_keys() override;
  Status revoke_eab_key(const std::string& kid, std::int64_t at, const AuditEntry& audit) override;
  Result<bool> rate_take(const std::string& key, std::int64_t window_start, std::int64_t limit) override;
  Result<std::int64_t> rate_count(const std::string& key, std::int64_t window_start) override;

 private:
  Pool pool_;
  // hold_crl_signer: session advisory locks live on one dedicated connection (cluster.cpp),
  // opened with the pool's options.
  std::mutex lock_mu_;
  std::unique_ptr<Conn> lock_conn_;
  std::set<std::pair<std::string, int>> held_;
  // spend_nonce prunes expired nonces every kNoncePruneEvery calls (cluster.cpp).
  std::atomic<std::uint64_t> nonce_spends_{0};
};

// One audit row inside the caller's transaction (every write that records itself calls it).
Status insert_audit(Conn& c, const AuditEntry& e);
// Why a status-guarded UPDATE of `serial` changed nothing (not_found or conflict, naming the
// status), read in the caller's transaction.
Status explain_unchanged(Conn& c, const std::string& serial, std::string_view verb);

}  // namespace sigil::store::postgres::detail
