// The TLS engine: context snapshots, session tickets, verification callbacks (tls_context.hpp).
#include "ca/http/tls_context.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <cstring>

#include "ca/base/log.hpp"
#include "ca/crypto/handles.hpp"

namespace sigil::http::tls {

namespace beast = boost::beast;

namespace {

int snapshot_index() {
  static const int idx = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return idx;
}

TlsSnapshot* snapshot_of(SSL* ssl) {
  return static_cast<TlsSnapshot*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), snapshot_index()));
}

int new_session_cb(SSL* ssl, SSL_SESSION* session) {
  auto* snap = snapshot_of(ssl);
  if (!snap || !snap->sessions) return 0;  // OpenSSL drops its reference
  snap->sessions->add(snap->listener, session);
  return 1;
}

SSL_SESSION* get_session_cb(SSL* ssl, const unsigned char* id, int len, int* copy) {
  *copy = 0;  // take() returns a reference of the caller's own
  auto* snap = snapshot_of(ssl);
  if (!snap || !snap->sessions || len <= 0) return nullptr;
  return snap->sessions->take(snap->listener, id, static_cast<unsigned int>(len),
                              std::chrono::system_clock::to_time_t(snap->clock->now()));
}

void remove_session_cb(SSL_CTX* ctx, SSL_SESSION* session) {
  auto* snap = static_cast<TlsSnapshot*>(SSL_CTX_get_ex_data(ctx, snapshot_index()));
  if (snap && snap->sessions) snap->sessions->remove(session);
}

// On the I/O thread, during the handshake: `ocsp_staple` only reads a cached response (its
// contract in http.hpp); nothing here may block.
int status_cb(SSL* ssl, void*) {
  auto* snap = static_cast<TlsSnapshot*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), snapshot_index()));
  if (!snap || !snap->settings.ocsp_staple) return SSL_TLSEXT_ERR_NOACK;
  auto der = snap->settings.ocsp_staple();
  if (!der || der->empty()) return SSL_TLSEXT_ERR_NOACK;
  auto* copy = static_cast<unsigned char*>(OPENSSL_malloc(der->size()));
  if (!copy) return SSL_TLSEXT_ERR_NOACK;
  std::memcpy(copy, der->data(), der->size());
  SSL_set_tlsext_status_ocsp_resp(ssl, copy, static_cast<long>(der->size()));  // takes ownership
  return SSL_TLSEXT_ERR_OK;
}

int alpn_select(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void*) {
  // Only http/1.1; a client that offers ALPN without it is refused (RFC 7301 §3.2).
  for (unsigned int i = 0; i < inlen;) {
    const unsigned int len = in[i];
    if (i + 1 + len > inlen) break;
    if (len == 8 && std::memcmp(in + i + 1, "http/1.1", 8) == 0) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(len);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

int servername_cb(SSL* ssl, int*, void*) {
  if (const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name))
    log::write(log::Level::debug, "tls sni", {{"name", sni}});
  return SSL_TLSEXT_ERR_OK;  // SNI selects nothing
}

int verify_cb(int preverify_ok, X509_STORE_CTX* store) {
  SSL* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* snap = static_cast<TlsSnapshot*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), snapshot_index()));
  if (!snap) return 0;
  X509* cert = X509_STORE_CTX_get_current_cert(store);
  if (!preverify_ok) {
    const int err = X509_STORE_CTX_get_error(store);
    if (err == X509_V_ERR_CERT_NOT_YET_VALID && cert) {
      // Clocks skew: accept a notBefore up to `client_skew` in the future.
      time_t later = std::chrono::system_clock::to_time_t(snap->clock->now()) + snap->settings.client_skew.count();
      if (X509_cmp_time(X509_get0_notBefore(cert), &later) < 0) {
        X509_STORE_CTX_set_error(store, X509_V_OK);
        return 1;
      }
    }
    return 0;
  }
  // The listener's own check (check_client: revocation against the store) may block, so it
  // does not run here, on an I/O thread: the session runs it on the check pool once the
  // handshake is done, before it reads a byte of the client's (Session::check_client).
  return 1;
}

}  // namespace

Result<std::shared_ptr<TlsSnapshot>> build_snapshot(const std::string& listener, TlsMode mode, TlsSettings settings,
                                                    const Clock& clock, Metrics& metrics, SessionCache& sessions) {
  auto snap = std::make_shared<TlsSnapshot>(std::move(settings));
  snap->clock = &clock;
  snap->metrics = &metrics;
  snap->sessions = &sessions;
  snap->listener = listener;
  SSL_CTX* ctx = snap->ctx.native_handle();
  auto fail = [](std::string what) { return make_error(Errc::crypto, what + ": " + crypto::drain_openssl_errors()); };
  const bool tls12 = mode == TlsMode::server && snap->settings.allow_tls12;
  SSL_CTX_set_min_proto_version(ctx, tls12 ? TLS1_2_VERSION : TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  if (tls12 && SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1) return fail("cipher list");
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // 0-RTT data is replayable: never accepted.
  SSL_CTX_set_max_early_data(ctx, 0);
  SSL_CTX_set_recv_max_early_data(ctx, 0);
  SSL_CTX_set_alpn_select_cb(ctx, alpn_select, nullptr);
  SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);
  // Stateful resumption from the server's SessionCache only (see tls_context.hpp).
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
  SSL_CTX_sess_set_new_cb(ctx, new_session_cb);
  SSL_CTX_sess_set_get_cb(ctx, get_session_cb);
  SSL_CTX_sess_set_remove_cb(ctx, remove_session_cb);
  if (snap->settings.ocsp_staple) SSL_CTX_set_tlsext_status_cb(ctx, status_cb);
  SSL_CTX_set_session_id_context(ctx, reinterpret_cast<const unsigned char*>(listener.data()),
                                 static_cast<unsigned int>(std::min<std::size_t>(listener.size(), 32)));

  boost::system::error_code ec;
  snap->ctx.use_certificate_chain(asio::buffer(snap->settings.chain_pem), ec);
  if (ec) return fail("server certificate chain");
  snap->ctx.use_private_key(asio::buffer(snap->settings.key_pem), asio::ssl::context::pem, ec);
  if (ec) return fail("server key");
  if (SSL_CTX_check_private_key(ctx) != 1) return fail("server key does not match its certificate");

  const bool want_clients = mode == TlsMode::mutual || !snap->settings.client_ca_pem.empty();
  if (want_clients) {
    snap->ctx.add_certificate_authority(asio::buffer(snap->settings.client_ca_pem), ec);
    if (ec) return fail("client trust anchors");
    // Tell clients which CA to pick a certificate from.
    crypto::BioPtr bio(
        BIO_new_mem_buf(snap->settings.client_ca_pem.data(), static_cast<int>(snap->settings.client_ca_pem.size())));
    STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
    while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(x)));
      X509_free(x);
    }
    ERR_clear_error();
    SSL_CTX_set_client_CA_list(ctx, names);
    X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
    // Without an explicit purpose OpenSSL's server side checks "ssl_client": say "any" when a
    // certificate without clientAuth (a server certificate renewing itself) is acceptable.
    X509_VERIFY_PARAM_set_purpose(param,
                                  snap->settings.require_client_auth_eku ? X509_PURPOSE_SSL_CLIENT : X509_PURPOSE_ANY);
    X509_VERIFY_PARAM_set_depth(param, 4);
    int vmode = SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE;
    if (mode == TlsMode::mutual) vmode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, vmode, verify_cb);
  }
  SSL_CTX_set_ex_data(ctx, snapshot_index(), snap.get());
  return snap;
}

Status run_client_check(const std::function<Status(const crypto::Certificate&)>& check,
                        const crypto::Certificate& leaf) {
  try {
    return check(leaf);
  } catch (const std::exception& e) {
    return make_error(Errc::internal, std::string("client check failed: ") + e.what());
  } catch (...) {
    return make_error(Errc::internal, "client check failed");
  }
}

SessionCache::~SessionCache() {
  for (auto& [key, e] : sessions_) SSL_SESSION_free(e.session);
}

std::string SessionCache::key_of(const SSL_SESSION* s) {
  unsigned int len = 0;
  const unsigned char* id = SSL_SESSION_get_id(s, &len);
  return std::string(reinterpret_cast<const char*>(id), len);
}

void SessionCache::erase(std::unordered_map<std::string, Entry>::iterator it) {
  SSL_SESSION_free(it->second.session);
  sessions_.erase(it);
}

void SessionCache::add(const std::string& listener, SSL_SESSION* session) {
  std::string key = key_of(session);
  std::lock_guard lock(mu_);
  if (auto it = sessions_.find(key); it != sessions_.end()) erase(it);
  sessions_.emplace(key, Entry{session, listener, std::chrono::steady_clock::now()});
  order_.push_back(std::move(key));
  while (sessions_.size() > capacity_ || order_.size() > 2 * capacity_) {
    if (auto it = sessions_.find(order_.front()); it != sessions_.end() && sessions_.size() > capacity_) erase(it);
    order_.pop_front();
  }
}

SSL_SESSION* SessionCache::take(const std::string& listener, const unsigned char* id, unsigned int id_len, time_t now) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(std::string(reinterpret_cast<const char*>(id), id_len));
  if (it == sessions_.end() || it->second.listener != listener) return nullptr;
  SSL_SESSION* s = it->second.session;
  const bool fresh = std::chrono::steady_clock::now() - it->second.added < lifetime_;
  X509* peer = SSL_SESSION_get0_peer(s);
  const bool peer_current = peer == nullptr || X509_cmp_time(X509_get0_notAfter(peer), &now) > 0;
  if (!peer_current) {
    // The client falls back to a full handshake, where its certificate is verified and refused.
    log::write(log::Level::info, "tls resumption refused: client certificate expired", {{"listener", listener}});
  }
  if (fresh && peer_current && SSL_SESSION_get_protocol_version(s) != TLS1_3_VERSION) {
    SSL_SESSION_up_ref(s);  // TLS 1.2: a session id may be resumed again
    return s;
  }
  // TLS 1.3: used once; the entry's reference passes to the caller.
  sessions_.erase(it);
  if (fresh && peer_current) return s;
  SSL_SESSION_free(s);
  return nullptr;
}

void SessionCache::remove(SSL_SESSION* session) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(key_of(session));
  if (it != sessions_.end() && it->second.session == session) erase(it);
}

std::size_t SessionCache::size() {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

std::string verify_failure_reason(SSL* ssl, const boost::system::error_code& ec) {
  const long v = SSL_get_verify_result(ssl);
  if (v != X509_V_OK) return X509_verify_cert_error_string(v);
  if (ec.category() == asio::error::get_ssl_category()) {
    const char* r = ERR_reason_error_string(static_cast<unsigned long>(ec.value()));
    if (r) return r;
  }
  if (ec == beast::error::timeout) return "timeout";
  return ec.message();
}

}  // namespace sigil::http::tls
