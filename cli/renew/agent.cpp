#include "cli/renew/agent.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
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
    fs::remove(tmp);
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
  if (auto s = sync_dir(versions); !s) return s.error();
  return final_dir;
}

Status prune(const fs::path& versions, const fs::path& keep) {
  std::vector<fs::path> all;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(versions, ec))
    if (e.is_directory() && e.path().filename().string().rfind("v", 0) == 0) all.push_back(e.path());
  std::sort(all.begin(), all.end());
  while (all.size() > 3) {
    if (all.front() != keep) fs::remove_all(all.front(), ec);
    all.erase(all.begin());
  }
  return {};
}

}  // namespace

Status install(const Paths& p, const NewMaterial& m) {
  std::error_code ec;
  const fs::path cert = fs::absolute(p.cert), key = fs::absolute(p.key);
  const fs::path chain = p.chain.empty() ? fs::path() : fs::absolute(p.chain);
  const fs::path base = cert.parent_path() / ".sigil-renew";
  const fs::path versions = base / "versions", live = base / "live";
  SIGIL_TRY_STATUS(make_dirs(versions, 0755));

  // What the consumer reads today (through the symlinks if they exist already).
  SIGIL_TRY(const std::string old_cert, read_file(cert));
  SIGIL_TRY(const std::string old_key, read_file(key));

  // First run: adopt the current pair as a version, then turn the plain paths into symlinks
  // into `live`. At every step both paths resolve to the same (old) pair.
  if (!fs::is_symlink(live)) {
    SIGIL_TRY(fs::path first, write_version(versions, "adopted", old_cert, old_key));
    SIGIL_TRY_STATUS(point(live, first));
  }
  auto link_into_live = [&](const fs::path& plain, const char* file) -> Status {
    if (plain.empty()) return {};
    const fs::path target = live / file;
    if (fs::is_symlink(plain) && fs::read_symlink(plain) == target) return {};
    return point(plain, target);
  };

  // The new version, complete and durable, before anything visible changes.
  const std::string new_key = m.key_pem.empty() ? old_key : m.key_pem;
  SIGIL_TRY(fs::path next, write_version(versions, m.serial, m.chain_pem, new_key));
  SIGIL_TRY_STATUS(write_file_atomic(fs::path(cert.string() + ".prev"), old_cert));
  SIGIL_TRY_STATUS(write_file_atomic(fs::path(key.string() + ".prev"), old_key, kPrivateMode));
  SIGIL_TRY_STATUS(link_into_live(cert, "cert.pem"));
  SIGIL_TRY_STATUS(link_into_live(key, "key.pem"));
  SIGIL_TRY_STATUS(link_into_live(chain, "chain.pem"));
  // The one visible change: both paths move to the new version together.
  SIGIL_TRY_STATUS(point(live, next));
  (void)prune(versions, next);
  return {};
}

}  // namespace sigil::cli::renew
