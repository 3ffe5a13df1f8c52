// The TLS engine of ca/http's server: context snapshots (hot-swapped per listener), resumable
// sessions, mTLS verification callbacks. Private to ca/http (server.cpp and tls_context.cpp).
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "ca/http/http.hpp"

namespace sigil::http::tls {

namespace asio = boost::asio;

// Resumable sessions, kept in memory and shared by every snapshot of a server (so they survive a
// certificate swap). TLS 1.3 tickets are stateful: a ticket is the key of a session here, not
// the encrypted session, so resuming decodes nothing (OpenSSL 3.0 re-parses the client
// certificate of every stateless ticket it issues or accepts, 14% of a full handshake and a
// third of a resumed one). A session is used once (RFC 8446 C.4; the resumption gets a new
// ticket), lives at most `lifetime`, is not resumed after its client certificate expired (by
// the server's clock), and the oldest go first past `capacity`.
class SessionCache {
 public:
  SessionCache(std::size_t capacity, std::chrono::seconds lifetime) : capacity_(capacity), lifetime_(lifetime) {}
  ~SessionCache();
  SessionCache(const SessionCache&) = delete;
  SessionCache& operator=(const SessionCache&) = delete;

  // Takes the reference OpenSSL hands to its new-session callback.
  void add(const std::string& listener, SSL_SESSION* session);
  // The session to resume (a new reference) or nullptr; `now` is the server's clock.
  SSL_SESSION* take(const std::string& listener, const unsigned char* id, unsigned int id_len, time_t now);
  void remove(SSL_SESSION* session);
  std::size_t size();

 private:
  struct Entry {
    SSL_SESSION* session;
    std::string listener;
    std::chrono::steady_clock::time_point added;
  };
  static std::string key_of(const SSL_SESSION* s);
  void erase(std::unordered_map<std::string, Entry>::iterator it);
  std::mutex mu_;
  std::size_t capacity_;
  std::chrono::seconds lifetime_;
  std::unordered_map<std::string, Entry> sessions_;
  std::deque<std::string> order_;  // keys by age; may name sessions already gone
};

struct TlsSnapshot {
  explicit TlsSnapshot(TlsSettings s) : ctx(asio::ssl::context::tls_server), settings(std::move(s)) {}
  asio::ssl::context ctx;
  TlsSettings settings;
  const Clock* clock = nullptr;
  Metrics* metrics = nullptr;
  SessionCache* sessions = nullptr;
  std::string listener;
};

// A new snapshot for `listener`; its SSL_CTX points back at it (ex_data) for the callbacks.
Result<std::shared_ptr<TlsSnapshot>> build_snapshot(const std::string& listener, TlsMode mode, TlsSettings settings,
                                                    const Clock& clock, Metrics& metrics, SessionCache& sessions);

// check_client is the caller's code: an exception (or a store error) refuses, never escapes
// into the check pool.
Status run_client_check(const std::function<Status(const crypto::Certificate&)>& check,
                        const crypto::Certificate& leaf);

// Why a handshake failed, for logs and the metric label.
std::string verify_failure_reason(SSL* ssl, const boost::system::error_code& ec);

}  // namespace sigil::http::tls
