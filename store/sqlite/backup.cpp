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
// read snapshot, so writers on other connections neither block it nor tear it.
Status copy_database(const std::string& source, const std::string& dest) {
  SIGIL_TRY(DbPtr src, open_connection(source, SQLITE_OPEN_READONLY));
  SIGIL_TRY(DbPtr dst, open_connection(dest, SQLITE_OPEN_READWRITE));
  sqlite3_backup* backup = sqlite3_backup_init(dst.get(), "main", src.get(), "main");
  if (backup == nullptr) return db_error(dst.get(), "cannot start backup");
  int rc = SQLITE_OK;
  for (int attempt = 0;; ++attempt) {
    rc = sqlite3_backup_step(backup, -1);  // -1: everything, in one read transaction
    if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && attempt < kBackupRetries) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    break;
  }
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

Status SqliteStore::backup(const std::string& path) {
  if (path.empty()) return make_error(Errc::invalid_argument, "backup path is empty");
  const fs::path dest(path);
  fs::path dir = dest.parent_path();
  if (dir.empty()) dir = ".";
  // The copy is built under a temporary name and renamed when complete and synced, so a
  // half-written backup never appears at `path`.
  TempDatabase tmp(temp_path_beside(dest));
  SIGIL_TRY_STATUS(create_private_file(tmp.path(), /*must_be_new=*/true));
  // A connection of its own: the store's mutex is not held, so writers carry on meanwhile.
  SIGIL_TRY_STATUS(copy_database(path_, tmp.path().string()));
  SIGIL_TRY_STATUS(sync_file(tmp.path()));
  if (::rename(tmp.path().c_str(), dest.c_str()) != 0) {
    return errno_error("cannot rename backup into", dest);
  }
  tmp.release();
  return sync_dir(dir);
}

}  // namespace sigil::store::sqlite::detail
