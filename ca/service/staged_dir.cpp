#include "ca/service/staged_dir.hpp"

#include <unistd.h>

#include <system_error>

#include "ca/base/encoding.hpp"
#include "ca/base/file.hpp"
#include "ca/crypto/crypto.hpp"

namespace sigil::service {
namespace fs = std::filesystem;

Result<StagedDir> StagedDir::open(const fs::path& final_dir, unsigned mode) {
  StagedDir d;
  d.final_ = fs::absolute(final_dir).lexically_normal();
  if (d.final_.filename().empty()) d.final_ = d.final_.parent_path();
  std::error_code ec;
  const auto st = fs::status(d.final_, ec);
  if (fs::exists(st)) {
    if (!fs::is_directory(st))
      return make_error(Errc::already_exists, d.final_.string() + " exists and is not a directory");
    if (!fs::is_empty(d.final_, ec) || ec)
      return make_error(Errc::already_exists, d.final_.string() + " is not empty; refusing to overwrite it");
    if (::access(d.final_.c_str(), W_OK | X_OK) != 0)
      return make_error(Errc::io, d.final_.string() + " is not writable");
    d.work_ = d.final_;
    return d;
  }
  for (fs::path p = d.final_.parent_path(); !p.empty() && !fs::exists(p, ec); p = p.parent_path())
    d.parents_.insert(d.parents_.begin(), p);
  SIGIL_TRY_STATUS(make_dirs(d.final_.parent_path()));
  d.work_ =
      d.final_.parent_path() / ("." + d.final_.filename().string() + ".staging-" + to_hex(crypto::random_bytes(6)));
  SIGIL_TRY_STATUS(make_dirs(d.work_, mode));
  d.staged_ = true;
  return d;
}

StagedDir::StagedDir(StagedDir&& o) noexcept
    : final_(std::move(o.final_)),
      work_(std::move(o.work_)),
      staged_(o.staged_),
      committed_(o.committed_),
      active_(o.active_),
      created_(std::move(o.created_)),
      parents_(std::move(o.parents_)) {
  o.active_ = false;
}

StagedDir::~StagedDir() {
  if (active_ && !committed_) rollback();
}

Status StagedDir::make_dir(const fs::path& rel, unsigned mode) {
  const fs::path p = work_ / rel;
  if (!fs::exists(p)) created_.push_back(p);
  return make_dirs(p, mode);
}

Status StagedDir::write(const fs::path& rel, std::string_view data, unsigned mode) {
  const fs::path p = work_ / rel;
  SIGIL_TRY_STATUS(write_file_new(p, data, mode));
  created_.push_back(p);
  return {};
}

Status StagedDir::commit() {
  if (staged_) {
    if (::rename(work_.c_str(), final_.c_str()) != 0)
      return make_error(Errc::io, "cannot move " + work_.string() + " into place at " + final_.string());
    work_ = final_;
  }
  committed_ = true;
  return sync_dir(final_.parent_path());
}

void StagedDir::rollback() {
  std::error_code ec;
  if (staged_) {
    fs::remove_all(work_, ec);  // the staging directory, or the final one after commit
    // Parents made for it go too, innermost first (only if empty: never someone else's files).
    for (auto it = parents_.rbegin(); it != parents_.rend(); ++it) fs::remove(*it, ec);
  } else {
    for (auto it = created_.rbegin(); it != created_.rend(); ++it) {
      fs::remove(*it, ec);
      // SQLite side files of a database we created.
      fs::remove(it->string() + "-wal", ec);
      fs::remove(it->string() + "-shm", ec);
      fs::remove(it->string() + "-journal", ec);
    }
  }
  active_ = false;
}

}  // namespace sigil::service
