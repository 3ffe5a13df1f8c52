// acme/jws: JWK parsing and thumbprints, JWS structure and signatures for every accepted
// algorithm, EAB and key-change inner JWS, and nonces (acme/model has model_test.cpp).
#include <doctest/doctest.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "acme/jws/jws.hpp"
#include "acme/jws/nonce.hpp"
#include "ca/base/encoding.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "tests/support/temp_dir.hpp"

using namespace sigil;
using namespace sigil::acme;
using crypto::ByteView;
using nlohmann::json;

namespace {

ByteView bytes(const std::string& s) { return ByteView(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()); }
std::string b64(const std::string& s) { return base64url_encode(bytes(s)); }

// The public JWK of a generated key, as a client would send it.
json jwk_of(const crypto::KeySigner& k) {
  const auto& pk = k.public_key();
  switch (pk.algorithm) {
    case crypto::KeyAlgorithm::ec_p256:
    case crypto::KeyAlgorithm::ec_p384: {
      const std::size_t n = (pk.key.size() - 1) / 2;
      return {{"kty", "EC"},
              {"crv", pk.algorithm == crypto::KeyAlgorithm::ec_p256 ? "P-256" : "P-384"},
              {"x", base64url_encode(ByteView(pk.key).subspan(1, n))},
              {"y", base64url_encode(ByteView(pk.key).subspan(1 + n, n))}};
    }
    case crypto::KeyAlgorithm::rsa:
      return {{"kty", "RSA"}, {"n", base64url_encode(pk.rsa_modulus)}, {"e", base64url_encode(pk.rsa_exponent)}};
    case crypto::KeyAlgorithm::ed25519:
      return {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", base64url_encode(pk.key)}};
  }
  return {};
}

const char* alg_of(const crypto::KeySigner& k) {
  switch (k.public_key().algorithm) {
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

// A flattened JWS signed by `k` over `header` (alg filled in unless given) and `payload`.
std::string sign(const crypto::KeySigner& k, json header, const std::string& payload) {
  if (!header.contains("alg")) header["alg"] = alg_of(k);
  const std::string input = b64(header.dump()) + "." + b64(payload);
  auto sig = k.sign(bytes(input));
  REQUIRE(sig);
  Bytes s = *sig;
  const auto a = k.public_key().algorithm;
  if (a == crypto::KeyAlgorithm::ec_p256 || a == crypto::KeyAlgorithm::ec_p384) {
    auto raw = jws::ecdsa_der_to_raw(s, a == crypto::KeyAlgorithm::ec_p256 ? 32 : 48);
    REQUIRE(raw);
    s = *raw;
  }
  return json{{"protected", b64(header.dump())}, {"payload", b64(payload)}, {"signature", base64url_encode(s)}}.dump();
}

std::unique_ptr<crypto::KeySigner> key(crypto::KeyType t) {
  auto k = crypto::KeySigner::generate(t);
  REQUIRE(k);
  return std::move(*k);
}

}  // namespace

TEST_CASE("RFC 7638 thumbprint of the RFC's own example key") {
  const std::string jwk =
      R"({"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"})";
  auto k = jws::parse_jwk(jwk);
  REQUIRE(k);
  CHECK(k->thumbprint == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  CHECK(k->key.algorithm == crypto::KeyAlgorithm::rsa);
  CHECK(k->key.bits == 2048);
}

TEST_CASE("JWKs: every accepted key type parses; private, weak and unknown keys are refused") {
  for (auto t :
       {crypto::KeyType::ec_p256, crypto::KeyType::ec_p384, crypto::KeyType::rsa_2048, crypto::KeyType::ed25519}) {
    auto k = key(t);
    auto parsed = jws::parse_jwk(jwk_of(*k).dump());
    REQUIRE(parsed);
    CHECK(parsed->key.spki == k->public_key().spki);  // the same key, byte for byte
    CHECK(parsed->thumbprint.size() == 43);
  }
  auto ec = key(crypto::KeyType::ec_p256);
  json priv = jwk_of(*ec);
  priv["d"] = "AAAA";
  CHECK(jws::parse_jwk(priv.dump()).error().code == Errc::malformed);
  json off_curve = jwk_of(*ec);
  off_curve["y"] = base64url_encode(Bytes(32, 7));
  CHECK_FALSE(jws::parse_jwk(off_curve.dump()));
  CHECK(jws::parse_jwk(R"({"kty":"EC","crv":"P-521","x":"AA","y":"AA"})").error().code == Errc::bad_public_key);
  CHECK(jws::parse_jwk(R"({"kty":"oct","k":"AAAA"})").error().code == Errc::malformed);
  CHECK(jws::parse_jwk(R"({"kty":"oct"})").error().code == Errc::bad_public_key);
  // RSA 1024 is below the key policy.
  const std::string small_n = base64url_encode(Bytes(128, 0xc3));
  CHECK(jws::parse_jwk(json{{"kty", "RSA"}, {"n", small_n}, {"e", "AQAB"}}.dump()).error().code ==
        Errc::bad_public_key);
}

TEST_CASE("JwkCache: one parse per key text, refusals not remembered, a full cache starts afresh") {
  jws::JwkCache cache(2);
  const std::string a = jwk_of(*key(crypto::KeyType::ec_p256)).dump();
  const std::string b = jwk_of(*key(crypto::KeyType::ec_p384)).dump();
  const std::string c = jwk_of(*key(crypto::KeyType::ed25519)).dump();
  auto first = cache.parse(a);
  REQUIRE(first);
  CHECK((*first)->thumbprint == jws::parse_jwk(a)->thumbprint);
  auto again = cache.parse(a);
  REQUIRE(again);
  CHECK(again->get() == first->get());  // remembered, not parsed again
  auto other = cache.parse(b);
  REQUIRE(other);
  CHECK((*other)->key.spki != (*first)->key.spki);
  // The same refusal every time (nothing remembered for it).
  json off_curve = json::parse(a);
  off_curve["y"] = base64url_encode(Bytes(32, 7));
  CHECK_FALSE(cache.parse(off_curve.dump()));
  CHECK_FALSE(cache.parse(off_curve.dump()));
  // A third key fills the capacity of 2: the cache starts afresh, so `a` parses anew.
  REQUIRE(cache.parse(c));
  auto fresh = cache.parse(a);
  REQUIRE(fresh);
  CHECK(fresh->get() != first->get());
  CHECK((*fresh)->key.spki == (*first)->key.spki);
}

TEST_CASE("JWS: each algorithm verifies; a flipped bit or the wrong key does not") {
  for (auto t :
       {crypto::KeyType::ec_p256, crypto::KeyType::ec_p384, crypto::KeyType::rsa_2048, crypto::KeyType::ed25519}) {
    auto k = key(t);
    const std::string body =
        sign(*k, {{"nonce", "n1"}, {"url", "https://ca/acme/new-order"}, {"jwk", jwk_of(*k)}}, R"({"identifiers":[]})");
    auto j = jws::parse(body);
    REQUIRE(j);
    CAPTURE(alg_of(*k));
    CHECK(j->header.nonce == "n1");
    CHECK(j->header.url == "https://ca/acme/new-order");
    REQUIRE(j->header.jwk);
    CHECK(jws::verify(*j, j->header.jwk->key));
    j->signature[3] ^= 1;
    CHECK(jws::verify(*j, j->header.jwk->key).error().code == Errc::malformed);
    auto other = key(t);
    auto j2 = jws::parse(body);
    CHECK_FALSE(jws::verify(*j2, other->public_key()));
  }
}

TEST_CASE("JWS structure: alg none/HS256, jwk+kid, unprotected header, missing url are refused") {
  auto k = key(crypto::KeyType::ec_p256);
  const json base = {{"nonce", "n"}, {"url", "https://ca/x"}, {"kid", "https://ca/acme/acct/1"}};
  for (const char* alg : {"none", "HS256", "RS512", "ES512"}) {
    json h = base;
    h["alg"] = alg;
    auto j = jws::parse(sign(*k, h, "{}"));
    CAPTURE(alg);
    REQUIRE_FALSE(j);
    CHECK(j.error().code == Errc::bad_signature_algorithm);
  }
  json both = base;
  both["jwk"] = jwk_of(*k);
  CHECK(jws::parse(sign(*k, both, "{}")).error().code == Errc::malformed);
  json no_url = base;
  no_url.erase("url");
  CHECK(jws::parse(sign(*k, no_url, "{}")).error().code == Errc::malformed);
  json b64false = base;
  b64false["b64"] = false;
  CHECK(jws::parse(sign(*k, b64false, "{}")).error().code == Errc::malformed);
  json doc = json::parse(sign(*k, base, "{}"));
  doc["header"] = {{"kid", "x"}};
  CHECK(jws::parse(doc.dump()).error().code == Errc::malformed);
  CHECK(jws::parse("not json").error().code == Errc::malformed);
  CHECK(jws::parse(R"({"protected":"!!","payload":"","signature":"AA"})").error().code == Errc::malformed);
  // ES256 header on a P-384 key: the alg does not fit the key.
  auto k384 = key(crypto::KeyType::ec_p384);
  json h = base;
  h["alg"] = "ES256";
  auto j = jws::parse(sign(*k384, h, "{}"));
  REQUIRE(j);
  CHECK(jws::verify(*j, k384->public_key()).error().code == Errc::bad_signature_algorithm);
  // POST-as-GET: an empty payload.
  auto g = jws::parse(sign(*k, base, ""));
  REQUIRE(g);
  CHECK(g->post_as_get());
  CHECK(jws::verify(*g, k->public_key()));
}

TEST_CASE("External account binding: the MAC, the url and the bound key are all checked") {
  auto account = key(crypto::KeyType::ec_p256);
  auto account_jwk = jws::parse_jwk(jwk_of(*account).dump());
  REQUIRE(account_jwk);
  const Bytes mac_key = crypto::random_bytes(32);
  const std::string url = "https://ca/acme/new-account";
  auto make = [&](const std::string& kid, const std::string& u, const Bytes& mk, const json& payload_jwk) {
    const std::string prot = b64(json{{"alg", "HS256"}, {"kid", kid}, {"url", u}}.dump());
    const std::string pay = b64(payload_jwk.dump());
    const std::string input = prot + "." + pay;
    return json{
        {"protected", prot}, {"payload", pay}, {"signature", base64url_encode(crypto::hmac_sha256(mk, bytes(input)))}}
        .dump();
  };
  auto lookup = [&](const std::string& kid) -> Result<Bytes> {
    if (kid == "k1") return mac_key;
    return make_error(Errc::not_found, "no");
  };
  auto ok = jws::verify_eab(make("k1", url, mac_key, jwk_of(*account)), *account_jwk, url, lookup);
  REQUIRE(ok);
  CHECK(*ok == "k1");
  CHECK(jws::verify_eab(make("k1", url, crypto::random_bytes(32), jwk_of(*account)), *account_jwk, url, lookup)
            .error()
            .code == Errc::unauthorized);
  CHECK(jws::verify_eab(make("k2", url, mac_key, jwk_of(*account)), *account_jwk, url, lookup).error().code ==
        Errc::unauthorized);
  CHECK(jws::verify_eab(make("k1", "https://ca/other", mac_key, jwk_of(*account)), *account_jwk, url, lookup)
            .error()
            .code == Errc::unauthorized);
  auto other = key(crypto::KeyType::ec_p256);
  CHECK(jws::verify_eab(make("k1", url, mac_key, jwk_of(*other)), *account_jwk, url, lookup).error().code ==
        Errc::unauthorized);
}

TEST_CASE("keyChange inner JWS: signed by the new key, naming the account and its old key") {
  auto old_key = key(crypto::KeyType::ec_p256);
  auto new_key = key(crypto::KeyType::ed25519);
  auto old_jwk = jws::parse_jwk(jwk_of(*old_key).dump());
  REQUIRE(old_jwk);
  const std::string url = "https://ca/acme/key-change", acct = "https://ca/acme/acct/A";
  const json payload = {{"account", acct}, {"oldKey", jwk_of(*old_key)}};
  auto got = jws::verify_key_change(sign(*new_key, {{"url", url}, {"jwk", jwk_of(*new_key)}}, payload.dump()), url,
                                    acct, *old_jwk);
  REQUIRE(got);
  CHECK(got->key.spki == new_key->public_key().spki);
  // Wrong account, wrong old key, a nonce inside, another url: refused.
  CHECK_FALSE(jws::verify_key_change(sign(*new_key, {{"url", url}, {"jwk", jwk_of(*new_key)}},
                                          json{{"account", acct + "x"}, {"oldKey", jwk_of(*old_key)}}.dump()),
                                     url, acct, *old_jwk));
  CHECK_FALSE(jws::verify_key_change(sign(*new_key, {{"url", url}, {"jwk", jwk_of(*new_key)}},
                                          json{{"account", acct}, {"oldKey", jwk_of(*new_key)}}.dump()),
                                     url, acct, *old_jwk));
  CHECK_FALSE(jws::verify_key_change(
      sign(*new_key, {{"url", url}, {"jwk", jwk_of(*new_key)}, {"nonce", "n"}}, payload.dump()), url, acct, *old_jwk));
  CHECK_FALSE(jws::verify_key_change(sign(*new_key, {{"url", url + "2"}, {"jwk", jwk_of(*new_key)}}, payload.dump()),
                                     url, acct, *old_jwk));
  // Signed by the old key while naming the new one in jwk: the signature does not verify.
  CHECK_FALSE(jws::verify_key_change(
      sign(*old_key, {{"url", url}, {"jwk", jwk_of(*new_key)}, {"alg", "EdDSA"}}, payload.dump()), url, acct,
      *old_jwk));
}

// Nonces (RFC 8555 §6.5) over the real SQLite store's spent-nonce record. Two NonceStores with
// one key and one store are two nodes of a cluster.
namespace {
// Forwards to the store and counts what reaches it.
class CountingCluster final : public store::ClusterStore {
 public:
  explicit CountingCluster(store::ClusterStore& inner) : inner_(inner) {}
  Result<bool> spend_nonce(const std::string& n, std::int64_t expires_at, std::int64_t now) override {
    ++spends;
    if (fail) return make_error(Errc::unavailable, "the database is failing over");
    return inner_.spend_nonce(n, expires_at, now);
  }
  Status heartbeat(const store::NodeRecord& node) override { return inner_.heartbeat(node); }
  Result<std::vector<store::NodeRecord>> nodes(std::int64_t since) override { return inner_.nodes(since); }
  Result<bool> hold_crl_signer(const std::string& id, int shard) override { return inner_.hold_crl_signer(id, shard); }
  int spends = 0;
  bool fail = false;

 private:
  store::ClusterStore& inner_;
};

struct Nodes {
  Nodes() : db(open_db()), spy(*db), a(make(key)), b(make(key)) {}
  std::unique_ptr<store::Store> open_db() {
    auto s = store::sqlite::open((dir / "sigil.db").string());
    REQUIRE(s.has_value());
    return std::move(*s);
  }
  jws::NonceStore make(const Bytes& k) {
    auto n = jws::NonceStore::create(k, spy, clock);
    REQUIRE(n.has_value());
    return std::move(*n);
  }
  test::TempDir dir{"nonce"};
  FakeClock clock{from_unix(1'800'000'000)};
  Bytes key = crypto::random_bytes(jws::kNonceKeySize);
  std::unique_ptr<store::Store> db;
  CountingCluster spy;
  jws::NonceStore a, b;
};

// `nonce` with one decoded byte changed, re-encoded.
std::string tampered(const std::string& nonce, std::size_t at) {
  auto raw = base64url_decode(nonce);
  REQUIRE(raw.has_value());
  (*raw)[at] ^= 0x01;
  return base64url_encode(*raw);
}
}  // namespace

TEST_CASE("nonces: one node's nonce redeems once on another node sharing key and store") {
  Nodes n;
  const std::string nonce = n.a.issue();
  CHECK(nonce.size() == 54);  // 40 bytes: expiry, 16 random, 16 of MAC
  CHECK(n.a.issue() != nonce);
  auto first = n.b.redeem(nonce);  // issued by a, redeemed on b
  REQUIRE(first.has_value());
  CHECK(*first);
  auto again_b = n.b.redeem(nonce);
  auto again_a = n.a.redeem(nonce);  // a replay on either node
  REQUIRE(again_b.has_value());
  REQUIRE(again_a.has_value());
  CHECK_FALSE(*again_b);
  CHECK_FALSE(*again_a);
  // The other way round too.
  const std::string from_b = n.b.issue();
  CHECK(n.a.redeem(from_b).value());
}

TEST_CASE("nonces: tampered, foreign-key, expired, malformed and re-spelled ones are refused") {
  Nodes n;
  const std::string nonce = n.a.issue();
  for (std::size_t at : {0u, 7u, 8u, 23u, 24u, 39u})  // expiry, random part, MAC
    CHECK_FALSE(n.a.redeem(tampered(nonce, at)).value());
  Bytes other_key = n.key;
  other_key[0] ^= 0x80;
  jws::NonceStore stranger = n.make(other_key);
  CHECK_FALSE(n.a.redeem(stranger.issue()).value());  // a node with another key
  CHECK_FALSE(n.a.redeem("").value());
  CHECK_FALSE(n.a.redeem("not-base64url!").value());
  CHECK_FALSE(n.a.redeem(nonce.substr(0, 53)).value());
  CHECK_FALSE(n.a.redeem(nonce + "AA").value());
  // The last character carries 2 unused bits: another spelling of the same bytes is refused,
  // or it would be a second spent record for one nonce.
  std::string respelled = nonce;
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  respelled.back() = alphabet[alphabet.find(respelled.back()) ^ 1];  // the lowest (unused) bit
  if (base64url_decode(respelled) && *base64url_decode(respelled) == *base64url_decode(nonce))
    CHECK_FALSE(n.a.redeem(respelled).value());
  CHECK(n.spy.spends == 0);  // none of these reached the store
  // Expiry: 15 minutes by default.
  const std::string old = n.a.issue();
  n.clock.advance(Seconds(15 * 60));
  CHECK_FALSE(n.b.redeem(old).value());
  CHECK(n.a.redeem(nonce).value() == false);  // issued at the same time: expired too
  const std::string fresh = n.a.issue();
  n.clock.advance(Seconds(15 * 60 - 1));
  CHECK(n.b.redeem(fresh).value());
}

TEST_CASE("nonces: a spent record that does not outlive the process refuses nonces from before its start") {
  Nodes n;
  const std::string before = n.a.issue();
  const std::string spent = n.a.issue();
  REQUIRE(n.a.redeem(spent).value());
  n.clock.advance(Seconds(1));
  // The process restarted (SQLite: the spent record was in its memory, now empty).
  auto fresh_db = n.open_db();
  CountingCluster forgetful(*fresh_db);
  auto restarted = jws::NonceStore::create(n.key, forgetful, n.clock, jws::kNonceLifetime, n.clock.now());
  REQUIRE(restarted.has_value());
  CHECK_FALSE(restarted->redeem(spent).value());   // or it could be replayed
  CHECK_FALSE(restarted->redeem(before).value());  // issued by the previous process
  CHECK(restarted->redeem(restarted->issue()).value());
  CHECK(forgetful.spends == 1);
}

TEST_CASE("nonces: a store that cannot record the spend fails the redeem, never accepts") {
  Nodes n;
  const std::string nonce = n.a.issue();
  n.spy.fail = true;
  auto r = n.b.redeem(nonce);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == Errc::unavailable);
  n.spy.fail = false;
  CHECK(n.b.redeem(nonce).value());  // it was not spent: the client's retry may use it
}

TEST_CASE("nonces: issuing keeps nothing, and only genuine nonces reach the store") {
  Nodes n;
  // Issuing is stateless: 20,000 nonces, no store write, nothing held (NonceStore has no
  // container to grow; the spent record holds only redeemed ones, until their expiry).
  std::vector<std::string> issued;
  for (int i = 0; i < 20'000; ++i) issued.push_back(n.a.issue());
  CHECK(n.spy.spends == 0);
  std::sort(issued.begin(), issued.end());
  CHECK(std::adjacent_find(issued.begin(), issued.end()) == issued.end());
  // Junk and forgeries are refused before the store, so they cannot fill the spent record.
  for (int i = 0; i < 10'000; ++i) REQUIRE_FALSE(n.a.redeem(tampered(issued[static_cast<std::size_t>(i)], 30)).value());
  CHECK(n.spy.spends == 0);
  CHECK(n.b.redeem(issued.back()).value());
  CHECK(n.spy.spends == 1);
}
