#include "store/store_internal.hpp"

#include <charconv>
#include <optional>

#include "ca/base/encoding.hpp"

namespace sigil::store::internal {

namespace {
constexpr std::size_t kMaxPageTokenSize = 1024;
constexpr std::string_view kPageTokenVersion = "1";
}  // namespace

std::string encode_page_token(const CertificateRecord& last) {
  return base64url_encode(
      as_bytes(std::string(kPageTokenVersion) + ":" + std::to_string(last.not_after) + ":" + last.serial));
}

Result<PageKey> decode_page_token(std::string_view token) {
  const Error bad = make_error(Errc::invalid_argument, "malformed page token");
  if (token.size() > kMaxPageTokenSize) return bad;
  const auto decoded = base64url_decode(token);  // canonical only: no stray bits, no padding
  if (!decoded) return bad;
  std::string_view rest = as_chars(*decoded);
  const auto version_end = rest.find(':');
  if (version_end == std::string_view::npos || rest.substr(0, version_end) != kPageTokenVersion) {
    return bad;
  }
  rest.remove_prefix(version_end + 1);
  const auto number_end = rest.find(':');
  if (number_end == std::string_view::npos) return bad;
  PageKey key;
  const char* first = rest.data();
  const char* last = rest.data() + number_end;
  const auto [ptr, ec] = std::from_chars(first, last, key.not_after);
  if (ec != std::errc() || ptr != last || first == last) return bad;
  key.serial = std::string(rest.substr(number_end + 1));
  if (key.serial.empty()) return bad;
  return key;
}

namespace {

// Appends a value for the next placeholder and returns the placeholder.
std::string bind_value(ListSql& q, const ListDialect& d, std::variant<std::int64_t, std::string> v) {
  q.values.push_back(std::move(v));
  return d.placeholder(static_cast<int>(q.values.size()));
}

// The filter's conditions after "WHERE ". Each is written so an index serves it: status = ... AND
// not_after in a range, or a scan of (not_after, serial) in order, skipping the few pending rows.
// `after` (a page key) is dropped where the conditions imply it.
void append_conditions(const ListFilter& filter, std::optional<PageKey>& after, ListSql& q, const ListDialect& d) {
  switch (filter.status) {
    case ListFilter::Status::any:
      q.sql += "status <> 'pending'";
      break;
    case ListFilter::Status::valid:
      q.sql += "status = 'valid'";
      // One lower bound on not_after, so the index range starts at the right place: when the
      // page key is past `now` it implies not_after > now, otherwise not_after > now implies it.
      if (after && after->not_after <= filter.now) after.reset();
      if (!after) q.sql += " AND not_after > " + bind_value(q, d, filter.now);
      break;
    case ListFilter::Status::revoked:
      q.sql += "status = 'revoked'";
      break;
    case ListFilter::Status::expired:
      q.sql += "status <> 'pending' AND not_after <= " + bind_value(q, d, filter.now);
      break;
  }
  if (filter.expiring_before) q.sql += " AND not_after <= " + bind_value(q, d, *filter.expiring_before);
  if (filter.profile) q.sql += " AND profile = " + bind_value(q, d, *filter.profile);
  if (filter.requester) q.sql += " AND requester = " + bind_value(q, d, *filter.requester);
  // The name's few certificates come from the sans' name index; sorting them is cheap, where
  // walking the (not_after, serial) order for a rare name would read the whole table.
  if (filter.name)
    q.sql += " AND serial IN (SELECT serial FROM certificate_sans WHERE name = " + bind_value(q, d, *filter.name) + ")";
}

}  // namespace

Result<ListSql> list_sql(const ListFilter& filter, int max_limit, std::string_view columns, const ListDialect& d) {
  if (filter.limit < 1 || filter.limit > max_limit) {
    return make_error(Errc::invalid_argument, "limit must be between 1 and " + std::to_string(max_limit));
  }
  std::optional<PageKey> after;
  if (!filter.page_token.empty()) {
    SIGIL_TRY(after, decode_page_token(filter.page_token));
  }
  ListSql q;
  q.sql = "SELECT " + std::string(columns) + " FROM certificates WHERE ";
  append_conditions(filter, after, q, d);
  if (after) {
    // The plain bound on not_after keeps the index range bounded even where the row comparison
    // cannot use the index (a serial collation other than the index's). One placeholder per
    // statement: "?" binds by position, and the operands of + are evaluated in no fixed order.
    q.sql += " AND not_after >= " + bind_value(q, d, after->not_after);
    q.sql += " AND (not_after, " + std::string(d.serial) + ") > (" + bind_value(q, d, after->not_after);
    q.sql += ", " + bind_value(q, d, after->serial) + ")";
  }
  q.sql += " ORDER BY not_after, " + std::string(d.serial) + " LIMIT " +
           bind_value(q, d, static_cast<std::int64_t>(filter.limit) + 1);
  return q;
}

ListSql count_sql(const ListFilter& filter, const ListDialect& d) {
  std::optional<PageKey> none;
  ListSql q;
  q.sql = "SELECT COUNT(*) FROM certificates WHERE ";
  append_conditions(filter, none, q, d);
  return q;
}

Result<ListSql> audit_sql(const AuditFilter& filter, int max_limit, bool count, const ListDialect& d) {
  if (!count && (filter.limit < 1 || filter.limit > max_limit))
    return make_error(Errc::invalid_argument, "limit must be between 1 and " + std::to_string(max_limit));
  ListSql q;
  q.sql =
      count ? "SELECT COUNT(*) FROM audit_log" : "SELECT id, at, actor, action, target, outcome, detail FROM audit_log";
  // Only the filters given become conditions, so an engine can use its (action, outcome, at)
  // index for the console's rates.
  const char* joiner = " WHERE ";
  auto add = [&](const char* column, const char* op, std::variant<std::int64_t, std::string> v) {
    q.values.push_back(std::move(v));
    q.sql += joiner + std::string(column) + op + d.placeholder(static_cast<int>(q.values.size()));
    joiner = " AND ";
  };
  if (filter.action) add("action", " = ", *filter.action);
  if (filter.outcome) add("outcome", " = ", *filter.outcome);
  if (filter.since) add("at", " >= ", *filter.since);
  if (filter.actor) add("actor", " = ", *filter.actor);
  if (count) return q;
  if (filter.before_id > 0) add("id", " < ", filter.before_id);
  // The limit is bound too: statements are cached by their text, so each limit must not make one.
  q.sql += " ORDER BY id DESC LIMIT " + bind_value(q, d, static_cast<std::int64_t>(filter.limit) + 1);
  return q;
}

AuditPage audit_page_of(std::vector<AuditRecord> rows, int limit) {
  AuditPage page;
  if (rows.size() > static_cast<std::size_t>(limit)) {
    rows.resize(static_cast<std::size_t>(limit));
    page.next_before_id = rows.back().id;
  }
  page.items = std::move(rows);
  return page;
}

ListSql expiry_sql(std::int64_t now, int days, const ListDialect& d) {
  ListSql q;
  // Day d holds (now + d days, now + d + 1 days]: not_after - now - 1 divided, never negative.
  q.sql = "SELECT (not_after - " + d.placeholder(1) +
          " - 1) / 86400 AS day, COUNT(*) FROM certificates WHERE status = 'valid' AND not_after > " +
          d.placeholder(1) + " AND not_after <= " + d.placeholder(2) + " GROUP BY day";
  q.values = {now, now + static_cast<std::int64_t>(days) * 86400};
  return q;
}

Status check_expiry_days(int days) {
  if (days < 1 || days > kMaxExpiryDays)
    return make_error(Errc::invalid_argument, "days must be between 1 and " + std::to_string(kMaxExpiryDays));
  return {};
}

Status check_renewal_selection(const std::optional<std::string>& serial, std::optional<std::int64_t> issued_before) {
  if (serial.has_value() == issued_before.has_value())
    return make_error(Errc::invalid_argument, "flag either one serial or the certificates issued before a time");
  return {};
}

AuditEntry renewal_audit(AuditEntry audit, std::int64_t flagged) {
  audit.detail += (audit.detail.empty() ? "" : "; ") + std::to_string(flagged) + " certificate(s) flagged";
  return audit;
}

Result<CertStatus> parse_status(std::string_view s) {
  if (s == "pending") return CertStatus::pending;
  if (s == "valid") return CertStatus::valid;
  if (s == "revoked") return CertStatus::revoked;
  return make_error(Errc::storage, "store: unknown certificate status '" + std::string(s) + "'");
}

bool is_known_reason(std::int64_t code) {
  return (code >= 0 && code <= 10) && code != 7;  // RFC 5280: 7 is unused
}

bool is_sha256_hex(std::string_view s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

}  // namespace sigil::store::internal
