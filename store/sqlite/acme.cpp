// ACME state: accounts, orders, authorizations, EAB keys and rate limits.
//
// Durability: accounts, EAB keys and standalone rate hits are durable group writes (the WAL is
// synced before they return). The state of orders, authorizations and challenges (create_order,
// update_order, update_authorization, with the audit rows and rate hits that ride with them) is
// a deferred group write: committed to the WAL, not synced. A crashed or killed process loses none of
// it; a power failure can lose the latest of it, which costs a client a new order (a pending
// order is worth nothing on its own), never a certificate: a certificate is returned only after
// the ledger's durable commit, whose fsync makes every earlier WAL frame durable with it (the
// order's "processing" state and serial among them). See ops/README.md §6.
#include "store/acme_internal.hpp"
#include "store/sqlite/sqlite_internal.hpp"

namespace sigil::store::sqlite::detail {

Status explain_constraint(const Status& failed, int rc, const ConstraintDetails& d) {
  if ((rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) && !d.taken.empty()) {
    return make_error(Errc::already_exists, d.taken);
  }
  if (rc == SQLITE_CONSTRAINT_FOREIGNKEY && !d.missing.empty()) return make_error(Errc::not_found, d.missing);
  return failed;
}

Status SqliteStore::create_account(const AcmeAccount& a, const AuditEntry& audit) {
  SIGIL_TRY_STATUS(check_account(a));
  return group_write([&]() -> Status {
    {
      Query q = use(Sql::insert_account);
      q.bind(1, a.id).bind(2, a.thumbprint).bind(3, a.jwk).bind(4, to_string(a.status)).bind(5, a.terms_agreed);
      q.bind_or_null(6, a.eab_kid).bind(7, a.created_at);
      Status st = q.run();
      if (!st) {
        if (q.last_rc() == SQLITE_CONSTRAINT_UNIQUE && !a.eab_kid.empty()) {
          // Either the thumbprint is taken or the key is bound already; the thumbprint wins.
          SIGIL_TRY(std::optional<AcmeAccount> holder, read_account(Sql::account_by_thumbprint, a.thumbprint));
          if (!holder) return explain_eab_unavailable(a.eab_kid);
        }
        return explain_constraint(
            st, q.last_rc(),
            {q.last_rc() == SQLITE_CONSTRAINT_PRIMARYKEY ? "account " + a.id + " already exists"
                                                         : "an account with this key already exists",
             "no EAB key " + a.eab_kid});
      }
    }
    SIGIL_TRY_STATUS(insert_contacts(a.id, a.contact));
    if (!a.eab_kid.empty()) {
      {
        Query q = use(Sql::bind_eab_key);
        q.bind(1, a.id).bind(2, a.eab_kid);
        SIGIL_TRY_STATUS(q.run());
      }
      if (sqlite3_changes(db_.get()) == 0) return explain_eab_unavailable(a.eab_kid);
    }
    return insert_audit(audit);
  });
}

Result<std::optional<AcmeAccount>> SqliteStore::account(const std::string& id) {
  std::lock_guard lock(mu_);
  std::optional<AcmeAccount> out;
  SIGIL_TRY_STATUS(in_read_transaction([&]() -> Status {
    SIGIL_TRY(out, read_account(Sql::account_by_id, id));
    return {};
  }));
  return out;
}

Result<std::optional<AcmeAccount>> SqliteStore::account_by_thumbprint(const std::string& thumbprint) {
  std::lock_guard lock(mu_);
  std::optional<AcmeAccount> out;
  SIGIL_TRY_STATUS(in_read_transaction([&]() -> Status {
    SIGIL_TRY(out, read_account(Sql::account_by_thumbprint, thumbprint));
    return {};
  }));
  return out;
}

Status SqliteStore::update_account(const AcmeAccount& a, const AcmeAccount& expected, const AuditEntry& audit) {
  SIGIL_TRY_STATUS(check_account(a));
  return group_write([&]() -> Status {
    const auto changed = [&] { return make_error(Errc::conflict, "account " + a.id + " changed meanwhile"); };
    // The contacts are rows of their own: compared here, inside the same write transaction.
    SIGIL_TRY(std::vector<std::string> contact, read_strings(Sql::contacts_of, a.id));
    if (contact != expected.contact) {
      SIGIL_TRY(std::optional<AcmeAccount> now, read_account(Sql::account_by_id, a.id));
      if (!now) return make_error(Errc::not_found, "no account " + a.id);
      return changed();
    }
    {
      Query q = use(Sql::update_account);
      q.bind(1, a.thumbprint).bind(2, a.jwk).bind(3, to_string(a.status)).bind(4, a.terms_agreed).bind(5, a.id);
      q.bind(6, expected.thumbprint).bind(7, to_string(expected.status)).bind(8, expected.terms_agreed);
      Status st = q.run();
      if (!st) return explain_constraint(st, q.last_rc(), {"another account already has this key", ""});
    }
    if (sqlite3_changes(db_.get()) == 0) {
      SIGIL_TRY(std::optional<AcmeAccount> now, read_account(Sql::account_by_id, a.id));
      if (!now) return make_error(Errc::not_found, "no account " + a.id);
      return changed();
    }
    {
      Query q = use(Sql::delete_contacts);
      q.bind(1, a.id);
      SIGIL_TRY_STATUS(q.run());
    }
    SIGIL_TRY_STATUS(insert_contacts(a.id, a.contact));
    return insert_audit(audit);
  });
}

Result<std::vector<AcmeAccount>> SqliteStore::list_accounts() {
  std::lock_guard lock(mu_);
  std::vector<AcmeAccount> out;
  SIGIL_TRY_STATUS(in_read_transaction([&]() -> Status {
    std::vector<std::string> ids;
    {
      Query q = use(Sql::list_accounts);
      for (;;) {
        SIGIL_TRY(bool row, q.step());
        if (!row) break;
        ids.push_back(q.text(0));
      }
    }
    for (const auto& id : ids) {
      SIGIL_TRY(std::optional<AcmeAccount> a, read_account(Sql::account_by_id, id));
      if (a) out.push_back(std::move(*a));
    }
    return {};
  }));
  return out;
}

Status SqliteStore::create_order(const AcmeOrder& order, const std::vector<AcmeAuthorization>& authorizations,
                                 const AuditEntry& audit, const std::optional<RateHit>& rate) {
  SIGIL_TRY_STATUS(check_new_order(order, authorizations));
  const auto change = [&]() -> Status {
    if (rate) SIGIL_TRY_STATUS(take_hit(*rate));
    {
      Query q = use(Sql::insert_order);
      q.bind(1, order.id).bind(2, order.account_id).bind(3, to_string(order.status)).bind(4, order.expires);
      q.bind(5, order.not_before).bind(6, order.not_after).bind(7, order.profile).bind_or_null(8, order.replaces);
      q.bind(9, order.certificate_serial).bind(10, order.error).bind(11, order.created_at);
      Status st = q.run();
      if (!st) {
        return explain_constraint(st, q.last_rc(),
                                  {"order " + order.id + " already exists", "no account " + order.account_id});
      }
    }
    for (std::size_t i = 0; i < order.identifiers.size(); ++i) {
      Query q = use(Sql::insert_order_identifier);
      q.bind(1, order.id).bind(2, static_cast<std::int64_t>(i));
      q.bind(3, order.identifiers[i].type).bind(4, order.identifiers[i].value);
      SIGIL_TRY_STATUS(q.run());
    }
    for (const AcmeAuthorization& authz : authorizations) SIGIL_TRY_STATUS(insert_authorization(authz));
    for (std::size_t i = 0; i < order.authorization_ids.size(); ++i) {
      Query q = use(Sql::insert_order_authorization);
      q.bind(1, order.id).bind(2, static_cast<std::int64_t>(i)).bind(3, order.authorization_ids[i]);
      Status st = q.run();
      if (!st) {
        return explain_constraint(st, q.last_rc(), {"", "no authorization " + order.authorization_ids[i]});
      }
    }
    return insert_audit(audit);
  };
  return group_write(change, Durability::deferred);
}

Result<std::optional<AcmeOrder>> SqliteStore::order(const std::string& id) {
  std::lock_guard lock(mu_);
  std::optional<AcmeOrder> out;
  SIGIL_TRY_STATUS(in_read_transaction([&]() -> Status {
    SIGIL_TRY(out, read_order(Sql::order_by_id, id));
    return {};
  }));
  return out;
}

Status SqliteStore::update_order(const AcmeOrder& order, OrderStatus expected_status) {
  SIGIL_TRY_STATUS(check_status(order.status, "order"));
  const auto change = [&]() -> Status {
    {
      Query q = use(Sql::update_order);
      q.bind(1, to_string(order.status)).bind(2, order.expires).bind(3, order.certificate_serial).bind(4, order.error);
      q.bind(5, order.id).bind(6, to_string(expected_status));
      SIGIL_TRY_STATUS(q.run());
    }
    if (sqlite3_changes(db_.get()) == 0) {
      return explain_status_changed(Sql::order_status, "order", order.id, to_string(expected_status));
    }
    return {};
  };
  return group_write(change, Durability::deferred);
}

Result<std::optional<AcmeOrder>> SqliteStore::order_replacing(const std::string& replaces) {
  if (replaces.empty()) return std::optional<AcmeOrder>{};  // "" means "replaces nothing"
  std::lock_guard lock(mu_);
  std::optional<AcmeOrder> out;
  SIGIL_TRY_STATUS(in_read_transaction([&]() -> Status {
    SIGIL_TRY(out, read_order(Sql::order_replacing, replaces));
    return {};
  }));
  return out;
}

Result<std::vector<AcmeOrder>> SqliteStore::orders_of_account(const std::string& account_id, std::int64_t now,
                                                              const std::optional<AcmeOrderCursor>& after, int limit) {
  if (limit < 1 || limit > kMaxLimit) {
    return make_error(Errc::invalid_argument, "limit must be between 1 and " + std::to_string(kMaxLimit));
  }
  std::lock_guard lock(mu_);
  std::vector<AcmeOrder> out;
  SIGIL_TRY_STATUS(in_read_transaction([&]() -> Status {
    Query q = use(after ? Sql::orders_of_account_after : Sql::orders_of_account);
    q.bind(1, account_id).bind(2, now).bind(3, static_cast<std::int64_t>(limit));
    if (after) q.bind(4, after->created_at).bind(5, after->id);
    for (;;) {
      SIGIL_TRY(bool row, q.step());
      if (!row) return {};
      SIGIL_TRY(AcmeOrder o, read_order_row(q));
      out.push_back(std::move(o));
    }
  }));
  return out;
}

Result<std::optional<AcmeAuthorization>> SqliteStore::authorization(const std::string& id) {
  std::lock_guard lock(mu_);
  std::optional<AcmeAuthorization> out;
  SIGIL_TRY_STATUS(in_read_transaction([&]() -> Status {
    Query q = use(Sql::authorization_by_id);
    q.bind(1, id);
    SIGIL_TRY(bool row, q.step());
    if (!row) return {};
    SIGIL_TRY(out, read_authorization(q));
    return {};
  }));
  return out;
}

Status SqliteStore::update_authorization(const AcmeAuthorization& authz, AuthorizationStatus expected_status,
                                         const AuditEntry* audit, const std::optional<RateHit>& rate) {
  SIGIL_TRY_STATUS(check_authorization(authz));
  const auto change = [&]() -> Status {
    {
      Query q = use(Sql::update_authorization);
      q.bind(1, to_string(authz.status)).bind(2, authz.expires).bind(3, authz.id).bind(4, to_string(expected_status));
      SIGIL_TRY_STATUS(q.run());
    }
    if (sqlite3_changes(db_.get()) == 0) {
      return explain_status_changed(Sql::authorization_status, "authorization", authz.id, to_string(expected_status));
    }
    {
      Query q = use(Sql::delete_challenges);
      q.bind(1, authz.id);
      SIGIL_TRY_STATUS(q.run());
    }
    SIGIL_TRY_STATUS(insert_challenges(authz));
    if (rate) SIGIL_TRY_STATUS(take_hit(*rate));
    return audit != nullptr ? insert_audit(*audit) : Status{};
  };
  return group_write(change, Durability::deferred);
}

Result<std::optional<AcmeAuthorization>> SqliteStore::reusable_authorization(const std::string& account_id,
                                                                             const AcmeIdentifier& identifier,
                                                                             bool wildcard,
                                                                             std::int64_t expires_after) {
  std::lock_guard lock(mu_);
  std::optional<AcmeAuthorization> out;
  SIGIL_TRY_STATUS(in_read_transaction([&]() -> Status {
    Query q = use(Sql::reusable_authorization);
    q.bind(1, account_id).bind(2, identifier.type).bind(3, identifier.value).bind(4, wildcard);
    q.bind(5, expires_after);
    SIGIL_TRY(bool row, q.step());
    if (!row) return {};
    SIGIL_TRY(out, read_authorization(q));
    return {};
  }));
  return out;
}

Result<std::vector<AcmeAuthorization>> SqliteStore::authorizations_of_order(const std::string& order_id) {
  std::lock_guard lock(mu_);
  std::vector<AcmeAuthorization> out;
  SIGIL_TRY_STATUS(in_read_transaction([&]() -> Status {
    Query q = use(Sql::authorizations_of_order);
    q.bind(1, order_id);
    for (;;) {
      SIGIL_TRY(bool row, q.step());
      if (!row) return {};
      SIGIL_TRY(AcmeAuthorization authz, read_authorization(q));
      out.push_back(std::move(authz));
    }
  }));
  return out;
}

Status SqliteStore::create_eab_key(const EabKey& key, const AuditEntry& audit) {
  SIGIL_TRY_STATUS(check_new_eab_key(key));
  return group_write([&]() -> Status {
    {
      Query q = use(Sql::insert_eab_key);
      q.bind(1, key.kid).bind(2, key.hmac_key).bind(3, key.description).bind(4, key.created_at);
      q.bind(5, key.revoked_at);
      Status st = q.run();
      if (!st) return explain_constraint(st, q.last_rc(), {"EAB key " + key.kid + " already exists", ""});
    }
    for (std::size_t i = 0; i < key.allowed_identifiers.size(); ++i) {
      Query q = use(Sql::insert_eab_allowed);
      q.bind(1, key.kid).bind(2, static_cast<std::int64_t>(i)).bind(3, key.allowed_identifiers[i]);
      SIGIL_TRY_STATUS(q.run());
    }
    return insert_audit(audit);
  });
}

Result<std::optional<EabKey>> SqliteStore::eab_key(const std::string& kid) {
  std::lock_guard lock(mu_);
  std::optional<EabKey> out;
  SIGIL_TRY_STATUS(in_read_transaction([&]() -> Status {
    Query q = use(Sql::eab_key_by_kid);
    q.bind(1, kid);
    SIGIL_TRY(bool row, q.step());
    if (!row) return {};
    SIGIL_TRY(out, read_eab_key(q));
    return {};
  }));
  return out;
}

Result<std::vector<EabKey>> SqliteStore::list_eab_keys() {
  std::lock_guard lock(mu_);
  std::vector<EabKey> out;
  SIGIL_TRY_STATUS(in_read_transaction([&]() -> Status {
    Query q = use(Sql::list_eab_keys);
    for (;;) {
      SIGIL_TRY(bool row, q.step());
      if (!row) return {};
      SIGIL_TRY(EabKey key, read_eab_key(q));
      out.push_back(std::move(key));
    }
  }));
  return out;
}

Status SqliteStore::revoke_eab_key(const std::string& kid, std::int64_t at, const AuditEntry& audit) {
  return group_write([&]() -> Status {
    {
      Query q = use(Sql::revoke_eab_key);
      q.bind(1, at).bind(2, kid);
      SIGIL_TRY_STATUS(q.run());
    }
    if (sqlite3_changes(db_.get()) == 0) {
      Query q = use(Sql::eab_state);
      q.bind(1, kid);
      SIGIL_TRY(bool row, q.step());
      if (!row) return make_error(Errc::not_found, "no EAB key " + kid);
      return make_error(Errc::conflict, "EAB key " + kid + " is already revoked");
    }
    return insert_audit(audit);
  });
}

Result<bool> SqliteStore::rate_take(const std::string& key, std::int64_t window_start, std::int64_t limit) {
  if (limit < 0) return make_error(Errc::invalid_argument, "rate limit is negative");
  if (limit == 0) return false;  // nothing may be taken, so nothing is written
  bool taken = false;
  Status st = group_write([&]() -> Status {
    Status hit = take_hit(RateHit{key, window_start, limit});
    if (!hit && hit.error().code != Errc::rate_limited) return hit;
    taken = hit.has_value();
    return {};
  });
  if (!st) return st.error();
  return taken;
}

Result<std::int64_t> SqliteStore::rate_count(const std::string& key, std::int64_t window_start) {
  std::lock_guard lock(mu_);
  Query q = use(Sql::rate_count);
  q.bind(1, key).bind(2, window_start);
  SIGIL_TRY(bool row, q.step());
  return row ? q.int64(0) : 0;
}

Status SqliteStore::take_hit(const RateHit& hit) {
  if (hit.limit <= 0) return make_error(Errc::rate_limited, "rate limit " + hit.key + " is 0");
  {
    Query q = use(Sql::rate_prune);
    q.bind(1, hit.key).bind(2, hit.window_start);
    SIGIL_TRY_STATUS(q.run());
  }
  Query q = use(Sql::rate_take);
  q.bind(1, hit.key).bind(2, hit.window_start).bind(3, hit.limit);
  SIGIL_TRY(bool taken, q.step());
  if (!taken) return make_error(Errc::rate_limited, "rate limit " + hit.key + " reached");
  SIGIL_TRY(bool more, q.step());  // runs the statement to completion
  (void)more;
  return {};
}

Status SqliteStore::explain_status_changed(Sql status_query, std::string_view kind, const std::string& id,
                                           std::string_view expected) {
  Query q = use(status_query);
  q.bind(1, id);
  SIGIL_TRY(bool row, q.step());
  if (!row) return make_error(Errc::not_found, "no " + std::string(kind) + " " + id);
  return make_error(Errc::conflict, std::string(kind) + " " + id + " is " + q.text(0) + ", not " +
                                        std::string(expected) + " as expected");
}

Status SqliteStore::explain_eab_unavailable(const std::string& kid) {
  Query q = use(Sql::eab_state);
  q.bind(1, kid);
  SIGIL_TRY(bool row, q.step());
  if (!row) return make_error(Errc::not_found, "no EAB key " + kid);
  if (!q.is_null(1)) return make_error(Errc::conflict, "EAB key " + kid + " is revoked");
  return make_error(Errc::conflict, "EAB key " + kid + " is already bound to an account");
}

Status SqliteStore::insert_contacts(const std::string& account_id, const std::vector<std::string>& contact) {
  for (std::size_t i = 0; i < contact.size(); ++i) {
    Query q = use(Sql::insert_contact);
    q.bind(1, account_id).bind(2, static_cast<std::int64_t>(i)).bind(3, contact[i]);
    SIGIL_TRY_STATUS(q.run());
  }
  return {};
}

Status SqliteStore::insert_authorization(const AcmeAuthorization& authz) {
  {
    Query q = use(Sql::insert_authorization);
    q.bind(1, authz.id).bind(2, authz.account_id).bind(3, authz.order_id).bind(4, authz.identifier.type);
    q.bind(5, authz.identifier.value).bind(6, authz.wildcard).bind(7, to_string(authz.status)).bind(8, authz.expires);
    q.bind(9, authz.token);
    Status st = q.run();
    if (!st) return explain_constraint(st, q.last_rc(), {"authorization " + authz.id + " already exists", ""});
  }
  return insert_challenges(authz);
}

Status SqliteStore::insert_challenges(const AcmeAuthorization& authz) {
  for (std::size_t i = 0; i < authz.challenges.size(); ++i) {
    const AcmeChallenge& c = authz.challenges[i];
    Query q = use(Sql::insert_challenge);
    q.bind(1, authz.id).bind(2, static_cast<std::int64_t>(i)).bind(3, c.type).bind(4, to_string(c.status));
    q.bind(5, c.validated).bind(6, c.error);
    SIGIL_TRY_STATUS(q.run());
  }
  return {};
}

Result<std::vector<std::string>> SqliteStore::read_strings(Sql id, const std::string& key) {
  Query q = use(id);
  q.bind(1, key);
  std::vector<std::string> out;
  for (;;) {
    SIGIL_TRY(bool row, q.step());
    if (!row) return out;
    out.push_back(q.text(0));
  }
}

Result<std::optional<AcmeAccount>> SqliteStore::read_account(Sql id, const std::string& key) {
  Query q = use(id);
  q.bind(1, key);
  SIGIL_TRY(bool row, q.step());
  if (!row) return std::optional<AcmeAccount>{};
  AcmeAccount a;
  a.id = q.text(0);
  a.thumbprint = q.text(1);
  a.jwk = q.text(2);
  SIGIL_TRY(a.status, read_status<AccountStatus>(q.text(3), "account", "sqlite"));
  a.terms_agreed = q.int64(4) != 0;
  a.eab_kid = q.text(5);  // NULL reads as ""
  a.created_at = q.int64(6);
  SIGIL_TRY(a.contact, read_strings(Sql::contacts_of, a.id));
  return std::optional<AcmeAccount>(std::move(a));
}

Result<std::optional<AcmeOrder>> SqliteStore::read_order(Sql id, const std::string& key) {
  Query q = use(id);
  q.bind(1, key);
  SIGIL_TRY(bool row, q.step());
  if (!row) return std::optional<AcmeOrder>{};
  SIGIL_TRY(AcmeOrder o, read_order_row(q));
  return std::optional<AcmeOrder>(std::move(o));
}

Result<AcmeOrder> SqliteStore::read_order_row(const Query& q) {
  AcmeOrder o;
  o.id = q.text(0);
  o.account_id = q.text(1);
  SIGIL_TRY(o.status, read_status<OrderStatus>(q.text(2), "order", "sqlite"));
  o.expires = q.int64(3);
  o.not_before = q.optional_int64(4);
  o.not_after = q.optional_int64(5);
  o.profile = q.text(6);
  o.replaces = q.text(7);  // NULL reads as ""
  o.certificate_serial = q.text(8);
  o.error = q.text(9);
  o.created_at = q.int64(10);
  {
    Query ids = use(Sql::order_identifiers);
    ids.bind(1, o.id);
    for (;;) {
      SIGIL_TRY(bool more, ids.step());
      if (!more) break;
      o.identifiers.push_back(AcmeIdentifier{ids.text(0), ids.text(1)});
    }
  }
  SIGIL_TRY(o.authorization_ids, read_strings(Sql::order_authorization_ids, o.id));
  return o;
}

Result<AcmeAuthorization> SqliteStore::read_authorization(const Query& q) {
  AcmeAuthorization a;
  a.id = q.text(0);
  a.account_id = q.text(1);
  a.order_id = q.text(2);
  a.identifier = AcmeIdentifier{q.text(3), q.text(4)};
  a.wildcard = q.int64(5) != 0;
  SIGIL_TRY(a.status, read_status<AuthorizationStatus>(q.text(6), "authorization", "sqlite"));
  a.expires = q.int64(7);
  a.token = q.text(8);
  Query c = use(Sql::challenges_of);
  c.bind(1, a.id);
  for (;;) {
    SIGIL_TRY(bool row, c.step());
    if (!row) return a;
    SIGIL_TRY(const ChallengeStatus status, read_status<ChallengeStatus>(c.text(1), "challenge", "sqlite"));
    a.challenges.push_back(AcmeChallenge{c.text(0), status, c.int64(2), c.text(3)});
  }
}

Result<EabKey> SqliteStore::read_eab_key(const Query& q) {
  EabKey k;
  k.kid = q.text(0);
  k.hmac_key = q.blob(1);
  k.description = q.text(2);
  k.created_at = q.int64(3);
  k.revoked_at = q.optional_int64(4);
  k.account_id = q.text(5);  // NULL reads as ""
  SIGIL_TRY(k.allowed_identifiers, read_strings(Sql::eab_allowed_of, k.kid));
  return k;
}

}  // namespace sigil::store::sqlite::detail
