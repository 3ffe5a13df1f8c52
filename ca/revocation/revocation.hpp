#pragma once
// Revocation publishing: CRLs built from the store (the one source of truth), rebuilt promptly
// after revocations made by any process, and served from memory.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ca/base/clock.hpp"
#include "ca/base/log.hpp"
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
  int shard = 0;
  std::optional<std::int64_t> base_number;  // a delta CRL: its BaseCRLNumber
  // The entries are the revoked certificates with notAfter >= this (unix seconds): see build_crl.
  std::int64_t not_after_min = 0;
  // Made in the same second as the CRL it replaced at its URL: a client's If-Modified-Since
  // equal to Last-Modified may hold the older one, so it gets 200, not 304.
  bool same_second_as_previous = false;
};

// What one CRL covers and says about its scope (RFC 5280 §5.2.4-§5.2.6).
struct CrlScope {
  int shard = 0;             // the certificates whose stored CRL shard this is
  std::string idp_url;       // a critical IssuingDistributionPoint naming this URL; "" for none
  std::string freshest_url;  // complete CRLs: FreshestCRL pointing at the shard's delta CRL
  // A delta CRL: its base's CRL number, and the revocation sequence that base included (its
  // entries are the shard's revocations after it).
  std::optional<std::int64_t> base_number;
  std::int64_t base_sequence = 0;
  // A delta CRL keeps the expired entries its base's gathering would keep (the base's
  // PublishedCrl::not_after_min), so that base + delta never says less than the base's scope.
  std::int64_t base_not_after_min = std::numeric_limits<std::int64_t>::min();
};

// Gathers the issuer's revoked certificates of one shard from the store (for a delta CRL, only
// those revoked after the base), allocates the shard's next CRL number (committed first: never
// reused), signs, and saves the result. Streams: no per-entry objects are kept, and the DER is
// built in one buffer.
// Expired certificates leave a complete CRL only after one CRL dated after their notAfter has
// listed them (RFC 5280 §3.3): the entries are those whose notAfter is at or after the
// thisUpdate of the shard's previous complete CRL (or now, if earlier); all of them when there
// is none. That holds whatever the schedule was, a stop of the server included.
Result<PublishedCrl> build_crl(const crypto::Signer& key, const crypto::Certificate& ca, const std::string& issuer_id,
                               store::RevocationReader& reader, store::CrlStore& crls, TimePoint now, Seconds validity,
                               const CrlScope& scope = {});

struct CrlOptions {
  Seconds validity{24 * 3600};              // nextUpdate - thisUpdate of complete CRLs
  std::chrono::milliseconds poll{100};      // how often the store's revocation counter is read
  std::chrono::milliseconds debounce{200};  // a burst of revocations makes one CRL per shard
  // Base of the URLs in the CRLs (IssuingDistributionPoint, FreshestCRL), as in the leaves.
  // Empty: only shard 0's CRL, with neither.
  std::string public_url;
  int shards = 1;  // revocation.crl_shards: new certificates use shards 1..N (N > 1) or 0
  // revocation.delta_crl_interval: a delta CRL per shard this often and after revocations, valid
  // for two intervals. Zero: no delta CRLs.
  Seconds delta_interval{0};
  Seconds shard_check{5};  // how often the shards named by unexpired certificates are read
  // A shard another node signs (store::ClusterStore::hold_crl_signer): its latest saved CRLs are
  // read this often, and at every poll for `follow_window` after the revocation sequence moved
  // (the signer publishes a revocation within its debounce; this node serves it a poll later).
  std::chrono::milliseconds follow_check{2000};
  std::chrono::milliseconds follow_window{5000};
};

// Keeps one issuer's CRLs fresh: every shard that a certificate unexpired or expired for less
// than one CRL validity names (so a CRL dated after the last expiry is published) (and shard 0,
// and shards 1..N of the current layout), complete and, when enabled, delta. A shard's complete
// CRL is rebuilt after revocations in that shard (debounced) and before half of its validity;
// the second of these also makes it the base of the shard's next delta CRLs. Delta CRLs list the
// shard's revocations since their base and are rebuilt after revocations and every interval.
// Several nodes on one database: one signs a shard's CRLs at a time (`cluster`'s
// hold_crl_signer, asked before each build); the others serve the CRLs it saved (never signing
// a number of their own), and take over when the signer's hold lapses.
class CrlPublisher {
 public:
  CrlPublisher(const crypto::Signer& key, const crypto::Certificate& ca, std::string issuer_id,
               store::RevocationReader& reader, store::CrlStore& crls, store::ClusterStore& cluster, const Clock& clock,
               Metrics& metrics, CrlOptions options);
  ~CrlPublisher();
  Status rebuild();  // every CRL now, synchronously (each complete CRL becomes a delta base)
  // Shard 0's complete CRL (the issuer's CRL, /crl/<id>.crl).
  std::shared_ptr<const PublishedCrl> current() const;
  // The CRL served at `path` (issuer::crl_path: "/crl/<id>.crl", "/crl/<id>/3.crl",
  // "/crl/<id>/3-delta.crl"), or null.
  std::shared_ptr<const PublishedCrl> find(std::string_view path) const;
  // Every CRL published now, by path.
  std::map<std::string, std::shared_ptr<const PublishedCrl>, std::less<>> published() const;
  // Seconds since the thisUpdate of the oldest complete CRL published; nullopt before the first.
  std::optional<double> oldest_age() const;
  void start();
  void stop();

 private:
  struct Shard {
    int shard = 0;
    std::string path, delta_path;
    std::shared_ptr<const PublishedCrl> full, delta;
    // The base of the shard's delta CRLs: the complete CRL of its last scheduled rebuild.
    std::int64_t base_number = 0;
    std::int64_t base_sequence = 0;
    std::int64_t base_not_after_min = std::numeric_limits<std::int64_t>::min();
    std::string base_idp_url;  // a delta CRL's scope (IDP) is its base's
    // This node signed the shard's last CRLs. A node that takes over rebuilds the complete CRL
    // first, so its deltas have a base of its own.
    bool signing = false;
  };
  struct Work {
    bool full = false, rebase = false, delta = false;
  };
  using Snapshot = std::map<std::string, std::shared_ptr<const PublishedCrl>, std::less<>>;

  void run();
  // One pass: what is due in each shard (all of it when `everything`), built and published.
  Status round(bool everything, bool revoked);
  Status refresh_shards(TimePoint now);
  std::string idp_url_for(int shard) const;
  Status build_full(Shard& s, bool rebase, std::int64_t sequence, log::Level level);
  Status build_delta(Shard& s, log::Level level);
  // Another node signs the shard: serve its latest saved CRLs when newer than ours. `eager`:
  // also one saved in the same second as ours (right after a revocation).
  // True when a CRL was taken.
  Result<bool> follow(Shard& s, bool eager);
  Result<bool> follow_kind(Shard& s, bool delta, bool eager);
  TimePoint next_this_update(const std::shared_ptr<const PublishedCrl>& previous) const;
  void publish();

  const crypto::Signer& key_;
  const crypto::Certificate& ca_;
  std::string issuer_id_;
  store::RevocationReader& reader_;
  store::CrlStore& crls_;
  store::ClusterStore& cluster_;
  const Clock& clock_;
  Metrics& metrics_;
  CrlOptions options_;

  std::mutex build_mu_;  // guards shards_ and the fields below it: one builder at a time
  std::map<int, Shard> shards_;
  std::vector<int> in_use_;  // shards named by unexpired certificates, as last read
  std::chrono::steady_clock::time_point shards_read_at_{};
  std::chrono::steady_clock::time_point follow_until_{}, next_follow_{};  // see CrlOptions::follow_*
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
  std::atomic<std::shared_ptr<const PublishedCrl>> current_;
  std::atomic<std::int64_t> published_seq_{-1};  // the revocation sequence the current CRLs include
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
  Seconds responder_ttl{86400};             // the delegated responder certificate, renewed in policy::renewal_window
  bool sign_with_intermediate = false;      // instead of a delegated responder certificate
  std::chrono::milliseconds poll{100};      // revocations: how often the store is asked
  Seconds sweep{30};                        // pre-signing of new and ageing responses
  double live_signatures_per_second = 500;  // nonce requests and cache misses (then tryLater)
  // Responses held at most (about 1.5 KB each with a delegated responder's certificate): what
  // bounds the responder's memory however many certificates the store holds. The sweep pre-signs
  // until the cache is full; past that, a response is signed when first asked for and replaces
  // an arbitrary held one (a random-replacement cache).
  std::size_t max_cached = 100000;
  // Each sweep re-signs held responses at half their validity and drops those of expired
  // certificates, from the cache itself; it walks the store's certificates only for new ones to
  // pre-sign while the cache has room, and after a walk that filled it, at most this often (a
  // store holding more certificates than the cache is not read whole every sweep).
  Seconds full_cache_walk{600};
};

// One HTTP-independent answer to an OCSP request.
struct OcspAnswer {
  std::shared_ptr<const Bytes> der;
  bool cacheable = false;  // a pre-signed response (no nonce)
  TimePoint this_update, next_update;
  std::string etag;
};

// The OCSP responder for one authority (issuer::Authority): status from the store, responses pre-signed (SHA-1 CertIDs
// ahead of time, others on first use) and re-signed at once when a revocation is committed by
// any process. The hot path is a hash-map lookup.
class OcspResponder {
 public:
  // `issuer` issues the delegated responder certificates, signed by `authority`. Statuses come
  // from `certificates`, revocations made by any process from `revocations`.
  OcspResponder(issuer::Issuer& issuer, const issuer::Authority& authority, store::CertificateReader& certificates,
                store::RevocationReader& revocations, const Clock& clock, Metrics& metrics, OcspOptions options);
  ~OcspResponder();
  // The responder certificate, then the background job, whose first step is a pre-signing pass:
  // with a million certificates that pass takes minutes, and until a response is pre-signed the
  // full path signs it when asked (rate-limited), so serving starts at once and stays correct.
  Status start();
  void stop();

  // Only from the cache (never blocks): for the I/O thread. nullopt: use respond().
  std::optional<OcspAnswer> respond_cached(crypto::ByteView request_der) const;
  // The full path: may read the store and sign.
  OcspAnswer respond(crypto::ByteView request_der);
  // The response for one of this authority's certificates (SHA-1 CertID), for stapling: from
  // the cache only (never blocks), null unless an unexpired one is held (the background job
  // re-signs held ones at half their validity).
  std::shared_ptr<const Bytes> staple(const std::string& serial_hex) const;
  // Signs and caches that response now unless a fresh one is held (not for the I/O threads).
  Status warm(const std::string& serial_hex);
  // Whether a CertID names this authority (its issuer name and key hashes).
  bool answers_for(const crypto::ocsp::CertId& id) const;
  // Seconds since the thisUpdate of the oldest pre-signed response held (0 when none).
  double oldest_response_age() const;

 private:
  struct Entry {
    Bytes der;
    TimePoint this_update, next_update;
    std::string etag;
    crypto::ocsp::CertStatus status = crypto::ocsp::CertStatus::good;
    std::int64_t cert_not_after = 0;  // the certificate's (unix seconds): held until then
  };
  struct Responder {
    std::unique_ptr<crypto::KeySigner> key;  // null when the intermediate signs
    Bytes cert_der;
    TimePoint not_after;
    TimePoint renew_at;  // policy::renewal_window's start: when a new responder certificate is due
  };
  static std::string cache_key(crypto::ocsp::HashAlg h, crypto::ByteView serial);
  crypto::ocsp::CertId cert_id(const std::string& cache_key) const;  // the CertID a key stands for
  Status rotate_responder();
  // `evict`: a new entry may replace an arbitrary one when the cache is full (a response asked
  // for, a revocation); otherwise (the sweep) it is cached only while there is room. Responses
  // for unknown serials are never cached (anyone can ask for any serial).
  Result<std::shared_ptr<const Entry>> sign_entry(const crypto::ocsp::CertId& id, bool evict = false);
  // `not_after`, when given, receives the certificate's notAfter (unix seconds; 0 if unknown).
  Result<crypto::ocsp::SingleResponse> status_of(const crypto::ocsp::CertId& id, TimePoint now,
                                                 std::int64_t* not_after = nullptr);
  Result<Bytes> sign(const crypto::ocsp::ResponseSpec& spec);
  bool take_live_token();
  void run();
  void sweep();
  void apply_revocations();

  issuer::Issuer& issuer_;
  const issuer::Authority& authority_;
  store::CertificateReader& certificates_;
  store::RevocationReader& revocations_;
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
  std::chrono::steady_clock::time_point next_rotation_try_{};  // the background job's only
  std::chrono::steady_clock::time_point next_store_walk_{};    // the background job's only

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

// Every authority's CRLs and OCSP responder, so an intermediate that was replaced keeps
// answering for its own certificates until they expire (DESIGN.md, "Plural from day one"). The
// public listener asks this set; an authority added while serving (a new intermediate on SIGHUP)
// is published from then on. Registers the freshness gauges over all of them.
class Publishers {
 public:
  Publishers(issuer::Issuer& issuer, store::CertificateReader& certificates, store::RevocationReader& revocations,
             store::CrlStore& crls, store::ClusterStore& cluster, const Clock& clock, Metrics& metrics, CrlOptions crl,
             OcspOptions ocsp);
  ~Publishers();
  // Builds the authority's CRLs, pre-signs its OCSP responses and starts both; known ids are a
  // no-op. Not for the I/O threads.
  Status add(const issuer::Authority& authority);
  void stop();

  // The CRL at `path` of any authority, or null; `primary`: the path is some authority's
  // shard-0 CRL (so a miss means "not ready yet" rather than "no such CRL").
  std::shared_ptr<const PublishedCrl> find_crl(std::string_view path, bool* primary = nullptr) const;
  // The DER of the authority certificate whose AIA caIssuers path (issuer::urls_for) is `path`.
  std::optional<Bytes> ca_certificate(std::string_view path) const;
  // OCSP, routed by the request's (first) CertID to its authority's responder; a CertID of no
  // authority gets `unauthorized`.
  std::optional<OcspAnswer> respond_cached(crypto::ByteView request_der) const;
  OcspAnswer respond(crypto::ByteView request_der);
  // The current authority's response for one of its certificates, from the cache only (null when
  // none is fresh yet): for the TLS handshake.
  std::shared_ptr<const Bytes> staple(const std::string& serial_hex) const;
  // Signs (if needed) and caches the current authority's response for `serial_hex` (not for the
  // I/O threads), so staple() finds it.
  Status warm_staple(const std::string& serial_hex);
  // What the public listener's index page links, per authority: its CA certificate's path, its
  // subject and expiry, whether it issues now, and the CRLs it publishes now (paths).
  struct Links {
    std::string ca_path;
    std::string subject;  // RFC 4514
    TimePoint not_after;
    bool current = false;
    std::vector<std::string> crl_paths;
  };
  std::vector<Links> links() const;

 private:
  struct Entry {
    const issuer::Authority* authority;
    std::string ca_path;  // "/ca/<id>.crt"
    std::unique_ptr<CrlPublisher> crl;
    std::unique_ptr<OcspResponder> ocsp;
  };
  std::shared_ptr<const std::vector<std::shared_ptr<Entry>>> entries() const { return entries_.load(); }
  std::shared_ptr<Entry> current_entry() const;

  issuer::Issuer& issuer_;
  store::CertificateReader& certificates_;
  store::RevocationReader& revocations_;
  store::CrlStore& crls_;
  store::ClusterStore& cluster_;
  const Clock& clock_;
  Metrics& metrics_;
  CrlOptions crl_options_;
  OcspOptions ocsp_options_;
  std::mutex add_mu_;
  std::atomic<std::shared_ptr<const std::vector<std::shared_ptr<Entry>>>> entries_;
};

}  // namespace sigil::revocation
