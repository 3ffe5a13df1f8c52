#pragma once
// ACME state (RFC 8555) as plain records, and the repository that keeps it. Everything here
// survives a restart; nonces are not here (they live in memory). Statuses are enums; their RFC
// text appears only at the edges (SQL columns, JSON), through the one table below. acme/model
// owns the transitions, the store only keeps them.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ca/base/error.hpp"
#include "ca/base/file.hpp"

namespace sigil::store {

struct AuditEntry;  // store.hpp

// RFC 8555 §7.1.6. Each object has its own set; the schema's CHECK constraints list the same.
enum class AccountStatus { valid, deactivated, revoked };
enum class OrderStatus { pending, ready, processing, valid, invalid };
enum class AuthorizationStatus { pending, valid, invalid, deactivated, expired, revoked };
enum class ChallengeStatus { pending, processing, valid, invalid };

// The one table of status texts (the RFC's words, as stored and as sent).
template <class E>
struct StatusText {
  E status;
  const char* text;
};
inline constexpr StatusText<AccountStatus> kAccountStatusTexts[] = {
    {AccountStatus::valid, "valid"}, {AccountStatus::deactivated, "deactivated"}, {AccountStatus::revoked, "revoked"}};
inline constexpr StatusText<OrderStatus> kOrderStatusTexts[] = {{OrderStatus::pending, "pending"},
                                                                {OrderStatus::ready, "ready"},
                                                                {OrderStatus::processing, "processing"},
                                                                {OrderStatus::valid, "valid"},
                                                                {OrderStatus::invalid, "invalid"}};
inline constexpr StatusText<AuthorizationStatus> kAuthorizationStatusTexts[] = {
    {AuthorizationStatus::pending, "pending"}, {AuthorizationStatus::valid, "valid"},
    {AuthorizationStatus::invalid, "invalid"}, {AuthorizationStatus::deactivated, "deactivated"},
    {AuthorizationStatus::expired, "expired"}, {AuthorizationStatus::revoked, "revoked"}};
inline constexpr StatusText<ChallengeStatus> kChallengeStatusTexts[] = {{ChallengeStatus::pending, "pending"},
                                                                        {ChallengeStatus::processing, "processing"},
                                                                        {ChallengeStatus::valid, "valid"},
                                                                        {ChallengeStatus::invalid, "invalid"}};

// The table of each status type, found by overload on a value of that type.
constexpr const auto& status_texts(AccountStatus) { return kAccountStatusTexts; }
constexpr const auto& status_texts(OrderStatus) { return kOrderStatusTexts; }
constexpr const auto& status_texts(AuthorizationStatus) { return kAuthorizationStatusTexts; }
constexpr const auto& status_texts(ChallengeStatus) { return kChallengeStatusTexts; }

// The RFC text of a status; "" for a value outside the enum (a cast gone wrong), which the store
// refuses to write.
template <class E>
constexpr const char* status_text(E s) {
  for (const auto& t : status_texts(E{}))
    if (t.status == s) return t.text;
  return "";
}
inline const char* to_string(AccountStatus s) { return status_text(s); }
inline const char* to_string(OrderStatus s) { return status_text(s); }
inline const char* to_string(AuthorizationStatus s) { return status_text(s); }
inline const char* to_string(ChallengeStatus s) { return status_text(s); }

// The status named by `text`, if it is one of E's.
template <class E>
constexpr std::optional<E> parse_status(std::string_view text) {
  for (const auto& t : status_texts(E{}))
    if (text == t.text) return t.status;
  return std::nullopt;
}

struct AcmeAccount {
  std::string id;          // random, URL-safe; the account URL is <base>/acme/acct/<id>
  std::string thumbprint;  // RFC 7638 JWK thumbprint (base64url) of the current key; unique
  std::string jwk;         // the public JWK, canonical JSON text
  AccountStatus status = AccountStatus::valid;
  std::vector<std::string> contact;
  bool terms_agreed = false;
  std::string eab_kid;  // the EAB key it was bound with; "" when none
  std::int64_t created_at = 0;
};

struct AcmeIdentifier {
  std::string type;   // "dns" | "ip"
  std::string value;  // for a wildcard order, "*.example.test"
  bool operator==(const AcmeIdentifier&) const = default;
};

struct AcmeChallenge {
  std::string type;  // "http-01" | "dns-01" | "tls-alpn-01"
  ChallengeStatus status = ChallengeStatus::pending;
  std::int64_t validated = 0;  // unix seconds, when valid
  std::string error;           // RFC 7807 problem JSON text when invalid; "" otherwise
};

struct AcmeAuthorization {
  std::string id;
  std::string account_id;
  std::string order_id;
  AcmeIdentifier identifier;  // without the "*." of a wildcard (RFC 8555 §7.1.4)
  bool wildcard = false;
  AuthorizationStatus status = AuthorizationStatus::pending;
  std::int64_t expires = 0;
  std::string token;  // shared by the challenges of this authorization (base64url, 32 random octets)
  std::vector<AcmeChallenge> challenges;
};

struct AcmeOrder {
  std::string id;
  std::string account_id;
  OrderStatus status = OrderStatus::pending;
  std::int64_t expires = 0;
  std::vector<AcmeIdentifier> identifiers;
  std::optional<std::int64_t> not_before;
  std::optional<std::int64_t> not_after;
  std::string profile;   // a Sigil profile name
  std::string replaces;  // RFC 9773 certificate identifier of the certificate it replaces; "" when none
  std::vector<std::string> authorization_ids;
  std::string certificate_serial;  // when valid
  std::string error;               // RFC 7807 problem JSON text when invalid; "" otherwise
  std::int64_t created_at = 0;
};

struct EabKey {
  std::string kid;
  Bytes hmac_key;           // never logged or printed after creation
  std::string description;  // free text for operators
  // Identifier patterns the bound account may order ("*.svc.example", "10.0.0.0/8"); empty: policy only.
  std::vector<std::string> allowed_identifiers;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> revoked_at;
  std::string account_id;  // the account it was bound to; "" while unused (single use)
};

// A hit on a fixed-window rate-limit counter (see rate_take) written in the same transaction as
// the change it limits, so the change and its count commit together (one fsync) or not at all.
struct RateHit {
  std::string key;
  std::int64_t window_start = 0;
  std::int64_t limit = 0;  // the hit is refused (and the change with it) once the count reached it
};

// Where a page of an account's orders list ends: the (created_at, id) of its last order.
struct AcmeOrderCursor {
  std::int64_t created_at = 0;
  std::string id;
};

// Durability: every write is atomic and survives the process's crash. Accounts, EAB keys and
// standalone rate hits are also on disk before the call returns. Order, authorization and
// challenge state (create_order, update_order, update_authorization, with the audit rows and
// rate hits that ride with them) may commit without waiting for the disk: a power failure can
// lose the latest of it, which costs a client a new order, and the next durable commit (at the
// latest the certificate's own, before it is served) makes it durable too (ops/README.md §6).
class AcmeRepository {
 public:
  virtual ~AcmeRepository() = default;

  // already_exists if an account with the same thumbprint (or id) exists. With `eab_kid`, the EAB
  // key is bound to the account in the same transaction; not_found if the kid is unknown, conflict
  // if it is already bound or revoked.
  virtual Status create_account(const AcmeAccount& account, const AuditEntry& audit) = 0;
  virtual Result<std::optional<AcmeAccount>> account(const std::string& id) = 0;
  virtual Result<std::optional<AcmeAccount>> account_by_thumbprint(const std::string& thumbprint) = 0;
  // Compare-and-set: replaces contact, terms_agreed, status, jwk and thumbprint of the account
  // with that id only if its stored thumbprint, status, terms_agreed and contact are still those
  // of `expected` (the state the change was decided on); conflict otherwise, and nothing written
  // (a request that read the account before a key change or a deactivation cannot undo it).
  // already_exists if the new thumbprint belongs to another account (key rollover); not_found if
  // there is no account with that id.
  virtual Status update_account(const AcmeAccount& account, const AcmeAccount& expected, const AuditEntry& audit) = 0;
  // Every account, by created_at, then id (for operators: `sigil acme account list`).
  virtual Result<std::vector<AcmeAccount>> list_accounts() = 0;

  // An order and its authorizations, in one transaction. Each authorization given must be named in
  // order.authorization_ids and carry the order's id and account; ids named but not given must be
  // authorizations stored already (not_found otherwise, as for an unknown account). already_exists
  // if an id is taken. With `rate`, the order also takes that hit in the same transaction;
  // rate_limited (and nothing written) if the counter already reached its limit.
  virtual Status create_order(const AcmeOrder& order, const std::vector<AcmeAuthorization>& authorizations,
                              const AuditEntry& audit, const std::optional<RateHit>& rate = std::nullopt) = 0;
  virtual Result<std::optional<AcmeOrder>> order(const std::string& id) = 0;
  // Compare-and-set: writes `order`'s status, expires, certificate_serial and error (the rest is
  // fixed at creation) only if the stored status is still `expected_status`; conflict otherwise
  // (two finalize calls cannot both win); not_found if the id is unknown.
  virtual Status update_order(const AcmeOrder& order, OrderStatus expected_status) = 0;
  // The newest order that names `replaces` and is not invalid; for RFC 9773's one-replacement rule.
  virtual Result<std::optional<AcmeOrder>> order_replacing(const std::string& replaces) = 0;
  // The account's orders that are not invalid by their stored state at `now` (status pending,
  // ready, processing or valid, and pending or ready ones not yet expired), newest first
  // (created_at, then id, descending), strictly after `after` when given; at most `limit`
  // (1..1000, invalid_argument otherwise). For the account's orders list (RFC 8555 §7.1.2.1).
  virtual Result<std::vector<AcmeOrder>> orders_of_account(const std::string& account_id, std::int64_t now,
                                                           const std::optional<AcmeOrderCursor>& after, int limit) = 0;

  virtual Result<std::optional<AcmeAuthorization>> authorization(const std::string& id) = 0;
  // Compare-and-set on the authorization's status, as update_order; writes status, expires and
  // the challenges. `audit` (when not null) and the hit `rate` are written in the same
  // transaction, and only with the update; rate_limited (nothing written) if that counter
  // already reached its limit.
  virtual Status update_authorization(const AcmeAuthorization& authz, AuthorizationStatus expected_status,
                                      const AuditEntry* audit = nullptr,
                                      const std::optional<RateHit>& rate = std::nullopt) = 0;
  // For authorization reuse: the account's authorization for `identifier` (wildcard or not, as
  // given) whose stored status is valid and which expires after `expires_after`; the one that
  // expires last. Pending, invalid, deactivated, expired and revoked ones are never returned.
  virtual Result<std::optional<AcmeAuthorization>> reusable_authorization(const std::string& account_id,
                                                                          const AcmeIdentifier& identifier,
                                                                          bool wildcard,
                                                                          std::int64_t expires_after) = 0;
  // The authorizations the order names, in the order of its authorization_ids; empty if unknown.
  virtual Result<std::vector<AcmeAuthorization>> authorizations_of_order(const std::string& order_id) = 0;

  // EAB keys (RFC 8555 §7.3.4). create: already_exists if the kid is taken; a new key has no
  // account_id (invalid_argument otherwise). list: by created_at, then kid.
  virtual Status create_eab_key(const EabKey& key, const AuditEntry& audit) = 0;
  virtual Result<std::optional<EabKey>> eab_key(const std::string& kid) = 0;
  virtual Result<std::vector<EabKey>> list_eab_keys() = 0;
  // not_found if unknown; conflict if already revoked.
  virtual Status revoke_eab_key(const std::string& kid, std::int64_t at, const AuditEntry& audit) = 0;

  // Fixed-window rate limit counter: adds one hit to (`key`, window starting at `window_start`)
  // unless the count already reached `limit`. Returns true if the hit was taken, false if the
  // limit is reached (nothing changes then). Atomic across processes sharing the database.
  // Windows older than `window_start` for the same key may be deleted. A limit of 0 takes nothing.
  virtual Result<bool> rate_take(const std::string& key, std::int64_t window_start, std::int64_t limit) = 0;
  // The hits counted so far in that window (0 when none).
  virtual Result<std::int64_t> rate_count(const std::string& key, std::int64_t window_start) = 0;
};

}  // namespace sigil::store
