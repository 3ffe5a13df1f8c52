// The rotation agent apart from the network: the renewal decision, jitter bounds, exit codes,
// and the install of a new pair (versions, one symlink swap, .prev, nothing changed on failure).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "ca/base/file.hpp"
#include "cli/renew/agent.hpp"
#include "tests/support/temp_dir.hpp"

using namespace sigil;
using namespace sigil::cli;
namespace fs = std::filesystem;

using sigil::test::TempDir;

namespace {
std::string slurp(const fs::path& p) {
  auto r = read_file(p);
  REQUIRE(r);
  return *r;
}
}  // namespace

TEST_CASE("renewal is due once the window opens, or when forced") {
  const TimePoint nb = from_unix(1'800'000'000), na = nb + Seconds(90 * 86400);
  const auto w = policy::renewal_window(nb, na);
  CHECK(w.start == nb + Seconds(60 * 86400));        // two thirds
  CHECK(w.end == nb + Seconds(67 * 86400 + 43200));  // three quarters
  CHECK_FALSE(renew::decide(w.start - Seconds(1), w, false).due);
  CHECK(renew::decide(w.start - Seconds(1), w, false).reason == "not yet due");
  CHECK(renew::decide(w.start, w, false).due);
  CHECK(renew::decide(nb, w, true).due);
  CHECK(renew::decide(nb, w, true).reason == "forced");
  // "Now" (revoked, flagged): a window in the past.
  const auto now_w = policy::renew_now(nb);
  CHECK(now_w.end < nb);
  CHECK(renew::decide(nb, now_w, false).due);
}

TEST_CASE("failure exit codes: 10 while more than a day is left, 11 within a day or expired") {
  const TimePoint t = from_unix(1'800'000'000);
  CHECK(renew::failure_exit(t, t + Seconds(86401)) == renew::Exit::failed_still_valid);
  CHECK(renew::failure_exit(t, t + Seconds(86400)) == renew::Exit::failed_expiring);
  CHECK(renew::failure_exit(t, t - Seconds(1)) == renew::Exit::failed_expiring);
  CHECK(static_cast<int>(renew::Exit::ok) == 0);
  CHECK(static_cast<int>(renew::Exit::failed_still_valid) == 10);
  CHECK(static_cast<int>(renew::Exit::failed_expiring) == 11);
}

TEST_CASE("jitter stays within its bound and spreads") {
  std::set<std::int64_t> seen;
  for (int i = 0; i < 2000; ++i) {
    const auto j = renew::jitter(Seconds(10));
    CHECK(j.count() >= 0);
    CHECK(j.count() <= 10);
    seen.insert(j.count());
  }
  CHECK(seen.size() == 11);  // every value in [0, 10] drawn
  CHECK(renew::jitter(Seconds(0)).count() == 0);
}

TEST_CASE("install: both paths move together, the previous pair is kept, three versions remain") {
  TempDir d;
  const fs::path cert = d.path() / "svc.crt", key = d.path() / "svc.key", chain = d.path() / "ca.pem";
  REQUIRE(write_file_atomic(cert, "CERT-0\n"));
  REQUIRE(write_file_atomic(key, "KEY-0\n", kPrivateMode));
  for (int i = 1; i <= 5; ++i) {
    const std::string n = std::to_string(i);
    renew::NewMaterial m{"serial" + n,
                         "-----BEGIN CERTIFICATE-----\nLEAF" + n +
                             "\n-----END CERTIFICATE-----\n"
                             "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n",
                         i % 2 ? "KEY-" + n + "\n" : ""};
    REQUIRE(renew::install({cert, key, chain}, m));
    CHECK(slurp(cert) == m.chain_pem);
    CHECK(slurp(chain) == "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n");
    const std::string expect_key = m.key_pem.empty() ? "KEY-" + std::to_string(i - 1) + "\n" : m.key_pem;
    CHECK(slurp(key) == expect_key);
    CHECK(fs::is_symlink(cert));
    CHECK(fs::is_symlink(key));
    // Key material stays private, wherever it is.
    struct stat st {};
    REQUIRE(stat(key.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    REQUIRE(stat((d.path() / ".sigil-renew/live/combined.pem").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    if (i == 1) {
      CHECK(slurp(fs::path(cert.string() + ".prev")) == "CERT-0\n");
      CHECK(slurp(fs::path(key.string() + ".prev")) == "KEY-0\n");
    }
    // Keep-key renewals (even i) keep the same key bytes: the pair still matches.
    if (i % 2 == 0) CHECK(slurp(key) == "KEY-" + std::to_string(i - 1) + "\n");
  }
  int versions = 0;
  for (const auto& e : fs::directory_iterator(d.path() / ".sigil-renew/versions")) versions += e.is_directory();
  CHECK(versions == 3);
}

TEST_CASE("install: a failure leaves what the consumer reads unchanged") {
  if (geteuid() == 0) {
    // Root ignores directory permissions; use a path that cannot be a directory instead.
    TempDir d;
    const fs::path cert = d.path() / "svc.crt", key = d.path() / "svc.key";
    REQUIRE(write_file_atomic(cert, "CERT-0\n"));
    REQUIRE(write_file_atomic(key, "KEY-0\n", kPrivateMode));
    REQUIRE(write_file_atomic(d.path() / ".sigil-renew", "a file where the version directory would go"));
    auto st = renew::install({cert, key, {}}, {"s1", "NEW\n", "NEWKEY\n"});
    CHECK_FALSE(st);
    CHECK(slurp(cert) == "CERT-0\n");
    CHECK(slurp(key) == "KEY-0\n");
    CHECK_FALSE(fs::is_symlink(cert));
    return;
  }
  TempDir d;
  const fs::path cert = d.path() / "svc.crt", key = d.path() / "svc.key";
  REQUIRE(write_file_atomic(cert, "CERT-0\n"));
  REQUIRE(write_file_atomic(key, "KEY-0\n", kPrivateMode));
  fs::permissions(d.path(), fs::perms::owner_read | fs::perms::owner_exec);
  CHECK_FALSE(renew::install({cert, key, {}}, {"s1", "NEW\n", "NEWKEY\n"}));
  CHECK(slurp(cert) == "CERT-0\n");
  CHECK(slurp(key) == "KEY-0\n");
}

TEST_CASE("install: relative symlinks, so the directory works wherever it is mounted") {
  TempDir d;
  const fs::path cert = d.path() / "svc.crt", key = d.path() / "svc.key";
  REQUIRE(write_file_atomic(cert, "CERT-0\n"));
  REQUIRE(write_file_atomic(key, "KEY-0\n", kPrivateMode));
  REQUIRE(renew::install({cert, key, {}}, {"s1", "NEW\n", ""}));
  CHECK(fs::read_symlink(cert) == ".sigil-renew/live/cert.pem");
  CHECK(fs::read_symlink(key) == ".sigil-renew/live/key.pem");
  const fs::path live = fs::read_symlink(d.path() / ".sigil-renew/live");
  CHECK(live.begin()->string() == "versions");
  // Moved elsewhere, the pair still resolves.
  const fs::path moved = d.path().string() + "-moved";
  fs::rename(d.path(), moved);
  CHECK(slurp(moved / "svc.crt") == "NEW\n");
  CHECK(slurp(moved / "svc.key") == "KEY-0\n");
  fs::rename(moved, d.path());
}

TEST_CASE("install: what a killed run left behind is removed by the next") {
  TempDir d;
  const fs::path cert = d.path() / "svc.crt", key = d.path() / "svc.key";
  REQUIRE(write_file_atomic(cert, "CERT-0\n"));
  REQUIRE(write_file_atomic(key, "KEY-0\n", kPrivateMode));
  REQUIRE(renew::install({cert, key, {}}, {"s1", "C1\n", "K1\n"}));
  // A version directory still under its temporary name, a symlink and .prev files half made.
  const fs::path half = d.path() / ".sigil-renew/versions/.tmp-0123456789ab";
  fs::create_directories(half);
  REQUIRE(write_file_atomic(half / "cert.pem", "HALF\n"));
  fs::create_symlink(".sigil-renew/live/cert.pem", d.path() / ".svc.crt.tmp-deadbeef");
  fs::create_symlink("versions/x", d.path() / ".sigil-renew/.live.tmp-deadbeef");
  REQUIRE(write_file_atomic(d.path() / ".svc.key.prev.tmp.12345", "K\n"));
  REQUIRE(write_file_atomic(d.path() / ".unrelated.tmp.1", "keep me\n"));
  REQUIRE(renew::install({cert, key, {}}, {"s2", "C2\n", "K2\n"}));
  CHECK_FALSE(fs::exists(half));
  CHECK_FALSE(fs::is_symlink(d.path() / ".svc.crt.tmp-deadbeef"));
  CHECK_FALSE(fs::is_symlink(d.path() / ".sigil-renew/.live.tmp-deadbeef"));
  CHECK_FALSE(fs::exists(d.path() / ".svc.key.prev.tmp.12345"));
  CHECK(fs::exists(d.path() / ".unrelated.tmp.1"));
  CHECK(slurp(cert) == "C2\n");
  CHECK(slurp(key) == "K2\n");
}

TEST_CASE("install: one run at a time; a run that fails after writing its version removes it") {
  TempDir d;
  const fs::path cert = d.path() / "svc.crt", key = d.path() / "svc.key";
  REQUIRE(write_file_atomic(cert, "CERT-0\n"));
  REQUIRE(write_file_atomic(key, "KEY-0\n", kPrivateMode));
  REQUIRE(renew::install({cert, key, {}}, {"s1", "C1\n", "K1\n"}));
  const fs::path versions = d.path() / ".sigil-renew/versions";
  auto count = [&] {
    int n = 0;
    for (const auto& e : fs::directory_iterator(versions)) n += e.is_directory();
    return n;
  };
  const int before = count();
  {
    // Another run holds the lock.
    const int fd = ::open((d.path() / ".sigil-renew/lock").c_str(), O_RDWR);
    REQUIRE(fd >= 0);
    REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);
    auto st = renew::install({cert, key, {}}, {"s2", "C2\n", "K2\n"});
    CHECK_FALSE(st);
    if (!st) CHECK(st.error().detail.find("another sigil renew") != std::string::npos);
    ::close(fd);
  }
  CHECK(slurp(cert) == "C1\n");
  CHECK(count() == before);
  // <cert>.prev cannot be replaced (a non-empty directory there): the new version is written,
  // then the run fails, and takes its version away again.
  fs::remove(d.path() / "svc.crt.prev");
  fs::create_directories(d.path() / "svc.crt.prev/x");
  CHECK_FALSE(renew::install({cert, key, {}}, {"s3", "C3\n", "K3\n"}));
  CHECK(slurp(cert) == "C1\n");
  CHECK(slurp(key) == "K1\n");
  CHECK(count() == before);
  fs::remove_all(d.path() / "svc.crt.prev");
  REQUIRE(renew::install({cert, key, {}}, {"s4", "C4\n", "K4\n"}));
  CHECK(slurp(cert) == "C4\n");
  CHECK(slurp(fs::path(cert.string() + ".prev")) == "C1\n");
}
