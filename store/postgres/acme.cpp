// ACME accounts, EAB keys and rate-limit counters on PostgreSQL (orders and authorizations are
// in acme_orders.cpp). Every write runs at READ COMMITTED: each refusal the contract names comes
// from a constraint or from a conditional UPDATE/upsert whose WHERE is re-checked by PostgreSQL
// against the row's latest committed version, so two nodes cannot both win, without a lock held
// in this process and without serialization retries.
#include "store/postgres/acme_internal.hpp"

namespace sigil::store::postgres::detail {

namespace {

#define SIGIL_PG_ACCOUNT_COLUMNS                                                   \
  "a.id, a.thumbprint, a.jwk, a.status, a.terms_agreed, a.eab_kid, a.created_at, " \
  "ARRAY(SELECT c.contact FROM acme_account_contacts AS c WHERE c.account_id = a.id ORDER BY c.position)"
#define SIGIL_PG_EAB_COLUMNS                                                     \
  "k.kid, k.hmac_key, k.description, k.created_at, k.revoked_at, k.account_id, " \
  "ARRAY(SELECT x.pattern FROM acme_eab_allowed_identifiers AS x WHERE x.kid = k.kid ORDER BY x.position)"

// ON CONFLICT DO NOTHING: a taken id, thumbprint or EAB binding leaves the transaction usable,
// so the refusal can be explained by reading (the thumbprint wins over the EAB key, as on SQLite).
constexpr Statement kInsertAccount{
    "acme_insert_account", "insert ACME account",
    "INSERT INTO acme_accounts (id, thumbprint, jwk, status, terms_agreed, eab_kid, created_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING"};
constexpr Statement kAccountTaken{"acme_account_taken", "explain a taken ACME account",
                                  "SELECT EXISTS (SELECT 1 FROM acme_accounts WHERE id = $1), "
                                  "EXISTS (SELECT 1 FROM acme_accounts WHERE thumbprint = $2)"};
constexpr Statement kInsertContacts{
    "acme_insert_contacts", "insert ACME account contacts",
    "INSERT INTO acme_account_contacts (account_id, position, contact) "
    "SELECT $1, t.n - 1, t.contact FROM unnest($2::text[]) WITH ORDINALITY AS t(contact, n)"};
constexpr Statement kDeleteContacts{"acme_delete_contacts", "delete ACME account contacts",
                                    "DELETE FROM acme_account_contacts WHERE account_id = $1"};
constexpr Statement kAccountById{"acme_account_by_id", "read ACME account",
                                 "SELECT " SIGIL_PG_ACCOUNT_COLUMNS " FROM acme_accounts AS a WHERE a.id = $1"};
constexpr Statement kAccountByThumbprint{"acme_account_by_thumbprint", "read ACME account by thumbprint",
                                         "SELECT " SIGIL_PG_ACCOUNT_COLUMNS
                                         " FROM acme_accounts AS a WHERE a.thumbprint = $1"};
constexpr Statement kListAccounts{"acme_list_accounts", "list ACME accounts",
                                  "SELECT " SIGIL_PG_ACCOUNT_COLUMNS
                                  " FROM acme_accounts AS a ORDER BY a.created_at, a.id"};
// Taken before the compare-and-set, so the UPDATE's snapshot (a new one per statement at READ
// COMMITTED) already holds the contacts a concurrent update committed before releasing the row:
// without it, PostgreSQL re-checks a blocked UPDATE's WHERE on the new row but its contacts
// subquery on the old snapshot, and two writers decided on one state could both win. NO KEY:
// orders of the account (a foreign key's KEY SHARE) are not held up meanwhile.
constexpr Statement kLockAccount{"acme_lock_account", "lock ACME account",
                                 "SELECT 1 FROM acme_accounts WHERE id = $1 FOR NO KEY UPDATE"};
constexpr Statement kUpdateAccount{
    "acme_update_account", "update ACME account",
    "UPDATE acme_accounts SET thumbprint = $1, jwk = $2, status = $3, terms_agreed = $4 "
    "WHERE id = $5 AND thumbprint = $6 AND status = $7 AND terms_agreed = $8 "
    "AND ARRAY(SELECT contact FROM acme_account_contacts WHERE account_id = $5 ORDER BY position) = $9::text[]"};

constexpr Statement kInsertEab{"acme_insert_eab_key", "insert EAB key",
                               "INSERT INTO acme_eab_keys (kid, hmac_key, description, created_at, revoked_at, "
                               "account_id) VALUES ($1, $2, $3, $4, $5, NULL)"};
constexpr Statement kInsertEabAllowed{
    "acme_insert_eab_allowed", "insert EAB allowed identifiers",
    "INSERT INTO acme_eab_allowed_identifiers (kid, position, pattern) "
    "SELECT $1, t.n - 1, t.pattern FROM unnest($2::text[]) WITH ORDINALITY AS t(pattern, n)"};
constexpr Statement kEabByKid{"acme_eab_by_kid", "read EAB key",
                              "SELECT " SIGIL_PG_EAB_COLUMNS " FROM acme_eab_keys AS k WHERE k.kid = $1"};
constexpr Statement kListEab{"acme_list_eab_keys", "list EAB keys",
                             "SELECT " SIGIL_PG_EAB_COLUMNS " FROM acme_eab_keys AS k ORDER BY k.created_at, k.kid"};
// The row lock and the re-checked WHERE make the binding single-use across nodes.
constexpr Statement kBindEab{
    "acme_bind_eab_key", "bind EAB key",
    "UPDATE acme_eab_keys SET account_id = $1 WHERE kid = $2 AND account_id IS NULL AND revoked_at IS NULL"};
constexpr Statement kEabState{"acme_eab_state", "read EAB key state",
                              "SELECT account_id, revoked_at FROM acme_eab_keys WHERE kid = $1"};
constexpr Statement kRevokeEab{"acme_revoke_eab_key", "revoke EAB key",
                               "UPDATE acme_eab_keys SET revoked_at = $1 WHERE kid = $2 AND revoked_at IS NULL"};

// One statement: older windows of the key go, and the upsert either inserts the window's first
// hit or locks the row and raises it only while the latest committed count is under the limit,
// so concurrent takers on any node never exceed it. No row comes back when the limit is reached.
constexpr Statement kRateTake{
    "acme_rate_take", "take rate-limit hit",
    "WITH pruned AS (DELETE FROM acme_rate_counters WHERE key = $1 AND window_start < $2) "
    "INSERT INTO acme_rate_counters AS r (key, window_start, hits) VALUES ($1, $2, 1) "
    "ON CONFLICT (key, window_start) DO UPDATE SET hits = r.hits + 1 WHERE r.hits < $3 RETURNING r.hits"};
constexpr Statement kRateCount{"acme_rate_count", "read rate-limit count",
                               "SELECT hits FROM acme_rate_counters WHERE key = $1 AND window_start = $2"};

// The same error code with a detail that names the record instead of the SQL.
Error reworded(const Error& e, std::string detail) { return make_error(e.code, std::move(detail)); }

Result<AcmeAccount> read_account(const Rows& r, int row) {
  AcmeAccount a;
  a.id = r.text(row, 0);
  a.thumbprint = r.text(row, 1);
  a.jwk = r.text(row, 2);
  SIGIL_TRY(a.status, read_status<AccountStatus>(r.text(row, 3), "account"));
  a.terms_agreed = r.boolean(row, 4);
  a.eab_kid = r.text(row, 5);  // NULL reads as ""
  a.created_at = r.int64(row, 6);
  SIGIL_TRY(a.contact, parse_text_array(r.text(row, 7)));
  return a;
}

Result<std::optional<AcmeAccount>> one_account(Pool& pool, const Statement& st, const std::string& key) {
  SIGIL_TRY(Rows r, read(pool, st, Params().add(key)));
  if (r.empty()) return std::optional<AcmeAccount>{};
  SIGIL_TRY(AcmeAccount a, read_account(r, 0));
  return std::optional<AcmeAccount>(std::move(a));
}

Result<EabKey> read_eab_key(const Rows& r, int row) {
  EabKey k;
  k.kid = r.text(row, 0);
  k.hmac_key = r.bytes(row, 1);
  k.description = r.text(row, 2);
  k.created_at = r.int64(row, 3);
  k.revoked_at = r.optional_int64(row, 4);
  k.account_id = r.text(row, 5);  // NULL reads as ""
  SIGIL_TRY(k.allowed_identifiers, parse_text_array(r.text(row, 6)));
  return k;
}

Status insert_contacts(Conn& c, const std::string& account_id, const std::vector<std::string>& contact) {
  if (contact.empty()) return {};
  SIGIL_TRY(Rows r, c.run(kInsertContacts, Params().add(account_id).add(text_array(contact))));
  (void)r;
  return {};
}

Status explain_eab_unavailable(Conn& c, const std::string& kid) {
  SIGIL_TRY(Rows r, c.run(kEabState, Params().add(kid)));
  if (r.empty()) return make_error(Errc::not_found, "no EAB key " + kid);
  if (!r.is_null(0, 1)) return make_error(Errc::conflict, "EAB key " + kid + " is revoked");
  return make_error(Errc::conflict, "EAB key " + kid + " is already bound to an account");
}

// Why the account's INSERT wrote nothing; the rows it collided with are committed by now.
Status explain_account_taken(Conn& c, const AcmeAccount& a) {
  SIGIL_TRY(Rows r, c.run(kAccountTaken, Params().add(a.id).add(a.thumbprint)));
  if (r.boolean(0, 0)) return make_error(Errc::already_exists, "account " + a.id + " already exists");
  if (r.boolean(0, 1)) return make_error(Errc::already_exists, "an account with this key already exists");
  if (!a.eab_kid.empty()) return explain_eab_unavailable(c, a.eab_kid);
  return make_error(Errc::conflict, "account " + a.id + " collided with a concurrent write");
}

}  // namespace

// ---- shared with acme_orders.cpp ---------------------------------------------------------------

namespace {
void append_quoted(std::string& out, const std::string& v) {
  out += '"';
  for (const char ch : v) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  out += '"';
}
}  // namespace

std::string text_array(const std::vector<std::string>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    append_quoted(out, values[i]);
  }
  return out + "}";
}

std::string int_array(const std::vector<std::int64_t>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(values[i]);
  }
  return out + "}";
}

Result<std::vector<std::string>> parse_text_array(std::string_view s) {
  const auto damaged = [&] {
    return make_error(Errc::storage, "postgresql: malformed array '" + std::string(s.substr(0, 64)) + "'");
  };
  std::vector<std::string> out;
  if (s.size() < 2 || s.front() != '{' || s.back() != '}') return damaged();
  if (s.size() == 2) return out;
  std::size_t i = 1;
  for (;;) {
    std::string element;
    if (s[i] == '"') {
      for (++i; i < s.size() - 1 && s[i] != '"'; ++i) {
        if (s[i] == '\\') ++i;
        element += s[i];
      }
      if (i >= s.size() - 1) return damaged();
      ++i;  // the closing quote
    } else {
      const std::size_t end = s.find_first_of(",}", i);
      element = std::string(s.substr(i, end - i));
      if (element.empty() || element == "NULL") return damaged();
      i = end;
    }
    out.push_back(std::move(element));
    if (s[i] == '}') return i == s.size() - 1 ? Result<std::vector<std::string>>(std::move(out)) : damaged();
    if (s[i] != ',') return damaged();
    ++i;
  }
}

Result<std::vector<std::int64_t>> parse_int_array(std::string_view s) {
  SIGIL_TRY(std::vector<std::string> texts, parse_text_array(s));
  std::vector<std::int64_t> out;
  for (const std::string& t : texts) {
    std::size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(t, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != t.size()) return make_error(Errc::storage, "postgresql: not an integer in array: '" + t + "'");
    out.push_back(v);
  }
  return out;
}

Status relax_commit(Conn& c) { return c.exec("SET LOCAL synchronous_commit = off", "relax commit"); }

Status take_hit(Conn& c, const RateHit& hit) {
  if (hit.limit <= 0) return make_error(Errc::rate_limited, "rate limit " + hit.key + " is 0");
  SIGIL_TRY(Rows r, c.run(kRateTake, Params().add(hit.key).add(hit.window_start).add(hit.limit)));
  if (r.empty()) return make_error(Errc::rate_limited, "rate limit " + hit.key + " reached");
  return {};
}

// ---- accounts ----------------------------------------------------------------------------------

Status PgStore::create_account(const AcmeAccount& a, const AuditEntry& audit) {
  SIGIL_TRY_STATUS(check_account(a));
  return transaction(pool_, Isolation::read_committed, [&](Conn& c) -> Status {
    {
      Params p;
      p.add(a.id).add(a.thumbprint).add(a.jwk).add(to_string(a.status)).add(a.terms_agreed);
      p.add_or_null(a.eab_kid).add(a.created_at);
      auto inserted = c.run(kInsertAccount, p);
      if (!inserted) {
        if (inserted.error().code == Errc::not_found) return reworded(inserted.error(), "no EAB key " + a.eab_kid);
        return inserted.error();
      }
      if (inserted->affected() == 0) return explain_account_taken(c, a);
    }
    SIGIL_TRY_STATUS(insert_contacts(c, a.id, a.contact));
    if (!a.eab_kid.empty()) {
      SIGIL_TRY(Rows bound, c.run(kBindEab, Params().add(a.id).add(a.eab_kid)));
      if (bound.affected() == 0) return explain_eab_unavailable(c, a.eab_kid);
    }
    return insert_audit(c, audit);
  });
}

Result<std::optional<AcmeAccount>> PgStore::account(const std::string& id) {
  return one_account(pool_, kAccountById, id);
}

Result<std::optional<AcmeAccount>> PgStore::account_by_thumbprint(const std::string& thumbprint) {
  return one_account(pool_, kAccountByThumbprint, thumbprint);
}

Status PgStore::update_account(const AcmeAccount& a, const AcmeAccount& expected, const AuditEntry& audit) {
  SIGIL_TRY_STATUS(check_account(a));
  return transaction(pool_, Isolation::read_committed, [&](Conn& c) -> Status {
    SIGIL_TRY(Rows locked, c.run(kLockAccount, Params().add(a.id)));
    if (locked.empty()) return make_error(Errc::not_found, "no account " + a.id);
    {
      Params p;
      p.add(a.thumbprint).add(a.jwk).add(to_string(a.status)).add(a.terms_agreed).add(a.id);
      p.add(expected.thumbprint).add(to_string(expected.status)).add(expected.terms_agreed);
      p.add(text_array(expected.contact));
      auto updated = c.run(kUpdateAccount, p);
      if (!updated) {
        if (updated.error().code == Errc::already_exists) {
          return reworded(updated.error(), "another account already has this key");
        }
        return updated.error();
      }
      if (updated->affected() == 0) return make_error(Errc::conflict, "account " + a.id + " changed meanwhile");
    }
    SIGIL_TRY(Rows deleted, c.run(kDeleteContacts, Params().add(a.id)));
    (void)deleted;
    SIGIL_TRY_STATUS(insert_contacts(c, a.id, a.contact));
    return insert_audit(c, audit);
  });
}

Result<std::vector<AcmeAccount>> PgStore::list_accounts() {
  SIGIL_TRY(Rows r, read(pool_, kListAccounts));
  return read_each<AcmeAccount>(r, read_account);
}

// ---- EAB keys ----------------------------------------------------------------------------------

Status PgStore::create_eab_key(const EabKey& key, const AuditEntry& audit) {
  SIGIL_TRY_STATUS(check_new_eab_key(key));
  return transaction(pool_, Isolation::read_committed, [&](Conn& c) -> Status {
    {
      Params p;
      p.add(key.kid).add(key.hmac_key).add(key.description).add(key.created_at).add(key.revoked_at);
      auto inserted = c.run(kInsertEab, p);
      if (!inserted) {
        if (inserted.error().code == Errc::already_exists) {
          return reworded(inserted.error(), "EAB key " + key.kid + " already exists");
        }
        return inserted.error();
      }
    }
    if (!key.allowed_identifiers.empty()) {
      SIGIL_TRY(Rows r, c.run(kInsertEabAllowed, Params().add(key.kid).add(text_array(key.allowed_identifiers))));
      (void)r;
    }
    return insert_audit(c, audit);
  });
}

Result<std::optional<EabKey>> PgStore::eab_key(const std::string& kid) {
  SIGIL_TRY(Rows r, read(pool_, kEabByKid, Params().add(kid)));
  if (r.empty()) return std::optional<EabKey>{};
  SIGIL_TRY(EabKey k, read_eab_key(r, 0));
  return std::optional<EabKey>(std::move(k));
}

Result<std::vector<EabKey>> PgStore::list_eab_keys() {
  SIGIL_TRY(Rows r, read(pool_, kListEab));
  return read_each<EabKey>(r, read_eab_key);
}

Status PgStore::revoke_eab_key(const std::string& kid, std::int64_t at, const AuditEntry& audit) {
  return transaction(pool_, Isolation::read_committed, [&](Conn& c) -> Status {
    SIGIL_TRY(Rows revoked, c.run(kRevokeEab, Params().add(at).add(kid)));
    if (revoked.affected() == 0) {
      SIGIL_TRY(Rows r, c.run(kEabState, Params().add(kid)));
      if (r.empty()) return make_error(Errc::not_found, "no EAB key " + kid);
      return make_error(Errc::conflict, "EAB key " + kid + " is already revoked");
    }
    return insert_audit(c, audit);
  });
}

// ---- rate limits -------------------------------------------------------------------------------

Result<bool> PgStore::rate_take(const std::string& key, std::int64_t window_start, std::int64_t limit) {
  if (limit < 0) return make_error(Errc::invalid_argument, "rate limit is negative");
  if (limit == 0) return false;  // nothing may be taken, so nothing is written
  // One statement in autocommit: its own transaction, atomic by the upsert's re-checked WHERE.
  SIGIL_TRY(Rows r, read(pool_, kRateTake, Params().add(key).add(window_start).add(limit)));
  return !r.empty();
}

Result<std::int64_t> PgStore::rate_count(const std::string& key, std::int64_t window_start) {
  SIGIL_TRY(Rows r, read(pool_, kRateCount, Params().add(key).add(window_start)));
  return r.empty() ? 0 : r.int64(0, 0);
}

}  // namespace sigil::store::postgres::detail
