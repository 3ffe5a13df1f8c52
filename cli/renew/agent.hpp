#pragma once
// The rotation agent's decisions and its file handling, apart from the network: when renewal
// is due, which exit code a failure gets, and how a new key + certificate replace the old
// ones so that a reader never sees a certificate with the wrong key.
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "ca/base/clock.hpp"
#include "ca/base/error.hpp"
#include "ca/policy/policy.hpp"

namespace sigil::cli::renew {

// Documented in `sigil renew --help` and README.
enum class Exit : int {
  ok = 0,                   // renewed, or not yet due
  failed_still_valid = 10,  // renewal failed; the current certificate is valid for more than a day
  failed_expiring = 11,     // renewal failed; the current certificate has expired or expires within a day
};
Exit failure_exit(TimePoint now, TimePoint not_after);

struct Decision {
  bool due = false;
  std::string reason;  // "forced", "window opened", "not yet due", "expired"
};
// Due once the window opens (its start), or when forced.
Decision decide(TimePoint now, const policy::RenewalWindow& window, bool force);

// A uniformly random delay in [0, max], from the CSPRNG.
Seconds jitter(Seconds max);

// Where a certificate lives. The plain paths become symlinks into
// <dir of cert>/.sigil-renew/live/, and `live` is one symlink to a complete version
// directory, swapped by one rename: both paths change together.
struct Paths {
  std::filesystem::path cert;   // full chain, leaf first
  std::filesystem::path key;    // 0600
  std::filesystem::path chain;  // optional: the issuing CA certificate(s) only
};

struct NewMaterial {
  std::string serial;
  std::string chain_pem;  // leaf first, then the issuing CA(s)
  std::string key_pem;    // the new key; empty when the key is kept
};

// Writes the new version completely (fsynced) before anything a reader sees changes; keeps
// the previous pair as <cert>.prev and <key>.prev; keeps the last three versions. On any
// error nothing the consumer reads has changed.
Status install(const Paths& paths, const NewMaterial& material);

}  // namespace sigil::cli::renew
