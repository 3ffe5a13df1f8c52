#pragma once
// Revocation publishing: CRLs built from the store (the one source of truth), rebuilt promptly
// after revocations made by any process, and served from memory.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "ca/base/clock.hpp"
#include "ca/base/metrics.hpp"
#include "ca/crypto/crypto.hpp"
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
                               store::RevocationReader& reader, store::CrlStore& crls, TimePoint now,
                               Seconds validity);

struct CrlOptions {
  Seconds validity{24 * 3600};                    // nextUpdate - thisUpdate
  std::chrono::milliseconds poll{100};            // how often the store's revocation counter is read
  std::chrono::milliseconds debounce{200};        // a burst of revocations makes one CRL
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

}  // namespace sigil::revocation
