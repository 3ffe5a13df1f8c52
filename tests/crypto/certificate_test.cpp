// Certificates, general names, name constraints and distinguished names: Sigil encodes, OpenSSL judges.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "ca/base/encoding.hpp"
#include "ca/crypto/crypto.hpp"
#include "ca/crypto/oids.hpp"
#include "ca/crypto/x509.hpp"
#include "tests/support/keys.hpp"
#include "tests/support/openssl.hpp"

namespace {

using namespace sigil;
using namespace sigil::crypto;
using test::cached_key;
using test::kAllKeyTypes;
using test::key_name;
namespace tag = der::tag;
using GN = GeneralName::Type;

// ---- certificates -----------------------------------------------------------------------------

TEST_CASE("encode_tbs -> sign: OpenSSL parses the certificate and X509_verify accepts it") {
  for (KeyType ca_type : kAllKeyTypes) {
    for (KeyType leaf_type : kAllKeyTypes) {
      const std::string names = key_name(ca_type) + " issues " + key_name(leaf_type);
      CAPTURE(names);
      const KeySigner& ca_key = cached_key(ca_type);
      const Bytes root_der = test::sign_spec(test::ca_spec(ca_key, "Root " + key_name(ca_type)), ca_key);
      auto root_x = test::x509_from_der(root_der);
      CHECK(X509_verify(root_x.get(), X509_get0_pubkey(root_x.get())) == 1);
      const Certificate root = test::parse_cert(root_der);

      const KeySigner& leaf_key = cached_key(leaf_type, 1);
      const Bytes leaf_der = test::sign_spec(test::leaf_spec(ca_key, root, leaf_key.public_key()), ca_key);
      auto leaf_x = test::x509_from_der(leaf_der);
      CHECK(X509_verify(leaf_x.get(), X509_get0_pubkey(root_x.get())) == 1);
      CHECK(X509_check_issued(root_x.get(), leaf_x.get()) == X509_V_OK);
      CHECK(X509_verify(leaf_x.get(), X509_get0_pubkey(leaf_x.get())) != 1);
      ERR_clear_error();

      const Certificate leaf = test::parse_cert(leaf_der);
      CHECK(verify_issued_by(leaf, root).has_value());
      CHECK(verify_issued_by(root, root).has_value());
      CHECK(verify_issued_by(leaf, leaf).error().code == Errc::unauthorized);
    }
  }
}

TEST_CASE("certificate extensions as OpenSSL sees them") {
  const KeySigner& ca_key = cached_key(KeyType::ec_p256);
  const Certificate root = test::parse_cert(test::sign_spec(test::ca_spec(ca_key, "Root"), ca_key));
  const KeySigner& leaf_key = cached_key(KeyType::rsa_2048, 1);
  auto spec = test::leaf_spec(ca_key, root, leaf_key.public_key());
  spec.key_usage = ku::digital_signature | ku::key_encipherment;
  spec.ext_key_usage = {Eku::server_auth, Eku::client_auth};
  auto x = test::x509_from_der(test::sign_spec(spec, ca_key));

  CHECK(X509_get_version(x.get()) == 2);
  CHECK(test::bn_hex(X509_get0_serialNumber(x.get())) == to_hex(spec.serial));
  CHECK(X509_NAME_cmp(X509_get_issuer_name(x.get()), X509_get_subject_name(test::x509_from_der(root.der()).get())) ==
        0);
  CHECK(X509_cmp_time(X509_get0_notBefore(x.get()), nullptr) != 0);
  int day = 0, sec = 0;
  test::Ptr<ASN1_TIME, ASN1_TIME_free> nb(ASN1_TIME_set(nullptr, static_cast<time_t>(to_unix(spec.not_before))));
  REQUIRE(ASN1_TIME_diff(&day, &sec, nb.get(), X509_get0_notBefore(x.get())) == 1);
  CHECK((day == 0 && sec == 0));

  // basicConstraints: critical, cA FALSE. keyUsage: critical. EKU, SKI, AKI: not critical.
  CHECK(test::ext_critical(x.get(), NID_basic_constraints) == 1);
  CHECK(X509_check_ca(x.get()) == 0);
  CHECK(test::ext_critical(x.get(), NID_key_usage) == 1);
  CHECK(X509_get_key_usage(x.get()) == (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
  CHECK(test::ext_critical(x.get(), NID_ext_key_usage) == 0);
  CHECK(X509_get_extended_key_usage(x.get()) == (XKU_SSL_SERVER | XKU_SSL_CLIENT));
  CHECK(test::ext_critical(x.get(), NID_subject_key_identifier) == 0);
  const ASN1_OCTET_STRING* skid = X509_get0_subject_key_id(x.get());
  REQUIRE(skid != nullptr);
  CHECK(Bytes(ASN1_STRING_get0_data(skid), ASN1_STRING_get0_data(skid) + ASN1_STRING_length(skid)) ==
        spec.subject_key_id);
  const ASN1_OCTET_STRING* akid = X509_get0_authority_key_id(x.get());
  REQUIRE(akid != nullptr);
  CHECK(Bytes(ASN1_STRING_get0_data(akid), ASN1_STRING_get0_data(akid) + ASN1_STRING_length(akid)) ==
        *root.subject_key_id());

  // SAN: not critical (the subject is not empty), names in order.
  CHECK(test::ext_critical(x.get(), NID_subject_alt_name) == 0);
  test::GenNamesPtr sans(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x.get(), NID_subject_alt_name, nullptr, nullptr)));
  REQUIRE(sans);
  REQUIRE(sk_GENERAL_NAME_num(sans.get()) == 3);
  CHECK(sk_GENERAL_NAME_value(sans.get(), 0)->type == GEN_DNS);
  CHECK(sk_GENERAL_NAME_value(sans.get(), 1)->type == GEN_IPADD);
  CHECK(X509_check_host(x.get(), "www.example.internal", 0, 0, nullptr) == 1);
  CHECK(X509_check_ip_asc(x.get(), "10.1.2.3", 0) == 1);
  CHECK(X509_check_ip_asc(x.get(), "2001:db8::1", 0) == 1);
  CHECK(X509_check_host(x.get(), "other.example.internal", 0, 0, nullptr) == 0);

  // CDP and AIA.
  test::CdpPtr cdp(
      static_cast<CRL_DIST_POINTS*>(X509_get_ext_d2i(x.get(), NID_crl_distribution_points, nullptr, nullptr)));
  REQUIRE(cdp);
  REQUIRE(sk_DIST_POINT_num(cdp.get()) == 1);
  DIST_POINT* dp = sk_DIST_POINT_value(cdp.get(), 0);
  REQUIRE(dp->distpoint != nullptr);
  REQUIRE(dp->distpoint->type == 0);
  GENERAL_NAME* uri = sk_GENERAL_NAME_value(dp->distpoint->name.fullname, 0);
  REQUIRE(uri->type == GEN_URI);
  CHECK(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri->d.uniformResourceIdentifier))) ==
        spec.crl_urls[0]);
  test::AiaPtr aia(static_cast<AUTHORITY_INFO_ACCESS*>(X509_get_ext_d2i(x.get(), NID_info_access, nullptr, nullptr)));
  REQUIRE(aia);
  REQUIRE(sk_ACCESS_DESCRIPTION_num(aia.get()) == 2);
  CHECK(OBJ_obj2nid(sk_ACCESS_DESCRIPTION_value(aia.get(), 0)->method) == NID_ad_OCSP);
  CHECK(OBJ_obj2nid(sk_ACCESS_DESCRIPTION_value(aia.get(), 1)->method) == NID_ad_ca_issuers);
}

TEST_CASE("SAN is critical exactly when the subject is empty; CA certificates carry pathLen") {
  const KeySigner& ca_key = cached_key(KeyType::ec_p384);
  auto root_spec = test::ca_spec(ca_key, "Root");
  root_spec.path_len = 0;
  const Bytes root_der = test::sign_spec(root_spec, ca_key);
  auto rx = test::x509_from_der(root_der);
  CHECK(X509_check_ca(rx.get()) >= 1);
  test::BcPtr bc(static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(rx.get(), NID_basic_constraints, nullptr, nullptr)));
  REQUIRE(bc);
  CHECK(bc->ca != 0);
  REQUIRE(bc->pathlen != nullptr);
  CHECK(ASN1_INTEGER_get(bc->pathlen) == 0);
  CHECK(X509_get_key_usage(rx.get()) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  CHECK(X509_get_ext_by_NID(rx.get(), NID_authority_key_identifier, -1) < 0);  // self-signed: no AKI

  const Certificate root = test::parse_cert(root_der);
  auto spec = test::leaf_spec(ca_key, root, cached_key(KeyType::ed25519, 1).public_key());
  spec.subject = encode_name("");
  spec.sans = {{GN::uri, "spiffe://example.internal/ns/default/sa/web"}};
  auto x = test::x509_from_der(test::sign_spec(spec, ca_key));
  CHECK(X509_NAME_entry_count(X509_get_subject_name(x.get())) == 0);
  CHECK(test::ext_critical(x.get(), NID_subject_alt_name) == 1);
  CHECK(X509_verify(x.get(), X509_get0_pubkey(rx.get())) == 1);
}

TEST_CASE("Certificate::from_der round trip and accessors") {
  const KeySigner& ca_key = cached_key(KeyType::ec_p256);
  const Bytes root_der = test::sign_spec(test::ca_spec(ca_key, "Root"), ca_key);
  const Certificate root = test::parse_cert(root_der);
  const KeySigner& leaf_key = cached_key(KeyType::ec_p384, 1);
  const auto spec = test::leaf_spec(ca_key, root, leaf_key.public_key());
  const Bytes der = test::sign_spec(spec, ca_key);
  Certificate c = test::parse_cert(der);

  CHECK(c.der() == der);
  CHECK(c.tbs().version == 2);
  CHECK(c.serial_hex() == to_hex(spec.serial));
  CHECK(Bytes(c.tbs().issuer.begin(), c.tbs().issuer.end()) == spec.issuer);
  CHECK(Bytes(c.tbs().subject.begin(), c.tbs().subject.end()) == spec.subject);
  CHECK(c.tbs().not_before == spec.not_before);
  CHECK(c.tbs().not_after == spec.not_after);
  CHECK(Bytes(c.tbs().spki.begin(), c.tbs().spki.end()) == spec.spki);
  CHECK(c.public_key().algorithm == KeyAlgorithm::ec_p384);
  CHECK(c.signature_algorithm() == SignatureAlgorithm::ecdsa_sha256);
  CHECK(c.subject_key_id().value() == spec.subject_key_id);
  CHECK_FALSE(c.is_ca());
  CHECK(root.is_ca());

  // Extension decoders on what encode_tbs wrote.
  auto bc = decode_basic_constraints(c.tbs().find(oid::basic_constraints)->value);
  REQUIRE(bc.has_value());
  CHECK_FALSE(bc->ca);
  CHECK_FALSE(bc->path_len.has_value());
  CHECK(decode_key_usage(c.tbs().find(oid::key_usage)->value).value() == ku::digital_signature);
  auto eku = decode_ext_key_usage(c.tbs().find(oid::ext_key_usage)->value);
  REQUIRE(eku.has_value());
  REQUIRE(eku->size() == 1);
  CHECK(oid::equal((*eku)[0], oid::kp_server_auth));
  CHECK(decode_general_names(c.tbs().find(oid::subject_alt_name)->value).value() == spec.sans);
  CHECK(decode_authority_key_id(c.tbs().find(oid::authority_key_identifier)->value).value() == spec.authority_key_id);
  CHECK(c.tbs().find(oid::name_constraints) == nullptr);

  // Moving keeps the views valid (they point into the moved bytes).
  Certificate moved = std::move(c);
  CHECK(moved.serial_hex() == to_hex(spec.serial));
  CHECK(decode_general_names(moved.tbs().find(oid::subject_alt_name)->value).value() == spec.sans);

  // PEM and chains.
  auto again = Certificate::from_pem(moved.pem());
  REQUIRE(again.has_value());
  CHECK(again->der() == der);
  auto chain = certificates_from_pem(moved.pem() + root.pem());
  REQUIRE(chain.has_value());
  REQUIRE(chain->size() == 2);
  CHECK((*chain)[1].der() == root_der);
  CHECK_FALSE(certificates_from_pem("").has_value());
  CHECK_FALSE(certificates_from_pem(moved.pem() + pem_encode("PRIVATE KEY", Bytes{1, 2})).has_value());
  CHECK_FALSE(Certificate::from_pem(moved.pem() + root.pem()).has_value());
}

TEST_CASE("Certificate::from_der refuses trailing bytes, truncation and mismatched algorithms") {
  const KeySigner& ca_key = cached_key(KeyType::ec_p256);
  auto spec = test::ca_spec(ca_key, "Root");
  const Bytes der = test::sign_spec(spec, ca_key);
  Bytes trailing = der;
  trailing.push_back(0x00);
  CHECK(Certificate::from_der(trailing).error().code == Errc::malformed);
  for (std::size_t cut : {std::size_t{1}, std::size_t{10}, der.size() / 2, der.size() - 1})
    CHECK_FALSE(Certificate::from_der(Bytes(der.begin(), der.begin() + static_cast<std::ptrdiff_t>(cut))).has_value());
  // The outer algorithm says ecdsa-with-SHA384 while the TBS says SHA256.
  auto tbs = encode_tbs(spec);
  REQUIRE(tbs.has_value());
  auto sig = ca_key.sign(*tbs);
  REQUIRE(sig.has_value());
  CHECK(Certificate::from_der(assemble_signed(*tbs, SignatureAlgorithm::ecdsa_sha384, *sig)).error().code ==
        Errc::malformed);
}

TEST_CASE("encode_tbs refuses bad serials and bad IP addresses") {
  const KeySigner& ca_key = cached_key(KeyType::ec_p256);
  auto spec = test::ca_spec(ca_key, "Root");
  spec.serial = {};
  CHECK_FALSE(encode_tbs(spec).has_value());
  spec.serial = {0x80, 0x01};
  CHECK_FALSE(encode_tbs(spec).has_value());
  spec.serial = Bytes(21, 0x01);
  CHECK_FALSE(encode_tbs(spec).has_value());
  spec.serial = Bytes(20, 0x7f);
  CHECK(encode_tbs(spec).has_value());
  spec.sans = {{GN::ip, "10.0.0.300"}};
  CHECK(encode_tbs(spec).error().code == Errc::invalid_argument);
}

TEST_CASE("decode_name_constraints reads DNS, IP, email and URI subtrees") {
  const Bytes v = test::openssl_extension_value(
      NID_name_constraints,
      "permitted;DNS:example.internal,permitted;IP:10.0.0.0/255.0.0.0,permitted;IP:fd00::/ffff::,"
      "permitted;email:example.internal,excluded;DNS:bad.example.internal,excluded;URI:.evil.example");
  auto nc = decode_name_constraints(v);
  REQUIRE(nc.has_value());
  const std::vector<GeneralName> permitted = {
      {GN::dns, "example.internal"}, {GN::ip, "10.0.0.0/8"}, {GN::ip, "fd00::/16"}, {GN::email, "example.internal"}};
  const std::vector<GeneralName> excluded = {{GN::dns, "bad.example.internal"}, {GN::uri, ".evil.example"}};
  CHECK(nc->permitted == permitted);
  CHECK(nc->excluded == excluded);
  // An iPAddress constraint must be an address and a mask of the same size.
  der::Writer w;
  const auto m = w.begin(tag::kSequence);
  const auto p = w.begin(tag::context_constructed(0));
  const auto st = w.begin(tag::kSequence);
  w.tlv(tag::context(7), Bytes{10, 0, 0, 0, 255});
  w.end(st);
  w.end(p);
  w.end(m);
  CHECK_FALSE(decode_name_constraints(w.bytes()).has_value());
}

TEST_CASE("encode_name_constraints: byte for byte what OpenSSL encodes, and it reads back") {
  NameConstraints nc;
  // A range written with host bits is masked: 10.1.2.3/8 is 10.0.0.0/255.0.0.0 on the wire.
  nc.permitted = {{GN::dns, "corp.test"},
                  {GN::ip, "10.1.2.3/8"},
                  {GN::ip, "fd00::1"},
                  {GN::uri, "td.test"},
                  {GN::email, ".corp.test"}};
  nc.excluded = {{GN::ip, "0.0.0.0/0"}, {GN::ip, "::/0"}};
  auto v = encode_name_constraints(nc);
  REQUIRE_MESSAGE(v.has_value(), (v ? "" : v.error().detail));
  const Bytes want = test::openssl_extension_value(
      NID_name_constraints,
      "permitted;DNS:corp.test,permitted;IP:10.0.0.0/255.0.0.0,"
      "permitted;IP:fd00::1/ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff,permitted;URI:td.test,permitted;email:.corp.test,"
      "excluded;IP:0.0.0.0/0.0.0.0,excluded;IP:::/::");
  CHECK(to_hex(*v) == to_hex(want));
  auto back = decode_name_constraints(*v);
  REQUIRE(back.has_value());
  const std::vector<GeneralName> permitted = {{GN::dns, "corp.test"},
                                              {GN::ip, "10.0.0.0/8"},
                                              {GN::ip, "fd00::1/128"},
                                              {GN::uri, "td.test"},
                                              {GN::email, ".corp.test"}};
  CHECK(back->permitted == permitted);
  CHECK(back->excluded == std::vector<GeneralName>{{GN::ip, "0.0.0.0/0"}, {GN::ip, "::/0"}});

  // RFC 5280: at least one of the two lists; IA5String names; a real range.
  CHECK(encode_name_constraints({}).error().code == Errc::invalid_argument);
  CHECK(encode_name_constraints({{{GN::dns, "bücher.test"}}, {}}).error().code == Errc::invalid_argument);
  for (const char* bad : {"10.0.0.0/33", "10.0.0.0/", "10.0.0/8", "::/129", "10.0.0.0/8x"}) {
    CAPTURE(bad);
    CHECK(encode_name_constraints({{{GN::ip, bad}}, {}}).error().code == Errc::invalid_argument);
  }
}

TEST_CASE("encode_tbs writes nameConstraints critical, and OpenSSL reads the certificate") {
  const KeySigner& key = cached_key(KeyType::ec_p256);
  CertificateSpec spec = test::ca_spec(key, "Constrained");
  spec.name_constraints = NameConstraints{{{GN::dns, "corp.test"}}, {{GN::ip, "0.0.0.0/0"}}};
  crypto::Certificate c = test::parse_cert(test::sign_spec(spec, key));
  const Extension* e = c.tbs().find(oid::name_constraints);
  REQUIRE(e != nullptr);
  CHECK(e->critical);
  auto x = test::x509_from_der(c.der());
  CHECK(test::ext_critical(x.get(), NID_name_constraints) == 1);
  test::Ptr<NAME_CONSTRAINTS, NAME_CONSTRAINTS_free> nc(
      static_cast<NAME_CONSTRAINTS*>(X509_get_ext_d2i(x.get(), NID_name_constraints, nullptr, nullptr)));
  REQUIRE(nc);
  REQUIRE(sk_GENERAL_SUBTREE_num(nc->permittedSubtrees) == 1);
  CHECK(sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, 0)->base->type == GEN_DNS);
  REQUIRE(sk_GENERAL_SUBTREE_num(nc->excludedSubtrees) == 1);
  CHECK(sk_GENERAL_SUBTREE_value(nc->excludedSubtrees, 0)->base->type == GEN_IPADD);
}

TEST_CASE("decode_general_names refuses forms Sigil cannot check") {
  // registeredID and otherName from OpenSSL's encoder.
  for (const char* conf : {"RID:1.2.3.4", "otherName:1.2.3.4;UTF8:x"}) {
    const std::string c = conf;
    CAPTURE(c);
    auto r = decode_general_names(test::openssl_extension_value(NID_subject_alt_name, conf));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::bad_csr);
  }
  // Non-printable DNS names and IPs of the wrong length.
  auto one = [](std::uint8_t t, const Bytes& v) {
    der::Writer w;
    const auto m = w.begin(tag::kSequence);
    w.tlv(t, v);
    w.end(m);
    return w.take();
  };
  CHECK_FALSE(decode_general_names(one(tag::context(2), as_bytes("a b.example"))).has_value());
  CHECK_FALSE(decode_general_names(one(tag::context(2), Bytes{'a', 0x00, 'b'})).has_value());
  CHECK_FALSE(decode_general_names(one(tag::context(7), Bytes{1, 2, 3})).has_value());
  der::Writer empty;
  const auto e = empty.begin(tag::kSequence);
  empty.end(e);
  CHECK_FALSE(decode_general_names(empty.bytes()).has_value());
  // What OpenSSL encodes from text decodes to the same names.
  auto ok = decode_general_names(test::openssl_extension_value(
      NID_subject_alt_name, "DNS:a.example,IP:192.0.2.1,IP:2001:db8::5,URI:spiffe://td/x,email:me@a.example"));
  REQUIRE(ok.has_value());
  const std::vector<GeneralName> want = {{GN::dns, "a.example"},
                                         {GN::ip, "192.0.2.1"},
                                         {GN::ip, "2001:db8::5"},
                                         {GN::uri, "spiffe://td/x"},
                                         {GN::email, "me@a.example"}};
  CHECK(*ok == want);
}

TEST_CASE("general names: text form and IP conversions") {
  for (const char* text : {"dns:a.example", "ip:10.0.0.1", "ip:2001:db8::1", "uri:spiffe://td/a", "email:a@b.c"}) {
    const std::string t = text;
    auto g = parse_general_name_text(t);
    REQUIRE(g.has_value());
    CHECK(to_string(*g) == t);
  }
  CHECK_FALSE(parse_general_name_text("a.example").has_value());
  CHECK_FALSE(parse_general_name_text("ftp:x").has_value());
  CHECK(ip_to_bytes("10.0.0.1").value() == Bytes{10, 0, 0, 1});
  CHECK(ip_to_bytes("::1").value().size() == 16);
  CHECK(ip_from_bytes(Bytes{192, 0, 2, 1}).value() == "192.0.2.1");
  CHECK(ip_from_bytes(*ip_to_bytes("2001:0db8:0:0::1")).value() == "2001:db8::1");
  CHECK_FALSE(ip_to_bytes("10.0.0").has_value());
  CHECK_FALSE(ip_to_bytes("a.example").has_value());
  CHECK_FALSE(ip_from_bytes(Bytes{1, 2, 3}).has_value());
}

// ---- names -------------------------------------------------------------------------------------

Bytes name_der(X509_NAME* n) {
  unsigned char* der = nullptr;
  const int len = i2d_X509_NAME(n, &der);
  REQUIRE(len > 0);
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

TEST_CASE("name_to_string and name_common_name") {
  CHECK(name_to_string(encode_name("host.example", "Org")).value() == "CN=host.example,O=Org");
  CHECK(name_to_string(encode_name("", "")).value() == "");
  CHECK(name_is_empty(encode_name("")));
  CHECK_FALSE(name_is_empty(encode_name("x")));
  CHECK(name_common_name(encode_name("host.example", "Org")).value() == std::optional<std::string>("host.example"));
  CHECK_FALSE(name_common_name(encode_name("", "Org")).value().has_value());

  // A name made by OpenSSL with every attribute Sigil knows, plus escaping and a non-string value.
  test::Ptr<X509_NAME, X509_NAME_free> n(X509_NAME_new());
  auto add = [&](const char* field, const char* value) {
    REQUIRE(X509_NAME_add_entry_by_txt(n.get(), field, MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(value), -1,
                                       -1, 0) == 1);
  };
  add("C", "DE");
  add("ST", "Berlin");
  add("L", "Berlin");
  add("O", "Acme, Inc.");
  add("OU", "Ops+Sec");
  add("CN", "a=b");
  add("serialNumber", "42");
  add("emailAddress", "ops@example.com");
  const Bytes d = name_der(n.get());
  CHECK(name_to_string(d).value() ==
        "emailAddress=ops@example.com,serialNumber=42,CN=a\\=b,OU=Ops\\+Sec,O=Acme\\, Inc.,L=Berlin,ST=Berlin,C=DE");
  CHECK(name_common_name(d).value() == std::optional<std::string>("a=b"));

  // Two CNs are ambiguous.
  add("CN", "second");
  CHECK(name_common_name(name_der(n.get())).error().code == Errc::bad_csr);

  // Unknown attribute types print dotted; non-string values print as #hex of the DER.
  der::Writer w;
  const auto m = w.begin(tag::kSequence);
  const auto s = w.begin(tag::kSet);
  const auto a = w.begin(tag::kSequence);
  const Bytes uid{0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01};  // 0.9.2342.19200300.100.1.1
  w.oid(uid);
  w.small_integer(5);
  w.end(a);
  w.end(s);
  w.end(m);
  CHECK(name_to_string(w.bytes()).value() == "0.9.2342.19200300.100.1.1=#020105");
  CHECK(name_common_name(w.bytes()).value() == std::nullopt);

  // A CN that is not a string is refused.
  der::Writer bad;
  const auto bm = bad.begin(tag::kSequence);
  const auto bs = bad.begin(tag::kSet);
  const auto ba = bad.begin(tag::kSequence);
  bad.oid(oid::common_name);
  bad.small_integer(5);
  bad.end(ba);
  bad.end(bs);
  bad.end(bm);
  CHECK(name_common_name(bad.bytes()).error().code == Errc::bad_csr);
  // An empty RDN is malformed.
  const Bytes empty_rdn{0x30, 0x02, 0x31, 0x00};
  CHECK(name_to_string(empty_rdn).error().code == Errc::malformed);
}

}  // namespace
