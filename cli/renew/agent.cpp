#include "cli/renew/agent.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

#include "ca/base/encoding.hpp"
#include "ca/base/file.hpp"
#include "ca/crypto/crypto.hpp"

namespace sigil::cli::renew {
namespace fs = std::filesystem;

Exit failure_exit(TimePoint now, TimePoint not_after) {
  return not_after - now <= std::chrono::hours(24) ? Exit::failed_expiring : Exit::failed_still_valid;
}

Decision decide(TimePoint now, const policy::RenewalWindow& w, bool force) {
  if (force) return {true, "forced"};
  if (now >= w.start) return {true, "window opened"};
  return {false, "not yet due"};
}

Seconds jitter(Seconds max) {
  if (max.count() <= 0) return Seconds(0);
  const Bytes r = crypto::random_bytes(8);
  std::uint64_t v = 0;
  for (auto b : r) v = (v << 8) | b;
  return Seconds(static_cast<std::int64_t>(v % static_cast<std::uint64_t>(max.count() + 1)));
}

namespace {

Error io(const std::string& what, const std::error_code& ec) {
  return make_error(Errc::io, what + ": " + ec.message());
}

// Replaces `link` with a symlink to `target` in one rename.
Status point(const fs::path& link, const fs::path& target) {
  const fs::path tmp =
      link.parent_path() / ("." + link.filename().string() + ".tmp-" + to_hex(crypto::random_bytes(4)));
  std::error_code ec;
  fs::create_symlink(target, tmp, ec);
  if (ec) return io("creating symlink " + tmp.string(), ec);
  fs::rename(tmp, link, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return io("replacing " + link.string(), ec);
  }
  return sync_dir(link.parent_path());
}

std::string after_leaf(const std::string& pem) {
  const std::string end = "-----END CERTIFICATE-----";
  const auto e = pem.find(end);
  if (e == std::string::npos) return "";
  auto rest = pem.substr(e + end.size());
  const auto b = rest.find("-----BEGIN");
  return b == std::string::npos ? "" : rest.substr(b);
}

std::string version_name(const std::string& serial) {
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch());
  char buf[32];
  std::snprintf(buf, sizeof buf, "v%020lld", static_cast<long long>(ns.count()));
  return std::string(buf) + "-" + serial.substr(0, 16);
}

// A complete version directory, written under a temporary name and renamed into place.
Result<fs::path> write_version(const fs::path& versions, const std::string& serial, const std::string& chain_pem,
                               const std::string& key_pem) {
  const fs::path tmp = versions / (".tmp-" + to_hex(crypto::random_bytes(6)));
  std::error_code ec;
  fs::create_directory(tmp, ec);
  if (ec) return io("creating " + tmp.string(), ec);
  auto fail = [&](Error e) -> Error {
    fs::remove_all(tmp, ec);
    return e;
  };
  const std::string chain = after_leaf(chain_pem);
  if (auto s = write_file_atomic(tmp / "cert.pem", chain_pem); !s) return fail(s.error());
  if (auto s = write_file_atomic(tmp / "key.pem", key_pem, kPrivateMode); !s) return fail(s.error());
  if (auto s = write_file_atomic(tmp / "chain.pem", chain); !s) return fail(s.error());
  if (auto s = write_file_atomic(tmp / "combined.pem", key_pem + chain_pem, kPrivateMode); !s) return fail(s.error());
  const fs::path final_dir = versions / version_name(serial);
  fs::rename(tmp, final_dir, ec);
  if (ec) return fail(io("renaming " + tmp.string(), ec));
  if (auto s = sync_dir(versions); !s) {
    fs::remove_all(final_dir, ec);
    return s.error();
  }
  return final_dir;
}

// Keeps the three newest versions, and always the one `live` points at.
void prune(const fs::path& versions, const fs::path& keep) {
  std::vector<fs::path> all;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(versions, ec))
    if (e.is_directory(ec) && e.path().filename().string().rfind("v", 0) == 0) all.push_back(e.path());
  std::sort(all.begin(), all.end());
  while (all.size() > 3) {
    if (all.front().filename() != keep.filename()) fs::remove_all(all.front(), ec);
    all.erase(all.begin());
  }
}

// What a run killed part-way leaves behind: version directories still under their temporary
// names, and the temporary files and symlinks beside the paths it replaces. Called with the
// lock held, so no other run is writing them.
void remove_leftovers(const fs::path& versions, const std::vector<fs::path>& replaced) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(versions, ec))
    if (e.path().filename().string().rfind(".tmp-", 0) == 0) fs::remove_all(e.path(), ec);
  for (const auto& p : replaced) {
    if (p.empty()) continue;
    const std::string prefix = "." + p.filename().string() + ".tmp";  // ".tmp-" (symlinks), ".tmp." (files)
    for (const auto& e : fs::directory_iterator(p.parent_path(), ec)) {
      const std::string n = e.path().filename().string();
      if (n.rfind(prefix, 0) == 0 && n.size() > prefix.size() && (n[prefix.size()] == '-' || n[prefix.size()] == '.'))
        fs::remove(e.path(), ec);
    }
  }
}

// One run at a time per certificate directory: an exclusive lock on <base>/lock, released by
// the kernel however the process ends.
class DirLock {
 public:
  static Result<DirLock> take(const fs::path& file) {
    const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return make_error(Errc::io, "cannot open " + file.string() + ": " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int e = errno;
      ::close(fd);
      if (e == EWOULDBLOCK) return make_error(Errc::io, "another sigil renew holds " + file.string());
      return make_error(Errc::io, "cannot lock " + file.string() + ": " + std::strerror(e));
    }
    return DirLock(fd);
  }
  DirLock(DirLock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  DirLock& operator=(DirLock&&) = delete;
  ~DirLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  explicit DirLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace

Status install(const Paths& p, const NewMaterial& m) {
  std::error_code ec;
  const fs::path cert = fs::absolute(p.cert), key = fs::absolute(p.key);
  const fs::path chain = p.chain.empty() ? fs::path() : fs::absolute(p.chain);
  const fs::path base = cert.parent_path() / ".sigil-renew";
  const fs::path versions = base / "versions", live = base / "live";
  SIGIL_TRY_STATUS(make_dirs(versions, 0755));
  SIGIL_TRY(DirLock lock, DirLock::take(base / "lock"));
  const fs::path cert_prev = cert.string() + ".prev", key_prev = key.string() + ".prev";
  remove_leftovers(versions, {cert, key, chain, live, cert_prev, key_prev});

  // What the consumer reads today (through the symlinks if they exist already).
  SIGIL_TRY(const std::string old_cert, read_file(cert));
  SIGIL_TRY(const std::string old_key, read_file(key));

  // Symlinks are relative (`live` -> versions/<v>, the plain paths -> .../live/<file>), so the
  // directory still works where it is mounted elsewhere (a container's volume).
  // First run: adopt the current pair as a version, then turn the plain paths into symlinks
  // into `live`. At every step both paths resolve to the same (old) pair.
  if (!fs::is_symlink(live)) {
    SIGIL_TRY(fs::path first, write_version(versions, "adopted", old_cert, old_key));
    if (auto s = point(live, first.lexically_relative(base)); !s) {
      fs::remove_all(first, ec);
      return s;
    }
  }
  auto link_into_live = [&](const fs::path& plain, const char* file) -> Status {
    if (plain.empty()) return {};
    const fs::path target = (live / file).lexically_relative(plain.parent_path());
    if (fs::is_symlink(plain) && fs::read_symlink(plain, ec) == target) return {};
    return point(plain, target);
  };

  // The new version, complete and durable, before anything visible changes.
  const std::string new_key = m.key_pem.empty() ? old_key : m.key_pem;
  SIGIL_TRY(fs::path next, write_version(versions, m.serial, m.chain_pem, new_key));
  auto undo = [&](Status s) {
    fs::remove_all(next, ec);
    return s;
  };
  if (auto s = write_file_atomic(cert_prev, old_cert); !s) return undo(s);
  if (auto s = write_file_atomic(key_prev, old_key, kPrivateMode); !s) return undo(s);
  if (auto s = link_into_live(cert, "cert.pem"); !s) return undo(s);
  if (auto s = link_into_live(key, "key.pem"); !s) return undo(s);
  if (auto s = link_into_live(chain, "chain.pem"); !s) return undo(s);
  // The one visible change: both paths move to the new version together.
  if (auto s = point(live, next.lexically_relative(base)); !s) {
    // The rename happened or not; only a failed sync of the directory leaves it done, and then
    // the new pair is what readers see: report the install, so that --exec reloads them.
    if (fs::read_symlink(live, ec) != next.lexically_relative(base)) return undo(s);
  }
  prune(versions, next);
  return {};
}

}  // namespace sigil::cli::renew
