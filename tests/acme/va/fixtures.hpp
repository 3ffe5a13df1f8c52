#pragma once
// Real peers for the validation authority's tests, all on 127.0.0.1: BIND's named serving two
// small zones, Sigil's own HTTP(S) server, an OpenSSL TLS server presenting acme-tls/1
// certificates made here, and sockets that accept and never answer.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "acme/va/va.hpp"
#include "ca/base/encoding.hpp"
#include "ca/base/log.hpp"
#include "ca/base/metrics.hpp"
#include "ca/crypto/crypto.hpp"
#include "ca/http/http.hpp"
#include "tests/support/temp_dir.hpp"

extern char** environ;

namespace sigil::test {

// ---------------------------------------------------------------- keys and authorizations

inline constexpr const char* kThumbprint = "nvzP1dsxKKCfXwYjmfhrzBvQnE2KpDfqw8PyGODl0g8";
inline constexpr const char* kDnsToken = "dnsTok";
inline std::string key_authorization(const std::string& token) { return token + "." + kThumbprint; }
inline std::string dns01_value(const std::string& token) {
  return base64url_encode(crypto::sha256(as_bytes(key_authorization(token))));
}

inline acme::va::Task task(std::string challenge, std::string identifier, std::string token,
                           std::string identifier_type = "dns") {
  acme::va::Task t;
  t.challenge_type = std::move(challenge);
  t.identifier_type = std::move(identifier_type);
  t.identifier = std::move(identifier);
  t.key_authorization = key_authorization(token);
  t.token = std::move(token);
  return t;
}

// ---------------------------------------------------------------- sockets

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd, o.fd);
    return *this;
  }
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

inline int bound_port(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  return ntohs(a.sin_port);
}

// A socket bound to 127.0.0.1 on `port` (0: any free one).
inline Fd loopback_socket(int type, int port = 0) {
  Fd s(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
  REQUIRE(s.fd >= 0);
  const int one = 1;
  setsockopt(s.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(s.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return Fd();
  return s;
}

// TCP: the kernel completes handshakes into the backlog; nobody ever reads. UDP: the same
// for datagrams. A peer that "accepts and never answers".
struct SilentServer {
  Fd socket;
  int port = 0;
  explicit SilentServer(int type = SOCK_STREAM) : socket(loopback_socket(type)) {
    REQUIRE(socket.fd >= 0);
    if (type == SOCK_STREAM) REQUIRE(::listen(socket.fd, 16) == 0);
    port = bound_port(socket.fd);
  }
};

// A port on 127.0.0.1 where nothing listens (bound once, then released).
inline int closed_port() {
  Fd s = loopback_socket(SOCK_STREAM);
  REQUIRE(s.fd >= 0);
  return bound_port(s.fd);
}

// ---------------------------------------------------------------- BIND

// named from a fresh temp dir, authoritative for "test." and "other." on 127.0.0.1:<port>,
// recursion and NOTIFY off: nothing leaves loopback. Started once per test binary.
class Named {
 public:
  static Named& get() {
    static Named n;
    return n;
  }
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  int port() const { return port_; }
  std::string resolver() const { return "127.0.0.1:" + std::to_string(port_); }

  ~Named() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      for (int i = 0; i < 100; ++i) {
        if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
          pid_ = -1;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
      }
    }
    // tmp_ goes after this body: named is stopped before its directory is removed.
  }

 private:
  Named() { ok_ = start(); }

  static std::string zone_test() {
    const std::string good = dns01_value(kDnsToken);
    const std::string half1 = good.substr(0, 20), half2 = good.substr(20);
    std::ostringstream z;
    z << "$TTL 60\n"
      << "@ SOA ns.test. hostmaster.test. 1 3600 600 86400 60\n"
      << "@ NS ns.test.\n"
      << "ns A 127.0.0.1\n"
      << "ok A 127.0.0.1\n"
      << "both A 127.0.0.1\n"
      << "both AAAA ::1\n"
      << "forbidden A 127.0.0.9\n"
      << "mixed A 127.0.0.9\n"
      << "mixed A 127.0.0.1\n"
      << "alias CNAME ok.test.\n"
      << "far CNAME host.other.\n"
      << "txtonly TXT \"no address here\"\n"
      << "_acme-challenge.d1 TXT \"" << good << "\"\n"
      << "_acme-challenge.multi TXT \"not-it\"\n"
      << "_acme-challenge.multi TXT \"" << good << "\"\n"
      << "_acme-challenge.split TXT \"" << half1 << "\" \"" << half2 << "\"\n"
      << "_acme-challenge.wrong TXT \"not-the-value\"\n"
      << "_acme-challenge.nodata A 127.0.0.1\n"
      << "_acme-challenge.cname CNAME _acme-challenge.d1.test.\n"
      << "_acme-challenge.xzone CNAME delegated.other.\n"
      << "_acme-challenge.inloop CNAME _acme-challenge.inloop2.test.\n"
      << "_acme-challenge.inloop2 CNAME _acme-challenge.inloop.test.\n"
      << "_acme-challenge.loop CNAME loop.other.\n";
    return z.str();
  }

  static std::string zone_other() {
    std::ostringstream z;
    z << "$TTL 60\n"
      << "@ SOA ns.test. hostmaster.test. 1 3600 600 86400 60\n"
      << "@ NS ns.test.\n"
      << "host A 127.0.0.1\n"
      << "loop CNAME _acme-challenge.loop.test.\n"
      << "delegated TXT \"" << dns01_value(kDnsToken) << "\"\n";
    return z.str();
  }

  static bool write(const std::filesystem::path& p, const std::string& text) {
    std::ofstream f(p);
    f << text;
    return static_cast<bool>(f);
  }

  std::string log() const {
    std::ifstream f(dir_ / "named.log");
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }

  // A port free for both UDP and TCP on 127.0.0.1 (released just before named binds it).
  static int free_dns_port() {
    for (int attempt = 0; attempt < 20; ++attempt) {
      Fd udp = loopback_socket(SOCK_DGRAM);
      if (udp.fd < 0) continue;
      const int port = bound_port(udp.fd);
      Fd tcp = loopback_socket(SOCK_STREAM, port);
      if (tcp.fd >= 0) return port;
    }
    return 0;
  }

  bool answers_soa(const std::string& zone) const {
    const std::string cmd =
        "dig @127.0.0.1 -p " + std::to_string(port_) + " +short +time=1 +tries=1 SOA " + zone + " 2>/dev/null";
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return false;
    char buf[256];
    std::string out;
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    ::pclose(p);
    return out.find("hostmaster.test.") != std::string::npos;
  }

  bool start() {
    if (::access("/usr/sbin/named", X_OK) != 0) {
      error_ = "/usr/sbin/named is not installed (Debian bind9; ops/install-deps.sh)";
      return false;
    }
    tmp_.emplace("va-named");
    dir_ = tmp_->path();
    port_ = free_dns_port();
    const std::string d = dir_.string();
    std::ostringstream conf;
    conf << "options {\n"
         << "  directory \"" << d << "\";\n"
         << "  pid-file \"" << d << "/named.pid\";\n"
         << "  session-keyfile \"" << d << "/session.key\";\n"
         << "  managed-keys-directory \"" << d << "\";\n"
         << "  listen-on port " << port_ << " { 127.0.0.1; };\n"
         << "  listen-on-v6 { none; };\n"
         << "  recursion no;\n"
         << "  notify no;\n"
         << "  dnssec-validation no;\n"
         << "  check-names primary ignore;\n"
         << "  allow-query { 127.0.0.1; };\n"
         << "};\n"
         << "controls { };\n"
         << "zone \"test.\" { type primary; file \"" << d << "/test.zone\"; };\n"
         << "zone \"other.\" { type primary; file \"" << d << "/other.zone\"; };\n";
    if (!write(dir_ / "named.conf", conf.str()) || !write(dir_ / "test.zone", zone_test()) ||
        !write(dir_ / "other.zone", zone_other())) {
      error_ = "cannot write named's configuration";
      return false;
    }
    const std::string conf_path = (dir_ / "named.conf").string(), log_path = (dir_ / "named.log").string();
    // -g: foreground, logs on stderr; as root without -u (TESTING-NOTES.md).
    std::vector<std::string> args = {"named", "-g", "-4", "-c", conf_path};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      // Only async-signal-safe calls until exec. named dies with the test binary, even
      // when that crashes.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(127);
      const int in = ::open("/dev/null", O_RDONLY), out = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (in < 0 || out < 0) ::_exit(127);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(out, 2);
      ::execve("/usr/sbin/named", argv.data(), environ);
      ::_exit(127);
    }
    if (pid_ < 0) {
      error_ = "cannot start named";
      return false;
    }
    // named opens its port before the zones are loaded: wait for answers, not for the port.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < until) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        error_ = "named exited:\n" + log();
        return false;
      }
      if (answers_soa("test.") && answers_soa("other.")) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    error_ = "named did not answer SOA queries within 15 s:\n" + log();
    return false;
  }

  std::optional<TempDir> tmp_;
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  bool ok_ = false;
  std::string error_;
};

inline Named& named() {
  Named& n = Named::get();
  REQUIRE_MESSAGE(n.ok(), n.error());
  return n;
}

// ---------------------------------------------------------------- certificates

inline void drain_openssl() { ERR_clear_error(); }

struct CertSpec {
  std::vector<std::string> dns;  // dNSName SANs
  std::vector<std::string> ip;   // iPAddress SANs
  bool acme_extension = true;
  bool critical = true;
  Bytes acme_value;  // the SHA-256 inside; empty: SHA-256 of the key authorization given
};

struct KeyAndCert {
  std::string cert_pem, key_pem;
};

// A self-signed P-256 certificate, as a tls-alpn-01 client would make (RFC 8737 §3).
inline KeyAndCert make_cert(const CertSpec& spec, const std::string& key_auth = "") {
  EVP_PKEY* raw_key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  REQUIRE(raw_key);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(raw_key, EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> x(X509_new(), X509_free);
  REQUIRE(x);
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 4242);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 7 * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("acme validation"), -1,
                             -1, 0);
  X509_set_issuer_name(x.get(), name);
  X509_set_pubkey(x.get(), key.get());
  std::string sans;
  for (const auto& d : spec.dns) sans += (sans.empty() ? "" : ",") + std::string("DNS:") + d;
  for (const auto& i : spec.ip) sans += (sans.empty() ? "" : ",") + std::string("IP:") + i;
  if (!sans.empty()) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x.get(), x.get(), nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, sans.c_str());
    REQUIRE(ext);
    X509_add_ext(x.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (spec.acme_extension) {
    const Bytes digest = spec.acme_value.empty() ? crypto::sha256(as_bytes(key_auth)) : spec.acme_value;
    Bytes inner = {0x04, static_cast<std::uint8_t>(digest.size())};  // OCTET STRING (short form)
    inner.insert(inner.end(), digest.begin(), digest.end());
    ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
    ASN1_OCTET_STRING* value = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(value, inner.data(), static_cast<int>(inner.size()));
    X509_EXTENSION* ext = X509_EXTENSION_create_by_OBJ(nullptr, oid, spec.critical ? 1 : 0, value);
    REQUIRE(ext);
    X509_add_ext(x.get(), ext, -1);
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(value);
    ASN1_OBJECT_free(oid);
  }
  REQUIRE(X509_sign(x.get(), key.get(), EVP_sha256()) > 0);
  auto pem = [](auto write) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    REQUIRE(write(bio.get()) == 1);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
  };
  KeyAndCert out;
  out.cert_pem = pem([&](BIO* b) { return PEM_write_bio_X509(b, x.get()); });
  out.key_pem =
      pem([&](BIO* b) { return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr); });
  drain_openssl();
  return out;
}

// ---------------------------------------------------------------- a tls-alpn-01 responder

// An OpenSSL server on 127.0.0.1 presenting one certificate. `alpn` lists the protocols it
// accepts; a client offering none of them gets no ALPN (or a fatal alert with alert_on_mismatch).
class TlsServer {
 public:
  TlsServer(const KeyAndCert& kc, std::vector<std::string> alpn, bool alert_on_mismatch = false)
      : alpn_(std::move(alpn)), alert_(alert_on_mismatch) {
    ::signal(SIGPIPE, SIG_IGN);  // OpenSSL writes to a socket the VA may have closed already
    ctx_.reset(SSL_CTX_new(TLS_server_method()));
    REQUIRE(ctx_);
    SSL_CTX_set_min_proto_version(ctx_.get(), TLS1_2_VERSION);
    std::unique_ptr<BIO, decltype(&BIO_free)> cb(BIO_new_mem_buf(kc.cert_pem.data(), -1), BIO_free);
    std::unique_ptr<X509, decltype(&X509_free)> cert(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr), X509_free);
    std::unique_ptr<BIO, decltype(&BIO_free)> kb(BIO_new_mem_buf(kc.key_pem.data(), -1), BIO_free);
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
        PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
    REQUIRE(cert);
    REQUIRE(key);
    REQUIRE(SSL_CTX_use_certificate(ctx_.get(), cert.get()) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey(ctx_.get(), key.get()) == 1);
    SSL_CTX_set_alpn_select_cb(ctx_.get(), &TlsServer::select, this);
    // The SNI is recorded while the ClientHello is processed, before the client can see the
    // certificate: a test that reads it after the validation returns never races the server.
    SSL_CTX_set_tlsext_servername_callback(ctx_.get(), &TlsServer::servername);
    SSL_CTX_set_tlsext_servername_arg(ctx_.get(), this);
    listener_ = loopback_socket(SOCK_STREAM);
    REQUIRE(listener_.fd >= 0);
    REQUIRE(::listen(listener_.fd, 16) == 0);
    port_ = bound_port(listener_.fd);
    thread_ = std::thread([this] { loop(); });
  }
  ~TlsServer() {
    stop_ = true;
    thread_.join();
  }
  int port() const { return port_; }
  std::string last_sni() const {
    std::lock_guard lock(mu_);
    return sni_;
  }
  // Completed server-side handshakes; waits (up to 2 s) for at least `at_least`, since the
  // server finishes its side after the client has what it needs.
  int handshakes(int at_least = 0) const {
    for (int i = 0; i < 200 && handshakes_ < at_least; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return handshakes_;
  }

 private:
  static int servername(SSL* ssl, int*, void* arg) {
    auto* self = static_cast<TlsServer*>(arg);
    if (const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) {
      std::lock_guard lock(self->mu_);
      self->sni_ = name;
    }
    return SSL_TLSEXT_ERR_OK;
  }

  static int select(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                    void* arg) {
    auto* self = static_cast<TlsServer*>(arg);
    for (unsigned int i = 0; i < inlen;) {
      const unsigned int len = in[i];
      if (i + 1 + len > inlen) break;
      const std::string offered(reinterpret_cast<const char*>(in + i + 1), len);
      for (const auto& a : self->alpn_) {
        if (a == offered) {
          *out = in + i + 1;
          *outlen = static_cast<unsigned char>(len);
          return SSL_TLSEXT_ERR_OK;
        }
      }
      i += 1 + len;
    }
    return self->alert_ ? SSL_TLSEXT_ERR_ALERT_FATAL : SSL_TLSEXT_ERR_NOACK;
  }

  void loop() {
    while (!stop_) {
      pollfd p{listener_.fd, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      Fd conn(::accept4(listener_.fd, nullptr, nullptr, SOCK_CLOEXEC));
      if (conn.fd < 0) continue;
      timeval tv{2, 0};
      setsockopt(conn.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      SSL* ssl = SSL_new(ctx_.get());
      SSL_set_fd(ssl, conn.fd);
      if (SSL_accept(ssl) == 1) {
        ++handshakes_;
        SSL_shutdown(ssl);
      }
      SSL_free(ssl);
      ERR_clear_error();
    }
  }

  std::vector<std::string> alpn_;
  bool alert_ = false;
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx_{nullptr, SSL_CTX_free};
  Fd listener_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> handshakes_{0};
  mutable std::mutex mu_;
  std::string sni_;
  std::thread thread_;
};

// ---------------------------------------------------------------- the http-01 web server

// Sigil's own server (plain and TLS listeners, one router) answering challenge paths by token:
//   good / any token listed in `bodies`: 200 with the key authorization (plus a line break)
//   redirect*: 30x to the Location in `redirects` (PORT and HTTPS_PORT replaced)
//   /final/<token>: the key authorization of <token>
//   /chain/<n>: 302 to /chain/<n+1>, and /final/redirectChain after 5
//   anything else: 404
class WebServer {
 public:
  static WebServer& get() {
    static WebServer w;
    return w;
  }
  int port() const { return port_; }
  int https_port() const { return https_port_; }
  std::string last_host() const {
    std::lock_guard lock(mu_);
    return host_;
  }

 private:
  WebServer() : server_(metrics_, http::Limits{}, 1, 2) {
    log::set_level(log::Level::warn);
    auto router = std::make_shared<http::Router>();
    router->add({"GET", "/.well-known/acme-challenge/{token}", http::Auth::none,
                 [this](const http::Request& r) { return challenge(r); }, "challenge"});
    router->add(
        {"GET", "/final/{token}", http::Auth::none,
         [](const http::Request& r) { return http::Response::text(200, key_authorization(r.params.at("token"))); },
         "final"});
    router->add({"GET", "/chain/{n}", http::Auth::none,
                 [](const http::Request& r) {
                   const int n = std::atoi(r.params.at("n").c_str());
                   return http::Response::text(302, "").with(
                       "Location", n < 5 ? "/chain/" + std::to_string(n + 1) : "/final/redirectChain");
                 },
                 "chain"});
    router_ = router;
    auto plain = server_.listen({"plain", "127.0.0.1:0", http::TlsMode::none, router_}, std::nullopt);
    REQUIRE_MESSAGE(plain.has_value(), (plain ? "" : plain.error().detail));
    port_ = std::atoi(plain->substr(plain->rfind(':') + 1).c_str());
    const auto kc = make_cert(CertSpec{{"ok.test", "alias.test"}, {}, false, false, {}});
    http::TlsSettings tls;
    tls.chain_pem = kc.cert_pem;
    tls.key_pem = kc.key_pem;
    auto secure = server_.listen({"secure", "127.0.0.1:0", http::TlsMode::server, router_}, tls);
    REQUIRE_MESSAGE(secure.has_value(), (secure ? "" : secure.error().detail));
    https_port_ = std::atoi(secure->substr(secure->rfind(':') + 1).c_str());
    server_.start();
  }

  http::Response challenge(const http::Request& r) {
    {
      std::lock_guard lock(mu_);
      host_ = std::string(r.header("host").value_or(""));
    }
    const std::string token = r.params.at("token");
    const std::string p = std::to_string(port_), hp = std::to_string(https_port_);
    const std::map<std::string, std::pair<int, std::string>> redirects = {
        {"redirectRelative", {301, "/final/redirectRelative"}},
        {"redirectAlias", {302, "http://alias.test:" + p + "/final/redirectAlias"}},
        {"redirectHttps", {307, "https://ok.test:" + hp + "/final/redirectHttps"}},
        {"redirectChain", {302, "/chain/1"}},
        {"redirectBadPort", {302, "http://ok.test:1/final/redirectBadPort"}},
        {"redirectForbidden", {302, "http://forbidden.test:" + p + "/final/redirectForbidden"}},
        {"redirectIp", {302, "http://127.0.0.1:" + p + "/final/redirectIp"}},
        {"redirectFtp", {302, "ftp://ok.test/final/redirectFtp"}},
        {"redirectLoop", {302, "/.well-known/acme-challenge/redirectLoop"}},
        {"redirectNxdomain", {302, "http://nx.test:" + p + "/final/redirectNxdomain"}},
    };
    if (auto it = redirects.find(token); it != redirects.end())
      return http::Response::text(it->second.first, "").with("Location", it->second.second);
    if (token == "wrong") return http::Response::text(200, "wrong.key-authorization");
    if (token == "big") return http::Response::text(200, std::string(100 << 10, 'x'));
    if (token == "missing") return http::Response::text(404, "not here");
    return http::Response::text(200, key_authorization(token) + "\r\n");
  }

  Metrics metrics_;
  http::Server server_;
  std::shared_ptr<const http::Router> router_;
  int port_ = 0, https_port_ = 0;
  mutable std::mutex mu_;
  std::string host_;
};

// ---------------------------------------------------------------- configuration

inline acme::va::Config base_config() {
  acme::va::Config c;
  c.dns_resolver = named().resolver();
  c.http01_port = WebServer::get().port();
  c.https_port = WebServer::get().https_port();
  c.tlsalpn01_port = closed_port();
  c.timeout = std::chrono::milliseconds(2000);
  c.max_concurrency = 2;
  // The peers all listen on loopback, which the defaults forbid: the defaults without loopback,
  // and 127.0.0.9, the address of forbidden.test.
  c.forbidden_ranges.clear();
  for (const auto& r : acme::va::kDefaultForbiddenRanges)
    if (r != "127.0.0.0/8" && r != "::1/128") c.forbidden_ranges.push_back(r);
  c.forbidden_ranges.push_back("127.0.0.9/32");
  return c;
}

inline std::unique_ptr<acme::va::Validator> make_validator(const acme::va::Config& c) {
  auto v = acme::va::Validator::create(c);
  REQUIRE_MESSAGE(v.has_value(), (v ? "" : v.error().detail));
  return std::move(v).value();
}

}  // namespace sigil::test
