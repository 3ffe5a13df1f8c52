#pragma once
// The validation authority: proves control of an identifier by http-01, dns-01 or
// tls-alpn-01 (RFC 8555 §8, RFC 8737, RFC 8738 for IP identifiers). Names are resolved through
// a configured DNS server (c-ares), never the system stub; an address in a forbidden range is
// never contacted. Validation runs on the VA's own threads with bounded concurrency and timeouts.
//
// Rules (Boulder's where it has one):
// - Addresses: A and AAAA are asked together. Addresses in a forbidden range are dropped (and
//   never contacted); if none is left, "rejectedIdentifier" naming them. The first IPv6
//   address is tried first, then, if no TCP connection could be made to it, the first IPv4
//   one; the IPv6 connect gets at most half of the time left when an IPv4 address waits.
// - CNAMEs are followed (in the answer, and by asking again for the target), at most 8.
// - http-01: GET http://<identifier>/.well-known/acme-challenge/<token> on http01_port;
//   Host is the identifier (an IPv6 one in brackets). 200 with a body that equals the key
//   authorization once surrounding whitespace is trimmed. Bodies beyond 64 KiB are refused.
//   Redirects (301, 302, 303, 307, 308): at most max_redirects, no loops, http or https
//   only, the host a DNS name (or the IP identifier itself), ports 80, 443, http01_port or
//   https_port (a URL without a port means http01_port for http, https_port for https).
//   https is spoken without certificate verification (the key authorization is the proof).
// - dns-01: any TXT record at _acme-challenge.<identifier> (strings of one record joined)
//   equal to base64url(SHA-256(key authorization)). Not for IP identifiers.
// - tls-alpn-01: TLS 1.2+ to <address>:tlsalpn01_port, SNI the name (for an IP, its
//   reverse name, RFC 8738 §6), ALPN acme-tls/1 negotiated; the certificate has exactly one
//   subjectAltName, equal to the identifier, and a critical acmeIdentifier extension holding
//   SHA-256(key authorization).
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ca/base/error.hpp"

namespace sigil::acme::va {

// The default forbidden ranges (the one copy: ca/service/config.hpp takes its default from here):
// unspecified, loopback (a name or redirect pointing at 127.0.0.1 would reach the CA's own
// listeners), link-local (cloud metadata), multicast, broadcast and reserved, IPv4 and IPv6.
inline const std::vector<std::string> kDefaultForbiddenRanges = {"0.0.0.0/8",   "127.0.0.0/8", "169.254.0.0/16",
                                                                 "224.0.0.0/4", "240.0.0.0/4", "::/128",
                                                                 "::1/128",     "fe80::/10",   "ff00::/8"};

// What kind of address `ip` (text form) is, for error details: "loopback", "private",
// "link-local", "multicast", "unspecified", "reserved", "shared" (100.64.0.0/10),
// "unique-local" (fc00::/7) or "public"; "invalid" when it is no address.
std::string address_class(const std::string& ip);

struct Config {
  // One or more resolvers, comma-separated: "127.0.0.1:8053", "[::1]:53", "10.0.0.2" (port 53).
  // Empty: the servers of /etc/resolv.conf (through c-ares).
  std::string dns_resolver;
  int http01_port = 80;
  int https_port = 443;  // http-01 redirects to https:// URLs that name no port
  int tlsalpn01_port = 443;
  std::chrono::milliseconds timeout{10'000};  // a whole validation, all lookups and fetches
  int max_concurrency = 16;                   // validations in flight; more wait in a queue
  std::size_t max_queue = 1024;               // beyond this, submit() refuses (rate_limited)
  int max_redirects = 10;                     // http-01
  // Addresses never contacted (CIDR, or a single address); see kDefaultForbiddenRanges. An
  // IPv4-mapped IPv6 address (::ffff:a.b.c.d) is checked as the IPv4 address it carries.
  std::vector<std::string> forbidden_ranges = kDefaultForbiddenRanges;
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
  // "incorrectResponse", "unauthorized", "tls", "rejectedIdentifier", "malformed",
  // "serverInternal"), and a detail for the client (no internal state).
  //   dns                 NXDOMAIN, no records, SERVFAIL/REFUSED, DNS timeout, CNAME loop
  //   connection          refused, reset or timed out; redirect rules (port, scheme, host,
  //                       loop, too many); an answer that is not HTTP
  //   tls                 the TLS handshake failed
  //   unauthorized        http-01 status other than 200 or wrong body; dns-01 TXT records
  //                       present but none matches; tls-alpn-01 ALPN not negotiated or the
  //                       certificate does not prove the key authorization
  //   incorrectResponse   http-01 body larger than the limit
  //   rejectedIdentifier  every address of the identifier (or a redirect's host) is forbidden
  //   malformed           the task itself is wrong (unknown type, dns-01 for an IP, bad token)
  std::string error_type;
  std::string detail;
  std::vector<std::string> addresses_tried;  // IP addresses connected to, in order (audit log)
};

class Validator {
 public:
  // Errc::invalid_argument for a malformed resolver address or range, or a bad number.
  static Result<std::unique_ptr<Validator>> create(Config config);
  virtual ~Validator() = default;  // implementations shut down first
  // Synchronous: runs on the caller's thread (tests, and the worker threads behind submit).
  // Bounded by Config.timeout (plus scheduling slack); thread-safe.
  virtual Outcome validate(const Task& task) = 0;
  // Asynchronous: `done` runs on a VA thread once the validation ends (its timeout counts
  // from when a thread picks it up). Errc::rate_limited when max_concurrency + max_queue
  // validations are already accepted and unfinished (nothing queued then); Errc::internal
  // after shutdown().
  virtual Status submit(Task task, std::function<void(Outcome)> done) = 0;
  // Waits for queued and running validations, then stops the threads. Idempotent. Must not be
  // called from a `done` callback.
  virtual void shutdown() = 0;
};

// tls-alpn-01 (RFC 8737 §3): the ALPN protocol of validation handshakes. The validation
// certificate carries the critical acmeIdentifier extension (1.3.6.1.5.5.7.1.31), an OCTET
// STRING holding SHA-256(key_authorization).
inline constexpr const char* kAcmeTlsAlpn = "acme-tls/1";

}  // namespace sigil::acme::va
