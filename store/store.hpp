#pragma once
// Issuance state behind narrow interfaces, in plain C++ types: no OpenSSL, no SQLite here.
// store/sqlite/ and store/postgres/ implement them all and pass one conformance suite.
// Nothing here assumes one process owns the database.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ca/base/error.hpp"
#include "ca/base/file.hpp"
#include "store/acme.hpp"

namespace sigil::store {

enum class CertStatus { pending, valid, revoked };  // "expired" is derived from not_after
const char* to_string(CertStatus s);

// RFC 5280 CRLReason codes (7 is unused by the RFC).
enum class RevocationReason : int {
  unspecified = 0,
  key_compromise = 1,
  ca_compromise = 2,
  affiliation_changed = 3,
  superseded = 4,
  cessation_of_operation = 5,
  certificate_hold = 6,
  remove_from_crl = 8,
  privilege_withdrawn = 9,
  aa_compromise = 10,
};
// RFC 5280 names ("keyCompromise", ...).
const char* to_string(RevocationReason r);
// A serial as users type it ("0A:1B:..", "0a1b..") in the store's form: lower-case hex, no colons.
Result<std::string> normalize_serial(std::string text);
// The one allow-list of reasons a leaf certificate may be revoked for, whichever path asks
// (REST, ACME revokeCert, `sigil revoke`, and the store itself): RFC 5280's codes without
// cACompromise and aACompromise (a CA's or attribute authority's compromise is not a leaf's
// to claim: that is handled by replacing the intermediate), certificateHold (a hold is not a
// revocation), removeFromCRL (only a delta CRL's entry) and 7 (unused). Anything else is
// bad_revocation_reason, naming the reason.
bool is_leaf_revocation_reason(RevocationReason r);
Result<RevocationReason> leaf_revocation_reason(int code);  // RFC 8555 §7.6: the RFC 5280 code
Result<RevocationReason> parse_revocation_reason(std::string_view name);
inline constexpr const char* kRevocationReasonNames =
    "unspecified|keyCompromise|affiliationChanged|superseded|cessationOfOperation|privilegeWithdrawn";

// Appended in the same transaction as the change it records.
struct AuditEntry {
  std::int64_t at = 0;  // unix seconds
  std::string actor;    // "cli:root@host", an mTLS identity, an ACME account URL
  std::string action;   // "issue", "revoke", "init", ...
  std::string target;   // usually a serial
  std::string outcome;  // "ok" or "refused"
  std::string detail;   // human-readable, never key material
};

// The serial and the to-be-signed certificate, committed before the signature is made.
struct PendingCertificate {
  std::string serial;     // lower-case hex, no leading "00" beyond DER's
  std::string issuer_id;  // hex SHA-256 of the issuing CA certificate's SPKI (keyed by issuer)
  Bytes tbs_der;
  std::string subject;            // RFC 4514 text, may be empty
  std::vector<std::string> sans;  // "dns:a.example", "ip:10.0.0.1", "uri:spiffe://td/x", "email:a@b"
  std::string profile;
  std::string requester;
  std::int64_t not_before = 0;
  std::int64_t not_after = 0;
  std::int64_t created_at = 0;
  // The CRL shard whose URL the certificate's CRL distribution point names, fixed at issuance:
  // 0 is the issuer's single CRL, 1..N the shards of `revocation.crl_shards` (ca/issuer).
  int crl_shard = 0;
};

struct CertificateRecord {
  std::string serial;
  std::string issuer_id;
  Bytes tbs_der;
  Bytes der;  // empty while pending
  std::string subject;
  std::vector<std::string> sans;
  std::string profile;
  std::string requester;
  std::int64_t not_before = 0;
  std::int64_t not_after = 0;
  std::int64_t created_at = 0;
  CertStatus status = CertStatus::pending;
  std::optional<std::int64_t> revoked_at;
  std::optional<RevocationReason> revocation_reason;
  int crl_shard = 0;
};

struct ListFilter {
  enum class Status { any, valid, revoked, expired };
  Status status = Status::any;                  // valid = status valid and not_after > now; expired = not_after <= now
  std::optional<std::int64_t> expiring_before;  // not_after <= this (and still valid)
  std::optional<std::string> profile;
  // Only certificates naming this subject alternative name, in the sans' form ("dns:a.example").
  std::optional<std::string> name;
  std::optional<std::string> requester;  // only those this requester asked for (`sigil status`)
  std::int64_t now = 0;                  // the caller's clock, for valid/expired
  std::string page_token;                // opaque; empty for the first page
  int limit = 100;                       // 1..1000
};

struct Page {
  std::vector<CertificateRecord> items;  // ordered by (not_after, serial)
  std::string next_page_token;           // empty when this is the last page
};

// A public key no certificate may carry again: revoked for keyCompromise (RFC 8555 §7.6 asks a
// CA not to certify a key it knows to be compromised), recorded with the revocation.
struct BlockedKey {
  std::string key_sha256;  // hex SHA-256 of the SubjectPublicKeyInfo DER
  RevocationReason reason = RevocationReason::key_compromise;
  std::int64_t blocked_at = 0;  // unix seconds: the revocation's time
  std::string serial;           // the certificate whose revocation blocked it (the first one)
};

// Reads of issued certificates: what the OCSP responder, the REST API, the RA and the
// client-certificate check need (none of them writes a certificate).
class CertificateReader {
 public:
  virtual ~CertificateReader() = default;
  virtual Result<std::optional<CertificateRecord>> find(const std::string& serial) = 0;
  virtual Result<Page> list(const ListFilter& filter) = 0;
  // The blocked key with this SPKI hash, if any (every issuance asks: Issuer::prepare).
  virtual Result<std::optional<BlockedKey>> blocked_key(const std::string& key_sha256) = 0;
  virtual Result<std::optional<std::int64_t>> renewal_flagged_at(const std::string& serial) = 0;
};

// Writes of issued certificates: the Issuer (reserve, complete), the Revoker (revoke), an
// incident's flagging. Each write commits its audit row in the same transaction.
class CertificateWriter {
 public:
  virtual ~CertificateWriter() = default;
  // Inserts a pending row; already_exists if the serial is taken. Audit row in the same transaction.
  virtual Status reserve(const PendingCertificate& pending, const AuditEntry& audit) = 0;
  // Stores the signed DER for a pending serial and marks it valid (one transaction with audit).
  virtual Status complete(const std::string& serial, const Bytes& der, const AuditEntry& audit) = 0;
  // not_found if unknown; conflict if already revoked or still pending; bad_revocation_reason
  // unless is_leaf_revocation_reason. For keyCompromise, `key_sha256` (hex SHA-256 of the
  // certificate's SubjectPublicKeyInfo; required then) joins the blocked keys. Audit and blocked
  // key in the same transaction as the revocation. Only revocation::Revoker calls it.
  virtual Status revoke(const std::string& serial, std::int64_t at, RevocationReason reason,
                        const std::string& key_sha256, const AuditEntry& audit) = 0;
  // Flags valid, unexpired certificates for early replacement (an incident): one serial, or
  // every one issued (created_at) before `issued_before`. Returns how many were newly flagged;
  // audit in the same transaction.
  virtual Result<std::int64_t> flag_for_renewal(const std::optional<std::string>& serial,
                                                std::optional<std::int64_t> issued_before, std::int64_t at,
                                                const AuditEntry& audit) = 0;
};

// Both: what the Issuer (reserve, complete, blocked_key) and the Revoker (find, revoke) take.
class CertificateLedger : public CertificateReader, public CertificateWriter {};

struct RevokedSerial {
  std::string serial;  // hex, as stored
  std::int64_t revoked_at = 0;
  RevocationReason reason = RevocationReason::unspecified;
};

// What revocation publishers read (CRL builder, OCSP responder, the TLS client check). A CRL's
// scope is one issuer's CRL shard (PendingCertificate::crl_shard; 0 when unsharded).
class RevocationReader {
 public:
  virtual ~RevocationReader() = default;
  // Revoked certificates of one issuer's shard whose not_after >= `not_after_min` (expired
  // entries may leave the CRL, RFC 5280 §3.3), in serial order, streamed: nothing is held in
  // memory here.
  virtual Status for_each_revoked(const std::string& issuer_id, int shard, std::int64_t not_after_min,
                                  const std::function<Status(const RevokedSerial&)>& fn) = 0;
  virtual Result<std::int64_t> count_revoked(const std::string& issuer_id, int shard, std::int64_t not_after_min) = 0;
  // The same, only those revoked after revocation_sequence() was `sequence` (a delta CRL's
  // entries), in serial order.
  virtual Status for_each_revoked_since(const std::string& issuer_id, int shard, std::int64_t sequence,
                                        std::int64_t not_after_min,
                                        const std::function<Status(const RevokedSerial&)>& fn) = 0;
  // The shards of one issuer that some certificate with not_after >= `not_after_min` names
  // (every CRL that must be published), ascending.
  virtual Result<std::vector<int>> crl_shards(const std::string& issuer_id, std::int64_t not_after_min) = 0;
  // The shards of one issuer's certificates revoked after `sequence`, ascending.
  virtual Result<std::vector<int>> revoked_shards_since(const std::string& issuer_id, std::int64_t sequence) = 0;
  // Every signed (valid or revoked) certificate of one issuer with not_after >= `not_after_min`,
  // streamed: what an OCSP pre-signer walks. `revoked_at` is 0 for valid ones.
  virtual Status for_each_certificate(const std::string& issuer_id, std::int64_t not_after_min,
                                      const std::function<Status(const RevokedSerial&, bool revoked)>& fn) = 0;
  // A counter that grows with every committed revocation, whichever process made it.
  virtual Result<std::int64_t> revocation_sequence() = 0;
  // Serials revoked after `sequence` (with their sequence numbers), oldest first.
  virtual Result<std::vector<std::pair<std::string, std::int64_t>>> revoked_since(std::int64_t sequence, int limit) = 0;
};

struct CrlRecord {
  std::string issuer_id;
  std::int64_t number = 0;
  std::int64_t this_update = 0;
  std::int64_t next_update = 0;
  Bytes der;
  int shard = 0;
  bool delta = false;                       // a delta CRL (RFC 5280 §5.2.4) of the shard
  std::optional<std::int64_t> base_number;  // a delta's BaseCRLNumber
};

// CRL numbers and the latest CRLs per issuer and shard. Numbers are allocated (committed) before
// the CRL is signed, so a crash can skip a number and never reuse one (RFC 5280 §5.2.3). A shard's
// complete and delta CRLs share its one sequence (RFC 5280 §5.2.4).
class CrlStore {
 public:
  virtual ~CrlStore() = default;
  virtual Result<std::int64_t> next_crl_number(const std::string& issuer_id, int shard) = 0;
  // Keeps the CRL unless a higher-numbered one of the same shard and kind is already saved.
  virtual Status save_crl(const CrlRecord& crl) = 0;
  virtual Result<std::optional<CrlRecord>> latest_crl(const std::string& issuer_id, int shard, bool delta) = 0;
  // The thisUpdate of the latest saved CRL of that shard and kind, without its DER (a complete
  // CRL's gatherer asks before every build).
  virtual Result<std::optional<std::int64_t>> latest_crl_this_update(const std::string& issuer_id, int shard,
                                                                     bool delta) {
    SIGIL_TRY(auto crl, latest_crl(issuer_id, shard, delta));
    if (!crl) return std::optional<std::int64_t>{};
    return std::optional<std::int64_t>(crl->this_update);
  }
  // Every saved CRL of one issuer (the latest per shard and kind), by shard, complete first.
  virtual Result<std::vector<CrlRecord>> list_crls(const std::string& issuer_id) = 0;
};

// Audit rows outside a certificate write (refusals, ACME events); written by the API and the RA.
class AuditWriter {
 public:
  virtual ~AuditWriter() = default;
  virtual Status append(const AuditEntry& entry) = 0;
};

// Which audit rows to read, newest first (`sigil audit list`, GET /api/v1/audit, the console's
// rates). Every field narrows; none set: the whole log.
struct AuditFilter {
  std::optional<std::int64_t> since;   // at >= since (unix seconds)
  std::optional<std::string> actor;    // exactly
  std::optional<std::string> action;   // exactly
  std::optional<std::string> outcome;  // exactly: "ok", "refused"
  std::int64_t before_id = 0;          // only rows older than this one (a page's next_before_id); 0: the newest
  int limit = 100;                     // 1..1000
};

// An audit row with its position in the log (ids grow with every append, on every engine).
struct AuditRecord {
  std::int64_t id = 0;
  AuditEntry entry;
};

struct AuditPage {
  std::vector<AuditRecord> items;   // newest first
  std::int64_t next_before_id = 0;  // AuditFilter::before_id of the next page; 0 when this is the last
};

// The audit log as operators read it (`sigil audit`, `sigil status`, the web console).
class AuditReader {
 public:
  virtual ~AuditReader() = default;
  virtual Result<std::vector<AuditEntry>> recent(int limit) = 0;  // newest first
  // One page of the rows `filter` selects; invalid_argument for a limit outside 1..1000.
  virtual Result<AuditPage> audit_page(const AuditFilter& filter) = 0;
  // How many rows `filter` selects (its limit and before_id ignored), counted in the database.
  virtual Result<std::int64_t> count_audit(const AuditFilter& filter) = 0;
};

// A `sigil serve` process as the other nodes on the database see it (its heartbeat row).
struct NodeRecord {
  std::string id;        // random per process start (hex)
  std::string hostname;  // gethostname()
  std::string urls;      // the URLs it serves, space-separated
  std::string version;   // sigil's version
  std::int64_t started_at = 0;
  std::int64_t last_seen = 0;  // unix seconds of its latest heartbeat; 0 once it stopped cleanly
};

// What several `sigil serve` nodes sharing one database coordinate through. On SQLite, one
// process serves a database (the file is local), so the nonce record and the CRL signer are that
// process's own; on PostgreSQL they are rows and locks every node sees.
class ClusterStore {
 public:
  virtual ~ClusterStore() = default;
  // Records an ACME nonce (RFC 8555 §6.5) as spent until `expires_at` (unix seconds): true the
  // first time, false if it was spent already (a replay). Records that expired by `now` may be
  // dropped. SQLite: in this process's memory (bounded; unavailable when full of unexpired ones).
  virtual Result<bool> spend_nonce(const std::string& nonce, std::int64_t expires_at, std::int64_t now) = 0;
  // Inserts or refreshes the node's row: a write, so it also proves the database writable.
  virtual Status heartbeat(const NodeRecord& node) = 0;
  // The nodes whose last heartbeat is at or after `seen_since`, by id.
  virtual Result<std::vector<NodeRecord>> nodes(std::int64_t seen_since) = 0;
  // One CRL signer per issuer and shard at a time: true if this process holds the right to sign
  // that shard's CRLs (taking it when free). Held until the process ends or its database session
  // is lost; then another node takes it on its next try. SQLite: always true.
  virtual Result<bool> hold_crl_signer(const std::string& issuer_id, int shard) = 0;
};

enum class Engine { sqlite, postgresql };
const char* to_string(Engine e);

class Store : public CertificateLedger,
              public AuditWriter,
              public AuditReader,
              public RevocationReader,
              public CrlStore,
              public AcmeRepository,
              public ClusterStore {
 public:
  virtual Engine engine() const = 0;
  // Consistent copy while others write (SQLite: online backup API). Writes atomically.
  // PostgreSQL: invalid_argument naming pg_dump / pg_basebackup (the database's own tools).
  // `progress(done, total)` (pages) after each chunk, from the one read snapshot the copy is.
  using BackupProgress = std::function<void(std::int64_t done, std::int64_t total)>;
  virtual Status backup(const std::string& path, const BackupProgress& progress = {}) = 0;
  virtual Result<std::string> integrity_check() = 0;  // "ok" when healthy
  virtual Result<std::int64_t> count() = 0;           // all certificate rows
  // The certificates list(filter) pages through, counted in the database (its page token and
  // limit are ignored): `sigil status` counts a million rows without reading them.
  virtual Result<std::int64_t> count_matching(const ListFilter& filter) = 0;
  // Valid certificates by the day they expire: element d counts those with not_after in
  // (now + d days, now + d + 1 days], for d in 0..days-1 (the console's expiry chart); one
  // grouped query, never a row read out. invalid_argument unless 1 <= days <= 366.
  virtual Result<std::vector<std::int64_t>> expiring_per_day(std::int64_t now, int days) = 0;
};

}  // namespace sigil::store
