// Benchmark: one CRL built from the store (gather, sign, DER) with N revoked entries, by
// revocation::build_crl and, as the peer, by OpenSSL's X509_CRL API from the same rows. Each
// measurement runs in a fresh process so its peak RSS is its own; ops/bench/crl.sh runs them.
//
// Usage:
//   crl_bench populate DB N [blob_bytes=64]
//       Creates DB (schema by store::sqlite::open) with N revoked certificates of one issuer,
//       inserted with the SQLite C API in one transaction, and the issuing CA beside it:
//       DB.ca.pem (an ec-p256 intermediate under a fresh root) and DB.key.pem (its key).
//   crl_bench sigil DB [out.crl]     revocation::build_crl on the store
//   crl_bench openssl DB [out.crl]   SQLite rows -> X509_REVOKED -> X509_CRL_sort/sign -> i2d
//   crl_bench versions               the SQLite and OpenSSL libraries linked
//
// sigil and openssl print one line: path, entries, ms (wall time of the build), peak_mb (peak
// RSS over the RSS before the build, 10^6 bytes), der_mb, peak_over_der and entries_sha256 (of
// the revokedCertificates TLV: both paths must encode the same entries byte for byte). Each
// output is then checked with OpenSSL (d2i_X509_CRL consumes all input, X509_CRL_verify with
// the CA key, issuer, entry count equal to the store's) before anything is printed.
#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "ca/base/encoding.hpp"
#include "ca/crypto/handles.hpp"
#include "ca/issuer/ceremony.hpp"
#include "ca/issuer/issuer.hpp"
#include "ca/revocation/revocation.hpp"
#include "store/sqlite/sqlite_store.hpp"

using namespace sigil;

namespace {

// The OpenSSL types the peer path needs beyond ca/crypto/handles.hpp, with its template.
using X509CrlPtr = crypto::OpenSslPtr<X509_CRL, X509_CRL_free>;
using X509RevokedPtr = crypto::OpenSslPtr<X509_REVOKED, X509_REVOKED_free>;
using Asn1IntegerPtr = crypto::OpenSslPtr<ASN1_INTEGER, ASN1_INTEGER_free>;
using Asn1EnumeratedPtr = crypto::OpenSslPtr<ASN1_ENUMERATED, ASN1_ENUMERATED_free>;
using Asn1TimePtr = crypto::OpenSslPtr<ASN1_TIME, ASN1_TIME_free>;
using AuthorityKeyIdPtr = crypto::OpenSslPtr<AUTHORITY_KEYID, AUTHORITY_KEYID_free>;
inline void openssl_free(unsigned char* p) { OPENSSL_free(p); }
using OpenSslBufPtr = crypto::OpenSslPtr<unsigned char, openssl_free>;
using DbPtr = std::unique_ptr<sqlite3, decltype(&sqlite3_close)>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)>;

constexpr Seconds kValidity{24 * 3600};
// The statement SqliteStore::for_each_revoked runs, so both paths read the same rows the same way.
constexpr const char* kScanSql =
    "SELECT serial, revoked_at, revocation_reason FROM certificates "
    "WHERE issuer_id = ?1 AND crl_shard = 0 AND status = 'revoked' AND not_after >= ?2 ORDER BY serial";

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "crl_bench: %s\n", what.c_str());
  std::exit(1);
}

template <class T>
T must(Result<T> r, const char* what) {
  if (!r) die(std::string(what) + ": " + r.error().detail);
  return std::move(r).value();
}

void must_ok(Status s, const char* what) {
  if (!s) die(std::string(what) + ": " + s.error().detail);
}

void openssl_check(bool ok, const char* what) {
  if (!ok) die(std::string(what) + ": " + crypto::drain_openssl_errors());
}

void sqlite_check(sqlite3* db, int rc, int want, const char* what) {
  if (rc != want) die(std::string(what) + ": " + sqlite3_errmsg(db));
}

// ---- memory ---------------------------------------------------------------------------------

struct Mem {
  long rss_kb = 0;  // VmRSS
  long hwm_kb = 0;  // VmHWM: peak RSS
};

Mem read_mem() {
  std::ifstream f("/proc/self/status");
  Mem m;
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) m.rss_kb = std::atol(line.c_str() + 6);
    if (line.rfind("VmHWM:", 0) == 0) m.hwm_kb = std::atol(line.c_str() + 6);
  }
  return m;
}

// Resets VmHWM to the current RSS (Linux >= 4.0), so the peak read later belongs to the build.
void reset_peak() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
}

double mb_from_kb(long kb) { return static_cast<double>(kb) * 1024.0 / 1e6; }
double mb(std::size_t bytes) { return static_cast<double>(bytes) / 1e6; }
double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// ---- the CA beside the database --------------------------------------------------------------

std::string ca_path(const std::string& db) { return db + ".ca.pem"; }
std::string key_path(const std::string& db) { return db + ".key.pem"; }

struct Ca {
  std::unique_ptr<crypto::KeySigner> key;
  crypto::Certificate cert;
};

Ca load_ca(const std::string& db) {
  auto key = must(crypto::KeySigner::from_pem(must(read_file(key_path(db)), "read key")), "CA key");
  auto cert = must(crypto::Certificate::from_pem(must(read_file(ca_path(db)), "read CA")), "CA certificate");
  return {std::move(key), std::move(cert)};
}

crypto::X509Ptr ca_x509(const crypto::Certificate& ca) {
  const unsigned char* p = ca.der().data();
  crypto::X509Ptr x(d2i_X509(nullptr, &p, static_cast<long>(ca.der().size())));
  openssl_check(x != nullptr && p == ca.der().data() + ca.der().size(), "d2i_X509 (CA)");
  return x;
}

// ---- populate ---------------------------------------------------------------------------------

std::string hex(const std::uint8_t* b, std::size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (std::size_t i = 0; i < n; ++i) {
    s[2 * i] = digits[b[i] >> 4];
    s[2 * i + 1] = digits[b[i] & 15];
  }
  return s;
}

int populate(const std::string& db_path, long n, std::size_t blob_bytes) {
  if (std::filesystem::exists(db_path)) die(db_path + " exists; populate makes a new database");
  SystemClock clock;
  auto root_key = must(crypto::KeySigner::generate(crypto::KeyType::ec_p256), "root key");
  auto root = must(issuer::make_root(*root_key, {"CRL Bench"}, clock), "root");
  auto ca_key = must(crypto::KeySigner::generate(crypto::KeyType::ec_p256), "CA key");
  auto csr = must(
      crypto::Csr::from_der(must(crypto::make_csr(*ca_key, issuer::intermediate_subject("CRL Bench"), {}), "CA CSR")),
      "CA CSR parse");
  auto ca = must(issuer::sign_intermediate(*root_key, root, csr, {}, clock), "intermediate");
  must_ok(write_file_new(ca_path(db_path), ca.pem()), "write CA");
  must_ok(write_file_new(key_path(db_path), must(ca_key->to_pem(), "key PEM"), kPrivateMode), "write key");
  const std::string issuer_id = issuer::issuer_id(ca);

  must(store::sqlite::open(db_path), "create store");  // schema through the migrations, then closed

  sqlite3* raw = nullptr;
  const int orc = sqlite3_open_v2(db_path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
  DbPtr db(raw, &sqlite3_close);
  sqlite_check(db.get(), orc, SQLITE_OK, "open");
  // Loading only (random serials into a unique index): a big cache makes populate ~3x faster.
  sqlite_check(db.get(), sqlite3_exec(db.get(), "PRAGMA cache_size = -262144", nullptr, nullptr, nullptr), SQLITE_OK,
               "cache_size");
  sqlite_check(db.get(), sqlite3_exec(db.get(), "BEGIN", nullptr, nullptr, nullptr), SQLITE_OK, "begin");
  sqlite3_stmt* sraw = nullptr;
  sqlite_check(db.get(),
               sqlite3_prepare_v2(db.get(),
                                  "INSERT INTO certificates (serial, issuer_id, tbs_der, der, subject, profile, "
                                  "requester, not_before, not_after, created_at, status, revoked_at, "
                                  "revocation_reason, revocation_seq) "
                                  "VALUES (?1, ?2, ?3, ?4, ?5, 'server', 'bench', ?6, ?7, ?6, 'revoked', ?8, ?9, ?10)",
                                  -1, &sraw, nullptr),
               SQLITE_OK, "prepare insert");
  StmtPtr ins(sraw, &sqlite3_finalize);

  // Deterministic content: the same N gives the same rows (the CA differs per populate).
  std::mt19937_64 rng(0x5349474c);
  const std::int64_t now = to_unix(clock.now());
  const std::int64_t day = 86400;
  // A realistic mix: mostly unspecified (no entry extension), then superseded, cessation,
  // key compromise, affiliation changed.
  const int reasons[] = {0, 0, 0, 0, 4, 4, 5, 5, 1, 3};
  const std::vector<std::uint8_t> tbs(blob_bytes, 0x30), der(blob_bytes, 0x30);
  for (long i = 0; i < n; ++i) {
    std::uint8_t serial[16];
    for (int k = 0; k < 16; k += 8) {
      const std::uint64_t r = rng();
      std::memcpy(serial + k, &r, 8);
    }
    serial[0] &= 0x7f;  // as Issuer's new_serial(): positive, 16 octets
    if (serial[0] == 0) serial[0] = 0x01;
    const std::string s = hex(serial, sizeof serial);
    const std::string subject = "CN=host" + std::to_string(i) + ".bench.internal";
    const auto not_before = now - 120 * day + static_cast<std::int64_t>(rng() % (30 * day));
    const auto not_after = now + day + static_cast<std::int64_t>(rng() % (89 * day));
    const auto revoked_at = now - static_cast<std::int64_t>(rng() % (90 * day));
    sqlite3_stmt* st = ins.get();
    sqlite3_bind_text(st, 1, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
    sqlite3_bind_text(st, 2, issuer_id.data(), static_cast<int>(issuer_id.size()), SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, tbs.data(), static_cast<int>(tbs.size()), SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, der.data(), static_cast<int>(der.size()), SQLITE_STATIC);
    sqlite3_bind_text(st, 5, subject.data(), static_cast<int>(subject.size()), SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, not_before);
    sqlite3_bind_int64(st, 7, not_after);
    sqlite3_bind_int64(st, 8, revoked_at);
    sqlite3_bind_int64(st, 9, reasons[rng() % std::size(reasons)]);
    sqlite3_bind_int64(st, 10, i + 1);
    const int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_CONSTRAINT_UNIQUE || sqlite3_extended_errcode(db.get()) == SQLITE_CONSTRAINT_UNIQUE) {
      --i;  // a 2^-127 serial collision: draw again
      continue;
    }
    sqlite_check(db.get(), rc, SQLITE_DONE, "insert");
  }
  ins.reset();
  sqlite_check(db.get(), sqlite3_exec(db.get(), "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK, "commit");
  std::printf("populated %s: %ld revoked certificates of issuer %s\n", db_path.c_str(), n, issuer_id.c_str());
  return 0;
}

// ---- verification (after the measurement) ------------------------------------------------------

// Counted by reading the table itself: the check trusts no index, and is quicker than the
// index-driven plan the store's query gets.
std::int64_t revoked_in_store(const std::string& db_path, const std::string& issuer_id, std::int64_t cutoff) {
  sqlite3* raw = nullptr;
  const int orc = sqlite3_open_v2(db_path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  DbPtr db(raw, &sqlite3_close);
  sqlite_check(db.get(), orc, SQLITE_OK, "open");
  sqlite3_stmt* sraw = nullptr;
  sqlite_check(db.get(),
               sqlite3_prepare_v2(db.get(),
                                  "SELECT COUNT(*) FROM certificates NOT INDEXED "
                                  "WHERE issuer_id = ?1 AND status = 'revoked' AND not_after >= ?2",
                                  -1, &sraw, nullptr),
               SQLITE_OK, "prepare count");
  StmtPtr st(sraw, &sqlite3_finalize);
  sqlite3_bind_text(st.get(), 1, issuer_id.c_str(), -1, SQLITE_STATIC);
  sqlite3_bind_int64(st.get(), 2, cutoff);
  sqlite_check(db.get(), sqlite3_step(st.get()), SQLITE_ROW, "count");
  return sqlite3_column_int64(st.get(), 0);
}

// SHA-256 of the revokedCertificates TLV, read with the DER module (OpenSSL checked the rest).
std::string entries_digest(crypto::ByteView der) {
  namespace d = crypto::der;
  const d::Tlv outer = must(d::read_single(der, d::tag::kSequence), "CRL");
  d::Reader r(outer.contents);
  const d::Tlv tbs = must(r.expect(d::tag::kSequence), "TBSCertList");
  d::Reader t(tbs.contents);
  for (int i = 0; i < 5; ++i) must(t.next(), "TBSCertList field");  // version, alg, issuer, this, next
  if (!t.peek(d::tag::kSequence)) return "none";
  return to_hex(crypto::sha256(must(t.next(), "revokedCertificates").whole));
}

// OpenSSL's view of the CRL: whole input consumed, signature by the CA, issuer, entry count.
std::string verify_crl(const Bytes& der, const crypto::Certificate& ca, std::int64_t want_entries) {
  const crypto::X509Ptr ca_cert = ca_x509(ca);
  const unsigned char* p = der.data();
  const X509CrlPtr crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size())));
  openssl_check(crl != nullptr, "d2i_X509_CRL");
  if (p != der.data() + der.size()) die("trailing bytes after the CRL");
  openssl_check(X509_CRL_verify(crl.get(), X509_get0_pubkey(ca_cert.get())) == 1, "X509_CRL_verify");
  if (X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), X509_get_subject_name(ca_cert.get())) != 0) {
    die("CRL issuer is not the CA's subject");
  }
  const STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl.get());
  const std::int64_t got = revoked ? sk_X509_REVOKED_num(revoked) : 0;
  if (got != want_entries) {
    die("CRL has " + std::to_string(got) + " entries, the store " + std::to_string(want_entries));
  }
  return entries_digest(der);
}

void save_der(const char* out, const Bytes& der) {
  if (out != nullptr) must_ok(write_file_atomic(out, as_chars(der)), "write CRL");
}

void report(const char* path, std::int64_t entries, double ms, long peak_kb, std::size_t der_size,
            const std::string& digest) {
  std::printf("path=%s entries=%lld ms=%.1f peak_mb=%.1f der_mb=%.1f peak_over_der=%.2f entries_sha256=%s\n", path,
              static_cast<long long>(entries), ms, mb_from_kb(peak_kb), mb(der_size),
              mb_from_kb(peak_kb) / mb(der_size), digest.c_str());
}

// Where a build's time and memory go: time since start, RSS then and the peak so far.
class Stages {
 public:
  void start(Mem before) {
    before_ = before;
    t0_ = std::chrono::steady_clock::now();
    mark("start");
  }
  void mark(const char* what) { marks_.push_back({what, ms_since(t0_), read_mem()}); }
  void print(const char* path) const {
    std::printf("%s_stages", path);
    for (const auto& m : marks_) {
      std::printf(" %s@%.0fms(rss+%.1fMB,peak+%.1fMB)", m.what, m.ms, mb_from_kb(m.mem.rss_kb - before_.rss_kb),
                  mb_from_kb(m.mem.hwm_kb - before_.rss_kb));
    }
    std::printf("\n");
  }

 private:
  struct Mark {
    const char* what;
    double ms;
    Mem mem;
  };
  Mem before_;
  std::chrono::steady_clock::time_point t0_;
  std::vector<Mark> marks_;
};

// ---- sigil: revocation::build_crl ---------------------------------------------------------------

// Forwards to the store and marks when each store call starts and ends, to show where
// build_crl's time and memory go. Nothing is added per entry.
class StageTimer final : public store::RevocationReader, public store::CrlStore {
 public:
  StageTimer(store::Store& s, Stages& stages) : s_(s), stages_(stages) {}
  void mark(const char* what) { stages_.mark(what); }

  Status for_each_revoked(const std::string& id, int shard, std::int64_t min,
                          const std::function<Status(const store::RevokedSerial&)>& fn) override {
    mark("scan");
    auto r = s_.for_each_revoked(id, shard, min, fn);
    mark("sign");  // build_crl signs right after the scan
    return r;
  }
  Result<std::int64_t> count_revoked(const std::string& id, int shard, std::int64_t min) override {
    mark("count");
    return s_.count_revoked(id, shard, min);
  }
  Status for_each_revoked_since(const std::string& id, int shard, std::int64_t seq, std::int64_t min,
                                const std::function<Status(const store::RevokedSerial&)>& fn) override {
    return s_.for_each_revoked_since(id, shard, seq, min, fn);
  }
  Result<std::vector<int>> crl_shards(const std::string& id, std::int64_t min) override {
    return s_.crl_shards(id, min);
  }
  Result<std::vector<int>> revoked_shards_since(const std::string& id, std::int64_t seq) override {
    return s_.revoked_shards_since(id, seq);
  }
  Status for_each_certificate(const std::string& id, std::int64_t min,
                              const std::function<Status(const store::RevokedSerial&, bool)>& fn) override {
    return s_.for_each_certificate(id, min, fn);
  }
  Result<std::int64_t> revocation_sequence() override { return s_.revocation_sequence(); }
  Result<std::vector<std::pair<std::string, std::int64_t>>> revoked_since(std::int64_t seq, int limit) override {
    return s_.revoked_since(seq, limit);
  }
  Result<std::int64_t> next_crl_number(const std::string& id, int shard) override {
    mark("number");
    return s_.next_crl_number(id, shard);
  }
  Status save_crl(const store::CrlRecord& crl) override {
    mark("save");
    auto r = s_.save_crl(crl);
    mark("return");
    return r;
  }
  Result<std::optional<store::CrlRecord>> latest_crl(const std::string& id, int shard, bool delta) override {
    return s_.latest_crl(id, shard, delta);
  }
  Result<std::vector<store::CrlRecord>> list_crls(const std::string& id) override { return s_.list_crls(id); }

 private:
  store::Store& s_;
  Stages& stages_;
};

int run_sigil(const std::string& db_path, const char* out) {
  const Ca ca = load_ca(db_path);
  const std::string issuer_id = issuer::issuer_id(ca.cert);
  auto st = must(store::sqlite::open(db_path), "open store");
  Stages stages;
  StageTimer timer(*st, stages);
  const TimePoint now = SystemClock().now();

  reset_peak();
  const Mem before = read_mem();
  stages.start(before);
  const auto t0 = std::chrono::steady_clock::now();
  auto crl = must(revocation::build_crl(*ca.key, ca.cert, issuer_id, timer, timer, now, kValidity), "build_crl");
  const double ms = ms_since(t0);
  timer.mark("end");
  const Mem after = read_mem();

  const std::string digest = verify_crl(crl.der, ca.cert, revoked_in_store(db_path, issuer_id, to_unix(now)));
  save_der(out, crl.der);
  report("sigil", static_cast<std::int64_t>(crl.entries), ms, after.hwm_kb - before.rss_kb, crl.der.size(), digest);
  stages.print("sigil");  // when each store call began (build_crl signs between "sign" and "save")
  return 0;
}

// ---- peer: OpenSSL's X509_CRL path --------------------------------------------------------------

struct OpensslCrl {
  Bytes der;
  std::int64_t entries = 0;
};

// The obvious OpenSSL 3 path from the same rows: one X509_REVOKED per entry, sort, sign, i2d.
OpensslCrl openssl_build(const std::string& db_path, X509& ca_cert, EVP_PKEY& pkey, const std::string& issuer_id,
                         TimePoint now, std::int64_t crl_number, Stages& stages) {
  sqlite3* raw = nullptr;
  const int orc = sqlite3_open_v2(db_path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  DbPtr db(raw, &sqlite3_close);
  sqlite_check(db.get(), orc, SQLITE_OK, "open");
  sqlite3_stmt* sraw = nullptr;
  sqlite_check(db.get(), sqlite3_prepare_v2(db.get(), kScanSql, -1, &sraw, nullptr), SQLITE_OK, "prepare scan");
  StmtPtr scan(sraw, &sqlite3_finalize);
  sqlite3_bind_text(scan.get(), 1, issuer_id.c_str(), -1, SQLITE_STATIC);
  sqlite3_bind_int64(scan.get(), 2, to_unix(now));

  X509CrlPtr crl(X509_CRL_new());
  openssl_check(crl != nullptr && X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) == 1 &&
                    X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(&ca_cert)) == 1,
                "X509_CRL header");
  const Asn1TimePtr this_update(ASN1_TIME_set(nullptr, static_cast<time_t>(to_unix(now))));
  const Asn1TimePtr next_update(ASN1_TIME_set(nullptr, static_cast<time_t>(to_unix(now + kValidity))));
  openssl_check(this_update && next_update && X509_CRL_set1_lastUpdate(crl.get(), this_update.get()) == 1 &&
                    X509_CRL_set1_nextUpdate(crl.get(), next_update.get()) == 1,
                "X509_CRL times");

  // Scratch values, copied into each entry by the setters.
  const Asn1IntegerPtr serial(ASN1_INTEGER_new());
  const Asn1TimePtr date(ASN1_TIME_new());
  const Asn1EnumeratedPtr reason(ASN1_ENUMERATED_new());
  openssl_check(serial && date && reason, "scratch ASN.1 values");
  std::uint8_t octets[20];
  std::int64_t entries = 0;
  for (;;) {
    const int rc = sqlite3_step(scan.get());
    if (rc == SQLITE_DONE) break;
    sqlite_check(db.get(), rc, SQLITE_ROW, "scan");
    const auto* h = reinterpret_cast<const char*>(sqlite3_column_text(scan.get(), 0));
    const auto hn = static_cast<std::size_t>(sqlite3_column_bytes(scan.get(), 0));
    if (h == nullptr || hn == 0 || hn % 2 != 0 || hn > 40) die("bad serial in store");
    auto nib = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    for (std::size_t i = 0; i < hn / 2; ++i)
      octets[i] = static_cast<std::uint8_t>(nib(h[2 * i]) * 16 + nib(h[2 * i + 1]));
    const auto revoked_at = static_cast<time_t>(sqlite3_column_int64(scan.get(), 1));
    const int code = sqlite3_column_int(scan.get(), 2);

    X509RevokedPtr r(X509_REVOKED_new());
    openssl_check(r && ASN1_STRING_set(serial.get(), octets, static_cast<int>(hn / 2)) == 1 &&
                      X509_REVOKED_set_serialNumber(r.get(), serial.get()) == 1 &&
                      ASN1_TIME_set(date.get(), revoked_at) != nullptr &&
                      X509_REVOKED_set_revocationDate(r.get(), date.get()) == 1,
                  "X509_REVOKED");
    if (code != 0) {  // as Sigil: unspecified is written as no reasonCode extension
      openssl_check(ASN1_ENUMERATED_set(reason.get(), code) == 1 &&
                        X509_REVOKED_add1_ext_i2d(r.get(), NID_crl_reason, reason.get(), 0, 0) == 1,
                    "reasonCode");
    }
    openssl_check(X509_CRL_add0_revoked(crl.get(), r.get()) == 1, "X509_CRL_add0_revoked");
    r.release();  // owned by the CRL now
    ++entries;
  }
  scan.reset();
  db.reset();
  stages.mark("sort");

  const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(&ca_cert);
  openssl_check(ski != nullptr, "CA subjectKeyIdentifier");
  AuthorityKeyIdPtr akid(AUTHORITY_KEYID_new());
  openssl_check(akid != nullptr, "AUTHORITY_KEYID_new");
  akid->keyid = ASN1_OCTET_STRING_dup(ski);
  const Asn1IntegerPtr number(ASN1_INTEGER_new());
  openssl_check(akid->keyid != nullptr && number && ASN1_INTEGER_set_int64(number.get(), crl_number) == 1 &&
                    X509_CRL_add1_ext_i2d(crl.get(), NID_authority_key_identifier, akid.get(), 0, 0) == 1 &&
                    X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, number.get(), 0, 0) == 1,
                "CRL extensions");
  openssl_check(X509_CRL_sort(crl.get()) == 1, "X509_CRL_sort");
  stages.mark("sign");
  openssl_check(X509_CRL_sign(crl.get(), &pkey, EVP_sha256()) > 0, "X509_CRL_sign");
  stages.mark("i2d");
  unsigned char* out = nullptr;
  const int n = i2d_X509_CRL(crl.get(), &out);
  openssl_check(n > 0, "i2d_X509_CRL");
  const OpenSslBufPtr buf(out);
  OpensslCrl result{Bytes(buf.get(), buf.get() + n), entries};
  stages.mark("free");
  return result;
}

int run_openssl(const std::string& db_path, const char* out) {
  const Ca ca = load_ca(db_path);
  const std::string issuer_id = issuer::issuer_id(ca.cert);
  const TimePoint now = SystemClock().now();
  const std::string key_pem = must(ca.key->to_pem(), "key PEM");
  const crypto::BioPtr bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  const crypto::EvpPkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  openssl_check(pkey != nullptr, "PEM_read_bio_PrivateKey");
  const crypto::X509Ptr ca_cert = ca_x509(ca.cert);

  Stages stages;
  reset_peak();
  const Mem before = read_mem();
  stages.start(before);
  const auto t0 = std::chrono::steady_clock::now();
  // The CRL and its entries are freed inside: the timed work ends with the DER in hand, as build_crl's.
  const OpensslCrl crl = openssl_build(db_path, *ca_cert, *pkey, issuer_id, now, 1, stages);
  const double ms = ms_since(t0);
  stages.mark("end");
  const Mem after = read_mem();

  const std::string digest = verify_crl(crl.der, ca.cert, revoked_in_store(db_path, issuer_id, to_unix(now)));
  save_der(out, crl.der);
  report("openssl", crl.entries, ms, after.hwm_kb - before.rss_kb, crl.der.size(), digest);
  stages.print("openssl");  // "start" to "sort" is the scan with one X509_REVOKED per row
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "populate" && (argc == 4 || argc == 5)) {
    const long n = std::atol(argv[3]);
    const long blob = argc == 5 ? std::atol(argv[4]) : 64;
    if (n < 0 || blob < 1) die("N must be >= 0 and blob_bytes >= 1");
    return populate(argv[2], n, static_cast<std::size_t>(blob));
  }
  if (mode == "versions" && argc == 2) {
    std::printf("SQLite %s, %s\n", sqlite3_libversion(), OpenSSL_version(OPENSSL_VERSION));
    return 0;
  }
  if (mode == "sigil" && (argc == 3 || argc == 4)) return run_sigil(argv[2], argc == 4 ? argv[3] : nullptr);
  if (mode == "openssl" && (argc == 3 || argc == 4)) return run_openssl(argv[2], argc == 4 ? argv[3] : nullptr);
  std::fprintf(stderr,
               "usage: crl_bench populate DB N [blob_bytes=64]\n"
               "       crl_bench sigil DB [out.crl]\n"
               "       crl_bench openssl DB [out.crl]\n"
               "       crl_bench versions\n");
  return 2;
}
