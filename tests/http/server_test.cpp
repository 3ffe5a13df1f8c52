// The server's TLS listeners against a real OpenSSL client on 127.0.0.1 (port 0): the listener's
// check_client runs off the I/O threads, and a client it refuses is never read nor answered.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>

#include "ca/base/metrics.hpp"
#include "ca/crypto/handles.hpp"
#include "ca/http/http.hpp"

using namespace sigil;
using namespace sigil::http;
using Ms = std::chrono::milliseconds;

namespace {

// A loopback TCP connection to `port`, its reads and writes bounded to 5 s.
int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  timeval tv{5, 0};  // bounded: a server that never answers fails the test instead of hanging it
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

// ---------------------------------------------------------------- certificates (made per run)

using SslCtxPtr = crypto::OpenSslPtr<SSL_CTX, SSL_CTX_free>;
using SslPtr = crypto::OpenSslPtr<SSL, SSL_free>;
using SessionPtr = crypto::OpenSslPtr<SSL_SESSION, SSL_SESSION_free>;

crypto::EvpPkeyPtr new_key() {
  crypto::EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  REQUIRE(key);
  return key;
}

crypto::X509Ptr new_cert(const char* cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key,
                         const std::vector<std::pair<int, const char*>>& exts) {
  crypto::X509Ptr x(X509_new());
  REQUIRE(x);
  static long serial = 1;
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), ++serial);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 24 * 3600);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509_set_issuer_name(x.get(), X509_get_subject_name(issuer ? issuer : x.get()));
  X509_set_pubkey(x.get(), key);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, issuer ? issuer : x.get(), x.get(), nullptr, nullptr, 0);
  for (const auto& [nid, value] : exts) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
    REQUIRE(ext);
    X509_add_ext(x.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  REQUIRE(X509_sign(x.get(), issuer_key ? issuer_key : key, EVP_sha256()) > 0);
  return x;
}

template <class Write>
std::string to_pem(Write write) {
  crypto::BioPtr bio(BIO_new(BIO_s_mem()));
  REQUIRE(write(bio.get()) == 1);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

// A CA, a server certificate for 127.0.0.1 and a client certificate (clientAuth), all P-256.
struct Pki {
  crypto::EvpPkeyPtr ca_key = new_key(), server_key = new_key(), client_key = new_key();
  crypto::X509Ptr ca = new_cert("test ca", ca_key.get(), nullptr, nullptr,
                                {{NID_basic_constraints, "critical,CA:TRUE"}, {NID_key_usage, "critical,keyCertSign"}});
  crypto::X509Ptr server = new_cert("server", server_key.get(), ca.get(), ca_key.get(),
                                    {{NID_subject_alt_name, "IP:127.0.0.1"}, {NID_ext_key_usage, "serverAuth"}});
  crypto::X509Ptr client =
      new_cert("client", client_key.get(), ca.get(), ca_key.get(), {{NID_ext_key_usage, "clientAuth"}});

  TlsSettings settings() const {
    TlsSettings t;
    t.chain_pem = to_pem([&](BIO* b) { return PEM_write_bio_X509(b, server.get()); });
    t.key_pem = to_pem(
        [&](BIO* b) { return PEM_write_bio_PrivateKey(b, server_key.get(), nullptr, nullptr, 0, nullptr, nullptr); });
    t.client_ca_pem = to_pem([&](BIO* b) { return PEM_write_bio_X509(b, ca.get()); });
    return t;
  }
};

const Pki& pki() {
  static const Pki p;
  return p;
}

// ---------------------------------------------------------------- a blocking OpenSSL client

struct Outcome {
  bool handshake = false;  // SSL_connect succeeded (TLS 1.3: before the server saw our Finished)
  bool resumed = false;
  std::string response;  // everything read until the server closed
  std::string error;     // how the read (or the handshake) ended, if not cleanly
  SessionPtr session;

  bool answered() const { return response.rfind("HTTP/1.1 200", 0) == 0; }
};

class Client {
 public:
  Client() : ctx_(SSL_CTX_new(TLS_client_method())) {
    REQUIRE(ctx_);
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
    REQUIRE(X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_.get()), pki().ca.get()) == 1);
  }

  // One request on a fresh connection; with_cert: present the client certificate.
  Outcome get(int port, const std::string& path, bool with_cert, SSL_SESSION* resume = nullptr) {
    Outcome out;
    const int fd = connect_to(port);
    SslPtr ssl(SSL_new(ctx_.get()));
    REQUIRE(ssl);
    SSL_set_fd(ssl.get(), fd);
    if (with_cert) {
      REQUIRE(SSL_use_certificate(ssl.get(), pki().client.get()) == 1);
      REQUIRE(SSL_use_PrivateKey(ssl.get(), pki().client_key.get()) == 1);
    }
    if (resume) SSL_set_session(ssl.get(), resume);
    if (SSL_connect(ssl.get()) == 1) {
      out.handshake = true;
      out.resumed = SSL_session_reused(ssl.get()) == 1;
      const std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
      if (SSL_write(ssl.get(), request.data(), static_cast<int>(request.size())) <= 0) out.error = describe(ssl.get());
      char buf[4096];
      for (;;) {
        const int n = SSL_read(ssl.get(), buf, sizeof buf);
        if (n <= 0) {
          if (SSL_get_error(ssl.get(), n) != SSL_ERROR_ZERO_RETURN && out.error.empty())
            out.error = describe(ssl.get());
          break;
        }
        out.response.append(buf, static_cast<std::size_t>(n));
      }
      // Our close_notify too, or SSL_free marks the session not resumable.
      if (out.error.empty()) SSL_shutdown(ssl.get());
      out.session.reset(SSL_get1_session(ssl.get()));
    } else {
      out.error = describe(ssl.get());
    }
    ERR_clear_error();
    ::close(fd);
    return out;
  }

  // A kept-alive connection with the client certificate: requests one after the other.
  class Connection {
   public:
    Connection(SSL_CTX* ctx, int port) : fd_(connect_to(port)), ssl_(SSL_new(ctx)) {
      REQUIRE(ssl_);
      SSL_set_fd(ssl_.get(), fd_);
      REQUIRE(SSL_use_certificate(ssl_.get(), pki().client.get()) == 1);
      REQUIRE(SSL_use_PrivateKey(ssl_.get(), pki().client_key.get()) == 1);
      REQUIRE(SSL_connect(ssl_.get()) == 1);
    }
    ~Connection() { ::close(fd_); }
    // One response (headers and a Content-Length body), or what arrived before the stream ended.
    std::string request(const std::string& path) {
      const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
      if (SSL_write(ssl_.get(), req.data(), static_cast<int>(req.size())) <= 0) return "";
      std::string got;
      char buf[4096];
      for (;;) {
        const auto end = got.find("\r\n\r\n");
        if (end != std::string::npos) {
          const auto cl = got.find("Content-Length: ");
          const std::size_t body = cl == std::string::npos ? 0 : std::stoul(got.substr(cl + 16));
          if (got.size() >= end + 4 + body) return got;
        }
        const int n = SSL_read(ssl_.get(), buf, sizeof buf);
        if (n <= 0) return got;
        got.append(buf, static_cast<std::size_t>(n));
      }
    }
    // The server ended the connection (close_notify, FIN or reset), rather than leaving it open
    // until the read timeout (5 s).
    bool closed_by_server() {
      char buf[64];
      errno = 0;
      const int n = SSL_read(ssl_.get(), buf, sizeof buf);
      if (n > 0) return false;
      const int e = SSL_get_error(ssl_.get(), n);
      ERR_clear_error();
      return e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno != EAGAIN && errno != EWOULDBLOCK);
    }

   private:
    int fd_;
    SslPtr ssl_;
  };
  Connection open(int port) { return Connection(ctx_.get(), port); }

  // The same over plain HTTP.
  static Outcome get_plain(int port, const std::string& path, const std::string& method = "GET") {
    Outcome out;
    const int fd = connect_to(port);
    const std::string request = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()));
    char buf[4096];
    ssize_t n = 0;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.response.append(buf, static_cast<std::size_t>(n));
    if (n < 0) out.error = std::strerror(errno);
    ::close(fd);
    return out;
  }

 private:
  static std::string describe(SSL*) {
    const unsigned long e = ERR_peek_last_error();
    if (e != 0) return ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "ssl error";
    return errno == 0 ? "eof" : std::strerror(errno);
  }

  SslCtxPtr ctx_;
};

// ---------------------------------------------------------------- the server under test

int port_of(const std::string& bound) { return std::stoi(bound.substr(bound.rfind(':') + 1)); }

// One server with a single I/O thread: an mTLS listener "api" (check_client as given), a TLS
// listener "web" without client certificates and a plain one "plain". GET /ping counts what
// reached a handler; GET /io answers on the I/O thread (a fast route) and notes its id.
struct Harness {
  explicit Harness(std::function<Status(const crypto::Certificate&)> check, Limits limits = {},
                   std::chrono::seconds api_max_age = {})
      : server(metrics, clock, limits, 1, 1) {
    auto router = std::make_shared<Router>();
    router->add({"GET", "/ping", Auth::none,
                 [this](const Request&) {
                   ++served;
                   return Response::text(200, "pong");
                 },
                 "ping"});
    Route io{"GET", "/io", Auth::none, [](const Request&) { return Response::text(500, "not fast"); }, "io"};
    io.fast = [this](const Request&) -> std::optional<Response> {
      std::lock_guard lock(mu);
      io_thread = std::this_thread::get_id();
      return Response::text(200, "io");
    };
    router->add(std::move(io));
    TlsSettings api = pki().settings();
    api.check_client = std::move(check);
    TlsSettings web = pki().settings();
    web.client_ca_pem.clear();
    auto a = server.listen({"api", "127.0.0.1:0", TlsMode::mutual, router, api_max_age}, api);
    auto w = server.listen({"web", "127.0.0.1:0", TlsMode::server, router}, web);
    auto p = server.listen({"plain", "127.0.0.1:0", TlsMode::none, router}, std::nullopt);
    REQUIRE(a);
    REQUIRE(w);
    REQUIRE(p);
    api_port = port_of(*a);
    web_port = port_of(*w);
    plain_port = port_of(*p);
    server.start();
  }

  // The count of refusals for `reason`, once it reaches `at_least` or 2 s have passed: the
  // server counts a refusal after the client has seen it.
  double failures(const std::string& reason, double at_least = 1) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    for (;;) {
      const double n = metrics.value("sigil_tls_handshake_failures_total", {{"listener", "api"}, {"reason", reason}});
      if (n >= at_least || std::chrono::steady_clock::now() >= deadline) return n;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  double handshakes(const char* resumed) {
    return metrics.value("sigil_tls_handshakes_total", {{"listener", "api"}, {"resumed", resumed}});
  }

  Metrics metrics;
  FakeClock clock{std::chrono::system_clock::now()};  // the server's; certificates are valid -1 h .. +24 h
  std::atomic<int> served{0};
  std::mutex mu;
  std::thread::id io_thread;
  Server server;
  int api_port = 0, web_port = 0, plain_port = 0;
};

// A check that blocks until released (bounded), noting the thread it ran on.
class Gate {
 public:
  Status wait(std::thread::id& ran_on) {
    std::unique_lock lock(mu_);
    ran_on = std::this_thread::get_id();
    ++entered_;
    cv_.notify_all();
    cv_.wait_for(lock, std::chrono::seconds(5), [this] { return open_; });
    return {};
  }
  bool wait_entered(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(5), [&] { return entered_ >= n; });
  }
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int entered_ = 0;
  bool open_ = false;
};

template <class F>
Ms timed(F f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration_cast<Ms>(std::chrono::steady_clock::now() - start);
}

struct IgnoreSigpipe {
  IgnoreSigpipe() { std::signal(SIGPIPE, SIG_IGN); }  // a refused client's write meets a reset
} ignore_sigpipe;

}  // namespace

TEST_CASE("check_client runs off the I/O thread: while it blocks, other connections are served") {
  Gate gate;
  std::thread::id check_thread;
  Harness h([&](const crypto::Certificate&) { return gate.wait(check_thread); });
  Client client;
  Outcome slow;
  std::thread first([&] { slow = client.get(h.api_port, "/ping", true); });
  REQUIRE(gate.wait_entered(1));

  // The server has one I/O thread; the check holds a check-pool thread. Handshakes and requests
  // on the other listeners, and on the same one, go on meanwhile.
  Outcome web, plain, io;
  const Ms took = timed([&] {
    web = client.get(h.web_port, "/ping", false);
    plain = Client::get_plain(h.plain_port, "/ping");
    io = client.get(h.web_port, "/io", false);
  });
  CHECK(web.answered());
  CHECK(plain.answered());
  CHECK(io.answered());
  CHECK(took < Ms(1000));
  CHECK(h.served == 2);  // the blocked client's request has not been read

  gate.open();
  first.join();
  CHECK(slow.answered());
  CHECK(h.served == 3);
  std::lock_guard lock(h.mu);
  CHECK(check_thread != std::thread::id());
  CHECK(check_thread != h.io_thread);
  CHECK(h.handshakes("no") == 1);
}

TEST_CASE("A client refused by check_client is never read nor answered; the refusal is counted") {
  std::atomic<int> checks{0};
  Harness h([&](const crypto::Certificate& leaf) -> Status {
    ++checks;
    CHECK(leaf.der().size() > 0);
    return make_error(Errc::unauthorized, "certificate revoked");
  });
  Client client;
  const Outcome o = client.get(h.api_port, "/ping", true);
  INFO("error: " << o.error);
  CHECK(o.response.empty());
  CHECK_FALSE(o.error.empty());
  CHECK(checks == 1);
  CHECK(h.served == 0);
  CHECK(h.failures("certificate revoked") == 1);
  CHECK(h.handshakes("no") == 0);
  // The other listeners (no check_client) are as before.
  CHECK(client.get(h.web_port, "/ping", false).answered());
  CHECK(h.served == 1);
}

TEST_CASE("A check that throws, or fails (store error), refuses") {
  std::atomic<int> mode{0};
  Harness h([&](const crypto::Certificate&) -> Status {
    if (mode == 0) throw std::runtime_error("database is locked");
    return make_error(Errc::storage, "database is locked");
  });
  Client client;
  for (int m : {0, 1}) {
    mode = m;
    const Outcome o = client.get(h.api_port, "/ping", true);
    INFO("mode " << m << ", error: " << o.error);
    CHECK(o.response.empty());
    CHECK_FALSE(o.error.empty());
  }
  CHECK(h.served == 0);
  CHECK(h.failures("certificate revoked", 2) == 2);
}

TEST_CASE("No client certificate on the mTLS listener: refused in the handshake, check not called") {
  std::atomic<int> checks{0};
  Harness h([&](const crypto::Certificate&) -> Status {
    ++checks;
    return {};
  });
  Client client;
  const Outcome o = client.get(h.api_port, "/ping", false);
  CHECK_FALSE(o.answered());
  CHECK(checks == 0);
  CHECK(h.served == 0);
  CHECK(h.failures("peer did not return a certificate") == 1);
  CHECK(client.get(h.api_port, "/ping", true).answered());
  CHECK(checks == 1);
}

TEST_CASE("A resumed session is checked again: revoked since its ticket, it is refused") {
  std::atomic<bool> revoked{false};
  Harness h([&](const crypto::Certificate&) -> Status {
    if (revoked) return make_error(Errc::unauthorized, "certificate revoked");
    return {};
  });
  Client client;
  Outcome first = client.get(h.api_port, "/ping", true);
  REQUIRE(first.answered());
  REQUIRE(first.session);
  Outcome again = client.get(h.api_port, "/ping", true, first.session.get());
  CHECK(again.resumed);
  CHECK(again.answered());
  CHECK(h.handshakes("yes") == 1);
  // A ticket is used once (RFC 8446 C.4); the resumed connection got a fresh one.
  const Outcome replayed = client.get(h.api_port, "/ping", true, first.session.get());
  CHECK_FALSE(replayed.resumed);
  CHECK(replayed.answered());
  REQUIRE(again.session);

  revoked = true;
  const Outcome refused = client.get(h.api_port, "/ping", true, again.session.get());
  CHECK(refused.resumed);
  CHECK(refused.response.empty());
  CHECK(h.served == 3);
  CHECK(h.failures("resumed session: certificate revoked") == 1);
}

TEST_CASE("Checks are bounded: beyond the queue, or past the timeout, the client is refused") {
  SUBCASE("queue") {
    Gate gate;
    std::thread::id ignored;
    Limits limits;
    limits.client_check_threads = 1;
    limits.client_check_queue = 1;
    Harness h([&](const crypto::Certificate&) { return gate.wait(ignored); }, limits);
    Client client;
    Outcome held;
    std::thread first([&] { held = client.get(h.api_port, "/ping", true); });
    REQUIRE(gate.wait_entered(1));
    const Outcome over = client.get(h.api_port, "/ping", true);
    CHECK(over.response.empty());
    CHECK(h.failures("client check queue full") == 1);
    gate.open();
    first.join();
    CHECK(held.answered());
    CHECK(h.served == 1);
  }
  SUBCASE("timeout") {
    Limits limits;
    limits.client_check_timeout = Ms(100);
    Harness h(
        [](const crypto::Certificate&) -> Status {
          std::this_thread::sleep_for(Ms(400));
          return {};
        },
        limits);
    Client client;
    Outcome o;
    const Ms took = timed([&] { o = client.get(h.api_port, "/ping", true); });
    CHECK(o.response.empty());
    CHECK(took < Ms(400));
    CHECK(h.served == 0);
    CHECK(h.failures("client check timed out") == 1);
  }
}

// Series in the exposition: sample lines, a histogram counted by its _sum and _count only.
int count_series(const Metrics& m) {
  int n = 0;
  const std::string text = m.render();
  std::size_t start = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    const std::string_view line(text.data() + start, (end == std::string::npos ? text.size() : end) - start);
    if (!line.empty() && line[0] != '#' && line.find("_bucket{") == std::string_view::npos) ++n;
    start = end == std::string::npos ? text.size() : end + 1;
  }
  return n;
}

TEST_CASE("Metric labels never come from the request: random methods and paths add a handful of series") {
  Harness h([](const crypto::Certificate&) -> Status { return {}; });
  // One request of each status first, so that the histogram's buckets exist already.
  REQUIRE(Client::get_plain(h.plain_port, "/ping").answered());
  REQUIRE(Client::get_plain(h.plain_port, "/warm-up").response.rfind("HTTP/1.1 404", 0) == 0);
  const int before = count_series(h.metrics);

  std::mt19937 rng(20261206);
  auto token = [&](int min, int max) {
    static const char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::string s(std::uniform_int_distribution<int>(min, max)(rng), 'x');
    for (auto& c : s) c = kChars[std::uniform_int_distribution<int>(0, sizeof kChars - 2)(rng)];
    return s;
  };
  int answered = 0;
  for (int i = 0; i < 200; ++i) {
    // Known and invented methods, on unknown paths and on a route's own path.
    std::string method = i % 4 == 0 ? "POST" : token(3, 12);
    std::string path = i % 3 == 0 ? "/ping" : "/" + token(1, 20) + "/" + token(1, 20);
    const Outcome o = Client::get_plain(h.plain_port, path, method);
    answered += o.response.rfind("HTTP/1.1 ", 0) == 0 ? 1 : 0;
  }
  CHECK(answered == 200);
  const int added = count_series(h.metrics) - before;
  INFO("series added by 200 requests: " << added);
  // Counters {ping: 405, unmatched: 404} x {POST, other}; the histogram (_sum, _count) of ping's 405.
  CHECK(added <= 8);
  CHECK(h.metrics.value("sigil_http_requests_total",
                        {{"listener", "plain"}, {"route", "unmatched"}, {"method", "other"}, {"status", "404"}}) > 0);
}

TEST_CASE("A session whose client certificate has expired since is not resumed: the full handshake refuses it") {
  Harness h([](const crypto::Certificate&) -> Status { return {}; });
  Client client;
  Outcome first = client.get(h.api_port, "/ping", true);
  REQUIRE(first.answered());
  REQUIRE(first.session);
  const Outcome again = client.get(h.api_port, "/ping", true, first.session.get());
  CHECK(again.resumed);
  CHECK(again.answered());

  h.clock.advance(std::chrono::hours(25));  // past the client certificate's notAfter (+24 h)
  const Outcome late = client.get(h.api_port, "/ping", true, first.session.get());
  INFO("error: " << late.error);
  CHECK_FALSE(late.resumed);
  CHECK(late.response.empty());
  CHECK(h.served == 2);
  CHECK(h.handshakes("yes") == 1);
  CHECK(h.failures("certificate has expired") == 1);
}

TEST_CASE("Past max_connection_age a kept-alive api connection is closed after its response; a new one is checked") {
  std::atomic<bool> revoked{false};
  Harness h(
      [&](const crypto::Certificate&) -> Status {
        if (revoked) return make_error(Errc::unauthorized, "certificate revoked");
        return {};
      },
      {}, std::chrono::seconds(300));
  Client client;
  auto c = client.open(h.api_port);
  const std::string r1 = c.request("/ping");
  CHECK(r1.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(r1.find("Connection: close") == std::string::npos);
  h.clock.advance(std::chrono::seconds(299));
  const std::string r2 = c.request("/ping");
  CHECK(r2.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(r2.find("Connection: close") == std::string::npos);

  // Revoked now: the open connection is not checked again, but it ends with the first response
  // after the age bound, and the next connection's handshake refuses the certificate.
  revoked = true;
  h.clock.advance(std::chrono::seconds(2));
  const std::string r3 = c.request("/ping");
  CHECK(r3.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(r3.find("Connection: close") != std::string::npos);
  CHECK(c.closed_by_server());
  CHECK(h.served == 3);
  const Outcome refused = client.get(h.api_port, "/ping", true);
  CHECK(refused.response.empty());
  CHECK(h.served == 3);
  CHECK(h.failures("certificate revoked") == 1);
}

namespace {

// Reads responses off one plain connection, framed the way a client must frame them: no body
// after HEAD, 204 or 304, else Content-Length bytes.
class RawConnection {
 public:
  explicit RawConnection(int port) : fd_(connect_to(port)) {}
  ~RawConnection() { ::close(fd_); }
  void send(const std::string& bytes) {
    REQUIRE(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size()));
  }
  struct Answer {
    std::string head;
    std::string body;
    int status = 0;
  };
  Answer next(bool head_request = false) {
    Answer a;
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) REQUIRE(fill());
    a.head = buf_.substr(0, end + 4);
    buf_.erase(0, end + 4);
    a.status = std::stoi(a.head.substr(9, 3));
    std::size_t length = 0;
    if (const auto cl = a.head.find("Content-Length: "); cl != std::string::npos)
      length = std::stoul(a.head.substr(cl + 16));
    if (head_request || a.status == 204 || a.status == 304) length = 0;
    while (buf_.size() < length) REQUIRE(fill());
    a.body = buf_.substr(0, length);
    buf_.erase(0, length);
    return a;
  }
  // Nothing more arrives: the connection is closed by the server, with no stray bytes.
  bool closed_cleanly() { return buf_.empty() && !fill(); }

 private:
  bool fill() {
    char b[16384];
    const ssize_t n = ::recv(fd_, b, sizeof b, 0);
    if (n <= 0) return false;
    buf_.append(b, static_cast<std::size_t>(n));
    return true;
  }
  int fd_;
  std::string buf_;
};

}  // namespace

TEST_CASE("Responses on a kept-alive connection are framed exactly: HEAD, 204, 304, a large body, HTTP/1.0") {
  Metrics metrics;
  Server server(metrics, Limits{}, 2, 2);
  const std::string big(300 * 1024 + 7, 'b');
  auto router = std::make_shared<Router>();
  router->add({"GET", "/small", Auth::none, [](const Request&) { return Response::text(200, "small"); }, "small"});
  router->add({"HEAD", "/small", Auth::none, [](const Request&) { return Response::text(200, "small"); }, "small"});
  router->add({"GET", "/big", Auth::none, [&big](const Request&) { return Response::text(200, big); }, "big"});
  router->add({"GET", "/none", Auth::none,
               [](const Request&) {
                 Response r = Response::text(204, "never sent");
                 return r;
               },
               "none"});
  router->add({"GET", "/same", Auth::none,
               [](const Request&) { return Response::text(304, "never sent").with("ETag", "\"1\""); }, "same"});
  router->add({"GET", "/odd", Auth::none, [](const Request&) { return Response::text(42, "odd"); }, "odd"});
  auto bound = server.listen({"plain", "127.0.0.1:0", TlsMode::none, router}, std::nullopt);
  REQUIRE(bound);
  server.start();
  const int port = port_of(*bound);

  RawConnection c(port);
  // Pipelined: every answer must end where the next begins.
  c.send(
      "HEAD /small HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /none HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /same HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /odd HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /small HTTP/1.1\r\nHost: x\r\n\r\n");
  auto head = c.next(true);
  CHECK(head.status == 200);
  CHECK(head.head.find("Content-Length: 5\r\n") != std::string::npos);  // the GET's length, no body
  CHECK(head.head.find("Date: ") != std::string::npos);
  auto none = c.next();
  CHECK(none.status == 204);
  CHECK(none.head.find("Content-Length") == std::string::npos);
  auto same = c.next();
  CHECK(same.status == 304);
  CHECK(same.head.find("ETag: \"1\"\r\n") != std::string::npos);
  auto large = c.next();
  CHECK(large.status == 200);
  CHECK(large.body == big);
  auto odd = c.next();
  CHECK(odd.status == 500);
  CHECK(odd.body == "odd");
  auto small = c.next();
  CHECK(small.status == 200);
  CHECK(small.body == "small");

  // HTTP/1.0: kept alive only when asked, and said so; else closed after the answer.
  RawConnection old(port);
  old.send("GET /small HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  auto k = old.next();
  CHECK(k.head.rfind("HTTP/1.0 200 OK\r\n", 0) == 0);
  CHECK(k.head.find("Connection: keep-alive\r\n") != std::string::npos);
  old.send("GET /small HTTP/1.0\r\n\r\n");
  auto last = old.next();
  CHECK(last.body == "small");
  CHECK(last.head.find("Connection: keep-alive") == std::string::npos);
  CHECK(old.closed_cleanly());

  // A malformed request after a HEAD is answered with a framed 400, and the connection closed.
  RawConnection bad(port);
  bad.send("HEAD /small HTTP/1.1\r\nHost: x\r\n\r\nGET /small HTTP/1.1\r\nHost x\r\n\r\n");
  auto h2 = bad.next(true);
  CHECK(h2.status == 200);
  auto refused = bad.next();
  CHECK(refused.status == 400);
  CHECK(refused.head.find("Connection: close\r\n") != std::string::npos);
  CHECK_FALSE(refused.body.empty());
  CHECK(bad.closed_cleanly());
  server.stop(Ms(0));
  server.wait();
}
