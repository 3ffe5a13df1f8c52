// OCSP requests: made by OpenSSL (API and `openssl ocsp`) they parse to the right CertIDs and
// nonces; ours parse with OpenSSL; malformed ones are refused, never crash.
#include "ca/crypto/ocsp.hpp"

#include <doctest/doctest.h>

#include "tests/crypto/ocsp_fixture.hpp"
#include "tests/support/temp_dir.hpp"

namespace sigil::test {

using namespace ocsp_fixture;

TEST_CASE("ocsp: issuer hashes and CertIDs equal OpenSSL's") {
  for (KeyType type : kSignerTypes) {
    CAPTURE(crypto::to_string(type));
    Ca ca(type);
    struct Case {
      HashAlg h;
      const EVP_MD* md;
    };
    const Case cases[] = {{HashAlg::sha1, EVP_sha1()},
                          {HashAlg::sha256, EVP_sha256()},
                          {HashAlg::sha384, EVP_sha384()},
                          {HashAlg::sha512, EVP_sha512()}};
    for (const Case& c : cases) {
      OcspIdPtr id(OCSP_cert_to_id(c.md, ca.leaf_x509.get(), ca.x509.get()));
      REQUIRE(id);
      ASN1_OCTET_STRING* name_hash = nullptr;
      ASN1_OCTET_STRING* key_hash = nullptr;
      ASN1_OBJECT* md_oid = nullptr;
      ASN1_INTEGER* serial = nullptr;
      REQUIRE(OCSP_id_get0_info(&name_hash, &md_oid, &key_hash, &serial, id.get()) == 1);
      CHECK(OBJ_obj2nid(md_oid) == EVP_MD_get_type(c.md));
      CHECK(ocsp::issuer_name_hash(c.h, ca.cert.tbs().subject) == octets(name_hash));
      CHECK(ocsp::issuer_key_hash(c.h, ca.cert.public_key()) == octets(key_hash));
      CHECK(ocsp::issuer_name_hash(c.h, ca.cert.tbs().subject).size() == ocsp::digest_size(c.h));
      const ocsp::CertId ours = ocsp::make_cert_id(c.h, ca.cert, kSerialGood);
      CHECK(ours.serial == integer_contents(serial));
      CHECK(ours.serial == Bytes(ca.leaf.tbs().serial.begin(), ca.leaf.tbs().serial.end()));
    }
  }
  // The responderID byKey hash is OpenSSL's X509_pubkey_digest with SHA-1.
  Ca ca(KeyType::ec_p256);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  REQUIRE(X509_pubkey_digest(ca.x509.get(), EVP_sha1(), md, &len) == 1);
  CHECK(ocsp::responder_key_hash(ca.cert.public_key()) == Bytes(md, md + len));
  // A serial with its high bit set gets the 0x00 an INTEGER needs.
  CHECK(ocsp::make_cert_id(HashAlg::sha1, ca.cert, kSerialUnknown).serial == kSerialUnknown);
  CHECK(ocsp::make_cert_id(HashAlg::sha1, ca.cert, Bytes{0x00, 0x00, 0x05}).serial == Bytes{0x05});
}

TEST_CASE("ocsp: requests made by OpenSSL parse to the right CertIDs and nonce") {
  Ca ca(KeyType::ec_p256);
  for (const EVP_MD* md : {EVP_sha1(), EVP_sha256()}) {
    const HashAlg h = md == EVP_sha1() ? HashAlg::sha1 : HashAlg::sha256;
    CAPTURE(EVP_MD_get0_name(md));

    SUBCASE("one CertID from OCSP_cert_to_id, with a nonce") {
      OcspReqPtr req(OCSP_REQUEST_new());
      REQUIRE(req);
      REQUIRE(OCSP_request_add0_id(req.get(), OCSP_cert_to_id(md, ca.leaf_x509.get(), ca.x509.get())) != nullptr);
      const Bytes nonce = crypto::random_bytes(16);
      REQUIRE(OCSP_request_add1_nonce(req.get(), const_cast<unsigned char*>(nonce.data()),
                                      static_cast<int>(nonce.size())) == 1);
      const Bytes der = to_der_req(req.get());
      auto parsed = ocsp::parse_request(der);
      REQUIRE_MESSAGE(parsed.has_value(), (parsed ? "" : parsed.error().detail));
      REQUIRE(parsed->ids.size() == 1);
      CHECK(parsed->ids[0] == expected_id(h, ca, kSerialGood));
      REQUIRE(parsed->nonce.has_value());
      CHECK(*parsed->nonce == nonce);
      // Our encoder writes the same bytes as OpenSSL's for the same request.
      CHECK(ocsp::encode_request(*parsed) == der);
    }
    SUBCASE("a random nonce of OpenSSL's choosing, and three CertIDs") {
      OcspReqPtr req(OCSP_REQUEST_new());
      REQUIRE(req);
      for (const Bytes* s : {&kSerialGood, &kSerialRevoked, &kSerialUnknown})
        REQUIRE(OCSP_request_add0_id(req.get(), openssl_id(md, ca.x509.get(), *s).release()) != nullptr);
      REQUIRE(OCSP_request_add1_nonce(req.get(), nullptr, 32) == 1);
      const Bytes der = to_der_req(req.get());
      auto parsed = ocsp::parse_request(der);
      REQUIRE(parsed.has_value());
      REQUIRE(parsed->ids.size() == 3);
      CHECK(parsed->ids[0] == expected_id(h, ca, kSerialGood));
      CHECK(parsed->ids[1] == expected_id(h, ca, kSerialRevoked));
      CHECK(parsed->ids[2] == expected_id(h, ca, kSerialUnknown));
      REQUIRE(parsed->nonce.has_value());
      CHECK(parsed->nonce->size() == 32);
      CHECK(ocsp::encode_request(*parsed) == der);
    }
    SUBCASE("no nonce") {
      OcspReqPtr req(OCSP_REQUEST_new());
      REQUIRE(req);
      REQUIRE(OCSP_request_add0_id(req.get(), openssl_id(md, ca.x509.get(), kSerialRevoked).release()) != nullptr);
      auto parsed = ocsp::parse_request(to_der_req(req.get()));
      REQUIRE(parsed.has_value());
      CHECK(parsed->ids == std::vector<ocsp::CertId>{expected_id(h, ca, kSerialRevoked)});
      CHECK_FALSE(parsed->nonce.has_value());
    }
    SUBCASE("signed, with a requestorName: accepted, the signature ignored") {
      OcspReqPtr req(OCSP_REQUEST_new());
      REQUIRE(req);
      REQUIRE(OCSP_request_add0_id(req.get(), openssl_id(md, ca.x509.get(), kSerialGood).release()) != nullptr);
      auto key = private_pkey(ca.key);
      REQUIRE(OCSP_request_sign(req.get(), ca.x509.get(), key.get(), EVP_sha256(), nullptr, 0) == 1);
      REQUIRE(OCSP_request_is_signed(req.get()) == 1);
      auto parsed = ocsp::parse_request(to_der_req(req.get()));
      REQUIRE_MESSAGE(parsed.has_value(), (parsed ? "" : parsed.error().detail));
      CHECK(parsed->ids == std::vector<ocsp::CertId>{expected_id(h, ca, kSerialGood)});
    }
  }
}

TEST_CASE("ocsp: our requests parse with OpenSSL") {
  Ca ca(KeyType::ec_p256);
  ocsp::Request q;
  q.ids = {expected_id(HashAlg::sha1, ca, kSerialGood), expected_id(HashAlg::sha256, ca, kSerialUnknown)};
  q.nonce = crypto::random_bytes(32);
  const Bytes der = ocsp::encode_request(q);
  auto req = req_from_der(der);
  REQUIRE(OCSP_request_onereq_count(req.get()) == 2);
  auto want0 = openssl_id(EVP_sha1(), ca.x509.get(), kSerialGood);
  auto want1 = openssl_id(EVP_sha256(), ca.x509.get(), kSerialUnknown);
  CHECK(OCSP_id_cmp(OCSP_onereq_get0_id(OCSP_request_onereq_get0(req.get(), 0)), want0.get()) == 0);
  CHECK(OCSP_id_cmp(OCSP_onereq_get0_id(OCSP_request_onereq_get0(req.get(), 1)), want1.get()) == 0);
  auto back = ocsp::parse_request(der);
  REQUIRE(back.has_value());
  CHECK(back->ids == q.ids);
  CHECK(back->nonce == q.nonce);
}

TEST_CASE("ocsp: requests from the openssl command line") {
  if (std::system("command -v openssl >/dev/null 2>&1") != 0) {
    MESSAGE("openssl binary not found; skipped");
    return;
  }
  Ca ca(KeyType::rsa_2048);
  const TempDir tmp("ocsp-test");
  const std::filesystem::path& dir = tmp.path();
  {
    std::ofstream(dir / "ca.pem") << ca.cert.pem();
    std::ofstream(dir / "leaf.pem") << ca.leaf.pem();
  }
  for (const char* digest : {"sha1", "sha256"}) {
    CAPTURE(digest);
    const std::string cmd = "openssl ocsp -" + std::string(digest) + " -issuer " + (dir / "ca.pem").string() +
                            " -cert " + (dir / "leaf.pem").string() + " -serial 0x7f01020304050607 -reqout " +
                            (dir / "req.der").string() + " >/dev/null 2>&1";
    REQUIRE(std::system(cmd.c_str()) == 0);
    std::ifstream in(dir / "req.der", std::ios::binary);
    const Bytes der((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto parsed = ocsp::parse_request(der);
    REQUIRE_MESSAGE(parsed.has_value(), (parsed ? "" : parsed.error().detail));
    const HashAlg h = std::string(digest) == "sha1" ? HashAlg::sha1 : HashAlg::sha256;
    CHECK(parsed->ids ==
          std::vector<ocsp::CertId>{expected_id(h, ca, kSerialGood), expected_id(h, ca, kSerialRevoked)});
    REQUIRE(parsed->nonce.has_value());  // the command adds one by default
    CHECK(parsed->nonce->size() == 16);
  }
}

TEST_CASE("ocsp: request refusals") {
  Ca ca(KeyType::ec_p256);
  const ocsp::CertId id = expected_id(HashAlg::sha1, ca, kSerialGood);
  const Bytes nonce16 = crypto::random_bytes(16);
  const RawExt nonce_ext{oid_bytes(crypto::oid::ocsp_nonce), false, nonce_value(nonce16)};
  const Bytes unknown_oid = {0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x15, 0x7f};  // 1.3.6.1.4.1.311.21.127

  // The well-formed baseline parses.
  ocsp::Request q{{id, expected_id(HashAlg::sha256, ca, kSerialRevoked)}, nonce16};
  const Bytes good = ocsp::encode_request(q);
  REQUIRE(ocsp::parse_request(good).has_value());

  SUBCASE("truncated at every length, and trailing bytes") {
    for (std::size_t n = 0; n < good.size(); ++n) {
      CAPTURE(n);
      require_malformed(ocsp::parse_request(ByteView(good.data(), n)), "truncated");
    }
    Bytes trailing = good;
    trailing.push_back(0x00);
    require_malformed(ocsp::parse_request(trailing), "trailing byte");
    trailing.back() = 0x05;
    trailing.push_back(0x00);  // a whole trailing NULL
    require_malformed(ocsp::parse_request(trailing), "trailing NULL");
  }
  SUBCASE("number of CertIDs: 1..16") {
    ocsp::Request many;
    for (int i = 0; i < 16; ++i)
      many.ids.push_back(expected_id(HashAlg::sha1, ca, Bytes{0x01, static_cast<std::uint8_t>(i)}));
    auto sixteen = ocsp::parse_request(ocsp::encode_request(many));
    REQUIRE(sixteen.has_value());
    CHECK(sixteen->ids.size() == 16);
    many.ids.push_back(id);
    require_malformed(ocsp::parse_request(ocsp::encode_request(many)), "17 CertIDs");
    require_malformed(ocsp::parse_request(ocsp::encode_request(ocsp::Request{})), "no CertID");
  }
  SUBCASE("nonce sizes (RFC 8954: 1..32)") {
    for (std::size_t n : {std::size_t{1}, std::size_t{16}, std::size_t{32}}) {
      auto r = ocsp::parse_request(ocsp::encode_request({{id}, Bytes(n, 0xab)}));
      REQUIRE(r.has_value());
      CHECK(r->nonce == Bytes(n, 0xab));
    }
    require_malformed(ocsp::parse_request(ocsp::encode_request({{id}, Bytes{}})), "empty nonce");
    require_malformed(ocsp::parse_request(ocsp::encode_request({{id}, Bytes(33, 0xab)})), "33-octet nonce");
    require_malformed(ocsp::parse_request(ocsp::encode_request({{id}, Bytes(1000, 0xab)})), "long nonce");
    // OpenSSL would send 33 octets if told to.
    OcspReqPtr req(OCSP_REQUEST_new());
    REQUIRE(OCSP_request_add0_id(req.get(), openssl_id(EVP_sha1(), ca.x509.get(), kSerialGood).release()));
    REQUIRE(OCSP_request_add1_nonce(req.get(), nullptr, 33) == 1);
    require_malformed(ocsp::parse_request(to_der_req(req.get())), "OpenSSL 33-octet nonce");
    // A nonce not wrapped in its OCTET STRING (some old clients) is not a nonce.
    require_malformed(
        ocsp::parse_request(raw_request({{raw_cert_id(id)}, {{oid_bytes(crypto::oid::ocsp_nonce), false, nonce16}}})),
        "unwrapped nonce");
    // A critical nonce is still a nonce: Sigil knows it.
    auto crit = ocsp::parse_request(
        raw_request({{raw_cert_id(id)}, {{oid_bytes(crypto::oid::ocsp_nonce), true, nonce_value(nonce16)}}}));
    REQUIRE(crit.has_value());
    CHECK(crit->nonce == nonce16);
    // Twice is once too many.
    require_malformed(ocsp::parse_request(raw_request({{raw_cert_id(id)}, {nonce_ext, nonce_ext}})), "two nonces");
  }
  SUBCASE("extensions: unknown ignored, unknown critical refused") {
    auto ok = ocsp::parse_request(raw_request({{raw_cert_id(id)}, {{unknown_oid, false, {0x05, 0x00}}, nonce_ext}}));
    REQUIRE(ok.has_value());
    CHECK(ok->nonce == nonce16);
    require_malformed(ocsp::parse_request(raw_request({{raw_cert_id(id)}, {{unknown_oid, true, {0x05, 0x00}}}})),
                      "critical unknown request extension");
    RawRequest single{{raw_cert_id(id)}};
    single.single_exts = {{unknown_oid, false, {0x05, 0x00}}};
    CHECK(ocsp::parse_request(raw_request(single)).has_value());
    single.single_exts[0].critical = true;
    require_malformed(ocsp::parse_request(raw_request(single)), "critical unknown singleRequestExtension");
    RawRequest empty{{raw_cert_id(id)}};
    empty.empty_exts = true;
    require_malformed(ocsp::parse_request(raw_request(empty)), "empty Extensions");
    // DER: an explicit critical FALSE is not the default's encoding.
    require_malformed(ocsp::parse_request(raw_request({{raw_cert_id(id)}, {{unknown_oid, false, {0x05, 0x00}, true}}})),
                      "explicit critical FALSE");
  }
  SUBCASE("hash algorithms") {
    // Absent parameters are accepted too.
    auto absent = ocsp::parse_request(raw_request({{raw_cert_id(id, 0)}}));
    REQUIRE(absent.has_value());
    CHECK(absent->ids[0] == id);
    require_malformed(ocsp::parse_request(raw_request({{raw_cert_id(id, 2)}})), "INTEGER parameters");
    const Bytes sha224 = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04};
    const Bytes md5 = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05};
    require_malformed(
        ocsp::parse_request(raw_request({{raw_cert_id(sha224, 1, Bytes(28, 1), Bytes(28, 2), id.serial)}})), "SHA-224");
    require_malformed(ocsp::parse_request(raw_request({{raw_cert_id(md5, 1, Bytes(16, 1), Bytes(16, 2), id.serial)}})),
                      "MD5");
    // OpenSSL's CertID with SHA-224 is refused the same way.
    OcspReqPtr req(OCSP_REQUEST_new());
    REQUIRE(OCSP_request_add0_id(req.get(), openssl_id(EVP_sha224(), ca.x509.get(), kSerialGood).release()));
    require_malformed(ocsp::parse_request(to_der_req(req.get())), "OpenSSL SHA-224 CertID");
    // Hashes of the wrong length for the algorithm.
    require_malformed(ocsp::parse_request(raw_request(
                          {{raw_cert_id(crypto::oid::sha1, 1, Bytes(32, 1), id.issuer_key_hash, id.serial)}})),
                      "SHA-256-sized name hash under SHA-1");
    require_malformed(ocsp::parse_request(
                          raw_request({{raw_cert_id(crypto::oid::sha256, 1, Bytes(32, 1), Bytes(20, 2), id.serial)}})),
                      "short key hash");
  }
  SUBCASE("serial numbers") {
    require_malformed(ocsp::parse_request(raw_request({{raw_cert_id(crypto::oid::sha1, 1, id.issuer_name_hash,
                                                                    id.issuer_key_hash, Bytes{0x00, 0x01})}})),
                      "non-minimal serial");
    require_malformed(ocsp::parse_request(raw_request(
                          {{raw_cert_id(crypto::oid::sha1, 1, id.issuer_name_hash, id.issuer_key_hash, Bytes{})}})),
                      "empty serial");
    // Negative (DER-valid) serials parse: the lookup will answer unknown.
    auto neg = ocsp::parse_request(
        raw_request({{raw_cert_id(crypto::oid::sha1, 1, id.issuer_name_hash, id.issuer_key_hash, Bytes{0xff, 0x01})}}));
    REQUIRE(neg.has_value());
    CHECK(neg->ids[0].serial == Bytes{0xff, 0x01});
  }
  SUBCASE("version, requestorName, signature") {
    RawRequest v{{raw_cert_id(id)}};
    v.version = 0;
    CHECK(ocsp::parse_request(raw_request(v)).has_value());
    v.version = 1;
    require_malformed(ocsp::parse_request(raw_request(v)), "version 2");
    RawRequest named{{raw_cert_id(id)}};
    named.requestor = true;
    named.signature = true;
    named.exts = {nonce_ext};
    auto r = ocsp::parse_request(raw_request(named));
    REQUIRE(r.has_value());
    CHECK(r->nonce == nonce16);
  }
  SUBCASE("BER and other shapes") {
    Bytes indefinite = good;
    indefinite[1] = 0x80;  // indefinite length
    require_malformed(ocsp::parse_request(indefinite), "indefinite length");
    require_malformed(ocsp::parse_request(ocsp::error_response(ocsp::ResponseStatus::try_later)),
                      "a response is not a request");
  }
  SUBCASE("single-byte mutations: refused or parsed, never a crash") {
    int parsed = 0, refused = 0;
    for (std::size_t i = 0; i < good.size(); ++i) {
      for (std::uint8_t x : {std::uint8_t{0x01}, std::uint8_t{0x80}, std::uint8_t{0xff}}) {
        Bytes m = good;
        m[i] ^= x;
        auto r = ocsp::parse_request(m);
        if (r) {
          ++parsed;
          CHECK(!r->ids.empty());
          CHECK(r->ids.size() <= ocsp::kMaxRequestIds);
        } else {
          ++refused;
          CHECK(r.error().code == Errc::malformed);
        }
      }
    }
    CHECK(refused > 0);
    CHECK(parsed > 0);  // flips inside hashes and the nonce still parse
  }
}

}  // namespace sigil::test
