// OCSP responses made here verify with OpenSSL's OCSP_basic_verify (CA-signed and delegated,
// ECDSA, RSA and Ed25519) and give the right statuses; ones we cannot encode are refused.
#include "ca/crypto/ocsp.hpp"

#include <doctest/doctest.h>

#include "tests/crypto/ocsp_fixture.hpp"

namespace sigil::test {

using namespace ocsp_fixture;

TEST_CASE("ocsp: responses verify with OpenSSL and give the right statuses") {
  for (KeyType type : kSignerTypes) {
    for (bool delegated : {false, true}) {
      CAPTURE(crypto::to_string(type));
      CAPTURE(delegated);
      Ca ca(type);
      const crypto::KeySigner& responder_key = cached_key(type, 30);
      const crypto::Signer& signer = delegated ? static_cast<const crypto::Signer&>(responder_key) : ca.key;

      // The client's request, made by OpenSSL, with a nonce.
      OcspReqPtr req(OCSP_REQUEST_new());
      REQUIRE(req);
      REQUIRE(OCSP_request_add0_id(req.get(), OCSP_cert_to_id(EVP_sha1(), ca.leaf_x509.get(), ca.x509.get())) !=
              nullptr);
      REQUIRE(OCSP_request_add1_nonce(req.get(), nullptr, 16) == 1);
      auto parsed_req = ocsp::parse_request(to_der_req(req.get()));
      REQUIRE(parsed_req.has_value());

      ocsp::ResponseSpec spec = three_statuses(ca, HashAlg::sha1, parsed_req->nonce);
      CHECK(spec.responses[0].id == parsed_req->ids[0]);
      if (delegated) spec.certs = {ca.responder_cert(responder_key)};
      auto der = ocsp::make_response(signer, spec);
      REQUIRE_MESSAGE(der.has_value(), (der ? "" : der.error().detail));

      auto resp = resp_from_der(*der);
      REQUIRE(OCSP_response_status(resp.get()) == OCSP_RESPONSE_STATUS_SUCCESSFUL);
      OcspBasicPtr bs(OCSP_response_get1_basic(resp.get()));
      REQUIRE(bs);

      auto store = store_at_t0(ca.x509.get());
      {
        // Directly signed: the CA certificate is the signer, found among `certs`. Delegated: the
        // responder certificate travels in the response.
        auto certs = stack_of({ca.x509.get()});
        const int ok = OCSP_basic_verify(bs.get(), delegated ? nullptr : certs.get(), store.get(), 0);
        CHECK_MESSAGE(ok == 1, "OCSP_basic_verify: " << openssl_errors());
      }
      {
        // Another CA as trust anchor: refused.
        Ca other(type, 1);
        auto other_store = store_at_t0(other.x509.get());
        auto certs = stack_of({ca.x509.get()});
        CHECK(OCSP_basic_verify(bs.get(), delegated ? nullptr : certs.get(), other_store.get(), 0) <= 0);
        ERR_clear_error();
      }
      CHECK(OCSP_check_nonce(req.get(), bs.get()) == 1);

      int status = -1, reason = -1;
      ASN1_GENERALIZEDTIME *rev = nullptr, *this_upd = nullptr, *next_upd = nullptr;
      auto good = openssl_id(EVP_sha1(), ca.x509.get(), kSerialGood);
      REQUIRE(OCSP_resp_find_status(bs.get(), good.get(), &status, &reason, &rev, &this_upd, &next_upd) == 1);
      CHECK(status == V_OCSP_CERTSTATUS_GOOD);
      CHECK(unix_of(this_upd) == to_unix(t0()));
      CHECK(unix_of(next_upd) == to_unix(t0() + Seconds(4 * 86400)));

      auto revoked = openssl_id(EVP_sha1(), ca.x509.get(), kSerialRevoked);
      REQUIRE(OCSP_resp_find_status(bs.get(), revoked.get(), &status, &reason, &rev, &this_upd, &next_upd) == 1);
      CHECK(status == V_OCSP_CERTSTATUS_REVOKED);
      CHECK(reason == OCSP_REVOKED_STATUS_KEYCOMPROMISE);
      CHECK(unix_of(rev) == to_unix(t0() - Seconds(7200)));
      CHECK(unix_of(this_upd) == to_unix(t0() + Seconds(1)));

      auto unknown = openssl_id(EVP_sha1(), ca.x509.get(), kSerialUnknown);
      REQUIRE(OCSP_resp_find_status(bs.get(), unknown.get(), &status, &reason, &rev, &this_upd, &next_upd) == 1);
      CHECK(status == V_OCSP_CERTSTATUS_UNKNOWN);

      // A serial not in the response is not found.
      auto absent = openssl_id(EVP_sha1(), ca.x509.get(), Bytes{0x42});
      CHECK(OCSP_resp_find_status(bs.get(), absent.get(), &status, &reason, &rev, &this_upd, &next_upd) == 0);

      // OCSP_basic_verify and our parser agree on the responder: byKey, SHA-1 of the signer's key.
      const ASN1_OCTET_STRING* rid_key = nullptr;
      const X509_NAME* rid_name = nullptr;
      REQUIRE(OCSP_resp_get0_id(bs.get(), &rid_key, &rid_name) == 1);
      REQUIRE(rid_key != nullptr);
      CHECK(rid_name == nullptr);
      CHECK(octets(rid_key) == ocsp::responder_key_hash(signer.public_key()));

      // Our parser round-trips it, and our verifier agrees.
      auto back = ocsp::parse_response(*der);
      REQUIRE_MESSAGE(back.has_value(), (back ? "" : back.error().detail));
      CHECK(back->status == ocsp::ResponseStatus::successful);
      CHECK(back->produced_at == spec.produced_at);
      REQUIRE(back->responses.size() == 3);
      for (std::size_t i = 0; i < 3; ++i) CHECK(back->responses[i] == spec.responses[i]);
      CHECK(back->nonce == spec.nonce);
      CHECK(back->certs == spec.certs);
      CHECK(back->sig_alg == signer.signature_algorithm());
      CHECK(back->responder_key_hash == ocsp::responder_key_hash(signer.public_key()));
      CHECK(back->responder_name.empty());
      CHECK(ocsp::verify_response(*back, signer.public_key()).has_value());
      auto wrong = ocsp::verify_response(*back, cached_key(type, 31).public_key());
      REQUIRE_FALSE(wrong.has_value());
      CHECK(wrong.error().code == Errc::unauthorized);

      // A flipped signature byte: OpenSSL and we both refuse.
      ocsp::ParsedResponse tampered = *back;
      tampered.signature[tampered.signature.size() / 2] ^= 0x01;
      auto bad_der =
          ocsp::assemble_response(tampered.tbs_response_data, tampered.sig_alg, tampered.signature, tampered.certs);
      auto bad_resp = resp_from_der(bad_der);
      OcspBasicPtr bad_bs(OCSP_response_get1_basic(bad_resp.get()));
      REQUIRE(bad_bs);
      auto certs = stack_of({ca.x509.get()});
      CHECK(OCSP_basic_verify(bad_bs.get(), delegated ? nullptr : certs.get(), store.get(), 0) <= 0);
      ERR_clear_error();
      CHECK_FALSE(ocsp::verify_response(tampered, signer.public_key()).has_value());
    }
  }
}

TEST_CASE("ocsp: a response without a nonce, in SHA-256 CertIDs, and the split signing path") {
  Ca ca(KeyType::ec_p256);
  ocsp::ResponseSpec spec = three_statuses(ca, HashAlg::sha256, std::nullopt);
  spec.responses.resize(1);
  auto der = ocsp::make_response(ca.key, spec);
  REQUIRE(der.has_value());
  auto resp = resp_from_der(*der);
  OcspBasicPtr bs(OCSP_response_get1_basic(resp.get()));
  REQUIRE(bs);
  CHECK(OCSP_BASICRESP_get_ext_count(bs.get()) == 0);
  OcspReqPtr req(OCSP_REQUEST_new());
  REQUIRE(OCSP_request_add0_id(req.get(), openssl_id(EVP_sha256(), ca.x509.get(), kSerialGood).release()));
  CHECK(OCSP_check_nonce(req.get(), bs.get()) == 2);  // neither has a nonce
  auto store = store_at_t0(ca.x509.get());
  auto certs = stack_of({ca.x509.get()});
  CHECK(OCSP_basic_verify(bs.get(), certs.get(), store.get(), 0) == 1);
  auto id = openssl_id(EVP_sha256(), ca.x509.get(), kSerialGood);
  int status = -1;
  CHECK(OCSP_resp_find_status(bs.get(), id.get(), &status, nullptr, nullptr, nullptr, nullptr) == 1);
  CHECK(status == V_OCSP_CERTSTATUS_GOOD);

  // encode_response_data + sign + assemble_response is make_response (Ed25519 is deterministic).
  const auto& ed = cached_key(KeyType::ed25519, 40);
  auto tbs = ocsp::encode_response_data(ocsp::responder_key_hash(ed.public_key()), spec);
  REQUIRE(tbs.has_value());
  auto sig = ed.sign(*tbs);
  REQUIRE(sig.has_value());
  auto whole = ocsp::make_response(ed, spec);
  REQUIRE(whole.has_value());
  CHECK(ocsp::assemble_response(*tbs, ed.signature_algorithm(), *sig, {}) == *whole);

  // The times are GeneralizedTime even before 2050, unlike certificate validity.
  const std::string stamp = "20300101000005Z";  // producedAt
  Bytes needle{tag::kGeneralizedTime, 15};
  needle.insert(needle.end(), stamp.begin(), stamp.end());
  CHECK(std::search(tbs->begin(), tbs->end(), needle.begin(), needle.end()) != tbs->end());
  const Bytes utc = {tag::kUtcTime, 13, '3', '0'};  // what a UTCTime in 2030 would start with
  CHECK(std::search(tbs->begin(), tbs->end(), utc.begin(), utc.end()) == tbs->end());
}

TEST_CASE("ocsp: reason codes; unspecified is left out") {
  Ca ca(KeyType::ec_p256);
  for (int code : {0, 1, 2, 3, 4, 5, 6, 8, 9, 10}) {
    CAPTURE(code);
    ocsp::ResponseSpec spec = three_statuses(ca, HashAlg::sha1, std::nullopt);
    spec.responses = {spec.responses[1]};
    spec.responses[0].reason = code;
    auto der = ocsp::make_response(ca.key, spec);
    REQUIRE(der.has_value());
    auto resp = resp_from_der(*der);
    OcspBasicPtr bs(OCSP_response_get1_basic(resp.get()));
    REQUIRE(bs);
    auto id = openssl_id(EVP_sha1(), ca.x509.get(), kSerialRevoked);
    int status = -1, reason = -2;
    REQUIRE(OCSP_resp_find_status(bs.get(), id.get(), &status, &reason, nullptr, nullptr, nullptr) == 1);
    CHECK(status == V_OCSP_CERTSTATUS_REVOKED);
    CHECK(reason == (code == 0 ? OCSP_REVOKED_STATUS_NOSTATUS : code));
    auto back = ocsp::parse_response(*der);
    REQUIRE(back.has_value());
    CHECK(back->responses[0].reason == (code == 0 ? std::nullopt : std::optional<int>(code)));
  }
  // No reason at all.
  ocsp::ResponseSpec spec = three_statuses(ca, HashAlg::sha1, std::nullopt);
  spec.responses = {spec.responses[1]};
  spec.responses[0].reason.reset();
  auto back = ocsp::parse_response(*ocsp::make_response(ca.key, spec));
  REQUIRE(back.has_value());
  CHECK_FALSE(back->responses[0].reason.has_value());
}

TEST_CASE("ocsp: error responses") {
  using RS = ocsp::ResponseStatus;
  for (RS s : {RS::malformed_request, RS::internal_error, RS::try_later, RS::sig_required, RS::unauthorized}) {
    CAPTURE(static_cast<int>(s));
    const Bytes der = ocsp::error_response(s);
    auto resp = resp_from_der(der);
    CHECK(OCSP_response_status(resp.get()) == static_cast<int>(s));
    OcspBasicPtr bs(OCSP_response_get1_basic(resp.get()));
    CHECK_FALSE(bs);
    ERR_clear_error();
    // Byte for byte what OpenSSL makes.
    OcspRespPtr theirs(OCSP_response_create(static_cast<int>(s), nullptr));
    REQUIRE(theirs);
    CHECK(to_der_resp(theirs.get()) == der);
    auto back = ocsp::parse_response(der);
    REQUIRE(back.has_value());
    CHECK(back->status == s);
    CHECK(back->responses.empty());
  }
}

TEST_CASE("ocsp: parse_response reads responses OpenSSL signs") {
  for (KeyType type : kSignerTypes) {
    for (unsigned long flags :
         {0UL, static_cast<unsigned long>(OCSP_RESPID_KEY), static_cast<unsigned long>(OCSP_NOCERTS)}) {
      CAPTURE(crypto::to_string(type));
      CAPTURE(flags);
      Ca ca(type);
      OcspReqPtr req(OCSP_REQUEST_new());
      REQUIRE(OCSP_request_add0_id(req.get(), openssl_id(EVP_sha256(), ca.x509.get(), kSerialGood).release()));
      REQUIRE(OCSP_request_add1_nonce(req.get(), nullptr, 20) == 1);
      auto parsed_req = ocsp::parse_request(to_der_req(req.get()));
      REQUIRE(parsed_req.has_value());

      OcspBasicPtr bs(OCSP_BASICRESP_new());
      REQUIRE(bs);
      Ptr<ASN1_TIME, ASN1_TIME_free> this_upd(ASN1_TIME_set(nullptr, static_cast<time_t>(to_unix(t0()))));
      Ptr<ASN1_TIME, ASN1_TIME_free> next_upd(ASN1_TIME_set(nullptr, static_cast<time_t>(to_unix(t0()) + 86400)));
      Ptr<ASN1_TIME, ASN1_TIME_free> rev(ASN1_TIME_set(nullptr, static_cast<time_t>(to_unix(t0()) - 60)));
      auto good = openssl_id(EVP_sha256(), ca.x509.get(), kSerialGood);
      auto revoked = openssl_id(EVP_sha256(), ca.x509.get(), kSerialRevoked);
      REQUIRE(OCSP_basic_add1_status(bs.get(), good.get(), V_OCSP_CERTSTATUS_GOOD, 0, nullptr, this_upd.get(),
                                     next_upd.get()));
      REQUIRE(OCSP_basic_add1_status(bs.get(), revoked.get(), V_OCSP_CERTSTATUS_REVOKED, OCSP_REVOKED_STATUS_SUPERSEDED,
                                     rev.get(), this_upd.get(), nullptr));
      REQUIRE(OCSP_copy_nonce(bs.get(), req.get()) == 1);
      auto key = private_pkey(ca.key);
      const EVP_MD* md = type == KeyType::ed25519 ? nullptr : EVP_sha256();
      REQUIRE_MESSAGE(OCSP_basic_sign(bs.get(), ca.x509.get(), key.get(), md, nullptr, flags) == 1, openssl_errors());
      OcspRespPtr resp(OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs.get()));
      REQUIRE(resp);

      auto back = ocsp::parse_response(to_der_resp(resp.get()));
      REQUIRE_MESSAGE(back.has_value(), (back ? "" : back.error().detail));
      REQUIRE(back->responses.size() == 2);
      CHECK(back->responses[0].id == parsed_req->ids[0]);
      CHECK(back->responses[0].status == ocsp::CertStatus::good);
      CHECK(back->responses[0].this_update == t0());
      CHECK(back->responses[0].next_update == t0() + Seconds(86400));
      CHECK(back->responses[1].id == expected_id(HashAlg::sha256, ca, kSerialRevoked));
      CHECK(back->responses[1].status == ocsp::CertStatus::revoked);
      CHECK(back->responses[1].reason == std::optional<int>(OCSP_REVOKED_STATUS_SUPERSEDED));
      CHECK(back->responses[1].revoked_at == t0() - Seconds(60));
      CHECK(back->responses[1].next_update == TimePoint{});  // absent
      CHECK(back->nonce == parsed_req->nonce);
      if (flags & OCSP_RESPID_KEY) {
        CHECK(back->responder_key_hash == ocsp::responder_key_hash(ca.key.public_key()));
        CHECK(back->responder_name.empty());
      } else {
        CHECK(back->responder_key_hash.empty());
        CHECK(back->responder_name == Bytes(ca.cert.tbs().subject.begin(), ca.cert.tbs().subject.end()));
      }
      CHECK(back->certs.size() == ((flags & OCSP_NOCERTS) ? 0u : 1u));
      if (!back->certs.empty()) CHECK(back->certs[0] == ca.cert.der());
      CHECK(ocsp::verify_response(*back, ca.key.public_key()).has_value());
    }
  }
}

TEST_CASE("ocsp: response refusals") {
  Ca ca(KeyType::ec_p256);
  auto der = ocsp::make_response(ca.key, three_statuses(ca, HashAlg::sha1, crypto::random_bytes(8)));
  REQUIRE(der.has_value());
  for (std::size_t n = 0; n < der->size(); ++n) {
    auto r = ocsp::parse_response(ByteView(der->data(), n));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::malformed);
  }
  Bytes trailing = *der;
  trailing.push_back(0);
  CHECK(ocsp::parse_response(trailing).error().code == Errc::malformed);
  // Unknown status 4 (unused), and a successful status without bytes.
  for (std::uint8_t code : {std::uint8_t{0}, std::uint8_t{4}, std::uint8_t{7}}) {
    const Bytes bare = {0x30, 0x03, 0x0a, 0x01, code};
    CHECK(ocsp::parse_response(bare).error().code == Errc::malformed);
  }
  // A request is not a response.
  CHECK(ocsp::parse_response(ocsp::encode_request({{expected_id(HashAlg::sha1, ca, kSerialGood)}, std::nullopt}))
            .error()
            .code == Errc::malformed);
  // RFC 5280's "no expiry" 99991231235959Z is past what TimePoint holds (2262): refused, not UB.
  for (const char* when : {"99991231235959Z", "22620411234717Z", "19491231235959Z"}) {
    CAPTURE(when);
    const std::string produced = "20300101000005Z";
    Bytes patched = *der;
    auto at = std::search(patched.begin(), patched.end(), produced.begin(), produced.end());
    REQUIRE(at != patched.end());
    std::copy(when, when + 15, at);
    auto r = ocsp::parse_response(patched);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::malformed);
  }
  // Mutations never crash.
  for (std::size_t i = 0; i < der->size(); ++i) {
    Bytes m = *der;
    m[i] ^= 0x80;
    auto r = ocsp::parse_response(m);
    if (!r) CHECK(r.error().code == Errc::malformed);
  }
}

TEST_CASE("ocsp: make_response refuses specs it cannot encode") {
  Ca ca(KeyType::ec_p256);
  auto expect_invalid = [&](const ocsp::ResponseSpec& spec, const char* what) {
    INFO(what);
    auto r = ocsp::make_response(ca.key, spec);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::invalid_argument);
  };
  const ocsp::ResponseSpec base = three_statuses(ca, HashAlg::sha1, std::nullopt);
  REQUIRE(ocsp::make_response(ca.key, base).has_value());
  ocsp::ResponseSpec s = base;
  s.responses.clear();
  expect_invalid(s, "no responses");
  s = base;
  s.responses[1].reason = 7;
  expect_invalid(s, "reason 7");
  s = base;
  s.responses[1].reason = 11;
  expect_invalid(s, "reason 11");
  s = base;
  s.responses[0].id.issuer_key_hash.pop_back();
  expect_invalid(s, "short key hash");
  s = base;
  s.responses[0].id.serial = {0x00, 0x05};
  expect_invalid(s, "non-minimal serial");
  s = base;
  s.responses[0].id.serial.clear();
  expect_invalid(s, "empty serial");
  s = base;
  s.responses[0].next_update = s.responses[0].this_update - Seconds(1);
  expect_invalid(s, "nextUpdate before thisUpdate");
  s = base;
  s.nonce = Bytes(33, 1);
  expect_invalid(s, "33-octet nonce");
  s = base;
  s.nonce = Bytes{};
  expect_invalid(s, "empty nonce");
  s = base;
  s.certs = {Bytes{0x01, 0x02}};
  expect_invalid(s, "a certificate that is not DER");
}

}  // namespace sigil::test
