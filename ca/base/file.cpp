#include "ca/base/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace sigil {
namespace fs = std::filesystem;

Error errno_error(std::string_view what, const fs::path& p) {
  return make_error(Errc::io, std::string(what) + " " + p.string() + ": " + std::strerror(errno));
}

fs::path temp_path_beside(const fs::path& path) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  fs::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  return dir / ("." + path.filename().string() + ".tmp." + std::to_string(rng()));
}

namespace {

// Writes data to a fresh temporary file beside `path` and syncs it; returns its name.
Result<fs::path> write_temp(const fs::path& path, std::string_view data, unsigned mode) {
  const fs::path tmp = temp_path_beside(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return errno_error("cannot create", tmp);
  // open() applies the umask; make the mode exact (never wider than asked).
  if (::fchmod(fd, mode) != 0) {
    Error e = errno_error("cannot chmod", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return e;
  }
  std::size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      Error e = errno_error("cannot write", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return e;
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    Error e = errno_error("cannot sync", tmp);
    ::unlink(tmp.c_str());
    return e;
  }
  return tmp;
}

}  // namespace

Status sync_dir(const fs::path& dir) {
  const fs::path d = dir.empty() ? fs::path(".") : dir;
  const int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_error("cannot open directory", d);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return errno_error("cannot sync directory", d);
  return {};
}

Status sync_file(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_error("cannot open", path);
  if (::fsync(fd) != 0) {
    Error e = errno_error("cannot sync", path);
    ::close(fd);
    return e;
  }
  if (::close(fd) != 0) return errno_error("cannot close", path);
  return {};
}

Status write_file_atomic(const fs::path& path, std::string_view data, unsigned mode) {
  SIGIL_TRY(fs::path tmp, write_temp(path, data, mode));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Error e = errno_error("cannot rename into", path);
    ::unlink(tmp.c_str());
    return e;
  }
  return sync_dir(path.parent_path());
}

Status write_file_new(const fs::path& path, std::string_view data, unsigned mode) {
  SIGIL_TRY(fs::path tmp, write_temp(path, data, mode));
  // link() fails with EEXIST instead of replacing: the final name appears complete or not at all.
  const int rc = ::link(tmp.c_str(), path.c_str());
  const int saved = errno;
  ::unlink(tmp.c_str());
  if (rc != 0) {
    errno = saved;
    if (saved == EEXIST) return make_error(Errc::already_exists, path.string() + " already exists");
    return errno_error("cannot create", path);
  }
  return sync_dir(path.parent_path());
}

Result<std::string> read_file(const fs::path& path, std::size_t max_size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return make_error(Errc::not_found, path.string() + ": no such file");
    return errno_error("cannot open", path);
  }
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      Error e = errno_error("cannot read", path);
      ::close(fd);
      return e;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > max_size) {
      ::close(fd);
      return make_error(Errc::invalid_argument, path.string() + ": file too large");
    }
  }
  ::close(fd);
  return out;
}

Status make_dirs(const fs::path& dir, unsigned mode) {
  fs::path cur;
  for (const auto& part : dir) {
    cur /= part;
    if (cur.empty() || cur == "/") continue;
    if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) return errno_error("cannot create directory", cur);
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return make_error(Errc::io, dir.string() + " is not a directory");
  return {};
}

}  // namespace sigil
