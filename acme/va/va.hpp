#pragma once
// The validation authority: proves control of an identifier by http-01, dns-01 or
// tls-alpn-01 (RFC 8555 §8, RFC 8737). Names are resolved through a configured DNS server
// (c-ares), never the system stub; an address in a forbidden range is never contacted.
// Validation runs on the VA's own threads with bounded concurrency and timeouts.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ca/base/error.hpp"

namespace sigil::acme::va {

struct Config {
  // "127.0.0.1:8053", "[::1]:53"; empty: the servers of /etc/resolv.conf (through c-ares).
  std::string dns_resolver;
  int http01_port = 80;
  int tlsalpn01_port = 443;
  std::chrono::milliseconds timeout{10'000};  // a whole validation, all lookups and fetches
  int max_concurrency = 16;                   // validations in flight; more wait in a queue
  std::size_t max_queue = 1024;               // beyond this, submit() refuses (rate_limited)
  int max_redirects = 10;                     // http-01
  // Addresses never contacted (CIDR). Defaults: unspecified, link-local (cloud metadata),
  // multicast, broadcast and reserved ranges of IPv4 and IPv6.
  std::vector<std::string> forbidden_ranges = {"0.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4",
                                               "::/128",    "fe80::/10",      "ff00::/8"};
};

struct Task {
  std::string challenge_type;   // "http-01" | "dns-01" | "tls-alpn-01"
  std::string identifier_type;  // "dns" | "ip"
  std::string identifier;       // without "*." (a wildcard is validated by dns-01 on the base name)
  std::string token;
  std::string key_authorization;  // token "." base64url(JWK thumbprint)
};

struct Outcome {
  bool valid = false;
  // When not valid: the ACME error type without its URN prefix ("connection", "dns",
  // "incorrectResponse", "unauthorized", "tls", "rejectedIdentifier", "serverInternal"),
  // and a detail for the client (no internal state).
  std::string error_type;
  std::string detail;
  std::vector<std::string> addresses_tried;  // for the audit log
};

class Validator {
 public:
  // Errc::invalid_argument for a malformed resolver address or range.
  static Result<std::unique_ptr<Validator>> create(Config config);
  virtual ~Validator() = default;
  // Synchronous: runs on the caller's thread (tests, and the worker threads behind submit).
  virtual Outcome validate(const Task& task) = 0;
  // Asynchronous: `done` runs on a VA thread once the validation ends. rate_limited when the
  // queue is full (nothing queued then).
  virtual Status submit(Task task, std::function<void(Outcome)> done) = 0;
  // Waits for queued and running validations, then stops the threads. Idempotent.
  virtual void shutdown() = 0;
};

// tls-alpn-01 (RFC 8737 §3): the acmeIdentifier extension value a validation certificate
// must carry, critical: an OCTET STRING holding SHA-256(key_authorization).
inline constexpr const char* kAcmeTlsAlpn = "acme-tls/1";

}  // namespace sigil::acme::va
