// What nodes sharing a database coordinate through, for the one process that serves a SQLite
// database: the spent nonces in memory, the heartbeat in the file, the CRL signer always this one.
#include "store/sqlite/sqlite_internal.hpp"

namespace sigil::store::sqlite::detail {
namespace {
// Unexpired spent nonces held at most: ~30 bytes each, so ~120 MB at the cap, which sustained
// ~4,400 JWS requests per second for a nonce's 15-minute life would reach. Beyond it redemptions
// are refused as unavailable (clients retry) rather than forgetting a nonce that could then be
// replayed.
constexpr std::size_t kMaxSpentNonces = 4'000'000;
}  // namespace

// A nonce is kept as a 64-bit hash of its text: nonces are MAC-checked before they are spent, so
// only genuine ones arrive here, and a collision between two of them (about 2^32 nonces needed for
// an even chance) refuses one as replayed (badNonce, the client retries with a fresh one); it
// never accepts a replay.
Result<bool> SqliteStore::spend_nonce(const std::string& nonce, std::int64_t expires_at, std::int64_t now) {
  std::lock_guard lock(nonce_mu_);
  while (!spent_nonces_.empty() && spent_nonces_.begin()->first < now) {
    spent_count_ -= spent_nonces_.begin()->second.size();
    spent_nonces_.erase(spent_nonces_.begin());
  }
  const std::uint64_t key = std::hash<std::string>{}(nonce);
  auto bucket = spent_nonces_.find(expires_at);
  if (bucket != spent_nonces_.end() && bucket->second.count(key) != 0) return false;
  if (spent_count_ >= kMaxSpentNonces) return make_error(Errc::unavailable, "too many unexpired spent nonces");
  spent_nonces_[expires_at].insert(key);
  ++spent_count_;
  return true;
}

Status SqliteStore::heartbeat(const NodeRecord& node) {
  return group_write([&]() -> Status {
    Query q = use(Sql::heartbeat);
    q.bind(1, node.id).bind(2, node.hostname).bind(3, node.urls).bind(4, node.version);
    q.bind(5, node.started_at).bind(6, node.last_seen);
    return q.run();
  });
}

Result<std::vector<NodeRecord>> SqliteStore::nodes(std::int64_t seen_since) {
  std::lock_guard lock(mu_);
  Query q = use(Sql::nodes);
  q.bind(1, seen_since);
  std::vector<NodeRecord> out;
  for (;;) {
    SIGIL_TRY(bool row, q.step());
    if (!row) break;
    out.push_back(NodeRecord{q.text(0), q.text(1), q.text(2), q.text(3), q.int64(4), q.int64(5)});
  }
  return out;
}

Result<bool> SqliteStore::hold_crl_signer(const std::string&, int) { return true; }

}  // namespace sigil::store::sqlite::detail
