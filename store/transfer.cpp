#include "store/transfer.hpp"

#include <algorithm>
#include <optional>

#include "ca/base/encoding.hpp"

namespace sigil::store::transfer {

namespace {
constexpr Type I = Type::integer;
constexpr Type T = Type::text;
constexpr Type B = Type::blob;
constexpr Type Bool = Type::boolean;
constexpr std::int64_t kProgressEvery = 4096;  // rows between progress calls

void put_length(Bytes& out, std::size_t n) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>((n >> shift) & 0xff));
}
}  // namespace

const std::vector<Table>& tables() {
  // Column lists name every column of store/sqlite/migrations.hpp (and of its PostgreSQL twin).
  static const std::vector<Table> kTables{
      {"certificates",
       {{"serial", T},
        {"issuer_id", T},
        {"tbs_der", B},
        {"der", B},
        {"subject", T},
        {"profile", T},
        {"requester", T},
        {"not_before", I},
        {"not_after", I},
        {"created_at", I},
        {"status", T},
        {"revoked_at", I},
        {"revocation_reason", I},
        {"revocation_seq", I},
        {"crl_shard", I}}},
      {"certificate_sans", {{"serial", T}, {"position", I}, {"name", T}}},
      {"blocked_keys", {{"key_sha256", T}, {"reason", I}, {"blocked_at", I}, {"serial", T}}},
      {"renewal_flags", {{"serial", T}, {"flagged_at", I}}},
      {"crl_numbers", {{"issuer_id", T}, {"shard", I}, {"last_number", I}}},
      {"crl_state",
       {{"issuer_id", T},
        {"shard", I},
        {"delta", Bool},
        {"number", I},
        {"base_number", I},
        {"this_update", I},
        {"next_update", I},
        {"der", B}}},
      {"crl_shards", {{"issuer_id", T}, {"shard", I}, {"not_after_max", I}}},
      {"audit_log", {{"id", I}, {"at", I}, {"actor", T}, {"action", T}, {"target", T}, {"outcome", T}, {"detail", T}}},
      {"acme_eab_keys",
       {{"kid", T},
        {"hmac_key", B},
        {"description", T},
        {"created_at", I},
        {"revoked_at", I},
        {"account_id", T, /*deferred=*/true}}},
      {"acme_eab_allowed_identifiers", {{"kid", T}, {"position", I}, {"pattern", T}}},
      {"acme_accounts",
       {{"id", T},
        {"thumbprint", T},
        {"jwk", T},
        {"status", T},
        {"terms_agreed", Bool},
        {"eab_kid", T},
        {"created_at", I}}},
      {"acme_account_contacts", {{"account_id", T}, {"position", I}, {"contact", T}}},
      {"acme_orders",
       {{"id", T},
        {"account_id", T},
        {"status", T},
        {"expires", I},
        {"not_before", I},
        {"not_after", I},
        {"profile", T},
        {"replaces", T},
        {"certificate_serial", T},
        {"error", T},
        {"created_at", I}}},
      {"acme_order_identifiers", {{"order_id", T}, {"position", I}, {"type", T}, {"value", T}}},
      {"acme_authorizations",
       {{"id", T},
        {"account_id", T},
        {"order_id", T},
        {"identifier_type", T},
        {"identifier_value", T},
        {"wildcard", Bool},
        {"status", T},
        {"expires", I},
        {"token", T}}},
      {"acme_order_authorizations", {{"order_id", T}, {"position", I}, {"authorization_id", T}}},
      {"acme_challenges",
       {{"authorization_id", T}, {"position", I}, {"type", T}, {"status", T}, {"validated", I}, {"error", T}}},
      {"acme_rate_counters", {{"key", T}, {"window_start", I}, {"hits", I}}},
  };
  return kTables;
}

bool is_known_table(std::string_view name) {
  const auto& all = tables();
  return std::any_of(all.begin(), all.end(), [&](const Table& t) { return t.name == name; }) ||
         std::find(kNotCopied.begin(), kNotCopied.end(), name) != kNotCopied.end();
}

Result<std::pair<std::string, std::int64_t>> certificate_checksum(Snapshot& s, const Sha256& sha256) {
  Bytes digests;
  Bytes row;
  std::int64_t n = 0;
  SIGIL_TRY_STATUS(s.certificates([&](const std::string& serial, const Bytes& der) -> Status {
    row.clear();
    put_length(row, serial.size());
    row.insert(row.end(), serial.begin(), serial.end());
    put_length(row, der.size());
    row.insert(row.end(), der.begin(), der.end());
    const Bytes d = sha256(row);
    digests.insert(digests.end(), d.begin(), d.end());
    ++n;
    return {};
  }));
  return std::pair{to_hex(sha256(digests)), n};
}

namespace {

Result<Report> copy_snapshot(Source& from, Target& to, const Sha256& sha256, const Progress& progress,
                             const std::function<Status()>& before_commit) {
  Report report;
  for (const Table& t : tables()) {
    SIGIL_TRY(const std::int64_t n, from.count(t));
    report.tables.push_back({std::string(t.name), n});
    report.rows += n;
  }
  SIGIL_TRY_STATUS(to.begin());
  std::int64_t copied = 0;
  for (const Table& t : tables()) {
    const Status written = to.write(t, [&](const RowFn& put) {
      return from.rows(t, [&](const Row& row) -> Status {
        SIGIL_TRY_STATUS(put(row));
        if (++copied % kProgressEvery == 0 && progress) progress(copied, report.rows);
        return {};
      });
    });
    if (!written) return written.error();
  }
  SIGIL_TRY_STATUS(to.finish());
  // Verified inside the target's transaction: a mismatch is rolled back, never committed.
  for (std::size_t i = 0; i < report.tables.size(); ++i) {
    const Table& t = tables()[i];
    SIGIL_TRY(const std::int64_t n, to.count(t));
    if (n != report.tables[i].rows) {
      return make_error(Errc::storage, "verification failed: table " + std::string(t.name) + " has " +
                                           std::to_string(report.tables[i].rows) + " rows in the source but " +
                                           std::to_string(n) + " in the target; nothing was committed");
    }
  }
  SIGIL_TRY(const auto source_sum, certificate_checksum(from, sha256));
  SIGIL_TRY(const auto target_sum, certificate_checksum(to, sha256));
  if (source_sum != target_sum) {
    return make_error(Errc::storage,
                      "verification failed: table certificates: the checksum of serials and DER differs (source " +
                          source_sum.first + ", target " + target_sum.first + "); nothing was committed");
  }
  report.certificate_sha256 = source_sum.first;
  report.certificates = source_sum.second;
  if (before_commit) SIGIL_TRY_STATUS(before_commit());
  SIGIL_TRY_STATUS(to.commit());
  if (progress) progress(copied, report.rows);
  return report;
}

}  // namespace

Result<Report> copy(Source& from, Target& to, const Sha256& sha256, const Progress& progress,
                    const std::function<Status()>& before_commit) {
  std::optional<Result<Report>> out;
  Status st = from.snapshot([&]() -> Status {
    out.emplace(copy_snapshot(from, to, sha256, progress, before_commit));
    if (!*out) return out->error();
    return {};
  });
  // Once the target committed, the copy stands even if ending the source's read failed.
  if (out && *out) return std::move(*out);
  to.rollback();
  if (!st) return st.error();
  return make_error(Errc::internal, "the source's snapshot did not run the copy");
}

}  // namespace sigil::store::transfer
