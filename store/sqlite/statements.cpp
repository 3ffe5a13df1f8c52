// The store's cached statements: the SQL of every enum Sql, checked to be in enum order.
#include "store/sqlite/sqlite_internal.hpp"

namespace sigil::store::sqlite::detail {

constexpr std::array<SqlText, static_cast<std::size_t>(Sql::size_)> kSql{{
    {Sql::begin, "begin transaction", "BEGIN IMMEDIATE"},
    {Sql::begin_read, "begin read transaction", "BEGIN"},
    {Sql::commit, "commit", "COMMIT"},
    {Sql::rollback, "rollback", "ROLLBACK"},
    {Sql::savepoint, "savepoint", "SAVEPOINT op"},
    {Sql::release, "release savepoint", "RELEASE op"},
    {Sql::rollback_to, "roll back to savepoint", "ROLLBACK TO op"},
    {Sql::insert_certificate, "insert certificate",
     "INSERT INTO certificates (serial, issuer_id, tbs_der, der, subject, profile, requester, "
     "not_before, not_after, created_at, status, crl_shard) "
     "VALUES (?1, ?2, ?3, NULL, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', ?10)"},
    {Sql::insert_san, "insert subject alternative name",
     "INSERT INTO certificate_sans (serial, position, name) VALUES (?1, ?2, ?3)"},
    {Sql::insert_audit, "append audit entry",
     "INSERT INTO audit_log (at, actor, action, target, outcome, detail) "
     "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
    {Sql::mark_valid, "complete certificate",
     "UPDATE certificates SET der = ?1, status = 'valid' WHERE serial = ?2 AND status = 'pending'"},
    {Sql::mark_revoked, "revoke certificate",
     "UPDATE certificates SET status = 'revoked', revoked_at = ?1, revocation_reason = ?2, "
     "revocation_seq = (SELECT COALESCE(MAX(revocation_seq), 0) + 1 FROM certificates "
     "WHERE revocation_seq IS NOT NULL) "
     "WHERE serial = ?3 AND status = 'valid'"},
    {Sql::block_key, "block key",
     "INSERT INTO blocked_keys (key_sha256, reason, blocked_at, serial) VALUES (?1, ?2, ?3, ?4) "
     "ON CONFLICT (key_sha256) DO NOTHING"},
    {Sql::blocked_key, "read blocked key",
     "SELECT key_sha256, reason, blocked_at, serial FROM blocked_keys WHERE key_sha256 = ?1"},
    {Sql::status_of, "read certificate status", "SELECT status FROM certificates WHERE serial = ?1"},
    {Sql::find, "find certificate", "SELECT " SIGIL_CERT_COLUMNS " FROM certificates WHERE serial = ?1"},
    {Sql::sans_of, "read subject alternative names",
     "SELECT name FROM certificate_sans WHERE serial = ?1 ORDER BY position"},
    {Sql::recent_audit, "read audit log",
     "SELECT at, actor, action, target, outcome, detail FROM audit_log ORDER BY id DESC LIMIT ?1"},
    {Sql::count, "count certificates", "SELECT COUNT(*) FROM certificates"},
    {Sql::integrity_check, "integrity check", "PRAGMA integrity_check"},
    {Sql::revocation_sequence, "read revocation sequence",
     "SELECT COALESCE(MAX(revocation_seq), 0) FROM certificates WHERE revocation_seq IS NOT NULL"},
    {Sql::revoked_since, "read recent revocations",
     "SELECT serial, revocation_seq FROM certificates WHERE revocation_seq > ?1 ORDER BY revocation_seq LIMIT ?2"},
    {Sql::count_revoked, "count revoked certificates",
     "SELECT COUNT(*) FROM certificates INDEXED BY certificates_revoked "
     "WHERE issuer_id = ?1 AND crl_shard = ?2 AND status = 'revoked' AND not_after >= ?3"},
    // Few rows (the revocations since a sequence), found through the sequence's own index.
    {Sql::revoked_shards_since, "read revoked shards",
     "SELECT DISTINCT crl_shard FROM certificates INDEXED BY certificates_revocation_seq "
     "WHERE revocation_seq > ?2 AND issuer_id = ?1 ORDER BY crl_shard"},
    {Sql::crl_shards, "read CRL shards",
     "SELECT shard FROM crl_shards WHERE issuer_id = ?1 AND not_after_max >= ?2 ORDER BY shard"},
    {Sql::note_crl_shard, "record CRL shard",
     "INSERT INTO crl_shards (issuer_id, shard, not_after_max) VALUES (?1, ?2, ?3) "
     "ON CONFLICT (issuer_id, shard) DO UPDATE SET not_after_max = ?3 WHERE crl_shards.not_after_max < ?3"},
    {Sql::next_crl_number, "allocate CRL number",
     "INSERT INTO crl_numbers (issuer_id, shard, last_number) VALUES (?1, ?2, 1) "
     "ON CONFLICT (issuer_id, shard) DO UPDATE SET last_number = crl_numbers.last_number + 1 RETURNING last_number"},
    {Sql::save_crl, "save CRL",
     "INSERT INTO crl_state (issuer_id, shard, delta, number, base_number, this_update, next_update, der) "
     "VALUES (?1, ?6, ?7, ?2, ?8, ?3, ?4, zeroblob(?5)) "
     "ON CONFLICT (issuer_id, shard, delta) DO UPDATE SET number = ?2, base_number = ?8, this_update = ?3, "
     "next_update = ?4, der = zeroblob(?5) WHERE crl_state.number < ?2 RETURNING rowid"},
    {Sql::latest_crl, "read CRL",
     "SELECT number, this_update, next_update, der, shard, delta, base_number FROM crl_state "
     "WHERE issuer_id = ?1 AND shard = ?2 AND delta = ?3"},
    {Sql::latest_crl_this_update, "read CRL thisUpdate",
     "SELECT this_update FROM crl_state WHERE issuer_id = ?1 AND shard = ?2 AND delta = ?3"},
    {Sql::list_crls, "list CRLs",
     "SELECT number, this_update, next_update, der, shard, delta, base_number FROM crl_state "
     "WHERE issuer_id = ?1 ORDER BY shard, delta"},
    {Sql::insert_account, "insert ACME account",
     "INSERT INTO acme_accounts (" SIGIL_ACCOUNT_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
    {Sql::account_by_id, "read ACME account", "SELECT " SIGIL_ACCOUNT_COLUMNS " FROM acme_accounts WHERE id = ?1"},
    {Sql::account_by_thumbprint, "read ACME account by thumbprint",
     "SELECT " SIGIL_ACCOUNT_COLUMNS " FROM acme_accounts WHERE thumbprint = ?1"},
    {Sql::update_account, "update ACME account",
     "UPDATE acme_accounts SET thumbprint = ?1, jwk = ?2, status = ?3, terms_agreed = ?4 "
     "WHERE id = ?5 AND thumbprint = ?6 AND status = ?7 AND terms_agreed = ?8"},
    {Sql::list_accounts, "list ACME accounts",
     "SELECT " SIGIL_ACCOUNT_COLUMNS " FROM acme_accounts ORDER BY created_at, id"},
    {Sql::insert_contact, "insert ACME account contact",
     "INSERT INTO acme_account_contacts (account_id, position, contact) VALUES (?1, ?2, ?3)"},
    {Sql::delete_contacts, "delete ACME account contacts", "DELETE FROM acme_account_contacts WHERE account_id = ?1"},
    {Sql::contacts_of, "read ACME account contacts",
     "SELECT contact FROM acme_account_contacts WHERE account_id = ?1 ORDER BY position"},
    {Sql::insert_order, "insert ACME order",
     "INSERT INTO acme_orders (" SIGIL_ORDER_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"},
    {Sql::order_by_id, "read ACME order", "SELECT " SIGIL_ORDER_COLUMNS " FROM acme_orders WHERE id = ?1"},
    {Sql::update_order, "update ACME order",
     "UPDATE acme_orders SET status = ?1, expires = ?2, certificate_serial = ?3, error = ?4 "
     "WHERE id = ?5 AND status = ?6"},
    {Sql::order_status, "read ACME order status", "SELECT status FROM acme_orders WHERE id = ?1"},
    // replaces = ?1 implies replaces IS NOT NULL, so the partial index serves it, in order.
    {Sql::order_replacing, "find replacing ACME order",
     "SELECT " SIGIL_ORDER_COLUMNS " FROM acme_orders INDEXED BY acme_orders_replaces "
     "WHERE replaces = ?1 AND status <> 'invalid' ORDER BY created_at DESC, rowid DESC LIMIT 1"},
    // ?2 = now, ?3 = limit, (?4, ?5) = the cursor; the index is walked backwards from the cursor.
    {Sql::orders_of_account, "list ACME orders of account",
     "SELECT " SIGIL_ORDER_COLUMNS " FROM acme_orders INDEXED BY acme_orders_account "
     "WHERE account_id = ?1 AND status <> 'invalid' AND (status IN ('processing', 'valid') OR expires > ?2) "
     "ORDER BY created_at DESC, id DESC LIMIT ?3"},
    {Sql::orders_of_account_after, "list ACME orders of account",
     "SELECT " SIGIL_ORDER_COLUMNS " FROM acme_orders INDEXED BY acme_orders_account "
     "WHERE account_id = ?1 AND (created_at, id) < (?4, ?5) AND status <> 'invalid' "
     "AND (status IN ('processing', 'valid') OR expires > ?2) ORDER BY created_at DESC, id DESC LIMIT ?3"},
    {Sql::insert_order_identifier, "insert ACME order identifier",
     "INSERT INTO acme_order_identifiers (order_id, position, type, value) VALUES (?1, ?2, ?3, ?4)"},
    {Sql::order_identifiers, "read ACME order identifiers",
     "SELECT type, value FROM acme_order_identifiers WHERE order_id = ?1 ORDER BY position"},
    {Sql::insert_order_authorization, "link ACME order to authorization",
     "INSERT INTO acme_order_authorizations (order_id, position, authorization_id) VALUES (?1, ?2, ?3)"},
    {Sql::order_authorization_ids, "read ACME order authorizations",
     "SELECT authorization_id FROM acme_order_authorizations WHERE order_id = ?1 ORDER BY position"},
    {Sql::insert_authorization, "insert ACME authorization",
     "INSERT INTO acme_authorizations (id, account_id, order_id, identifier_type, identifier_value, wildcard, "
     "status, expires, token) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"},
    {Sql::authorization_by_id, "read ACME authorization",
     "SELECT " SIGIL_AUTHZ_COLUMNS " FROM acme_authorizations AS a WHERE a.id = ?1"},
    {Sql::update_authorization, "update ACME authorization",
     "UPDATE acme_authorizations SET status = ?1, expires = ?2 WHERE id = ?3 AND status = ?4"},
    {Sql::authorization_status, "read ACME authorization status",
     "SELECT status FROM acme_authorizations WHERE id = ?1"},
    {Sql::authorizations_of_order, "read ACME authorizations of order",
     "SELECT " SIGIL_AUTHZ_COLUMNS " FROM acme_order_authorizations AS l "
     "JOIN acme_authorizations AS a ON a.id = l.authorization_id WHERE l.order_id = ?1 ORDER BY l.position"},
    // status = 'valid' selects the partial index; the latest expiry is its last entry.
    {Sql::reusable_authorization, "find reusable ACME authorization",
     "SELECT " SIGIL_AUTHZ_COLUMNS " FROM acme_authorizations AS a INDEXED BY acme_authorizations_reusable "
     "WHERE a.account_id = ?1 AND a.identifier_type = ?2 AND a.identifier_value = ?3 AND a.wildcard = ?4 "
     "AND a.status = 'valid' AND a.expires > ?5 ORDER BY a.expires DESC LIMIT 1"},
    {Sql::insert_challenge, "insert ACME challenge",
     "INSERT INTO acme_challenges (authorization_id, position, type, status, validated, error) "
     "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
    {Sql::delete_challenges, "delete ACME challenges", "DELETE FROM acme_challenges WHERE authorization_id = ?1"},
    {Sql::challenges_of, "read ACME challenges",
     "SELECT type, status, validated, error FROM acme_challenges WHERE authorization_id = ?1 ORDER BY position"},
    {Sql::insert_eab_key, "insert EAB key",
     "INSERT INTO acme_eab_keys (" SIGIL_EAB_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, NULL)"},
    {Sql::eab_key_by_kid, "read EAB key", "SELECT " SIGIL_EAB_COLUMNS " FROM acme_eab_keys WHERE kid = ?1"},
    {Sql::list_eab_keys, "list EAB keys", "SELECT " SIGIL_EAB_COLUMNS " FROM acme_eab_keys ORDER BY created_at, kid"},
    {Sql::insert_eab_allowed, "insert EAB allowed identifier",
     "INSERT INTO acme_eab_allowed_identifiers (kid, position, pattern) VALUES (?1, ?2, ?3)"},
    {Sql::eab_allowed_of, "read EAB allowed identifiers",
     "SELECT pattern FROM acme_eab_allowed_identifiers WHERE kid = ?1 ORDER BY position"},
    {Sql::bind_eab_key, "bind EAB key",
     "UPDATE acme_eab_keys SET account_id = ?1 WHERE kid = ?2 AND account_id IS NULL AND revoked_at IS NULL"},
    {Sql::eab_state, "read EAB key state", "SELECT account_id, revoked_at FROM acme_eab_keys WHERE kid = ?1"},
    {Sql::revoke_eab_key, "revoke EAB key",
     "UPDATE acme_eab_keys SET revoked_at = ?1 WHERE kid = ?2 AND revoked_at IS NULL"},
    {Sql::rate_prune, "prune rate-limit windows",
     "DELETE FROM acme_rate_counters WHERE key = ?1 AND window_start < ?2"},
    // One statement: the count is tested and raised under the write lock, so two connections
    // (or processes) cannot both take the last hit. No row comes back when the limit is reached.
    {Sql::rate_take, "take rate-limit hit",
     "INSERT INTO acme_rate_counters (key, window_start, hits) VALUES (?1, ?2, 1) "
     "ON CONFLICT (key, window_start) DO UPDATE SET hits = hits + 1 WHERE hits < ?3 RETURNING hits"},
    {Sql::rate_count, "read rate-limit count",
     "SELECT hits FROM acme_rate_counters WHERE key = ?1 AND window_start = ?2"},
    {Sql::flag_serial, "flag for renewal",
     "INSERT OR IGNORE INTO renewal_flags (serial, flagged_at) SELECT serial, ?2 FROM certificates "
     "WHERE serial = ?1 AND status = 'valid' AND not_after > ?2"},
    {Sql::flag_issued_before, "flag for renewal by issuance time",
     "INSERT OR IGNORE INTO renewal_flags (serial, flagged_at) SELECT serial, ?2 FROM certificates "
     "WHERE created_at < ?1 AND status = 'valid' AND not_after > ?2"},
    {Sql::flagged_at, "read renewal flag", "SELECT flagged_at FROM renewal_flags WHERE serial = ?1"},
    {Sql::heartbeat, "record heartbeat",
     "INSERT INTO nodes (id, hostname, urls, version, started_at, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
     "ON CONFLICT (id) DO UPDATE SET hostname = ?2, urls = ?3, version = ?4, last_seen = ?6"},
    {Sql::nodes, "read nodes",
     "SELECT id, hostname, urls, version, started_at, last_seen FROM nodes WHERE last_seen >= ?1 ORDER BY id"},
}};

constexpr bool sql_table_in_order() {
  for (std::size_t i = 0; i < kSql.size(); ++i) {
    if (static_cast<std::size_t>(kSql[i].id) != i) return false;
  }
  return true;
}
static_assert(sql_table_in_order(), "kSql must list the statements in the order of enum Sql");

}  // namespace sigil::store::sqlite::detail
