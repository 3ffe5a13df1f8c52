// Pkcs11Signer: a private key in a token, found (or generated) through an RFC 7512 URI, signing
// through a pool of sessions. The digest is computed here; the token signs it.
#include <openssl/evp.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <vector>

#include "ca/base/log.hpp"
#include "ca/crypto/oids.hpp"
#include "ca/crypto/pkcs11/pkcs11_internal.hpp"

namespace sigil::crypto::pkcs11 {

namespace {
struct Entry {
  CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
  CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
};

ByteView view(oid::B b) { return ByteView(b.data(), b.size()); }

// RFC 8017 §9.2 note 1: DigestInfo prefixes for SHA-256/384/512.
const Bytes& digest_info_prefix(SignatureAlgorithm alg) {
  static const Bytes k256 = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                             0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
  static const Bytes k384 = {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                             0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30};
  static const Bytes k512 = {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                             0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40};
  return alg == SignatureAlgorithm::rsa_sha384 ? k384 : alg == SignatureAlgorithm::rsa_sha512 ? k512 : k256;
}

const EVP_MD* md_for(SignatureAlgorithm alg) {
  switch (alg) {
    case SignatureAlgorithm::ecdsa_sha384:
    case SignatureAlgorithm::rsa_sha384:
      return EVP_sha384();
    case SignatureAlgorithm::ecdsa_sha512:
    case SignatureAlgorithm::rsa_sha512:
      return EVP_sha512();
    default:
      return EVP_sha256();
  }
}

Result<Bytes> digest(const EVP_MD* md, ByteView data) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int n = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &n, md, nullptr) != 1)
    return make_error(Errc::crypto, "digest failed");
  out.resize(n);
  return out;
}

// r||s (each the curve's size) -> ECDSA-Sig-Value (RFC 3279 §2.2.3).
Result<Bytes> ecdsa_der(ByteView raw) {
  if (raw.empty() || raw.size() % 2 != 0) return make_error(Errc::crypto, "the token's ECDSA signature is malformed");
  const std::size_t half = raw.size() / 2;
  der::Writer w;
  const auto seq = w.begin(der::tag::kSequence);
  w.unsigned_integer(raw.subspan(0, half));
  w.unsigned_integer(raw.subspan(half));
  w.end(seq);
  return w.take();
}

// CKA_EC_POINT is a DER OCTET STRING around the point (PKCS#11 2.40); some tokens return the bare
// point. An uncompressed point begins with 0x04 too, so the lengths decide.
Bytes unwrap_point(const Bytes& p, std::size_t point_len) {
  if (p.size() == point_len + 2 && p[0] == der::tag::kOctetString && p[1] == point_len)
    return Bytes(p.begin() + 2, p.end());
  return p;
}

Result<PublicKey> ec_public_key(const Bytes& params, const Bytes& point_attr) {
  der::Writer curve;
  curve.oid(view(oid::prime256v1));
  std::size_t point_len = 65;
  oid::B curve_oid = oid::prime256v1;
  if (params != curve.bytes()) {
    der::Writer p384;
    p384.oid(view(oid::secp384r1));
    if (params != p384.bytes()) return make_error(Errc::bad_public_key, "the token's EC key is not on P-256 or P-384");
    curve_oid = oid::secp384r1;
    point_len = 97;
  }
  const Bytes point = unwrap_point(point_attr, point_len);
  der::Writer w;
  const auto spki = w.begin(der::tag::kSequence);
  const auto alg = w.begin(der::tag::kSequence);
  w.oid(view(oid::ec_public_key));
  w.oid(view(curve_oid));
  w.end(alg);
  w.bit_string(point);
  w.end(spki);
  return parse_spki(w.take());
}

Result<PublicKey> rsa_public_key(const Bytes& modulus, const Bytes& exponent) {
  der::Writer key;
  const auto k = key.begin(der::tag::kSequence);
  key.unsigned_integer(modulus);
  key.unsigned_integer(exponent);
  key.end(k);
  der::Writer w;
  const auto spki = w.begin(der::tag::kSequence);
  const auto alg = w.begin(der::tag::kSequence);
  w.oid(view(oid::rsa_encryption));
  w.null();
  w.end(alg);
  w.bit_string(key.bytes());
  w.end(spki);
  return parse_spki(w.take());
}

// The session (or the token under it) is gone: its siblings are too, and a fresh one may work.
bool session_gone(CK_RV rv) {
  switch (rv) {
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SESSION_CLOSED:
    case CKR_DEVICE_REMOVED:
    case CKR_DEVICE_ERROR:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_TOKEN_NOT_RECOGNIZED:
    case CKR_USER_NOT_LOGGED_IN:
      return true;
    default:
      return false;
  }
}

}  // namespace

struct Pkcs11Signer::Impl {
  std::shared_ptr<Module> module;
  Uri uri;  // with the object's CKA_ID once known, so every session finds the same object
  std::optional<std::string> pin;
  std::string token;
  KeyAlgorithm key_algorithm = KeyAlgorithm::ec_p256;
  int max_sessions = 8;

  std::mutex mu;
  std::condition_variable cv;
  std::vector<Entry> idle;
  int open = 0;  // sessions in `idle` plus those checked out
  // Set when the token refused the PIN on a new session (changed, locked, expired): no further
  // login is tried until the process starts again, so a server that signs every second cannot
  // burn through the token's retry counter and lock the PIN. Guarded by `mu`.
  std::optional<std::string> login_refused;

  ~Impl() {
    for (const Entry& e : idle) module->f().C_CloseSession(e.session);
  }

  // A new session with the key found in it (slot looked up again: the token may have come back).
  Result<Entry> connect() {
    SIGIL_TRY(CK_SLOT_ID slot, find_slot(*module, uri));
    SIGIL_TRY(CK_SESSION_HANDLE s, open_session(*module, slot, pin, false));
    auto key = find_one(*module, s, CKO_PRIVATE_KEY, uri, "private key");
    if (!key) {
      module->f().C_CloseSession(s);
      return key.error();
    }
    return Entry{s, *key};
  }

  Result<Entry> checkout() {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return !idle.empty() || open < max_sessions; });
    if (!idle.empty()) {
      Entry e = idle.back();
      idle.pop_back();
      return e;
    }
    if (login_refused) return make_error(Errc::unauthorized, *login_refused);
    ++open;
    lock.unlock();
    auto e = connect();
    if (!e) {
      lock.lock();
      --open;
      if (e.error().code == Errc::unauthorized && !login_refused) {
        login_refused =
            "token '" + token + "' refused the PIN: no further login until restart (" + e.error().detail + ")";
        log::error("PKCS#11 login refused; signing stops until the PIN is fixed and sigil restarts",
                   {{"token", token}, {"error", e.error().detail}});
      }
      cv.notify_one();
    }
    return e;
  }
  // Every idle session is closed: after the token went away they are all dead, and each would
  // otherwise fail one request before being replaced.
  void drain_idle() {
    std::lock_guard lock(mu);
    for (const Entry& e : idle) module->f().C_CloseSession(e.session);
    open -= static_cast<int>(idle.size());
    idle.clear();
    cv.notify_all();
  }
  void give_back(Entry e) {
    std::lock_guard lock(mu);
    idle.push_back(e);
    cv.notify_one();
  }
  // A session that failed is not trusted again: closed (if the token still knows it) and replaced
  // on the next checkout.
  void drop(Entry e) {
    module->f().C_CloseSession(e.session);
    std::lock_guard lock(mu);
    --open;
    cv.notify_one();
  }

  // Any failure is Errc::unavailable with a plain detail: the caller (an issuance, an OCSP
  // response, the readiness probe) answers 503 and tries later; the token's own words (a PIN
  // error included) go to the log, never to a client. A session that fails for a session or
  // device reason is retried once on a fresh one, after the dead idle sessions are closed.
  Result<Bytes> sign_raw(CK_MECHANISM& mech, ByteView input, std::size_t max_len) {
    Error last = make_error(Errc::unavailable, "");
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto got = checkout();
      if (!got) {
        last = got.error();
        break;
      }
      const Entry e = *got;
      CK_RV rv = module->f().C_SignInit(e.session, &mech, e.key);
      Bytes out(max_len);
      CK_ULONG len = out.size();
      if (rv == CKR_OK)
        rv = module->f().C_Sign(e.session, const_cast<CK_BYTE*>(input.data()), input.size(), out.data(), &len);
      if (rv == CKR_OK) {
        give_back(e);
        out.resize(len);
        return out;
      }
      drop(e);
      last = token_error(rv, "token '" + token + "' could not sign");
      if (!session_gone(rv)) break;
      drain_idle();
    }
    log::warn("PKCS#11 signature failed", {{"token", token}, {"error", last.detail}});
    return make_error(Errc::unavailable, "the signing key's token is unavailable");
  }
};

Pkcs11Signer::Pkcs11Signer(std::unique_ptr<Impl> impl, PublicKey key)
    : impl_(std::move(impl)), public_key_(std::move(key)), alg_(signature_algorithm_for(public_key_.algorithm)) {}
Pkcs11Signer::~Pkcs11Signer() = default;

Result<Bytes> Pkcs11Signer::sign(ByteView data) const {
  SIGIL_TRY(Bytes d, digest(md_for(alg_), data));
  if (public_key_.algorithm == KeyAlgorithm::rsa) {
    Bytes info = digest_info_prefix(alg_);
    info.insert(info.end(), d.begin(), d.end());
    CK_MECHANISM mech{CKM_RSA_PKCS, nullptr, 0};
    return impl_->sign_raw(mech, info, static_cast<std::size_t>(public_key_.bits + 7) / 8);
  }
  CK_MECHANISM mech{CKM_ECDSA, nullptr, 0};
  SIGIL_TRY(Bytes raw, impl_->sign_raw(mech, d, 2 * static_cast<std::size_t>((public_key_.bits + 7) / 8)));
  return ecdsa_der(raw);
}

Result<Bytes> Pkcs11Signer::sign_pss_sha256(ByteView data) const {
  if (public_key_.algorithm != KeyAlgorithm::rsa) return make_error(Errc::invalid_argument, "PSS needs an RSA key");
  SIGIL_TRY(Bytes d, digest(EVP_sha256(), data));
  CK_RSA_PKCS_PSS_PARAMS params{CKM_SHA256, CKG_MGF1_SHA256, 32};
  CK_MECHANISM mech{CKM_RSA_PKCS_PSS, &params, sizeof params};
  return impl_->sign_raw(mech, d, static_cast<std::size_t>(public_key_.bits + 7) / 8);
}

std::string Pkcs11Signer::describe() const {
  return "token '" + impl_->token + "'" + (impl_->uri.object ? ", object '" + *impl_->uri.object + "'" : "");
}

struct Access {
  static std::unique_ptr<Pkcs11Signer> make(std::unique_ptr<Pkcs11Signer::Impl> impl, PublicKey key) {
    return std::unique_ptr<Pkcs11Signer>(new Pkcs11Signer(std::move(impl), std::move(key)));
  }
};

namespace {

// C_GenerateKeyPair: the private half sensitive, never extractable, a token object; the public
// half beside it with the same label and CKA_ID (how the public key is found again).
Status generate(const Module& m, CK_SESSION_HANDLE s, const Uri& uri, KeyType type) {
  if (!uri.object) return make_error(Errc::invalid_argument, "the PKCS#11 URI must name the key (object=LABEL)");
  std::string label = *uri.object;
  Bytes id = uri.id ? *uri.id : random_bytes(16);
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  CK_ULONG bits = 0;
  CK_BYTE exponent[] = {0x01, 0x00, 0x01};
  der::Writer curve;
  CK_MECHANISM mech{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
  switch (type) {
    case KeyType::ec_p256:
      curve.oid(view(oid::prime256v1));
      break;
    case KeyType::ec_p384:
      curve.oid(view(oid::secp384r1));
      break;
    case KeyType::rsa_2048:
    case KeyType::rsa_3072:
    case KeyType::rsa_4096:
      mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
      bits = type == KeyType::rsa_2048 ? 2048 : type == KeyType::rsa_3072 ? 3072 : 4096;
      break;
    case KeyType::ed25519:
      return make_error(Errc::invalid_argument,
                        "ed25519 keys are not supported in PKCS#11 tokens (use ec-p256, "
                        "ec-p384 or rsa-2048..4096)");
  }
  Bytes params = curve.take();
  std::vector<CK_ATTRIBUTE> pub = {{CKA_TOKEN, &yes, sizeof yes},
                                   {CKA_VERIFY, &yes, sizeof yes},
                                   {CKA_LABEL, label.data(), label.size()},
                                   {CKA_ID, id.data(), id.size()}};
  std::vector<CK_ATTRIBUTE> priv = {{CKA_TOKEN, &yes, sizeof yes},     {CKA_PRIVATE, &yes, sizeof yes},
                                    {CKA_SENSITIVE, &yes, sizeof yes}, {CKA_EXTRACTABLE, &no, sizeof no},
                                    {CKA_SIGN, &yes, sizeof yes},      {CKA_LABEL, label.data(), label.size()},
                                    {CKA_ID, id.data(), id.size()}};
  if (bits) {
    pub.push_back({CKA_MODULUS_BITS, &bits, sizeof bits});
    pub.push_back({CKA_PUBLIC_EXPONENT, exponent, sizeof exponent});
  } else {
    pub.push_back({CKA_EC_PARAMS, params.data(), params.size()});
  }
  CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;
  if (CK_RV rv = m.f().C_GenerateKeyPair(s, &mech, pub.data(), pub.size(), priv.data(), priv.size(), &hpub, &hpriv);
      rv != CKR_OK)
    return token_error(rv, "key generation in the token failed");
  return {};
}

// The public key: RSA from the private object's modulus and exponent; EC from the public object
// with the same CKA_ID (a private EC object has no CKA_EC_POINT).
Result<PublicKey> read_public_key(const Module& m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv, const Uri& uri) {
  SIGIL_TRY(Bytes type_bytes, get_attribute(m, s, priv, CKA_KEY_TYPE));
  CK_KEY_TYPE type = 0;
  if (type_bytes.size() != sizeof type) return make_error(Errc::crypto, "unexpected CKA_KEY_TYPE size");
  std::memcpy(&type, type_bytes.data(), sizeof type);
  if (type == CKK_RSA) {
    SIGIL_TRY(Bytes n, get_attribute(m, s, priv, CKA_MODULUS));
    SIGIL_TRY(Bytes e, get_attribute(m, s, priv, CKA_PUBLIC_EXPONENT));
    return rsa_public_key(n, e);
  }
  if (type != CKK_EC) return make_error(Errc::bad_public_key, "the token's key is neither EC nor RSA");
  SIGIL_TRY(Bytes params, get_attribute(m, s, priv, CKA_EC_PARAMS));
  Uri pub_uri = uri;
  SIGIL_TRY(pub_uri.id, get_attribute(m, s, priv, CKA_ID));
  if (pub_uri.id->empty()) pub_uri.id.reset();
  auto pub = find_one(m, s, CKO_PUBLIC_KEY, pub_uri, "public key");
  if (!pub) return pub.error().context("the EC private key's public half (same CKA_ID) is needed");
  SIGIL_TRY(Bytes point, get_attribute(m, s, *pub, CKA_EC_POINT));
  return ec_public_key(params, point);
}

}  // namespace

Result<std::unique_ptr<Pkcs11Signer>> open_key(const Uri& uri, const OpenOptions& options) {
  if (uri.type && *uri.type != "private")
    return make_error(Errc::invalid_argument, "the PKCS#11 URI must name a private key (type=private)");
  if (!uri.object && !uri.id)
    return make_error(Errc::invalid_argument, "the PKCS#11 URI must name the key: object=LABEL and/or id=...");
  auto impl = std::make_unique<Pkcs11Signer::Impl>();
  impl->uri = uri;
  impl->max_sessions = std::max(1, options.max_sessions);
  SIGIL_TRY(impl->module, Module::load(uri));
  SIGIL_TRY(impl->pin, read_pin(uri));
  const Module& m = *impl->module;
  SIGIL_TRY(CK_SLOT_ID slot, find_slot(m, uri));
  impl->token = token_label(m, slot);
  // A read-write session: generation needs one, and it is the pool's first session afterwards.
  SIGIL_TRY(CK_SESSION_HANDLE s, open_session(m, slot, impl->pin, options.generate.has_value()));
  Entry first{s, CK_INVALID_HANDLE};
  auto fail = [&](const Error& e) -> Error {
    m.f().C_CloseSession(s);
    return e;
  };
  auto key = find_one(m, s, CKO_PRIVATE_KEY, uri, "private key");
  if (!key && key.error().code == Errc::not_found && options.generate) {
    if (!impl->pin)
      return fail(make_error(Errc::unauthorized, "no PIN for token '" + impl->token +
                                                     "' (pin-source=FILE in the URI, or $SIGIL_PKCS11_PIN)"));
    if (auto g = generate(m, s, uri, *options.generate); !g) return fail(g.error());
    key = find_one(m, s, CKO_PRIVATE_KEY, uri, "private key");
  }
  if (!key) {
    if (key.error().code == Errc::not_found && !impl->pin)
      return fail(key.error().context("no PIN was given (private objects need a login)"));
    return fail(key.error());
  }
  first.key = *key;
  auto pub = read_public_key(m, s, first.key, uri);
  if (!pub) return fail(pub.error());
  // Later sessions find exactly this object, even if another with the same label appears.
  if (auto id = get_attribute(m, s, first.key, CKA_ID); id && !id->empty()) impl->uri.id = *id;
  impl->key_algorithm = pub->algorithm;
  impl->idle.push_back(first);
  impl->open = 1;
  return Access::make(std::move(impl), std::move(*pub));
}

Status check_token(const Uri& uri) {
  SIGIL_TRY(auto module, Module::load(uri));
  SIGIL_TRY(auto pin, read_pin(uri));
  SIGIL_TRY(CK_SLOT_ID slot, find_slot(*module, uri));
  // A CA key is a private object: without a PIN nothing could find or make it.
  if (!pin)
    return make_error(Errc::unauthorized, "no PIN for token '" + token_label(*module, slot) +
                                              "': give pin-source or pin-value in the URI, or $SIGIL_PKCS11_PIN");
  SIGIL_TRY(CK_SESSION_HANDLE s, open_session(*module, slot, pin, false));
  module->f().C_CloseSession(s);
  return {};
}

}  // namespace sigil::crypto::pkcs11
