#include "ca/crypto/ocsp.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "ca/crypto/oids.hpp"

namespace sigil::crypto::ocsp {
namespace {

using der::Reader;
using der::Tlv;
using der::Writer;
namespace tag = der::tag;
// ocsp::Status is the certificate status; the project-wide Result<void> is spelled out.
using VoidResult = sigil::Status;

Error bad(std::string_view what) { return make_error(Errc::malformed, "OCSP: " + std::string(what)); }
Error bad_spec(std::string_view what) { return make_error(Errc::invalid_argument, "OCSP: " + std::string(what)); }

// Any error below the top level becomes Errc::malformed (der:: and x509 helpers may say
// otherwise, e.g. bad_csr for an unknown signature algorithm).
template <class T>
Result<T> as_malformed(Result<T> r) {
  if (r || r.error().code == Errc::malformed) return r;
  return make_error(Errc::malformed, "OCSP: " + r.error().detail);
}

// Context tags of RFC 6960's ASN.1 module (EXPLICIT TAGS unless marked IMPLICIT).
constexpr std::uint8_t kGood = tag::context(0);                   // [0] IMPLICIT NULL
constexpr std::uint8_t kRevoked = tag::context_constructed(1);    // [1] IMPLICIT RevokedInfo
constexpr std::uint8_t kUnknown = tag::context(2);                // [2] IMPLICIT NULL
constexpr std::uint8_t kExplicit0 = tag::context_constructed(0);  // version, nextUpdate, reason, certs...
constexpr std::uint8_t kExplicit1 = tag::context_constructed(1);  // requestorName, byName, responseExtensions
constexpr std::uint8_t kExplicit2 = tag::context_constructed(2);  // requestExtensions, byKey

struct HashInfo {
  HashAlg alg;
  ByteView oid;
  std::size_t size;
  const char* name;
};
constexpr HashInfo kHashes[] = {
    {HashAlg::sha1, oid::sha1, 20, "SHA1"},
    {HashAlg::sha256, oid::sha256, 32, "SHA256"},
    {HashAlg::sha384, oid::sha384, 48, "SHA384"},
    {HashAlg::sha512, oid::sha512, 64, "SHA512"},
};
const HashInfo& info_of(HashAlg h) {
  for (const HashInfo& i : kHashes)
    if (i.alg == h) return i;
  std::abort();  // every enumerator is in the table
}

const EVP_MD* fetched(HashAlg h) {
  // Fetched once: EVP_MD_fetch per digest is a measurable cost on the request path.
  static EVP_MD* const mds[] = {EVP_MD_fetch(nullptr, "SHA1", nullptr), EVP_MD_fetch(nullptr, "SHA256", nullptr),
                                EVP_MD_fetch(nullptr, "SHA384", nullptr), EVP_MD_fetch(nullptr, "SHA512", nullptr)};
  return mds[static_cast<std::size_t>(h)];
}

Bytes digest(HashAlg h, ByteView data) {
  Bytes out(info_of(h).size);
  unsigned int len = 0;
  const EVP_MD* md = fetched(h);
  // A digest that cannot run (no default provider) leaves nothing safe to answer with.
  if (!md || EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) != 1 || len != out.size())
    std::abort();
  return out;
}

// OCSP times are always GeneralizedTime (RFC 6960 §4.2.2.1), unlike certificate validity.
void generalized_time(Writer& w, TimePoint t) {
  const std::time_t tt = static_cast<std::time_t>(to_unix(t));
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d%02d%02d%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec);
  w.string(tag::kGeneralizedTime, buf);
}

Result<TimePoint> read_generalized_time(Reader& r) {
  SIGIL_TRY(Tlv t, r.expect(tag::kGeneralizedTime));
  // system_clock counts nanoseconds in 64 bits: it ends in 2262, and der::read_time does not
  // check that (found by fuzz_ocsp). No OCSP time is legitimately outside 1950..2261.
  const ByteView c = t.contents;
  if (c.size() >= 4 && std::all_of(c.begin(), c.begin() + 4, [](std::uint8_t d) { return d >= '0' && d <= '9'; })) {
    const int year = (c[0] - '0') * 1000 + (c[1] - '0') * 100 + (c[2] - '0') * 10 + (c[3] - '0');
    if (year < 1950 || year > 2261) return bad("time outside 1950..2261");
  }
  return der::read_time(t);
}

void write_cert_id(Writer& w, const CertId& id) {
  const auto m = w.begin(tag::kSequence);
  {
    // NULL parameters, as OpenSSL and most clients send them.
    const auto a = w.begin(tag::kSequence);
    w.oid(info_of(id.hash).oid);
    w.null();
    w.end(a);
  }
  w.octet_string(id.issuer_name_hash);
  w.octet_string(id.issuer_key_hash);
  w.tlv(tag::kInteger, id.serial);
  w.end(m);
}

bool minimal_integer(ByteView c) {
  if (c.empty()) return false;
  return !(c.size() > 1 && ((c[0] == 0 && !(c[1] & 0x80)) || (c[0] == 0xff && (c[1] & 0x80))));
}

Result<HashAlg> read_hash_algorithm(const Tlv& alg) {
  Reader r(alg.contents);
  SIGIL_TRY(Tlv o, r.expect(tag::kOid));
  if (!r.empty()) {
    SIGIL_TRY(Tlv params, r.expect(tag::kNull));
    if (!params.contents.empty()) return bad("bad NULL hash parameters");
    if (!r.empty()) return bad("trailing data in hash AlgorithmIdentifier");
  }
  for (const HashInfo& i : kHashes)
    if (oid::equal(o.contents, i.oid)) return i.alg;
  return bad("unsupported CertID hash algorithm " + der::oid_to_string(o.contents));
}

Result<CertId> read_cert_id(Reader& outer) {
  SIGIL_TRY(Tlv seq, outer.expect(tag::kSequence));
  Reader r(seq.contents);
  SIGIL_TRY(Tlv alg, r.expect(tag::kSequence));
  SIGIL_TRY(Tlv name_hash, r.expect(tag::kOctetString));
  SIGIL_TRY(Tlv key_hash, r.expect(tag::kOctetString));
  SIGIL_TRY(Tlv serial, r.expect(tag::kInteger));
  if (!r.empty()) return bad("trailing data in CertID");
  CertId id;
  SIGIL_TRY(id.hash, read_hash_algorithm(alg));
  // A hash of the wrong length can match nothing: the client is confused, say so.
  const std::size_t n = digest_size(id.hash);
  if (name_hash.contents.size() != n || key_hash.contents.size() != n) return bad("CertID hash of the wrong length");
  if (!minimal_integer(serial.contents)) return bad("bad CertID serial number");
  id.issuer_name_hash.assign(name_hash.contents.begin(), name_hash.contents.end());
  id.issuer_key_hash.assign(key_hash.contents.begin(), key_hash.contents.end());
  id.serial.assign(serial.contents.begin(), serial.contents.end());
  return id;
}

VoidResult check_nonce_size(std::size_t n) {
  if (n == 0 || n > kMaxNonce) return bad("nonce must be 1 to 32 octets (RFC 8954)");
  return {};
}

// Extensions inside an EXPLICIT wrapper, walked by the one strict walker. Calls
// on_known(oid, value) for every extension (it returns whether it took the OID). `understood`
// lists what on_known takes: an unknown critical extension is refused (RFC 6960 §4.4), an
// unknown non-critical one ignored.
template <class F>
VoidResult read_extensions(const Tlv& wrapper, std::span<const ByteView> understood, F&& on_known) {
  auto exts = parse_extensions(wrapper.contents, {understood});
  if (!exts) return bad(exts.error().detail);
  for (const Extension& e : *exts) {
    auto taken = on_known(e.oid, e.value);
    if (!taken) return taken.error();
  }
  return {};
}

// id-pkix-ocsp-nonce: extnValue is a DER OCTET STRING whose contents are the nonce (RFC 6960
// §4.4.1, RFC 8954 §2.1). Returns whether `o` was the nonce.
Result<bool> take_nonce(ByteView o, ByteView value, std::optional<Bytes>& nonce) {
  if (!oid::equal(o, oid::ocsp_nonce)) return false;
  SIGIL_TRY(Tlv inner, der::read_single(value, tag::kOctetString));
  SIGIL_TRY_STATUS(check_nonce_size(inner.contents.size()));
  nonce = Bytes(inner.contents.begin(), inner.contents.end());
  return true;
}

Result<bool> know_nothing(ByteView, ByteView) { return false; }
// What take_nonce knows; know_nothing knows nothing.
const ByteView kNonceOnly[] = {oid::ocsp_nonce};

void write_nonce_extensions(Writer& w, const Bytes& nonce) {
  const auto seq = w.begin(tag::kSequence);
  const auto ext = w.begin(tag::kSequence);
  w.oid(oid::ocsp_nonce);
  const auto value = w.begin(tag::kOctetString);
  w.octet_string(nonce);
  w.end(value);
  w.end(ext);
  w.end(seq);
}

bool valid_reason(std::int64_t r) { return r >= 0 && r <= 10 && r != 7; }  // CRLReason; 7 is not assigned

VoidResult check_cert_id(const CertId& id) {
  const std::size_t n = digest_size(id.hash);
  if (id.issuer_name_hash.size() != n || id.issuer_key_hash.size() != n)
    return bad_spec("CertID hash of the wrong length");
  if (!minimal_integer(id.serial)) return bad_spec("CertID serial is not a minimal INTEGER");
  return {};
}

VoidResult check_spec(const ResponseSpec& spec) {
  if (spec.responses.empty()) return bad_spec("a response needs at least one SingleResponse");
  for (const SingleResponse& s : spec.responses) {
    SIGIL_TRY_STATUS(check_cert_id(s.id));
    if (s.next_update < s.this_update) return bad_spec("nextUpdate before thisUpdate");
    if (s.status == CertStatus::revoked && s.reason && !valid_reason(*s.reason))
      return bad_spec("invalid CRLReason " + std::to_string(*s.reason));
  }
  if (spec.nonce && (spec.nonce->empty() || spec.nonce->size() > kMaxNonce))
    return bad_spec("nonce must be 1 to 32 octets");
  for (const Bytes& c : spec.certs)
    if (!der::read_single(c, tag::kSequence)) return bad_spec("an included certificate is not DER");
  return {};
}

Result<SingleResponse> read_single_response(Reader& outer) {
  SIGIL_TRY(Tlv seq, outer.expect(tag::kSequence));
  Reader r(seq.contents);
  SingleResponse s;
  SIGIL_TRY(s.id, read_cert_id(r));
  SIGIL_TRY(Tlv status, r.next());
  if (status.tag == kGood || status.tag == kUnknown) {
    if (!status.contents.empty()) return bad("bad certStatus NULL");
    s.status = status.tag == kGood ? CertStatus::good : CertStatus::unknown;
  } else if (status.tag == kRevoked) {
    s.status = CertStatus::revoked;
    Reader ri(status.contents);
    SIGIL_TRY(s.revoked_at, read_generalized_time(ri));
    Tlv reason_wrap;
    SIGIL_TRY(bool has_reason, ri.optional(kExplicit0, reason_wrap));
    if (has_reason) {
      SIGIL_TRY(Tlv e, der::read_single(reason_wrap.contents, tag::kEnumerated));
      // ENUMERATED shares INTEGER's encoding rules.
      SIGIL_TRY(std::int64_t code, der::read_small_integer(Tlv{tag::kInteger, e.contents, e.whole}));
      if (!valid_reason(code)) return bad("bad CRLReason");
      s.reason = static_cast<int>(code);
    }
    if (!ri.empty()) return bad("trailing data in RevokedInfo");
  } else {
    return bad("bad certStatus");
  }
  SIGIL_TRY(s.this_update, read_generalized_time(r));
  Tlv next_wrap;
  SIGIL_TRY(bool has_next, r.optional(kExplicit0, next_wrap));
  if (has_next) {
    Reader nr(next_wrap.contents);
    SIGIL_TRY(s.next_update, read_generalized_time(nr));
    if (!nr.empty()) return bad("trailing data in nextUpdate");
  }
  Tlv exts;
  SIGIL_TRY(bool has_exts, r.optional(kExplicit1, exts));
  if (has_exts) SIGIL_TRY_STATUS(read_extensions(exts, {}, know_nothing));
  if (!r.empty()) return bad("trailing data in SingleResponse");
  return s;
}

Result<ParsedResponse> parse_basic(ByteView basic_der, ParsedResponse out) {
  SIGIL_TRY(Tlv basic, der::read_single(basic_der, tag::kSequence));
  Reader br(basic.contents);
  SIGIL_TRY(Tlv tbs, br.expect(tag::kSequence));
  SIGIL_TRY(Tlv alg, br.expect(tag::kSequence));
  SIGIL_TRY(Tlv sig, br.expect(tag::kBitString));
  Tlv certs_wrap;
  SIGIL_TRY(bool has_certs, br.optional(kExplicit0, certs_wrap));
  if (!br.empty()) return bad("trailing data in BasicOCSPResponse");
  SIGIL_TRY(out.sig_alg, as_malformed(parse_algorithm_identifier(alg.whole)));
  SIGIL_TRY(ByteView sig_bytes, der::read_bit_string_bytes(sig));
  out.signature.assign(sig_bytes.begin(), sig_bytes.end());
  if (has_certs) {
    SIGIL_TRY(Tlv certs, der::read_single(certs_wrap.contents, tag::kSequence));
    Reader cr(certs.contents);
    while (!cr.empty()) {
      SIGIL_TRY(Tlv c, cr.expect(tag::kSequence));
      out.certs.emplace_back(c.whole.begin(), c.whole.end());
    }
  }
  out.tbs_response_data.assign(tbs.whole.begin(), tbs.whole.end());

  Reader r(tbs.contents);
  Tlv version;
  SIGIL_TRY(bool has_version, r.optional(kExplicit0, version));
  if (has_version) {
    SIGIL_TRY(Tlv v, der::read_single(version.contents, tag::kInteger));
    SIGIL_TRY(std::int64_t n, der::read_small_integer(v));
    if (n != 0) return bad("unsupported ResponseData version");
  }
  SIGIL_TRY(Tlv responder, r.next());
  if (responder.tag == kExplicit1) {
    SIGIL_TRY(Tlv name, der::read_single(responder.contents, tag::kSequence));
    out.responder_name.assign(name.whole.begin(), name.whole.end());
  } else if (responder.tag == kExplicit2) {
    SIGIL_TRY(Tlv key_hash, der::read_single(responder.contents, tag::kOctetString));
    if (key_hash.contents.size() != 20) return bad("responderID byKey is not a SHA-1 hash");
    out.responder_key_hash.assign(key_hash.contents.begin(), key_hash.contents.end());
  } else {
    return bad("bad responderID");
  }
  SIGIL_TRY(out.produced_at, read_generalized_time(r));
  SIGIL_TRY(Tlv responses, r.expect(tag::kSequence));
  Reader rr(responses.contents);
  if (rr.empty()) return bad("no SingleResponse");
  while (!rr.empty()) {
    SIGIL_TRY(SingleResponse s, read_single_response(rr));
    out.responses.push_back(std::move(s));
  }
  Tlv exts;
  SIGIL_TRY(bool has_exts, r.optional(kExplicit1, exts));
  if (has_exts)
    SIGIL_TRY_STATUS(
        read_extensions(exts, kNonceOnly, [&](ByteView o, ByteView v) { return take_nonce(o, v, out.nonce); }));
  if (!r.empty()) return bad("trailing data in ResponseData");
  return out;
}

}  // namespace

std::size_t digest_size(HashAlg h) { return info_of(h).size; }

Bytes issuer_name_hash(HashAlg h, ByteView issuer_subject_der) { return digest(h, issuer_subject_der); }

Bytes issuer_key_hash(HashAlg h, const PublicKey& issuer_key) { return digest(h, issuer_key.key); }

CertId make_cert_id(HashAlg h, const Certificate& issuer, ByteView serial) {
  CertId id{h, issuer_name_hash(h, issuer.tbs().subject), issuer_key_hash(h, issuer.public_key()), {}};
  // The INTEGER contents of a positive big-endian number: what Writer::unsigned_integer writes.
  Writer w;
  w.unsigned_integer(serial);
  auto t = der::read_single(w.bytes(), tag::kInteger);
  id.serial.assign(t->contents.begin(), t->contents.end());
  return id;
}

Result<Request> parse_request(ByteView der_bytes) {
  SIGIL_TRY(Tlv outer, der::read_single(der_bytes, tag::kSequence));
  Reader r(outer.contents);
  SIGIL_TRY(Tlv tbs, r.expect(tag::kSequence));
  Tlv signature;
  SIGIL_TRY(bool has_signature, r.optional(kExplicit0, signature));
  // Accepted and ignored: Sigil answers anyone, and RFC 5019 clients do not sign.
  if (has_signature && !der::read_single(signature.contents, tag::kSequence)) return bad("bad optionalSignature");
  if (!r.empty()) return bad("trailing data in OCSPRequest");

  Reader tr(tbs.contents);
  Tlv version;
  SIGIL_TRY(bool has_version, tr.optional(kExplicit0, version));
  if (has_version) {
    SIGIL_TRY(Tlv v, der::read_single(version.contents, tag::kInteger));
    SIGIL_TRY(std::int64_t n, der::read_small_integer(v));
    if (n != 0) return bad("unsupported OCSPRequest version");
  }
  Tlv requestor;
  SIGIL_TRY(bool has_requestor, tr.optional(kExplicit1, requestor));
  (void)has_requestor;  // requestorName is informational; Sigil serves anyone
  SIGIL_TRY(Tlv list, tr.expect(tag::kSequence));
  Request out;
  Reader lr(list.contents);
  while (!lr.empty()) {
    if (out.ids.size() == kMaxRequestIds) return bad("more than 16 CertIDs in one request");
    SIGIL_TRY(Tlv one, lr.expect(tag::kSequence));
    Reader qr(one.contents);
    SIGIL_TRY(CertId id, read_cert_id(qr));
    Tlv exts;
    SIGIL_TRY(bool has_exts, qr.optional(kExplicit0, exts));
    if (has_exts) SIGIL_TRY_STATUS(read_extensions(exts, {}, know_nothing));
    if (!qr.empty()) return bad("trailing data in Request");
    out.ids.push_back(std::move(id));
  }
  if (out.ids.empty()) return bad("no CertID in the request");
  Tlv exts;
  SIGIL_TRY(bool has_exts, tr.optional(kExplicit2, exts));
  if (has_exts)
    SIGIL_TRY_STATUS(
        read_extensions(exts, kNonceOnly, [&](ByteView o, ByteView v) { return take_nonce(o, v, out.nonce); }));
  if (!tr.empty()) return bad("trailing data in TBSRequest");
  return out;
}

Bytes encode_request(const Request& request) {
  Writer w;
  const auto m = w.begin(tag::kSequence);
  const auto tbs = w.begin(tag::kSequence);
  const auto list = w.begin(tag::kSequence);
  for (const CertId& id : request.ids) {
    const auto one = w.begin(tag::kSequence);
    write_cert_id(w, id);
    w.end(one);
  }
  w.end(list);
  if (request.nonce) {
    const auto wrap = w.begin(kExplicit2);
    write_nonce_extensions(w, *request.nonce);
    w.end(wrap);
  }
  w.end(tbs);
  w.end(m);
  return w.take();
}

Bytes responder_key_hash(const PublicKey& key) { return digest(HashAlg::sha1, key.key); }

Result<Bytes> encode_response_data(ByteView key_hash, const ResponseSpec& spec) {
  SIGIL_TRY_STATUS(check_spec(spec));
  if (key_hash.size() != 20) return bad_spec("responder key hash must be a SHA-1 hash");
  Writer w;
  const auto m = w.begin(tag::kSequence);
  // version is DEFAULT v1: omitted (X.690 §11.5).
  {
    const auto by_key = w.begin(kExplicit2);
    w.octet_string(key_hash);
    w.end(by_key);
  }
  generalized_time(w, spec.produced_at);
  const auto list = w.begin(tag::kSequence);
  for (const SingleResponse& s : spec.responses) {
    const auto one = w.begin(tag::kSequence);
    write_cert_id(w, s.id);
    switch (s.status) {
      case CertStatus::good:
        w.tlv(kGood, {});
        break;
      case CertStatus::unknown:
        w.tlv(kUnknown, {});
        break;
      case CertStatus::revoked: {
        const auto info = w.begin(kRevoked);
        generalized_time(w, s.revoked_at);
        // As in CRL entries: unspecified (0) is expressed by leaving the reason out.
        if (s.reason && *s.reason != 0) {
          const auto reason = w.begin(kExplicit0);
          const std::uint8_t code = static_cast<std::uint8_t>(*s.reason);
          w.tlv(tag::kEnumerated, ByteView(&code, 1));
          w.end(reason);
        }
        w.end(info);
        break;
      }
    }
    generalized_time(w, s.this_update);
    {
      // RFC 5019 §2.2.4: clients require nextUpdate, so it is always sent.
      const auto next = w.begin(kExplicit0);
      generalized_time(w, s.next_update);
      w.end(next);
    }
    w.end(one);
  }
  w.end(list);
  if (spec.nonce) {
    const auto wrap = w.begin(kExplicit1);
    write_nonce_extensions(w, *spec.nonce);
    w.end(wrap);
  }
  w.end(m);
  return w.take();
}

Bytes assemble_response(ByteView response_data, SignatureAlgorithm alg, ByteView signature,
                        const std::vector<Bytes>& certs) {
  Writer basic;
  {
    const auto m = basic.begin(tag::kSequence);
    basic.raw(response_data);
    basic.raw(algorithm_identifier(alg));
    basic.bit_string(signature);
    if (!certs.empty()) {
      const auto wrap = basic.begin(kExplicit0);
      const auto seq = basic.begin(tag::kSequence);
      for (const Bytes& c : certs) basic.raw(c);
      basic.end(seq);
      basic.end(wrap);
    }
    basic.end(m);
  }
  Writer w;
  const auto m = w.begin(tag::kSequence);
  const std::uint8_t ok = static_cast<std::uint8_t>(ResponseStatus::successful);
  w.tlv(tag::kEnumerated, ByteView(&ok, 1));
  const auto wrap = w.begin(kExplicit0);
  const auto bytes = w.begin(tag::kSequence);
  w.oid(oid::ocsp_basic);
  w.octet_string(basic.bytes());
  w.end(bytes);
  w.end(wrap);
  w.end(m);
  return w.take();
}

Result<Bytes> make_response(const Signer& signer, const ResponseSpec& spec) {
  SIGIL_TRY(Bytes tbs, encode_response_data(responder_key_hash(signer.public_key()), spec));
  SIGIL_TRY(Bytes signature, signer.sign(tbs));
  return assemble_response(tbs, signer.signature_algorithm(), signature, spec.certs);
}

Bytes error_response(ResponseStatus s) {
  assert(s != ResponseStatus::successful);
  if (s == ResponseStatus::successful) s = ResponseStatus::internal_error;
  Writer w;
  const auto m = w.begin(tag::kSequence);
  const std::uint8_t code = static_cast<std::uint8_t>(s);
  w.tlv(tag::kEnumerated, ByteView(&code, 1));
  w.end(m);
  return w.take();
}

Result<ParsedResponse> parse_response(ByteView der_bytes) {
  SIGIL_TRY(Tlv outer, der::read_single(der_bytes, tag::kSequence));
  Reader r(outer.contents);
  SIGIL_TRY(Tlv status, r.expect(tag::kEnumerated));
  SIGIL_TRY(std::int64_t code, der::read_small_integer(Tlv{tag::kInteger, status.contents, status.whole}));
  ParsedResponse out;
  switch (code) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 5:
    case 6:
      out.status = static_cast<ResponseStatus>(code);
      break;
    default:
      return bad("unknown OCSPResponseStatus " + std::to_string(code));
  }
  Tlv bytes_wrap;
  SIGIL_TRY(bool has_bytes, r.optional(kExplicit0, bytes_wrap));
  if (!r.empty()) return bad("trailing data in OCSPResponse");
  if (out.status != ResponseStatus::successful) {
    if (has_bytes) return bad("responseBytes in an unsuccessful response");
    return out;
  }
  if (!has_bytes) return bad("successful response without responseBytes");
  SIGIL_TRY(Tlv rb, der::read_single(bytes_wrap.contents, tag::kSequence));
  Reader br(rb.contents);
  SIGIL_TRY(Tlv type, br.expect(tag::kOid));
  SIGIL_TRY(Tlv basic, br.expect(tag::kOctetString));
  if (!br.empty()) return bad("trailing data in ResponseBytes");
  if (!oid::equal(type.contents, oid::ocsp_basic))
    return bad("unsupported response type " + der::oid_to_string(type.contents));
  return as_malformed(parse_basic(basic.contents, std::move(out)));
}

sigil::Status verify_response(const ParsedResponse& r, const PublicKey& key) {
  if (r.status != ResponseStatus::successful) return make_error(Errc::invalid_argument, "OCSP: no signed data");
  if (!r.responder_key_hash.empty() && r.responder_key_hash != responder_key_hash(key))
    return make_error(Errc::unauthorized, "OCSP: responderID names another key");
  if (!signature_fits_key(r.sig_alg, key.algorithm))
    return make_error(Errc::unauthorized, "OCSP: signature algorithm does not fit the key");
  return verify_signature(key, r.sig_alg, r.tbs_response_data, r.signature);
}

}  // namespace sigil::crypto::ocsp
