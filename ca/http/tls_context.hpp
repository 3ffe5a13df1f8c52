// The TLS engine of ca/http's server: context snapshots (hot-swapped per listener), session
// tickets, mTLS verification callbacks. Private to ca/http (server.cpp and tls_context.cpp).
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ca/http/http.hpp"

namespace sigil::http::tls {

namespace asio = boost::asio;

// Session-ticket keys shared by every snapshot of a server, so tickets survive a certificate
// swap; a new key every `lifetime`, the two before it still accepted for decryption.
class TicketKeys {
 public:
  struct Key {
    unsigned char name[16];
    unsigned char aes[32];
    unsigned char hmac[32];
    std::chrono::steady_clock::time_point created;
  };
  explicit TicketKeys(std::chrono::seconds lifetime) : lifetime_(lifetime) {}

  Key current() {
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (keys_.empty() || now - keys_.front().created >= lifetime_) {
      Key k{};
      RAND_bytes(k.name, sizeof k.name);
      RAND_bytes(k.aes, sizeof k.aes);
      RAND_bytes(k.hmac, sizeof k.hmac);
      k.created = now;
      keys_.insert(keys_.begin(), k);
      if (keys_.size() > 3) keys_.pop_back();
    }
    return keys_.front();
  }
  // 1: the current key; 2: an older one (the client gets a fresh ticket); 0: unknown.
  int find(const unsigned char* name, Key& out) {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < keys_.size(); ++i) {
      if (std::memcmp(keys_[i].name, name, 16) != 0) continue;
      if (std::chrono::steady_clock::now() - keys_[i].created > lifetime_ * 3) return 0;
      out = keys_[i];
      return i == 0 ? 1 : 2;
    }
    return 0;
  }

 private:
  std::mutex mu_;
  std::chrono::seconds lifetime_;
  std::vector<Key> keys_;
};

struct TlsSnapshot {
  explicit TlsSnapshot(TlsSettings s) : ctx(asio::ssl::context::tls_server), settings(std::move(s)) {}
  asio::ssl::context ctx;
  TlsSettings settings;
  const Clock* clock = nullptr;
  Metrics* metrics = nullptr;
  TicketKeys* tickets = nullptr;
  std::string listener;
};

// A new snapshot for `listener`; its SSL_CTX points back at it (ex_data) for the callbacks.
Result<std::shared_ptr<TlsSnapshot>> build_snapshot(const std::string& listener, TlsMode mode, TlsSettings settings,
                                                    const Clock& clock, Metrics& metrics, TicketKeys& tickets);

// check_client is the caller's code: an exception (or a store error) refuses, never escapes
// into the check pool.
Status run_client_check(const std::function<Status(const crypto::Certificate&)>& check,
                        const crypto::Certificate& leaf);

// Why a handshake failed, for logs and the metric label.
std::string verify_failure_reason(SSL* ssl, const boost::system::error_code& ec);

}  // namespace sigil::http::tls
