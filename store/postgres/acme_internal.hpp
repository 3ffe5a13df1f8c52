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
#include "store/acme_internal.hpp"
#include "store/postgres/postgres_internal.hpp"

namespace sigil::store::postgres::detail {

// The text of a status column as its enum (storage if it is none).
template <class E>
Result<E> read_status(const std::string& text, std::string_view kind) {
  return store::read_status<E>(text, kind, "postgresql");
}

// Each row of `r` through `read_one(r, row)`, the first failure returned.
template <class T, class F>
Result<std::vector<T>> read_each(const Rows& r, F read_one) {
  std::vector<T> out;
  for (int i = 0; i < r.size(); ++i) {
    SIGIL_TRY(T item, read_one(r, i));
    out.push_back(std::move(item));
  }
  return out;
}

// Array literals for text[] and bigint[] parameters ('{"a","b\"c"}', '{1,2}').
std::string text_array(const std::vector<std::string>& values);
std::string int_array(const std::vector<std::int64_t>& values);
// A one-dimensional array column in PostgreSQL's text output; storage if it is not one (or holds
// a NULL, which sigil never writes).
Result<std::vector<std::string>> parse_text_array(std::string_view text);
Result<std::vector<std::int64_t>> parse_int_array(std::string_view text);

// One hit on a rate counter inside the caller's transaction (older windows of the key pruned):
// rate_limited if the window's count already reached the limit (or the limit is 0).
Status take_hit(Conn& c, const RateHit& hit);

// For a transaction that changes ACME order, authorization or challenge state only: its COMMIT
// does not wait for the WAL flush (SET LOCAL synchronous_commit = off). A server crash loses
// nothing; a database crash may lose the latest such changes, costing a client a new order;
// the next synchronous commit (a certificate, an account) flushes them with its own. See
// store/sqlite/acme.cpp for the same rule on SQLite.
Status relax_commit(Conn& c);

}  // namespace sigil::store::postgres::detail
