#pragma once
// The plain HTTP facade. Handlers and everything above see these types only; Boost.Beast,
// Asio and OpenSSL stay inside ca/http's sources.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ca/base/clock.hpp"
#include "ca/base/error.hpp"
#include "ca/base/metrics.hpp"
#include "ca/crypto/x509.hpp"

namespace sigil::http {

// Who the route's authenticator found the caller to be. ca/http knows no identities: the module
// that registers the authenticator derives its own type (the api's authz identity, the WFE's
// verified JWS) and its handlers read it back with Request::principal_as.
struct Principal {
  Principal() = default;
  Principal(const Principal&) = default;
  Principal(Principal&&) = default;
  Principal& operator=(const Principal&) = default;
  Principal& operator=(Principal&&) = default;
  virtual ~Principal() = default;
};

struct Request {
  std::string method;                                        // "GET", "POST", ...
  std::string target;                                        // raw request-target
  std::string path;                                          // target without the query
  std::map<std::string, std::string> query;                  // decoded
  std::map<std::string, std::string> params;                 // from the route pattern ("{serial}")
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string remote_address;
  std::string listener;  // "api", "acme", "public"
  // The verified client certificate (mTLS), or null.
  std::shared_ptr<const crypto::Certificate> peer;
  // Set by the router from the route's authenticator before the handler runs; null on Auth::none.
  std::shared_ptr<const Principal> principal;

  std::optional<std::string_view> header(std::string_view lower_name) const;
  // The principal as the registering module's type; null when absent or of another type.
  template <class T>
  const T* principal_as() const {
    return dynamic_cast<const T*>(principal.get());
  }
};

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  static Response json(int status, std::string body);
  static Response text(int status, std::string body, std::string content_type = "text/plain; charset=utf-8");
  // RFC 7807 problem document from an Error, through the one error table.
  static Response problem(const Error& e);
  static Response problem(int status, std::string_view type, std::string_view detail);
  Response& with(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

using Handler = std::function<Response(const Request&)>;

// How a route authenticates its caller. The router enforces it before the handler runs, with
// the authenticator registered for its kind (Router::authenticate); a route whose kind has none
// is refused with a 500, so no handler can run unauthenticated by omission.
struct Auth {
  enum class Kind {
    none,         // anyone (public data, /health)
    client_cert,  // a verified client certificate, allowed `action` by the caller's role
    jws_jwk,      // ACME: a JWS signed by the key in its jwk header (newAccount)
    jws_kid,      // ACME: a JWS signed by an account's key, named by kid
    jws_either,   // ACME: either of the two (revokeCert)
    post_as_get,  // ACME: jws_kid with an empty payload
  };
  Kind kind = Kind::none;
  // client_cert: the authorization action the caller's role must allow ("read", "administer");
  // empty: any verified caller, the handler decides (e.g. on the request's content).
  std::string action;
  // client_cert: what a refusal is audited and counted as ("eab-create"); `action` when empty.
  std::string audit_as;

  static const Auth none;
  static const Auth client_cert;
  static const Auth jws_jwk;
  static const Auth jws_kid;
  static const Auth jws_either;
  static const Auth post_as_get;
  static Auth client_cert_for(std::string action, std::string audit_as = "") {
    return {Kind::client_cert, std::move(action), std::move(audit_as)};
  }
  bool operator==(const Auth&) const = default;
};
inline const Auth Auth::none{Auth::Kind::none, "", ""};
inline const Auth Auth::client_cert{Auth::Kind::client_cert, "", ""};
inline const Auth Auth::jws_jwk{Auth::Kind::jws_jwk, "", ""};
inline const Auth Auth::jws_kid{Auth::Kind::jws_kid, "", ""};
inline const Auth Auth::jws_either{Auth::Kind::jws_either, "", ""};
inline const Auth Auth::post_as_get{Auth::Kind::post_as_get, "", ""};

struct Route {
  std::string method;
  std::string pattern;  // "/api/v1/certificates/{serial}"; "{x}" is one segment, "{x*}" the rest
  Auth auth = Auth::none;
  Handler handler;
  std::string name;  // metrics label; the pattern by default
  // Optional: tried first, on the I/O thread. It must not block (a memory lookup); returning
  // nullopt hands the request to `handler` on the worker pool.
  std::function<std::optional<Response>(const Request&)> fast = nullptr;
};

// The principal, or the response refusing the request (a problem document in the registering
// module's dialect: 401/403 for REST, ACME's error types with a fresh nonce).
using Authenticated = std::variant<std::shared_ptr<const Principal>, Response>;
using Authenticator = std::function<Authenticated(const Request&, const Route&)>;

class Router {
 public:
  void add(Route r);
  // The authenticator for every route of `kind` (replacing any earlier one).
  void authenticate(Auth::Kind kind, Authenticator a);
  // 404/405 problem documents when nothing matches; 401 when a client certificate is required
  // and none was presented; else the route's authenticator sets req.principal or refuses, and
  // only then does the handler run.
  Response dispatch(Request& req) const;
  // The same for a route match() already found (nullptr: none; `path_matched` as it said), so
  // a server that matched once to pick a thread does not match again.
  Response dispatch(Request& req, const Route* route, bool path_matched) const;
  // The route table as added, in order (tests check each route's authentication).
  const std::vector<Route>& routes() const { return routes_; }
  const Route* match(std::string_view method, std::string_view path, std::map<std::string, std::string>& params,
                     bool& path_matched) const;

 private:
  // A route's pattern split once at add(): its segments, and whether the last is "{x*}".
  struct Pattern {
    std::vector<std::string> segments;
    bool rest = false;
  };
  std::vector<Route> routes_;
  std::vector<Pattern> patterns_;  // patterns_[i] is routes_[i]'s
  std::map<Auth::Kind, Authenticator> authenticators_;
};

// How a listener speaks.
enum class TlsMode {
  none,    // plain HTTP
  server,  // TLS, server authentication only (a client certificate may be offered)
  mutual,  // TLS 1.3 only, a verified client certificate required at the handshake
};

// Material and rules for one TLS listener. A new snapshot replaces the old for new
// handshakes; established connections keep theirs.
struct TlsSettings {
  std::string chain_pem;      // server certificate, then intermediates
  std::string key_pem;        // never logged
  std::string client_ca_pem;  // trust anchors for client certificates
  bool allow_tls12 = false;   // server mode only: ECDHE+AEAD suites
  std::chrono::seconds client_skew{60};
  bool require_client_auth_eku = true;
  // Called once the handshake has verified the client's chain (validity, EKU), on full and
  // resumed handshakes, with the leaf (a session whose certificate has expired since is not
  // resumed: the client makes a full handshake, its certificate verified again); an error or an exception refuses the
  // connection (revocation against the store: hard-fail). It may block: it runs on the server's check pool
  // (Limits::client_check_*), never on an I/O thread, and nothing the client sends is read
  // until it returns. A refused client gets a TCP reset instead of an answer (its handshake
  // has finished by then, so no TLS alert can say why); the reason is logged and counted.
  std::function<Status(const crypto::Certificate& leaf)> check_client;
  // The OCSP response for the server's own certificate, stapled when a client asks
  // (status_request); null: none. Called on an I/O thread in the middle of a handshake: it must
  // not block. Return a response held in memory (no store, no signing, no network, no lock held
  // by anything slow); fetching and re-signing belong to a background job.
  std::function<std::shared_ptr<const Bytes>()> ocsp_staple;
};

struct Limits {
  std::size_t max_body = 1 << 20;
  std::size_t max_header = 16 << 10;
  std::chrono::milliseconds request_timeout{10'000};  // a whole request must arrive in this time
  std::chrono::milliseconds idle_timeout{60'000};     // between keep-alive requests
  int max_connections_per_address = 256;
  // TlsSettings::check_client runs on its own pool of this many threads. Checks queued or
  // running, over all listeners, are bounded: a handshake beyond the bound, or whose check takes
  // longer than the timeout, is refused (fail closed, counted).
  int client_check_threads = 2;
  std::size_t client_check_queue = 512;
  std::chrono::milliseconds client_check_timeout{5'000};
};

struct ListenerConfig {
  std::string name;     // "api", "acme", "public"
  std::string address;  // "127.0.0.1:9443", "[::1]:0"
  TlsMode tls = TlsMode::none;
  std::shared_ptr<const Router> router;
  // A connection older than this (by the server's clock) gets "Connection: close" with its next
  // response, so that its client certificate is checked again (revocation, expiry) on a new
  // handshake within about this long. Zero: connections live as long as their client keeps them.
  std::chrono::seconds max_connection_age{0};
};

// One Beast/Asio server: a thread per core for I/O (each with its own io_context; a connection
// stays on one), a worker pool for handlers (which may block on the store or sign; by default
// max(16, 4 per core) of them), and a small pool for client-certificate checks.
class Server {
 public:
  // `clock` dates what the server judges: client certificates' validity (full handshakes and
  // resumed sessions) and connection age. It must outlive the server.
  Server(Metrics& metrics, const Clock& clock, Limits limits, int io_threads = 0, int worker_threads = 0);
  // The same with the system clock.
  Server(Metrics& metrics, Limits limits, int io_threads = 0, int worker_threads = 0);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds now (port 0 picks one); returns the bound address ("127.0.0.1:40123").
  Result<std::string> listen(const ListenerConfig& config, std::optional<TlsSettings> tls);
  // Builds a new TLS snapshot for a listener; new handshakes use it at once.
  Status update_tls(const std::string& listener, const TlsSettings& tls);
  void start();
  // Stops accepting, lets in-flight requests finish (bounded by `drain`), then stops.
  void stop(std::chrono::milliseconds drain = std::chrono::milliseconds(5000));
  void wait();  // until stopped

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

std::string percent_decode(std::string_view s, bool plus_is_space);

// How a listener turns bytes into a Request (parse_request.cpp), shared by the sessions and the
// fuzzer: target -> path + decoded query; header names lower-cased.
void set_target(Request& req, std::string_view target);
void add_header(Request& req, std::string_view name, std::string_view value);

// One request parsed from the front of `bytes` under `limits`, as a listener parses it.
struct ParsedRequest {
  std::optional<Request> request;  // a whole request was there
  int status = 0;                  // else the listener's answer: 400, 413, 431; 0: incomplete
  std::size_t consumed = 0;        // bytes used; a pipelined next request starts here
  bool keep_alive = false;
};
ParsedRequest parse_request(std::string_view bytes, const Limits& limits);

// A response's status line and header fields as a listener writes them, into `out` (replacing
// what it held): the request's HTTP version (10 or 11); the status, or 500 for one that is not a
// final status (200-599); the handler's fields in order (a name that is not a token or a value
// holding CR, LF or NUL is dropped; framing fields are the listener's); Cache-Control: no-store
// unless the handler set one, Date unless it set one, Connection as `keep_alive` and the version
// need, and Content-Length of r.body unless the status is 204 or 304. Returns whether the body
// follows (false for 204 and 304, whose body is never sent); the body is not included, and a
// HEAD answer is the head alone.
bool serialize_head(std::string& out, const Response& r, unsigned version, bool keep_alive, std::string_view date);
bool has_body(int status);     // false for 1xx, 204 and 304
int final_status(int status);  // the status as written: 500 unless it is 200-599

}  // namespace sigil::http
