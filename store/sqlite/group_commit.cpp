// Group commit of the store's writes, and the audit log they append to.
#include "store/sqlite/sqlite_internal.hpp"

namespace sigil::store::sqlite::detail {

Status SqliteStore::append(const AuditEntry& entry) {
  return group_write([&]() -> Status { return insert_audit(entry); });
}

Result<std::vector<AuditEntry>> SqliteStore::recent(int limit) {
  if (limit < 1 || limit > kMaxLimit) {
    return make_error(Errc::invalid_argument, "limit must be between 1 and " + std::to_string(kMaxLimit));
  }
  std::lock_guard lock(mu_);
  Query q = use(Sql::recent_audit);
  q.bind(1, static_cast<std::int64_t>(limit));
  std::vector<AuditEntry> out;
  for (;;) {
    SIGIL_TRY(bool row, q.step());
    if (!row) break;
    out.push_back(AuditEntry{q.int64(0), q.text(1), q.text(2), q.text(3), q.text(4), q.text(5)});
  }
  return out;
}

SqliteStore::~SqliteStore() {
  if (wal_fd_ >= 0) ::close(wal_fd_);
}

Status SqliteStore::group_write(std::function<Status()> body, Durability durability) {
  using State = WriteOp::State;
  WriteOp op;
  op.body = std::move(body);
  op.durability = durability;
  std::unique_lock ql(queue_mu_);
  if (sync_failed_) return *sync_failed_;
  queue_.push_back(&op);
  if (!leader_active_) {
    leader_active_ = true;
    op.state = State::lead;
  }
  for (;;) {
    op.wake.wait(ql, [&] { return op.state != State::queued && op.state != State::committed; });
    if (op.state == State::lead) {
      lead_batch(ql);
    } else if (op.state == State::lead_sync) {
      lead_sync(ql);
    } else {
      return op.result;
    }
  }
}

// Runs everything queued (the leader's own change among it) as one transaction, hands the
// lead to the next queued writer, and passes each change on: to the sync waiters when it is
// durable and committed, else back to its writer.
void SqliteStore::lead_batch(std::unique_lock<std::mutex>& ql) {
  using State = WriteOp::State;
  std::vector<WriteOp*> batch;
  batch.swap(queue_);
  ql.unlock();
  run_batch(batch);
  ql.lock();
  const std::uint64_t id = ++committed_batches_;
  if (queue_.empty()) {
    leader_active_ = false;
  } else {
    queue_.front()->state = State::lead;
    queue_.front()->wake.notify_one();
  }
  for (WriteOp* o : batch) {
    if (o->result && o->durability == Durability::durable) {
      o->state = State::committed;
      o->batch = id;
      sync_waiters_.push_back(o);
    } else {
      o->state = State::done;
      o->wake.notify_one();
    }
  }
  if (!syncing_ && !sync_waiters_.empty()) {
    syncing_ = true;
    sync_waiters_.front()->state = State::lead_sync;
    sync_waiters_.front()->wake.notify_one();
  }
}

// One fdatasync for every batch committed so far; the waiters it covers return, and the next
// waiter (of a later batch) leads the next sync.
void SqliteStore::lead_sync(std::unique_lock<std::mutex>& ql) {
  using State = WriteOp::State;
  const std::uint64_t upto = committed_batches_;
  ql.unlock();
  Status st = sync_wal(/*missing_ok=*/false);
  ql.lock();
  syncing_ = false;
  if (!st && !sync_failed_) {
    // The commits are visible but may not be on disk, and after a failed fsync the kernel may
    // have dropped the pages: nothing more is written through this store (as PostgreSQL
    // stops); a restart recovers from what is on disk.
    sync_failed_ = make_error(
        Errc::storage, "sqlite: cannot sync the write-ahead log, writes stopped until restart: " + st.error().detail);
  }
  auto covered = std::stable_partition(sync_waiters_.begin(), sync_waiters_.end(),
                                       [&](const WriteOp* o) { return o->batch <= upto; });
  for (auto it = sync_waiters_.begin(); it != covered; ++it) {
    if (sync_failed_) (*it)->result = *sync_failed_;
    (*it)->state = State::done;
    (*it)->wake.notify_one();
  }
  sync_waiters_.erase(sync_waiters_.begin(), covered);
  if (!sync_waiters_.empty()) {
    syncing_ = true;
    sync_waiters_.front()->state = State::lead_sync;
    sync_waiters_.front()->wake.notify_one();
  }
}

Status SqliteStore::sync_wal(bool missing_ok) {
  const std::string wal = path_ + "-wal";
  struct stat now {};
  if (::stat(wal.c_str(), &now) != 0) {
    // At open, no WAL means nothing was written since the last connection checkpointed and
    // removed it; after a commit it must be there.
    if (errno == ENOENT && missing_ok) return {};
    return make_error(Errc::storage, "sqlite: cannot stat " + wal + ": " + std::strerror(errno));
  }
  if (wal_fd_ < 0 || now.st_ino != wal_ino_) {
    if (wal_fd_ >= 0) ::close(wal_fd_);
    wal_fd_ = ::open(wal.c_str(), O_RDONLY | O_CLOEXEC);
    if (wal_fd_ < 0) return make_error(Errc::storage, "sqlite: cannot open " + wal + ": " + std::strerror(errno));
    wal_ino_ = now.st_ino;
  }
  if (::fdatasync(wal_fd_) != 0) {
    return make_error(Errc::storage, "sqlite: fdatasync " + wal + ": " + std::strerror(errno));
  }
  syncs_.fetch_add(1, std::memory_order_relaxed);
  return {};
}

void SqliteStore::run_batch(std::vector<WriteOp*>& batch) {
  std::lock_guard lock(mu_);
  Status st = in_write_transaction([&]() -> Status {
    for (WriteOp* o : batch) {
      {
        Query sp = use(Sql::savepoint);
        SIGIL_TRY_STATUS(sp.run());
      }
      o->result = o->body();
      if (!o->result) {
        Query back = use(Sql::rollback_to);
        SIGIL_TRY_STATUS(back.run());
      }
      Query release = use(Sql::release);
      SIGIL_TRY_STATUS(release.run());
    }
    return {};
  });
  // A batch whose every change was refused commits an empty transaction: no write, no fsync.
  if (st && std::any_of(batch.begin(), batch.end(), [](const WriteOp* o) { return o->result.has_value(); }))
    commits_.fetch_add(1, std::memory_order_relaxed);
  if (!st) {
    // Nothing of the batch was committed: every change reports the failure.
    for (WriteOp* o : batch)
      if (o->result) o->result = st.error();
  }
}

Status SqliteStore::insert_audit(const AuditEntry& e) {
  Query q = use(Sql::insert_audit);
  q.bind(1, e.at).bind(2, e.actor).bind(3, e.action).bind(4, e.target).bind(5, e.outcome);
  q.bind(6, e.detail);
  return q.run();
}

Status SqliteStore::explain_unchanged(const std::string& serial, std::string_view verb) {
  Query q = use(Sql::status_of);
  q.bind(1, serial);
  SIGIL_TRY(bool row, q.step());
  if (!row) return make_error(Errc::not_found, "no certificate with serial " + serial);
  return make_error(Errc::conflict, "cannot " + std::string(verb) + " certificate " + serial + ": it is " + q.text(0));
}

}  // namespace sigil::store::sqlite::detail
