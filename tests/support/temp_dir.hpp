#pragma once
// Scratch space and process state for tests, restored whatever the test's outcome.
#include <sys/types.h>

#include <filesystem>
#include <string>

namespace sigil::test {

// A fresh directory `<base>/sigil-<tag>-XXXXXX`, removed with everything in it at scope exit
// (made writable first, so a test that took the owner's permissions away still cleans up).
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "test", const std::string& base = "/tmp");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Sets the process umask and puts the old one back when the test ends, whatever happens.
class UmaskGuard {
 public:
  explicit UmaskGuard(mode_t m);
  ~UmaskGuard();
  UmaskGuard(const UmaskGuard&) = delete;
  UmaskGuard& operator=(const UmaskGuard&) = delete;

 private:
  mode_t old_;
};

}  // namespace sigil::test
