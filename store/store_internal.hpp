#pragma once
// Private to the store engines (store/sqlite, store/postgres): what both read and write the same
// way, so a page token from one node is valid on any other and a row means the same everywhere.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ca/base/error.hpp"
#include "store/store.hpp"

namespace sigil::store::internal {

// ---- list page tokens ------------------------------------------------------------------------
// base64url (no padding) of "1:<not_after>:<serial>", the last key of the previous page: the same
// on every engine, so a client paging through a cluster may be served by any node.

struct PageKey {
  std::int64_t not_after = 0;
  std::string serial;
};

std::string encode_page_token(const CertificateRecord& last);
// invalid_argument "malformed page token" unless canonical, of this version and in range.
Result<PageKey> decode_page_token(std::string_view token);

// ---- list ------------------------------------------------------------------------------------

// How an engine spells what list()'s SQL needs.
struct ListDialect {
  std::string (*placeholder)(int index);  // of the index-th value (1-based): "?" or "$1"
  const char* serial;                     // the serial as it is ordered: bytewise on every engine
};

// The one statement of a list() page: every engine applies the same filters, order and tokens.
struct ListSql {
  std::string sql;
  std::vector<std::variant<std::int64_t, std::string>> values;  // for the placeholders, in order
};

// The page's SELECT of `columns` (one row more than filter.limit, which tells whether a next page
// exists); invalid_argument for a limit outside 1..max_limit or a malformed page token.
Result<ListSql> list_sql(const ListFilter& filter, int max_limit, std::string_view columns, const ListDialect& d);
// SELECT COUNT(*) of the rows list_sql's filter selects, over every page.
ListSql count_sql(const ListFilter& filter, const ListDialect& d);

// ---- audit log -------------------------------------------------------------------------------

// The SELECT of one audit_page (id, at, actor, action, target, outcome, detail; newest first; one
// row more than filter.limit) or, with `count`, the COUNT(*) of every row the filter selects.
// invalid_argument for a limit outside 1..max_limit.
Result<ListSql> audit_sql(const AuditFilter& filter, int max_limit, bool count, const ListDialect& d);
// The page from the rows audit_sql selected (at most limit + 1).
AuditPage audit_page_of(std::vector<AuditRecord> rows, int limit);

// expiring_per_day's grouped SELECT: (day index, count) rows, values now and now + days.
inline constexpr int kMaxExpiryDays = 366;
ListSql expiry_sql(std::int64_t now, int days, const ListDialect& d);
// invalid_argument unless 1 <= days <= kMaxExpiryDays.
Status check_expiry_days(int days);

// ---- flag_for_renewal ------------------------------------------------------------------------

// invalid_argument unless exactly one of the two selections is given.
Status check_renewal_selection(const std::optional<std::string>& serial, std::optional<std::int64_t> issued_before);
// The audit row of a flagging, its detail saying how many certificates it flagged.
AuditEntry renewal_audit(AuditEntry audit, std::int64_t flagged);

// ---- row values ------------------------------------------------------------------------------

// The status column's text; storage (a damaged database) for anything else.
Result<CertStatus> parse_status(std::string_view s);
// Any RFC 5280 code may be read back (rows written before the leaf allow-list); new revocations
// take only store::is_leaf_revocation_reason.
bool is_known_reason(std::int64_t code);
// A blocked key's id: SHA-256 as 64 lower-case hex digits.
bool is_sha256_hex(std::string_view s);

}  // namespace sigil::store::internal
