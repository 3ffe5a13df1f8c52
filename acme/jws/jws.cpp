#include "acme/jws/jws.hpp"

#include <nlohmann/json.hpp>

#include "ca/base/encoding.hpp"
#include "ca/crypto/der.hpp"
#include "ca/crypto/oids.hpp"
#include "ca/policy/policy.hpp"

namespace sigil::acme::jws {
namespace {

using json = nlohmann::json;

Error malformed(std::string detail) { return make_error(Errc::malformed, std::move(detail)); }

Result<json> parse_object(std::string_view text, const char* what) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return malformed(std::string(what) + " is not a JSON object");
  return j;
}

Result<std::string> string_member(const json& j, const char* name, const char* what) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string())
    return malformed(std::string(what) + ": \"" + name + "\" missing or not a string");
  return it->get<std::string>();
}

Result<Bytes> b64_member(const json& j, const char* name, const char* what) {
  SIGIL_TRY(std::string s, string_member(j, name, what));
  auto b = base64url_decode(s);
  if (!b) return malformed(std::string(what) + ": \"" + name + "\" is not base64url");
  return std::move(b).value();
}

// Strips leading zero octets (JWK integers are unsigned big-endian, RFC 7518 §6.3.1).
Bytes magnitude(Bytes b) {
  std::size_t i = 0;
  while (i + 1 < b.size() && b[i] == 0) ++i;
  b.erase(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(i));
  return b;
}

Bytes spki(ByteView alg_oid, const ByteView* params_oid, bool null_params, ByteView key_bits) {
  crypto::der::Writer w;
  auto seq = w.begin(crypto::der::tag::kSequence);
  auto alg = w.begin(crypto::der::tag::kSequence);
  w.oid(alg_oid);
  if (params_oid) w.oid(*params_oid);
  if (null_params) w.null();
  w.end(alg);
  w.bit_string(key_bits);
  w.end(seq);
  return w.take();
}

bool alg_fits(std::string_view alg, const crypto::PublicKey& key, crypto::SignatureAlgorithm& out) {
  using KA = crypto::KeyAlgorithm;
  using SA = crypto::SignatureAlgorithm;
  if (alg == "ES256" && key.algorithm == KA::ec_p256) return out = SA::ecdsa_sha256, true;
  if (alg == "ES384" && key.algorithm == KA::ec_p384) return out = SA::ecdsa_sha384, true;
  if (alg == "EdDSA" && key.algorithm == KA::ed25519) return out = SA::ed25519, true;
  if (alg == "RS256" && key.algorithm == KA::rsa) return out = SA::rsa_sha256, true;
  return false;
}

bool accepted_alg(std::string_view alg) { return alg == "ES256" || alg == "ES384" || alg == "RS256" || alg == "EdDSA"; }

ByteView bytes_of(std::string_view s) { return ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()); }

// The three members of a flattened JWS, and the decoded protected header.
struct Parts {
  json protected_header;
  std::string protected_b64, payload_b64;
  std::string payload;
  Bytes signature;
};

Result<Parts> split(std::string_view body, const char* what) {
  SIGIL_TRY(json j, parse_object(body, what));
  if (j.contains("signatures"))
    return malformed(std::string(what) + ": only the flattened JSON serialization is accepted");
  if (j.contains("header")) return malformed(std::string(what) + ": unprotected header members are not accepted");
  for (auto& [k, v] : j.items())
    if (k != "protected" && k != "payload" && k != "signature")
      return malformed(std::string(what) + ": unexpected member \"" + k + "\"");
  Parts p;
  SIGIL_TRY(p.protected_b64, string_member(j, "protected", what));
  SIGIL_TRY(p.payload_b64, string_member(j, "payload", what));
  SIGIL_TRY(p.signature, b64_member(j, "signature", what));
  auto hdr = base64url_decode(p.protected_b64);
  if (!hdr) return malformed(std::string(what) + ": protected header is not base64url");
  SIGIL_TRY(p.protected_header,
            parse_object(std::string_view(reinterpret_cast<const char*>(hdr->data()), hdr->size()), what));
  auto payload = base64url_decode(p.payload_b64);
  if (!payload) return malformed(std::string(what) + ": payload is not base64url");
  p.payload.assign(payload->begin(), payload->end());
  return p;
}

}  // namespace

Result<Jwk> parse_jwk(std::string_view json_text) {
  SIGIL_TRY(json j, parse_object(json_text, "jwk"));
  SIGIL_TRY(std::string kty, string_member(j, "kty", "jwk"));
  for (const char* priv : {"d", "p", "q", "dp", "dq", "qi", "k"})
    if (j.contains(priv)) return malformed(std::string("jwk: private key member \"") + priv + "\" is not accepted");
  Jwk out;
  Bytes der;
  namespace oid = crypto::oid;
  if (kty == "EC") {
    SIGIL_TRY(std::string crv, string_member(j, "crv", "jwk"));
    SIGIL_TRY(Bytes x, b64_member(j, "x", "jwk"));
    SIGIL_TRY(Bytes y, b64_member(j, "y", "jwk"));
    std::size_t size = 0;
    ByteView curve;
    if (crv == "P-256") {
      size = 32, curve = oid::prime256v1;
    } else if (crv == "P-384") {
      size = 48, curve = oid::secp384r1;
    } else {
      return make_error(Errc::bad_public_key, "jwk: curve \"" + crv + "\" is not accepted (P-256, P-384)");
    }
    if (x.size() != size || y.size() != size) return malformed("jwk: EC coordinates have the wrong length");
    Bytes point{0x04};
    point.insert(point.end(), x.begin(), x.end());
    point.insert(point.end(), y.begin(), y.end());
    der = spki(oid::ec_public_key, &curve, false, point);
    out.canonical = json{{"crv", crv}, {"kty", "EC"}, {"x", base64url_encode(x)}, {"y", base64url_encode(y)}}.dump();
  } else if (kty == "RSA") {
    SIGIL_TRY(Bytes n_raw, b64_member(j, "n", "jwk"));
    SIGIL_TRY(Bytes e_raw, b64_member(j, "e", "jwk"));
    Bytes n = magnitude(std::move(n_raw)), e = magnitude(std::move(e_raw));
    if (n.empty() || e.empty() || n[0] == 0) return malformed("jwk: empty RSA modulus or exponent");
    crypto::der::Writer k;
    auto seq = k.begin(crypto::der::tag::kSequence);
    k.unsigned_integer(n);
    k.unsigned_integer(e);
    k.end(seq);
    der = spki(oid::rsa_encryption, nullptr, true, k.bytes());
    out.canonical = json{{"e", base64url_encode(e)}, {"kty", "RSA"}, {"n", base64url_encode(n)}}.dump();
  } else if (kty == "OKP") {
    SIGIL_TRY(std::string crv, string_member(j, "crv", "jwk"));
    if (crv != "Ed25519") return make_error(Errc::bad_public_key, "jwk: OKP curve \"" + crv + "\" is not accepted");
    SIGIL_TRY(Bytes x, b64_member(j, "x", "jwk"));
    if (x.size() != 32) return malformed("jwk: Ed25519 key has the wrong length");
    der = spki(oid::ed25519, nullptr, false, x);
    out.canonical = json{{"crv", "Ed25519"}, {"kty", "OKP"}, {"x", base64url_encode(x)}}.dump();
  } else {
    return make_error(Errc::bad_public_key, "jwk: key type \"" + kty + "\" is not accepted (EC, RSA, OKP)");
  }
  auto key = crypto::parse_spki(der);
  if (!key) return make_error(Errc::bad_public_key, "jwk: " + key.error().detail);
  if (auto st = policy::check_key(*key); !st) return make_error(Errc::bad_public_key, "jwk: " + st.error().detail);
  if (auto st = crypto::check_public_key(*key); !st)
    return make_error(Errc::bad_public_key, "jwk: " + st.error().detail);
  out.key = std::move(key).value();
  out.thumbprint = base64url_encode(crypto::sha256(bytes_of(out.canonical)));
  return out;
}

Result<std::shared_ptr<const Jwk>> JwkCache::parse(const std::string& json_text) {
  {
    std::lock_guard lock(mu_);
    if (auto it = keys_.find(json_text); it != keys_.end()) return it->second;
  }
  SIGIL_TRY(Jwk parsed, parse_jwk(json_text));
  auto key = std::make_shared<const Jwk>(std::move(parsed));
  std::lock_guard lock(mu_);
  if (keys_.size() >= capacity_) keys_.clear();
  keys_.emplace(json_text, key);
  return key;
}

Result<Jws> parse(std::string_view body) {
  SIGIL_TRY(Parts p, split(body, "JWS"));
  const json& h = p.protected_header;
  Jws out;
  SIGIL_TRY(out.header.alg, string_member(h, "alg", "JWS protected header"));
  if (!accepted_alg(out.header.alg))
    return make_error(Errc::bad_signature_algorithm, "JWS alg \"" + out.header.alg + "\" is not accepted");
  if (h.contains("b64") || h.contains("crit")) return malformed("JWS: \"b64\" and \"crit\" are not accepted");
  if (p.signature.empty()) return malformed("JWS: empty signature");
  if (!h.contains("nonce") || !h["nonce"].is_string() || h["nonce"].get<std::string>().empty())
    return make_error(Errc::bad_nonce, "JWS protected header carries no nonce");
  SIGIL_TRY(out.header.nonce, string_member(h, "nonce", "JWS protected header"));
  SIGIL_TRY(out.header.url, string_member(h, "url", "JWS protected header"));
  const bool has_jwk = h.contains("jwk"), has_kid = h.contains("kid");
  if (has_jwk == has_kid) return malformed("JWS protected header must carry exactly one of \"jwk\" and \"kid\"");
  if (has_jwk) {
    if (!h["jwk"].is_object()) return malformed("JWS protected header: \"jwk\" is not an object");
    SIGIL_TRY(Jwk k, parse_jwk(h["jwk"].dump()));
    out.header.jwk = std::move(k);
  } else {
    SIGIL_TRY(out.header.kid, string_member(h, "kid", "JWS protected header"));
  }
  out.protected_b64 = std::move(p.protected_b64);
  out.payload_b64 = std::move(p.payload_b64);
  out.payload = std::move(p.payload);
  out.signature = std::move(p.signature);
  return out;
}

Status verify(const Jws& jws, const crypto::PublicKey& key) {
  crypto::SignatureAlgorithm alg;
  if (!alg_fits(jws.header.alg, key, alg))
    return make_error(Errc::bad_signature_algorithm, "JWS alg \"" + jws.header.alg + "\" does not fit the account key");
  Bytes sig = jws.signature;
  if (alg == crypto::SignatureAlgorithm::ecdsa_sha256 || alg == crypto::SignatureAlgorithm::ecdsa_sha384) {
    auto der = ecdsa_raw_to_der(sig);
    if (!der) return malformed("JWS signature does not verify (bad ECDSA signature length)");
    sig = std::move(der).value();
  }
  const std::string input = jws.signing_input();
  auto st = crypto::verify_signature(key, alg, bytes_of(input), sig);
  if (!st) {
    if (st.error().code == Errc::unauthorized) return malformed("JWS signature does not verify");
    return st;
  }
  return {};
}

std::string key_authorization(std::string_view token, const std::string& thumbprint) {
  return std::string(token) + "." + thumbprint;
}

Result<std::string> verify_eab(std::string_view eab_json, const Jwk& account_key, const std::string& new_account_url,
                               const std::function<Result<Bytes>(const std::string& kid)>& lookup) {
  const char* what = "externalAccountBinding";
  SIGIL_TRY(Parts p, split(eab_json, what));
  const json& h = p.protected_header;
  SIGIL_TRY(std::string alg, string_member(h, "alg", what));
  if (alg != "HS256") return make_error(Errc::bad_signature_algorithm, "externalAccountBinding alg must be HS256");
  if (h.contains("nonce")) return malformed("externalAccountBinding must not carry a nonce");
  SIGIL_TRY(std::string kid, string_member(h, "kid", what));
  SIGIL_TRY(std::string url, string_member(h, "url", what));
  if (url != new_account_url) return make_error(Errc::unauthorized, "externalAccountBinding url does not match");
  auto jwk = parse_jwk(p.payload);
  if (!jwk || jwk->thumbprint != account_key.thumbprint)
    return make_error(Errc::unauthorized, "externalAccountBinding payload is not the account key");
  auto key = lookup(kid);
  if (!key) {
    if (key.error().code == Errc::not_found)
      return make_error(Errc::unauthorized, "externalAccountBinding names an unknown key");
    return key.error();
  }
  const std::string input = p.protected_b64 + "." + p.payload_b64;
  const Bytes mac = crypto::hmac_sha256(*key, bytes_of(input));
  if (!crypto::constant_time_equal(mac, p.signature))
    return make_error(Errc::unauthorized, "externalAccountBinding MAC does not verify");
  return kid;
}

Result<Jwk> verify_key_change(std::string_view inner_json, const std::string& outer_url, const std::string& account_url,
                              const Jwk& old_key) {
  const char* what = "keyChange inner JWS";
  SIGIL_TRY(Parts p, split(inner_json, what));
  const json& h = p.protected_header;
  SIGIL_TRY(std::string alg, string_member(h, "alg", what));
  if (!accepted_alg(alg)) return make_error(Errc::bad_signature_algorithm, "keyChange inner JWS alg is not accepted");
  if (h.contains("nonce")) return malformed("keyChange inner JWS must not carry a nonce");
  if (h.contains("kid") || !h.contains("jwk") || !h["jwk"].is_object())
    return malformed("keyChange inner JWS must carry \"jwk\" and no \"kid\"");
  SIGIL_TRY(std::string url, string_member(h, "url", what));
  if (url != outer_url) return malformed("keyChange inner JWS url does not match the outer url");
  SIGIL_TRY(Jwk new_key, parse_jwk(h["jwk"].dump()));
  Jws inner;
  inner.header.alg = alg;
  inner.protected_b64 = p.protected_b64;
  inner.payload_b64 = p.payload_b64;
  inner.signature = p.signature;
  SIGIL_TRY_STATUS(verify(inner, new_key.key));
  SIGIL_TRY(json payload, parse_object(p.payload, "keyChange payload"));
  SIGIL_TRY(std::string account, string_member(payload, "account", "keyChange payload"));
  if (account != account_url) return make_error(Errc::unauthorized, "keyChange payload names another account");
  if (!payload.contains("oldKey") || !payload["oldKey"].is_object())
    return malformed("keyChange payload: \"oldKey\" missing");
  SIGIL_TRY(Jwk named_old, parse_jwk(payload["oldKey"].dump()));
  if (named_old.thumbprint != old_key.thumbprint)
    return make_error(Errc::unauthorized, "keyChange oldKey is not the account's current key");
  return new_key;
}

std::string public_jwk(const crypto::PublicKey& pk) {
  switch (pk.algorithm) {
    case crypto::KeyAlgorithm::ec_p256:
    case crypto::KeyAlgorithm::ec_p384: {
      const std::size_t n = (pk.key.size() - 1) / 2;
      return json{{"crv", pk.algorithm == crypto::KeyAlgorithm::ec_p256 ? "P-256" : "P-384"},
                  {"kty", "EC"},
                  {"x", base64url_encode(ByteView(pk.key).subspan(1, n))},
                  {"y", base64url_encode(ByteView(pk.key).subspan(1 + n, n))}}
          .dump();
    }
    case crypto::KeyAlgorithm::rsa:
      return json{{"e", base64url_encode(pk.rsa_exponent)}, {"kty", "RSA"}, {"n", base64url_encode(pk.rsa_modulus)}}
          .dump();
    case crypto::KeyAlgorithm::ed25519:
      return json{{"crv", "Ed25519"}, {"kty", "OKP"}, {"x", base64url_encode(pk.key)}}.dump();
  }
  return "{}";
}

std::string alg_for(crypto::KeyAlgorithm key) {
  switch (key) {
    case crypto::KeyAlgorithm::ec_p256:
      return "ES256";
    case crypto::KeyAlgorithm::ec_p384:
      return "ES384";
    case crypto::KeyAlgorithm::rsa:
      return "RS256";
    case crypto::KeyAlgorithm::ed25519:
      return "EdDSA";
  }
  return "";
}

Result<std::string> sign(const crypto::Signer& signer, const std::string& protected_json, const std::string& payload) {
  const std::string prot = base64url_encode(bytes_of(protected_json));
  const std::string pay = base64url_encode(bytes_of(payload));
  const std::string input = prot + "." + pay;
  const auto a = signer.public_key().algorithm;
  if (a == crypto::KeyAlgorithm::rsa && signer.signature_algorithm() != crypto::SignatureAlgorithm::rsa_sha256)
    return make_error(Errc::invalid_argument, "RSA account keys sign with RS256 only");
  SIGIL_TRY(Bytes sig, signer.sign(bytes_of(input)));
  if (a == crypto::KeyAlgorithm::ec_p256 || a == crypto::KeyAlgorithm::ec_p384) {
    SIGIL_TRY(sig, ecdsa_der_to_raw(sig, a == crypto::KeyAlgorithm::ec_p256 ? 32 : 48));
  }
  return json{{"protected", prot}, {"payload", pay}, {"signature", base64url_encode(sig)}}.dump();
}

Result<Bytes> ecdsa_raw_to_der(ByteView raw) {
  if (raw.size() != 64 && raw.size() != 96) return malformed("ECDSA signature must be r || s");
  const std::size_t half = raw.size() / 2;
  crypto::der::Writer w;
  auto seq = w.begin(crypto::der::tag::kSequence);
  w.unsigned_integer(raw.subspan(0, half));
  w.unsigned_integer(raw.subspan(half));
  w.end(seq);
  return w.take();
}

Result<Bytes> ecdsa_der_to_raw(ByteView der, std::size_t coordinate_size) {
  SIGIL_TRY(crypto::der::Tlv seq, crypto::der::read_single(der, crypto::der::tag::kSequence));
  crypto::der::Reader r(seq.contents);
  Bytes out;
  for (int i = 0; i < 2; ++i) {
    SIGIL_TRY(crypto::der::Tlv n, r.expect(crypto::der::tag::kInteger));
    ByteView v = n.contents;
    while (!v.empty() && v[0] == 0) v = v.subspan(1);
    if (v.size() > coordinate_size) return malformed("ECDSA signature integer too large");
    out.insert(out.end(), coordinate_size - v.size(), 0);
    out.insert(out.end(), v.begin(), v.end());
  }
  if (!r.empty()) return malformed("trailing bytes in ECDSA signature");
  return out;
}

}  // namespace sigil::acme::jws
