#include "tests/support/temp_dir.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>

namespace sigil::test {

namespace fs = std::filesystem;

TempDir::TempDir(const std::string& tag, const std::string& base) {
  std::string pattern = base + "/sigil-" + tag + "-XXXXXX";
  const char* made = ::mkdtemp(pattern.data());
  REQUIRE(made != nullptr);
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
  fs::remove_all(path_, ec);
}

UmaskGuard::UmaskGuard(mode_t m) : old_(::umask(m)) {}
UmaskGuard::~UmaskGuard() { ::umask(old_); }

}  // namespace sigil::test
