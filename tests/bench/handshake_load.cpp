// Load generator for TLS handshakes: N threads, each looping connect -> TLS 1.3 handshake
// (verifying the server against CA_PEM, presenting CERT_PEM) -> GET /health -> read the whole
// response -> close_notify -> close, for a fixed time. OpenSSL directly (no Asio), so the client
// side is the same for every server it drives. Bounded by construction (duration, threads).
//
// --resume: each thread offers the session (TLS 1.3 ticket) of its previous connection, so every
// handshake after a thread's first is a resumption if the server accepts it; the count of
// resumed handshakes is printed either way.
//
// Prints one "tls ..." line with what the first connection negotiated (so the servers' settings
// can be compared), then one result line. Exit status 1 if any request failed (anything but a
// 200, or any TLS/socket error).
//
// Usage: handshake_load HOST PORT CA_PEM CERT_PEM KEY_PEM CONCURRENCY SECONDS [--resume]
//        (HOST is the name to verify and send as SNI; the connection goes to 127.0.0.1)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ca/crypto/handles.hpp"
#include "tests/bench/latencies.hpp"

using namespace sigil;

namespace {

using SslCtxPtr = crypto::OpenSslPtr<SSL_CTX, SSL_CTX_free>;
using SslPtr = crypto::OpenSslPtr<SSL, SSL_free>;
using SessionPtr = crypto::OpenSslPtr<SSL_SESSION, SSL_SESSION_free>;

struct Options {
  std::string host;
  int port = 0;
  int concurrency = 1;
  double seconds = 1;
  bool resume = false;
};

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

int connect_loopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // A wedged server must not hang the benchmark.
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string tls_error(SSL* ssl, int rc) {
  std::string out = "ssl error " + std::to_string(SSL_get_error(ssl, rc));
  const long v = SSL_get_verify_result(ssl);
  if (v != X509_V_OK) out += std::string(" verify: ") + X509_verify_cert_error_string(v);
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += std::string(" ") + buf;
  }
  if (errno) out += std::string(" errno: ") + std::strerror(errno);
  return out;
}

// Reads one HTTP/1.1 response (headers, then Content-Length bytes). Returns the status, or -1.
int read_response(SSL* ssl) {
  std::string in;
  char buf[4096];
  std::size_t header_end = std::string::npos, need = 0;
  for (;;) {
    if (header_end != std::string::npos && in.size() >= need) break;
    const int n = SSL_read(ssl, buf, sizeof buf);
    if (n <= 0) return header_end != std::string::npos && in.size() >= need ? 0 : -1;
    in.append(buf, static_cast<std::size_t>(n));
    if (header_end == std::string::npos && (header_end = in.find("\r\n\r\n")) != std::string::npos) {
      std::string lower(in, 0, header_end);
      std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
      const auto cl = lower.find("\r\ncontent-length:");
      need = header_end + 4 + (cl == std::string::npos ? 0 : std::strtoul(lower.c_str() + cl + 17, nullptr, 10));
    }
  }
  if (in.compare(0, 9, "HTTP/1.1 ") != 0 || in.size() < 12) return -1;
  return std::atoi(in.c_str() + 9);
}

std::string describe(SSL* ssl) {
  std::string s = std::string("tls version=") + SSL_get_version(ssl) + " cipher=" + SSL_get_cipher_name(ssl);
  const char* group = SSL_group_to_name(ssl, static_cast<int>(SSL_get_negotiated_group(ssl)));
  s += std::string(" group=") + (group ? group : "?");
  int type = NID_undef, digest = NID_undef;
  SSL_get_peer_signature_type_nid(ssl, &type);
  SSL_get_peer_signature_nid(ssl, &digest);
  s += std::string(" server_signature=") + (type != NID_undef ? OBJ_nid2sn(type) : "?") + "+" +
       (digest != NID_undef ? OBJ_nid2sn(digest) : "?");
  const STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl);
  s += " server_chain=" + std::to_string(chain ? sk_X509_num(chain) : 0);
  if (X509* peer = SSL_get1_peer_certificate(ssl)) {
    crypto::X509Ptr owned(peer);
    const EVP_PKEY* key = X509_get0_pubkey(peer);
    s += std::string(" server_key=") + (key ? EVP_PKEY_get0_type_name(key) : "?") + "/" +
         std::to_string(key ? EVP_PKEY_get_bits(key) : 0);
  }
  return s;
}

// Session tickets received on this thread's current connection (the new-session callback runs
// on the thread that reads them).
thread_local int tickets_seen = 0;

int count_ticket(SSL*, SSL_SESSION*) {
  ++tickets_seen;
  return 0;  // not kept: the thread takes SSL_get1_session after the response
}

Options parse(int argc, char** argv) {
  Options o;
  o.host = argv[1];
  o.port = std::atoi(argv[2]);
  o.concurrency = std::max(1, std::atoi(argv[6]));
  o.seconds = std::atof(argv[7]);
  o.resume = argc == 9 && std::string_view(argv[8]) == "--resume";
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 8 || argc > 9 || (argc == 9 && std::string_view(argv[8]) != "--resume")) {
    std::fprintf(stderr, "usage: handshake_load HOST PORT CA CERT KEY CONCURRENCY SECONDS [--resume]\n");
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  const Options opt = parse(argc, argv);

  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  // The client keeps sessions itself (per thread), never in the context's cache.
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx.get(), count_ticket);
  if (SSL_CTX_load_verify_locations(ctx.get(), argv[3], nullptr) != 1 ||
      SSL_CTX_use_certificate_chain_file(ctx.get(), argv[4]) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx.get(), argv[5], SSL_FILETYPE_PEM) != 1) {
    std::fprintf(stderr, "cannot load trust anchors or client certificate: %s\n",
                 crypto::drain_openssl_errors().c_str());
    return 2;
  }
  const std::string request = "GET /health HTTP/1.1\r\nHost: " + opt.host + "\r\nConnection: close\r\n\r\n";

  std::atomic<long> ok{0}, failed{0}, resumed{0}, tickets{0}, tickets_resumed{0};
  std::once_flag described;
  bench::Latencies latencies;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(opt.seconds);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < opt.concurrency; ++t) {
    threads.emplace_back([&] {
      std::vector<double> mine;
      SessionPtr session;
      auto fail = [&](const std::string& why) {
        if (++failed <= 3) std::fprintf(stderr, "connection failed: %s\n", why.c_str());
      };
      while (std::chrono::steady_clock::now() < deadline) {
        const auto t0 = std::chrono::steady_clock::now();
        Socket sock(connect_loopback(opt.port));
        if (sock.fd() < 0) {
          fail(std::string("connect: ") + std::strerror(errno));
          continue;
        }
        SslPtr ssl(SSL_new(ctx.get()));
        SSL_set_fd(ssl.get(), sock.fd());
        SSL_set_tlsext_host_name(ssl.get(), opt.host.c_str());
        SSL_set1_host(ssl.get(), opt.host.c_str());
        if (opt.resume && session) SSL_set_session(ssl.get(), session.get());
        errno = 0;
        tickets_seen = 0;
        int rc = SSL_connect(ssl.get());
        if (rc != 1) {
          fail("handshake: " + tls_error(ssl.get(), rc));
          continue;
        }
        rc = SSL_write(ssl.get(), request.data(), static_cast<int>(request.size()));
        const int status = rc > 0 ? read_response(ssl.get()) : -1;
        if (status != 200) {
          fail(status < 0 ? "request: " + tls_error(ssl.get(), rc) : "status " + std::to_string(status));
          continue;
        }
        if (SSL_session_reused(ssl.get())) {
          resumed++;
          tickets_resumed += tickets_seen;  // a server that renews no ticket on resumption: 0
        }
        std::call_once(described, [&] { std::printf("%s\n", describe(ssl.get()).c_str()); });
        // The tickets arrived before the response, so this session is the resumable one.
        if (opt.resume) session.reset(SSL_get1_session(ssl.get()));
        SSL_shutdown(ssl.get());  // close_notify, without waiting for the server's
        tickets += tickets_seen;
        ok++;
        mine.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      }
      latencies.merge(mine);
    });
  }
  for (auto& th : threads) th.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto pct = [&](double p) { return latencies.percentile(p); };
  std::printf(
      "mode=%s concurrency=%d handshakes_per_s=%.0f ok=%ld failed=%ld resumed=%ld tickets_per_connection=%.2f "
      "tickets_per_resumption=%.2f "
      "p50_ms=%.2f p99_ms=%.2f\n",
      opt.resume ? "resumed" : "full", opt.concurrency, static_cast<double>(ok.load()) / elapsed, ok.load(),
      failed.load(), resumed.load(),
      ok.load() ? static_cast<double>(tickets.load()) / static_cast<double>(ok.load()) : 0.0,
      resumed.load() ? static_cast<double>(tickets_resumed.load()) / static_cast<double>(resumed.load()) : 0.0,
      pct(0.5), pct(0.99));
  return failed.load() == 0 ? 0 : 1;
}
