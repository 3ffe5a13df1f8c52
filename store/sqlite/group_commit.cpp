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

Status SqliteStore::group_write(std::function<Status()> body) {
  WriteOp op{std::move(body), {}, false};
  std::unique_lock ql(queue_mu_);
  queue_.push_back(&op);
  while (!op.done) {
    if (leader_active_) {
      queue_cv_.wait(ql);
      continue;
    }
    leader_active_ = true;
    std::vector<WriteOp*> batch;
    batch.swap(queue_);
    ql.unlock();
    run_batch(batch);
    ql.lock();
    leader_active_ = false;
    for (WriteOp* o : batch) o->done = true;
    queue_cv_.notify_all();
  }
  return op.result;
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
