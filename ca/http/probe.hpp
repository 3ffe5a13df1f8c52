#pragma once
// Network probes for the ACME validation authority: one HTTP GET, one TLS handshake, each to
// an address the caller has already resolved and vetted. Plain types only; Beast, Asio and
// OpenSSL stay in probe.cpp. Nothing here verifies certificates: http-01 follows redirects to
// https without verification (as Boulder does) and tls-alpn-01 inspects the certificate itself.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "ca/base/file.hpp"

namespace sigil::http {

// Why a probe produced no usable answer.
struct ProbeError {
  enum class Kind {
    connect,    // the TCP connection failed (refused, unreachable, reset)
    timeout,    // the deadline passed (connect, handshake, request or response)
    tls,        // the TLS handshake failed (alert, protocol error)
    protocol,   // the peer's answer is not HTTP, or its header is too large
    too_large,  // the response body exceeds max_body
  };
  Kind kind = Kind::connect;
  bool connected = false;  // false: no TCP connection was established (another address may do)
  std::string detail;      // for humans: "Connection refused", "tlsv1 alert internal error", ...
};

struct HttpProbe {
  std::string address;  // IP literal to connect to ("127.0.0.1", "::1"); never resolved here
  int port = 80;
  bool tls = false;          // https: TLS 1.2+, no certificate verification, ALPN http/1.1
  std::string host;          // Host header; also the SNI when tls and not an IP literal
  std::string target = "/";  // request-target: absolute path and query
  std::size_t max_body = 64 << 10;
  std::size_t max_header = 16 << 10;
  std::chrono::steady_clock::time_point deadline;  // the whole exchange, connect included
  // Optional earlier bound for the TCP connect alone (leaves time to try another address).
  std::optional<std::chrono::steady_clock::time_point> connect_deadline;
};

struct HttpProbeResult {
  std::optional<ProbeError> error;  // set: none of the fields below is meaningful
  int status = 0;
  std::string location;  // the Location header, if any
  std::string body;      // at most max_body bytes
};

// One GET request ("Connection: close"), response read within the deadline and size bounds.
HttpProbeResult probe_http_get(const HttpProbe& probe);

struct TlsProbe {
  std::string address;  // IP literal to connect to
  int port = 443;
  std::string sni;                // server_name to send; empty: none (RFC 6066 has no IP form)
  std::vector<std::string> alpn;  // protocols offered, in preference order
  std::chrono::steady_clock::time_point deadline;
  std::optional<std::chrono::steady_clock::time_point> connect_deadline;  // as in HttpProbe
};

struct TlsProbeResult {
  std::optional<ProbeError> error;  // set: the handshake did not complete
  std::string alpn;                 // the negotiated protocol; empty when none was
  std::string version;              // "TLSv1.3", ...
  Bytes leaf_der;                   // the peer's certificate, as sent
};

// A TLS handshake (1.2 or later) and nothing more: the connection is closed right after.
TlsProbeResult probe_tls(const TlsProbe& probe);

}  // namespace sigil::http
