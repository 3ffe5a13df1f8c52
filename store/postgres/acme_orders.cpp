// ACME orders and authorizations on PostgreSQL. Creation is one READ COMMITTED transaction (the
// order, its identifiers, new authorizations and their challenges, the links, the rate hit and
// the audit row); updates are compare-and-set on the stored status by the UPDATE's WHERE, which
// PostgreSQL re-checks against the latest committed row after waiting for a concurrent writer:
// of two finalizations from two nodes exactly one matches.
#include "store/postgres/acme_internal.hpp"

namespace sigil::store::postgres::detail {

namespace {

#define SIGIL_PG_ORDER_COLUMNS                                                                            \
  "o.id, o.account_id, o.status, o.expires, o.not_before, o.not_after, o.profile, o.replaces, "           \
  "o.certificate_serial, o.error, o.created_at, "                                                         \
  "ARRAY(SELECT i.type FROM acme_order_identifiers AS i WHERE i.order_id = o.id ORDER BY i.position), "   \
  "ARRAY(SELECT i.value FROM acme_order_identifiers AS i WHERE i.order_id = o.id ORDER BY i.position), "  \
  "ARRAY(SELECT l.authorization_id FROM acme_order_authorizations AS l WHERE l.order_id = o.id ORDER BY " \
  "l.position)"
#define SIGIL_PG_AUTHZ_COLUMNS                                                                                \
  "a.id, a.account_id, a.order_id, a.identifier_type, a.identifier_value, a.wildcard, a.status, a.expires, "  \
  "a.token, "                                                                                                 \
  "ARRAY(SELECT c.type FROM acme_challenges AS c WHERE c.authorization_id = a.id ORDER BY c.position), "      \
  "ARRAY(SELECT c.status FROM acme_challenges AS c WHERE c.authorization_id = a.id ORDER BY c.position), "    \
  "ARRAY(SELECT c.validated FROM acme_challenges AS c WHERE c.authorization_id = a.id ORDER BY c.position), " \
  "ARRAY(SELECT c.error FROM acme_challenges AS c WHERE c.authorization_id = a.id ORDER BY c.position)"

constexpr Statement kInsertOrder{
    "acme_insert_order", "insert ACME order",
    "INSERT INTO acme_orders (id, account_id, status, expires, not_before, not_after, profile, replaces, "
    "certificate_serial, error, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"};
constexpr Statement kInsertIdentifiers{
    "acme_insert_order_identifiers", "insert ACME order identifiers",
    "INSERT INTO acme_order_identifiers (order_id, position, type, value) "
    "SELECT $1, t.n - 1, t.type, t.value FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS t(type, value, n)"};
constexpr Statement kLinkAuthorizations{"acme_link_order_authorizations", "link ACME order to authorizations",
                                        "INSERT INTO acme_order_authorizations (order_id, position, authorization_id) "
                                        "SELECT $1, t.n - 1, t.id FROM unnest($2::text[]) WITH ORDINALITY AS t(id, n)"};
constexpr Statement kOrderById{"acme_order_by_id", "read ACME order",
                               "SELECT " SIGIL_PG_ORDER_COLUMNS " FROM acme_orders AS o WHERE o.id = $1"};
constexpr Statement kUpdateOrder{"acme_update_order", "update ACME order",
                                 "UPDATE acme_orders SET status = $1, expires = $2, certificate_serial = $3, "
                                 "error = $4 WHERE id = $5 AND status = $6"};
constexpr Statement kOrderStatus{"acme_order_status", "read ACME order status",
                                 "SELECT status FROM acme_orders WHERE id = $1"};
// Ties within a second go to the larger id: PostgreSQL keeps no insertion order (SQLite's rowid).
constexpr Statement kOrderReplacing{"acme_order_replacing", "find replacing ACME order",
                                    "SELECT " SIGIL_PG_ORDER_COLUMNS
                                    " FROM acme_orders AS o "
                                    "WHERE o.replaces = $1 AND o.status <> 'invalid' "
                                    "ORDER BY o.created_at DESC, o.id DESC LIMIT 1"};
// $2 = now, $3 = limit, ($4, $5) = the cursor; acme_orders_account is walked backwards from it.
constexpr Statement kOrdersOfAccount{
    "acme_orders_of_account", "list ACME orders of account",
    "SELECT " SIGIL_PG_ORDER_COLUMNS
    " FROM acme_orders AS o "
    "WHERE o.account_id = $1 AND o.status <> 'invalid' AND (o.status IN ('processing', 'valid') OR o.expires > $2) "
    "ORDER BY o.created_at DESC, o.id DESC LIMIT $3"};
constexpr Statement kOrdersOfAccountAfter{
    "acme_orders_of_account_after", "list ACME orders of account",
    "SELECT " SIGIL_PG_ORDER_COLUMNS
    " FROM acme_orders AS o "
    "WHERE o.account_id = $1 AND (o.created_at, o.id) < ($4, $5) AND o.status <> 'invalid' "
    "AND (o.status IN ('processing', 'valid') OR o.expires > $2) ORDER BY o.created_at DESC, o.id DESC LIMIT $3"};

constexpr Statement kInsertAuthorization{
    "acme_insert_authorization", "insert ACME authorization",
    "INSERT INTO acme_authorizations (id, account_id, order_id, identifier_type, identifier_value, wildcard, "
    "status, expires, token) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"};
constexpr Statement kInsertChallenges{
    "acme_insert_challenges", "insert ACME challenges",
    "INSERT INTO acme_challenges (authorization_id, position, type, status, validated, error) "
    "SELECT $1, t.n - 1, t.type, t.status, t.validated, t.error "
    "FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[]) WITH ORDINALITY AS t(type, status, validated, "
    "error, n)"};
constexpr Statement kDeleteChallenges{"acme_delete_challenges", "delete ACME challenges",
                                      "DELETE FROM acme_challenges WHERE authorization_id = $1"};
constexpr Statement kAuthorizationById{"acme_authorization_by_id", "read ACME authorization",
                                       "SELECT " SIGIL_PG_AUTHZ_COLUMNS
                                       " FROM acme_authorizations AS a WHERE a.id = $1"};
constexpr Statement kUpdateAuthorization{
    "acme_update_authorization", "update ACME authorization",
    "UPDATE acme_authorizations SET status = $1, expires = $2 WHERE id = $3 AND status = $4"};
constexpr Statement kAuthorizationStatus{"acme_authorization_status", "read ACME authorization status",
                                         "SELECT status FROM acme_authorizations WHERE id = $1"};
constexpr Statement kAuthorizationsOfOrder{
    "acme_authorizations_of_order", "read ACME authorizations of order",
    "SELECT " SIGIL_PG_AUTHZ_COLUMNS
    " FROM acme_order_authorizations AS l "
    "JOIN acme_authorizations AS a ON a.id = l.authorization_id WHERE l.order_id = $1 ORDER BY l.position"};
// status = 'valid' matches the partial index acme_authorizations_reusable.
constexpr Statement kReusableAuthorization{
    "acme_reusable_authorization", "find reusable ACME authorization",
    "SELECT " SIGIL_PG_AUTHZ_COLUMNS
    " FROM acme_authorizations AS a "
    "WHERE a.account_id = $1 AND a.identifier_type = $2 AND a.identifier_value = $3 AND a.wildcard = $4 "
    "AND a.status = 'valid' AND a.expires > $5 ORDER BY a.expires DESC LIMIT 1"};

// The error of a failed statement with the record named instead of the SQL, for the codes the
// contract gives a meaning (a taken id, a missing parent); others pass unchanged.
Error explained(const Error& e, const std::string& taken, const std::string& missing) {
  if (e.code == Errc::already_exists && !taken.empty()) return make_error(e.code, taken);
  if (e.code == Errc::not_found && !missing.empty()) return make_error(e.code, missing);
  return e;
}

Result<AcmeOrder> read_order(const Rows& r, int row) {
  AcmeOrder o;
  o.id = r.text(row, 0);
  o.account_id = r.text(row, 1);
  SIGIL_TRY(o.status, read_status<OrderStatus>(r.text(row, 2), "order"));
  o.expires = r.int64(row, 3);
  o.not_before = r.optional_int64(row, 4);
  o.not_after = r.optional_int64(row, 5);
  o.profile = r.text(row, 6);
  o.replaces = r.text(row, 7);  // NULL reads as ""
  o.certificate_serial = r.text(row, 8);
  o.error = r.text(row, 9);
  o.created_at = r.int64(row, 10);
  SIGIL_TRY(std::vector<std::string> types, parse_text_array(r.text(row, 11)));
  SIGIL_TRY(std::vector<std::string> values, parse_text_array(r.text(row, 12)));
  if (types.size() != values.size()) return make_error(Errc::storage, "postgresql: order identifiers disagree");
  for (std::size_t i = 0; i < types.size(); ++i) o.identifiers.push_back(AcmeIdentifier{types[i], values[i]});
  SIGIL_TRY(o.authorization_ids, parse_text_array(r.text(row, 13)));
  return o;
}

Result<AcmeAuthorization> read_authorization(const Rows& r, int row) {
  AcmeAuthorization a;
  a.id = r.text(row, 0);
  a.account_id = r.text(row, 1);
  a.order_id = r.text(row, 2);
  a.identifier = AcmeIdentifier{r.text(row, 3), r.text(row, 4)};
  a.wildcard = r.boolean(row, 5);
  SIGIL_TRY(a.status, read_status<AuthorizationStatus>(r.text(row, 6), "authorization"));
  a.expires = r.int64(row, 7);
  a.token = r.text(row, 8);
  SIGIL_TRY(std::vector<std::string> types, parse_text_array(r.text(row, 9)));
  SIGIL_TRY(std::vector<std::string> statuses, parse_text_array(r.text(row, 10)));
  SIGIL_TRY(std::vector<std::int64_t> validated, parse_int_array(r.text(row, 11)));
  SIGIL_TRY(std::vector<std::string> errors, parse_text_array(r.text(row, 12)));
  if (statuses.size() != types.size() || validated.size() != types.size() || errors.size() != types.size()) {
    return make_error(Errc::storage, "postgresql: challenges of authorization " + a.id + " disagree");
  }
  for (std::size_t i = 0; i < types.size(); ++i) {
    SIGIL_TRY(const ChallengeStatus status, read_status<ChallengeStatus>(statuses[i], "challenge"));
    a.challenges.push_back(AcmeChallenge{types[i], status, validated[i], errors[i]});
  }
  return a;
}

Result<std::optional<AcmeAuthorization>> one_authorization(const Rows& r) {
  if (r.empty()) return std::optional<AcmeAuthorization>{};
  SIGIL_TRY(AcmeAuthorization a, read_authorization(r, 0));
  return std::optional<AcmeAuthorization>(std::move(a));
}

Result<std::optional<AcmeOrder>> one_order(const Rows& r) {
  if (r.empty()) return std::optional<AcmeOrder>{};
  SIGIL_TRY(AcmeOrder o, read_order(r, 0));
  return std::optional<AcmeOrder>(std::move(o));
}

Status insert_challenges(Conn& c, const AcmeAuthorization& authz) {
  if (authz.challenges.empty()) return {};
  std::vector<std::string> types, statuses, errors;
  std::vector<std::int64_t> validated;
  for (const AcmeChallenge& ch : authz.challenges) {
    types.push_back(ch.type);
    statuses.push_back(to_string(ch.status));
    validated.push_back(ch.validated);
    errors.push_back(ch.error);
  }
  Params p;
  p.add(authz.id).add(text_array(types)).add(text_array(statuses)).add(int_array(validated)).add(text_array(errors));
  SIGIL_TRY(Rows r, c.run(kInsertChallenges, p));
  (void)r;
  return {};
}

Status insert_authorization(Conn& c, const AcmeAuthorization& authz) {
  Params p;
  p.add(authz.id).add(authz.account_id).add(authz.order_id).add(authz.identifier.type).add(authz.identifier.value);
  p.add(authz.wildcard).add(to_string(authz.status)).add(authz.expires).add(authz.token);
  auto inserted = c.run(kInsertAuthorization, p);
  if (!inserted) return explained(inserted.error(), "authorization " + authz.id + " already exists", "");
  return insert_challenges(c, authz);
}

Status insert_order(Conn& c, const AcmeOrder& order) {
  Params p;
  p.add(order.id).add(order.account_id).add(to_string(order.status)).add(order.expires).add(order.not_before);
  p.add(order.not_after).add(order.profile).add_or_null(order.replaces).add(order.certificate_serial);
  p.add(order.error).add(order.created_at);
  auto inserted = c.run(kInsertOrder, p);
  if (!inserted) {
    return explained(inserted.error(), "order " + order.id + " already exists", "no account " + order.account_id);
  }
  if (!order.identifiers.empty()) {
    std::vector<std::string> types, values;
    for (const AcmeIdentifier& id : order.identifiers) {
      types.push_back(id.type);
      values.push_back(id.value);
    }
    SIGIL_TRY(Rows r, c.run(kInsertIdentifiers, Params().add(order.id).add(text_array(types)).add(text_array(values))));
    (void)r;
  }
  return {};
}

// Why a compare-and-set on a status matched no row: the id is unknown, or the status moved on.
Status explain_status_changed(Conn& c, const Statement& status_query, std::string_view kind, const std::string& id,
                              std::string_view expected) {
  SIGIL_TRY(Rows r, c.run(status_query, Params().add(id)));
  if (r.empty()) return make_error(Errc::not_found, "no " + std::string(kind) + " " + id);
  return make_error(Errc::conflict, std::string(kind) + " " + id + " is " + r.text(0, 0) + ", not " +
                                        std::string(expected) + " as expected");
}

}  // namespace

// ---- orders ------------------------------------------------------------------------------------

Status PgStore::create_order(const AcmeOrder& order, const std::vector<AcmeAuthorization>& authorizations,
                             const AuditEntry& audit, const std::optional<RateHit>& rate) {
  SIGIL_TRY_STATUS(check_new_order(order, authorizations));
  return transaction(pool_, Isolation::read_committed, [&](Conn& c) -> Status {
    SIGIL_TRY_STATUS(relax_commit(c));
    SIGIL_TRY_STATUS(insert_order(c, order));
    for (const AcmeAuthorization& authz : authorizations) SIGIL_TRY_STATUS(insert_authorization(c, authz));
    if (!order.authorization_ids.empty()) {
      auto linked = c.run(kLinkAuthorizations, Params().add(order.id).add(text_array(order.authorization_ids)));
      if (!linked) {
        return explained(linked.error(), "", "order " + order.id + " names an authorization that does not exist");
      }
    }
    // The hit last: the counter's row stays locked only for the rest of this transaction.
    if (rate) SIGIL_TRY_STATUS(take_hit(c, *rate));
    return insert_audit(c, audit);
  });
}

Result<std::optional<AcmeOrder>> PgStore::order(const std::string& id) {
  SIGIL_TRY(Rows r, read(pool_, kOrderById, Params().add(id)));
  return one_order(r);
}

Status PgStore::update_order(const AcmeOrder& order, OrderStatus expected_status) {
  SIGIL_TRY_STATUS(check_status(order.status, "order"));
  SIGIL_TRY(Lease c, pool_.acquire());
  // One statement in autocommit: the WHERE on the status decides the winner. It stays a
  // synchronous commit: relaxing it would take a transaction of its own (three round trips more),
  // and finalize's next write, the certificate's reservation, waits for a WAL flush anyway.
  Params p;
  p.add(to_string(order.status)).add(order.expires).add(order.certificate_serial).add(order.error);
  p.add(order.id).add(to_string(expected_status));
  SIGIL_TRY(Rows updated, c->run(kUpdateOrder, p));
  if (updated.affected() == 0) {
    return explain_status_changed(*c, kOrderStatus, "order", order.id, to_string(expected_status));
  }
  return {};
}

Result<std::optional<AcmeOrder>> PgStore::order_replacing(const std::string& replaces) {
  if (replaces.empty()) return std::optional<AcmeOrder>{};  // "" means "replaces nothing"
  SIGIL_TRY(Rows r, read(pool_, kOrderReplacing, Params().add(replaces)));
  return one_order(r);
}

Result<std::vector<AcmeOrder>> PgStore::orders_of_account(const std::string& account_id, std::int64_t now,
                                                          const std::optional<AcmeOrderCursor>& after, int limit) {
  if (limit < 1 || limit > kMaxLimit) {
    return make_error(Errc::invalid_argument, "limit must be between 1 and " + std::to_string(kMaxLimit));
  }
  Params p;
  p.add(account_id).add(now).add(limit);
  if (after) p.add(after->created_at).add(after->id);
  SIGIL_TRY(Rows r, read(pool_, after ? kOrdersOfAccountAfter : kOrdersOfAccount, p));
  return read_each<AcmeOrder>(r, read_order);
}

// ---- authorizations ----------------------------------------------------------------------------

Result<std::optional<AcmeAuthorization>> PgStore::authorization(const std::string& id) {
  SIGIL_TRY(Rows r, read(pool_, kAuthorizationById, Params().add(id)));
  return one_authorization(r);
}

Status PgStore::update_authorization(const AcmeAuthorization& authz, AuthorizationStatus expected_status,
                                     const AuditEntry* audit, const std::optional<RateHit>& rate) {
  SIGIL_TRY_STATUS(check_authorization(authz));
  return transaction(pool_, Isolation::read_committed, [&](Conn& c) -> Status {
    SIGIL_TRY_STATUS(relax_commit(c));
    {
      Params p;
      p.add(to_string(authz.status)).add(authz.expires).add(authz.id).add(to_string(expected_status));
      SIGIL_TRY(Rows updated, c.run(kUpdateAuthorization, p));
      if (updated.affected() == 0) {
        return explain_status_changed(c, kAuthorizationStatus, "authorization", authz.id, to_string(expected_status));
      }
    }
    SIGIL_TRY(Rows deleted, c.run(kDeleteChallenges, Params().add(authz.id)));
    (void)deleted;
    SIGIL_TRY_STATUS(insert_challenges(c, authz));
    if (rate) SIGIL_TRY_STATUS(take_hit(c, *rate));
    return audit != nullptr ? insert_audit(c, *audit) : Status{};
  });
}

Result<std::optional<AcmeAuthorization>> PgStore::reusable_authorization(const std::string& account_id,
                                                                         const AcmeIdentifier& identifier,
                                                                         bool wildcard, std::int64_t expires_after) {
  Params p;
  p.add(account_id).add(identifier.type).add(identifier.value).add(wildcard).add(expires_after);
  SIGIL_TRY(Rows r, read(pool_, kReusableAuthorization, p));
  return one_authorization(r);
}

Result<std::vector<AcmeAuthorization>> PgStore::authorizations_of_order(const std::string& order_id) {
  SIGIL_TRY(Rows r, read(pool_, kAuthorizationsOfOrder, Params().add(order_id)));
  return read_each<AcmeAuthorization>(r, read_authorization);
}

}  // namespace sigil::store::postgres::detail
