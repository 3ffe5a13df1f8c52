#pragma once
// The health facts behind `sigil status` (and the server's own expiry warnings): each check a
// finding with a level, a one-line summary and its data. The thresholds live here, once.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ca/base/clock.hpp"
#include "ca/service/home.hpp"

namespace sigil::service::health {

// A CA certificate (root, intermediate) is an error within 30 days of its expiry and a warning
// within 90: the operator has a month to roll a new one through every trust store.
inline constexpr Seconds kCaExpiryError{30 * 86400};
inline constexpr Seconds kCaExpiryWarn{90 * 86400};
// The admin certificate is an error within 7 days of its expiry (a warning from its renewal
// window on); so is the count of certificates expiring soon taken over this horizon.
inline constexpr Seconds kLeafExpiryError{7 * 86400};
// `sigil status` lists the serve nodes heard from within kNodesShown; a node silent for longer
// than kNodeStale (ten missed heartbeats) is shown as stale.
inline constexpr Seconds kNodesShown{600};
inline constexpr Seconds kNodeStale{10};

enum class Level { ok, warn, error };
const char* name(Level l);
Level ca_expiry_level(Seconds left);
// A complete CRL at `now` (unix seconds): an error once past its nextUpdate, a warning when it
// was not rebuilt at half its validity (with ten minutes' grace).
Level crl_level(std::int64_t this_update, std::int64_t next_update, std::int64_t now);

struct Finding {
  std::string check;
  Level level = Level::ok;
  std::string summary;
  nlohmann::json data = nlohmann::json::object();
};

struct Report {
  std::vector<Finding> findings;
  Level worst() const;
};

// Valid certificates past the end of their renewal window (policy::renewal_window) for which no
// newer valid certificate names the same identifiers: their renewal is overdue. `expiring` counts
// those of them expiring within kLeafExpiryError. Certificates naming nothing (OCSP responders)
// are left out. Reads the certificates expiring within a quarter of kHardMaxTtl (no window ends
// earlier), and for each overdue one those naming its first identifier.
struct Unrenewed {
  std::int64_t overdue = 0, expiring = 0;
};
Result<Unrenewed> unrenewed(store::Store& store, TimePoint now);

// Every check, against the home and its store at `now`; OCSP is asked of the running server's
// public listener (config.listeners.public_). An error only when the home itself is unreadable.
Result<Report> collect(const StoreContext& ctx, TimePoint now);

}  // namespace sigil::service::health
