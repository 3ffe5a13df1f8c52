#pragma once
// Revocation publishing: CRLs built from the store (the one source of truth), rebuilt promptly
// after revocations made by any process, and served from memory.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "ca/base/clock.hpp"
#include "ca/base/metrics.hpp"
#include "ca/crypto/crypto.hpp"
#include "ca/crypto/ocsp.hpp"
#include "ca/issuer/issuer.hpp"
#include "store/store.hpp"

namespace sigil::revocation {

struct PublishedCrl {
  std::int64_t number = 0;
  TimePoint this_update, next_update;
  std::size_t entries = 0;
  Bytes der;
};

// Gathers the issuer's revoked, unexpired certificates from the store, allocates the next CRL
// number (committed first: never reused), signs, and saves the result. Streams: no per-entry
// objects are kept, and the DER is built in one buffer.
Result<PublishedCrl> build_crl(const crypto::Signer& key, const crypto::Certificate& ca, const std::string& issuer_id,
                               store::RevocationReader& reader, store::CrlStore& crls, TimePoint now, Seconds validity);

struct CrlOptions {
  Seconds validity{24 * 3600};              // nextUpdate - thisUpdate
  std::chrono::milliseconds poll{100};      // how often the store's revocation counter is read
  std::chrono::milliseconds debounce{200};  // a burst of revocations makes one CRL
};

// Keeps one issuer's CRL fresh: after revocations (debounced) and before half of its validity.
class CrlPublisher {
 public:
  CrlPublisher(const crypto::Signer& key, const crypto::Certificate& ca, std::string issuer_id,
               store::RevocationReader& reader, store::CrlStore& crls, const Clock& clock, Metrics& metrics,
               CrlOptions options);
  ~CrlPublisher();
  Status rebuild();  // now, synchronously
  std::shared_ptr<const PublishedCrl> current() const { return current_.load(); }
  void start();
  void stop();

 private:
  void run();

  const crypto::Signer& key_;
  const crypto::Certificate& ca_;
  std::string issuer_id_;
  store::RevocationReader& reader_;
  store::CrlStore& crls_;
  const Clock& clock_;
  Metrics& metrics_;
  CrlOptions options_;
  std::atomic<std::shared_ptr<const PublishedCrl>> current_;
  std::atomic<std::int64_t> published_seq_{-1};  // the revocation sequence the current CRL includes
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

// What OCSP says of a certificate, from its store record (one rule for the responder and for
// `sigil ocsp status`): unknown if never issued by this issuer, else revoked or good.
struct OcspStatus {
  crypto::ocsp::CertStatus status = crypto::ocsp::CertStatus::unknown;
  TimePoint revoked_at{};
  int reason = 0;
};
OcspStatus ocsp_status(const std::optional<store::CertificateRecord>& record, const std::string& issuer_id);

struct OcspOptions {
  Seconds validity{3600};                   // nextUpdate - thisUpdate; refreshed at half
  Seconds responder_ttl{86400};             // the delegated responder certificate, rotated at 2/3
  bool sign_with_intermediate = false;      // instead of a delegated responder certificate
  std::chrono::milliseconds poll{100};      // revocations: how often the store is asked
  Seconds sweep{30};                        // pre-signing of new and ageing responses
  double live_signatures_per_second = 500;  // nonce requests and cache misses (then tryLater)
};

// One HTTP-independent answer to an OCSP request.
struct OcspAnswer {
  std::shared_ptr<const Bytes> der;
  bool cacheable = false;  // a pre-signed response (no nonce)
  TimePoint this_update, next_update;
  std::string etag;
};

// The OCSP responder for one issuer: status from the store, responses pre-signed (SHA-1 CertIDs
// ahead of time, others on first use) and re-signed at once when a revocation is committed by
// any process. The hot path is a hash-map lookup.
class OcspResponder {
 public:
  OcspResponder(issuer::Issuer& issuer, const crypto::Signer& ca_key, store::Store& store, const Clock& clock,
                Metrics& metrics, OcspOptions options);
  ~OcspResponder();
  Status start();  // the responder certificate, a first pre-signing pass, the background job
  void stop();

  // Only from the cache (never blocks): for the I/O thread. nullopt: use respond().
  std::optional<OcspAnswer> respond_cached(crypto::ByteView request_der) const;
  // The full path: may read the store and sign.
  OcspAnswer respond(crypto::ByteView request_der);
  // The response for one of this issuer's certificates (SHA-1 CertID), for stapling.
  std::shared_ptr<const Bytes> staple(const std::string& serial_hex);

 private:
  struct Entry {
    Bytes der;
    TimePoint this_update, next_update;
    std::string etag;
    crypto::ocsp::CertStatus status = crypto::ocsp::CertStatus::good;
  };
  struct Responder {
    std::unique_ptr<crypto::KeySigner> key;  // null when the intermediate signs
    Bytes cert_der;
    TimePoint not_after;
  };
  static std::string cache_key(crypto::ocsp::HashAlg h, crypto::ByteView serial);
  bool ours(const crypto::ocsp::CertId& id) const;
  Status rotate_responder();
  Result<std::shared_ptr<const Entry>> sign_entry(const crypto::ocsp::CertId& id, bool allow_unknown_cache);
  Result<crypto::ocsp::SingleResponse> status_of(const crypto::ocsp::CertId& id, TimePoint now);
  Result<Bytes> sign(const crypto::ocsp::ResponseSpec& spec);
  bool take_live_token();
  void run();
  void sweep();
  void apply_revocations();

  issuer::Issuer& issuer_;
  const crypto::Signer& ca_key_;
  store::Store& store_;
  const Clock& clock_;
  Metrics& metrics_;
  OcspOptions options_;
  std::string issuer_id_;
  std::map<crypto::ocsp::HashAlg, std::pair<Bytes, Bytes>> issuer_hashes_;  // name hash, key hash

  mutable std::shared_mutex cache_mu_;
  std::unordered_map<std::string, std::shared_ptr<const Entry>> cache_;
  std::mutex responder_mu_;
  std::shared_ptr<const Responder> responder_;
  std::mutex bucket_mu_;
  double tokens_ = 0;
  std::chrono::steady_clock::time_point bucket_at_;
  std::int64_t seen_seq_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sigil::revocation
