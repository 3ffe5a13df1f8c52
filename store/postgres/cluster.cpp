// What the nodes sharing one PostgreSQL database coordinate through: spent ACME nonces as rows
// every node checks, heartbeats, and one CRL signer per issuer and shard held as a session
// advisory lock.
#include "store/postgres/postgres_internal.hpp"

namespace sigil::store::postgres::detail {

namespace {

// Expired nonces are pruned on one call in this many, at most kNoncePruneBatch rows at a time:
// the table stays near the unexpired set without a DELETE on every request.
constexpr std::uint64_t kNoncePruneEvery = 256;
constexpr std::int64_t kNoncePruneBatch = 1000;

// A nonce spent before but expired by now is a fresh one (as SQLite forgets expired nonces):
// the upsert then takes it again. One row changed = first spend.
const Statement kSpendNonce{"spend_nonce", "spend ACME nonce",
                            "INSERT INTO acme_spent_nonces (nonce, expires_at) VALUES ($1, $2) "
                            "ON CONFLICT (nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at "
                            "WHERE acme_spent_nonces.expires_at < $3"};
// SKIP LOCKED: nodes pruning at once share the work instead of waiting on each other's rows.
const Statement kPruneNonces{"prune_nonces", "prune spent ACME nonces",
                             "DELETE FROM acme_spent_nonces WHERE nonce IN (SELECT nonce FROM acme_spent_nonces "
                             "WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)"};
const Statement kHeartbeat{
    "heartbeat", "record heartbeat",
    "INSERT INTO nodes (id, hostname, urls, version, started_at, last_seen) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET hostname = EXCLUDED.hostname, "
    "urls = EXCLUDED.urls, version = EXCLUDED.version, last_seen = EXCLUDED.last_seen"};
const Statement kNodes{"nodes", "read nodes",
                       "SELECT id, hostname, urls, version, started_at, last_seen FROM nodes "
                       "WHERE last_seen >= $1 ORDER BY id"};
const Statement kTryLock{"try_crl_signer_lock", "take CRL signer lock", "SELECT pg_try_advisory_lock($1)"};
const Statement kPing{"ping", "check CRL signer session", "SELECT 1"};

// The advisory lock key of one issuer's shard: FNV-1a (64 bits) of a label, the issuer and the
// shard. The label keeps it apart from other sigil keys (the migration lock is a small constant).
std::int64_t signer_lock_key(const std::string& issuer_id, int shard) {
  std::uint64_t h = 14695981039346656037ULL;
  auto mix = [&h](std::string_view s) {
    for (const char c : s) {
      h ^= static_cast<std::uint8_t>(c);
      h *= 1099511628211ULL;
    }
    h ^= 0xff;  // a separator no text byte of the issuer id can produce alone
    h *= 1099511628211ULL;
  };
  mix("sigil crl signer");
  mix(issuer_id);
  mix(std::to_string(shard));
  return static_cast<std::int64_t>(h);
}

}  // namespace

Result<bool> PgStore::spend_nonce(const std::string& nonce, std::int64_t expires_at, std::int64_t now) {
  if (nonce_spends_.fetch_add(1) % kNoncePruneEvery == kNoncePruneEvery - 1) {
    // Best effort: a failed prune only leaves expired rows for the next one.
    (void)read(pool_, kPruneNonces, Params().add(now).add(kNoncePruneBatch));
  }
  SIGIL_TRY(Rows done, read(pool_, kSpendNonce, Params().add(nonce).add(expires_at).add(now)));
  return done.affected() == 1;
}

Status PgStore::heartbeat(const NodeRecord& node) {
  SIGIL_TRY(Rows done, read(pool_, kHeartbeat,
                            Params()
                                .add(node.id)
                                .add(node.hostname)
                                .add(node.urls)
                                .add(node.version)
                                .add(node.started_at)
                                .add(node.last_seen)));
  (void)done;
  return {};
}

Result<std::vector<NodeRecord>> PgStore::nodes(std::int64_t seen_since) {
  SIGIL_TRY(Rows rows, read(pool_, kNodes, Params().add(seen_since)));
  std::vector<NodeRecord> out;
  for (int i = 0; i < rows.size(); ++i) {
    out.push_back(NodeRecord{rows.text(i, 0), rows.text(i, 1), rows.text(i, 2), rows.text(i, 3), rows.int64(i, 4),
                             rows.int64(i, 5)});
  }
  return out;
}

// Session advisory locks on one dedicated connection (never a pooled one: a pooled session is
// handed to other work and its locks would outlive their purpose). PostgreSQL releases a
// session's advisory locks when the session ends: this store closing, the process dying, or the
// connection lost in a failover. Then another node's next try takes the shard; this one notices
// the broken session on its own next try, forgets what it held and competes again.
Result<bool> PgStore::hold_crl_signer(const std::string& issuer_id, int shard) {
  std::lock_guard lock(lock_mu_);
  const auto key = std::make_pair(issuer_id, shard);
  if (lock_conn_ && !lock_conn_->broken() && held_.count(key) != 0) {
    // Held: only prove the session (and so the lock) is still there, without stacking the lock.
    if (lock_conn_->run(kPing)) return true;
  }
  if (!lock_conn_ || lock_conn_->broken()) {
    held_.clear();  // a new session holds nothing
    lock_conn_.reset();
    SIGIL_TRY(lock_conn_, connect(pool_.options()));
  }
  SIGIL_TRY(Rows rows, lock_conn_->run(kTryLock, Params().add(signer_lock_key(issuer_id, shard))));
  const bool taken = !rows.empty() && rows.boolean(0, 0);
  if (taken) held_.insert(key);
  return taken;
}

}  // namespace sigil::store::postgres::detail
