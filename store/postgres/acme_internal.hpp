#pragma once
// Private to store/postgres/acme*.cpp: what the account, EAB, rate-limit (acme.cpp) and the
// order and authorization (acme_orders.cpp) halves of the ACME repository share. Lists (contacts,
// identifiers, challenges) travel as PostgreSQL arrays: written with unnest() and read with
// ARRAY(subquery), so a record is one statement each way and one snapshot when read.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/acme.hpp"
#include "store/postgres/postgres_internal.hpp"

namespace sigil::store::postgres::detail {

// A status outside its enum (a cast gone wrong) is refused before a write, so a caller's mistake
// is reported as such (the schema's CHECK constraints are the backstop).
template <class E>
Status check_status(E s, std::string_view kind) {
  if (*to_string(s) != '\0') return {};
  return make_error(Errc::invalid_argument,
                    "unknown " + std::string(kind) + " status " + std::to_string(static_cast<int>(s)));
}

// The text of a status column as its enum; anything else is a damaged database.
template <class E>
Result<E> read_status(const std::string& text, std::string_view kind) {
  if (auto s = store::parse_status<E>(text)) return *s;
  return make_error(Errc::storage, "postgresql: unknown " + std::string(kind) + " status '" + text + "'");
}

// Array literals for text[] and bigint[] parameters ('{"a","b\"c"}', '{1,2}').
std::string text_array(const std::vector<std::string>& values);
std::string int_array(const std::vector<std::int64_t>& values);
// A one-dimensional array column in PostgreSQL's text output; storage if it is not one (or holds
// a NULL, which sigil never writes).
Result<std::vector<std::string>> parse_text_array(std::string_view text);
Result<std::vector<std::int64_t>> parse_int_array(std::string_view text);

// The audit row of an ACME write, in its transaction. TEMPORARY copy of insert_audit
// (certificates.cpp, being written at the same time); to be replaced by it once that lands.
Status acme_insert_audit(Conn& c, const AuditEntry& e);

// One hit on a rate counter inside the caller's transaction (older windows of the key pruned):
// rate_limited if the window's count already reached the limit (or the limit is 0).
Status take_hit(Conn& c, const RateHit& hit);

}  // namespace sigil::store::postgres::detail
