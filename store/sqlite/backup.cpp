// Online backup into a private, synced file renamed into place.
#include "store/sqlite/sqlite_internal.hpp"

namespace sigil::store::sqlite::detail {

namespace {

// Removes a temporary database (and whatever journal SQLite left beside it) unless released.
class TempDatabase {
 public:
  explicit TempDatabase(fs::path path) : path_(std::move(path)) {}
  ~TempDatabase() {
    if (path_.empty()) return;
    for (const char* suffix : {"", "-journal", "-wal", "-shm"}) {
      ::unlink((path_.string() + suffix).c_str());  // best effort: it may not exist
    }
  }
  TempDatabase(const TempDatabase&) = delete;
  TempDatabase& operator=(const TempDatabase&) = delete;
  const fs::path& path() const { return path_; }
  void release() { path_.clear(); }

 private:
  fs::path path_;
};

// Copies the database at `source` page by page into the (empty) database at `dest`, from one
// read snapshot, so writers on other connections neither block it nor tear it: the source
// connection holds its read transaction across the steps (sqlite3_backup_step then neither opens
// nor closes one, and never sees a change that would restart the copy).
Status copy_database(const std::string& source, const std::string& dest, const Store::BackupProgress& progress) {
  SIGIL_TRY(DbPtr src, open_connection(source, SQLITE_OPEN_READONLY));
  SIGIL_TRY(DbPtr dst, open_connection(dest, SQLITE_OPEN_READWRITE));
  if (sqlite3_exec(src.get(), "BEGIN; SELECT count(*) FROM sqlite_schema;", nullptr, nullptr, nullptr) != SQLITE_OK)
    return db_error(src.get(), "cannot start the backup's read transaction");
  sqlite3_backup* backup = sqlite3_backup_init(dst.get(), "main", src.get(), "main");
  if (backup == nullptr) return db_error(dst.get(), "cannot start backup");
  constexpr int kPagesPerStep = 1024;
  int rc = SQLITE_OK;
  for (int attempt = 0;;) {
    rc = sqlite3_backup_step(backup, kPagesPerStep);
    if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && attempt++ < kBackupRetries) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    if (rc != SQLITE_OK) break;
    if (progress) {
      const int total = sqlite3_backup_pagecount(backup);
      progress(total - sqlite3_backup_remaining(backup), total);
    }
  }
  if (rc == SQLITE_DONE && progress) progress(sqlite3_backup_pagecount(backup), sqlite3_backup_pagecount(backup));
  // finish() frees the handle and reports the step's error, if any, on `dst`.
  const int finish_rc = sqlite3_backup_finish(backup);
  if (rc != SQLITE_DONE || finish_rc != SQLITE_OK) return db_error(dst.get(), "backup failed");
  if (sqlite3_close(dst.get()) != SQLITE_OK) return db_error(dst.get(), "cannot close backup");
  dst.release();  // closed above
  return {};
}

}  // namespace

// ---- files ---------------------------------------------------------------------------------

// Creates `path` empty with mode 0600 if it does not exist yet; SQLite would create it with
// 0644 & ~umask. The -wal and -shm files inherit the database file's mode.
Status create_private_file(const fs::path& path, bool must_be_new) {
  const int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
  const int fd = ::open(path.c_str(), flags, 0600);
  if (fd < 0) {
    if (errno == EEXIST && !must_be_new) return {};
    return errno_error("cannot create", path);
  }
  if (::close(fd) != 0) return errno_error("cannot close", path);
  return {};
}

Status SqliteStore::backup(const std::string& path, const BackupProgress& progress) {
  if (path.empty()) return make_error(Errc::invalid_argument, "backup path is empty");
  const fs::path dest(path);
  fs::path dir = dest.parent_path();
  if (dir.empty()) dir = ".";
  // The copy is built under a temporary name and renamed when complete and synced, so a
  // half-written backup never appears at `path`.
  TempDatabase tmp(temp_path_beside(dest));
  SIGIL_TRY_STATUS(create_private_file(tmp.path(), /*must_be_new=*/true));
  // A connection of its own: the store's mutex is not held, so writers carry on meanwhile.
  SIGIL_TRY_STATUS(copy_database(path_, tmp.path().string(), progress));
  SIGIL_TRY_STATUS(sync_file(tmp.path()));
  if (::rename(tmp.path().c_str(), dest.c_str()) != 0) {
    return errno_error("cannot rename backup into", dest);
  }
  tmp.release();
  return sync_dir(dir);
}

}  // namespace sigil::store::sqlite::detail
