#include "ca/crypto/x509.hpp"

#include "ca/base/encoding.hpp"
#include "ca/crypto/oids.hpp"
#include "ca/crypto/x509_internal.hpp"

namespace sigil::crypto {

using namespace detail;

namespace {
// Requested extensions Sigil may see marked critical: the SAN it reads, and those every profile
// sets itself (a client asking for them critical gets the profile's choice, as for any request).
const ByteView kRequestedExtensions[] = {oid::subject_alt_name, oid::basic_constraints, oid::key_usage,
                                         oid::ext_key_usage, oid::subject_key_identifier};
}  // namespace

Result<Csr> Csr::from_der(Bytes der_bytes) {
  Csr c;
  c.der_ = std::move(der_bytes);
  auto fail = [](const Error& e) { return make_error(Errc::bad_csr, "CSR: " + e.detail); };
  auto seq = der::read_single(c.der_, tag::kSequence);
  if (!seq) return fail(seq.error());
  Reader r(seq->contents);
  auto info = r.expect(tag::kSequence);
  auto alg = info ? r.expect(tag::kSequence) : Result<Tlv>(info.error());
  auto sig = alg ? r.expect(tag::kBitString) : Result<Tlv>(alg.error());
  if (!sig) return fail(sig.error());
  if (!r.empty()) return make_error(Errc::bad_csr, "CSR: trailing data");
  c.info_ = info->whole;
  auto sig_alg = parse_algorithm_identifier(alg->whole);
  if (!sig_alg) return fail(sig_alg.error());
  c.sig_alg_ = *sig_alg;
  auto sig_bytes = der::read_bit_string_bytes(*sig);
  if (!sig_bytes) return fail(sig_bytes.error());
  c.signature_ = *sig_bytes;

  Reader ir(info->contents);
  auto version = ir.expect(tag::kInteger);
  if (!version) return fail(version.error());
  auto v = der::read_small_integer(*version);
  if (!v || *v != 0) return make_error(Errc::bad_csr, "CSR: version must be 1 (0)");
  auto subject = ir.expect(tag::kSequence);
  if (!subject) return fail(subject.error());
  c.subject_ = subject->whole;
  auto spki = ir.expect(tag::kSequence);
  if (!spki) return fail(spki.error());
  auto key = parse_spki(spki->whole);
  if (!key) {
    if (key.error().code == Errc::bad_public_key) return key.error();
    return fail(key.error());
  }
  c.key_ = std::move(*key);
  if (!signature_fits_key(c.sig_alg_, c.key_.algorithm))
    return make_error(Errc::bad_csr, "CSR: signature algorithm does not match the key");
  auto cn = name_common_name(c.subject_);
  if (!cn) return fail(cn.error());
  c.common_name_ = *cn;

  Tlv attrs;
  auto has_attrs = ir.optional(tag::context_constructed(0), attrs);
  if (!has_attrs) return fail(has_attrs.error());
  if (!ir.empty()) return make_error(Errc::bad_csr, "CSR: trailing data in request info");
  if (*has_attrs) {
    Reader ar(attrs.contents);
    bool seen_ext = false;
    while (!ar.empty()) {
      auto attr = ar.expect(tag::kSequence);
      if (!attr) return fail(attr.error());
      Reader at(attr->contents);
      auto type = at.expect(tag::kOid);
      auto values = type ? at.expect(tag::kSet) : Result<Tlv>(type.error());
      if (!values || !at.empty()) return make_error(Errc::bad_csr, "CSR: bad attribute");
      if (!oid::equal(type->contents, oid::extension_request)) continue;  // e.g. challengePassword
      if (seen_ext) return make_error(Errc::bad_csr, "CSR: more than one extensionRequest");
      seen_ext = true;
      auto exts = parse_extensions(values->contents, {kRequestedExtensions, /*allow_empty=*/true});
      if (!exts) return fail(exts.error());
      for (const Extension& e : *exts) {
        // Only the SAN is taken from a request; the profile decides every other extension.
        if (!oid::equal(e.oid, oid::subject_alt_name)) continue;
        auto names = decode_general_names(e.value);
        if (!names) return make_error(Errc::bad_csr, "CSR: " + names.error().detail);
        c.sans_ = std::move(*names);
      }
    }
  }
  return c;
}

Result<Csr> Csr::from_pem_or_der(std::string_view bytes) {
  if (bytes.find("-----BEGIN") != std::string_view::npos) {
    auto blocks = pem_decode_all(bytes);
    if (!blocks) return make_error(Errc::bad_csr, "CSR: " + blocks.error().detail);
    if (blocks->size() != 1 ||
        ((*blocks)[0].label != "CERTIFICATE REQUEST" && (*blocks)[0].label != "NEW CERTIFICATE REQUEST"))
      return make_error(Errc::bad_csr, "CSR: expected exactly one CERTIFICATE REQUEST PEM block");
    return from_der(std::move((*blocks)[0].der));
  }
  return from_der(Bytes(bytes.begin(), bytes.end()));
}

Bytes encode_csr_info(ByteView subject_name, ByteView spki, const std::vector<GeneralName>& sans) {
  Writer w;
  const auto m = w.begin(tag::kSequence);
  w.small_integer(0);
  w.raw(subject_name);
  w.raw(spki);
  const auto attrs = w.begin(tag::context_constructed(0));
  if (!sans.empty()) {
    const auto attr = w.begin(tag::kSequence);
    w.oid(oid::extension_request);
    const auto set = w.begin(tag::kSet);
    const auto exts = w.begin(tag::kSequence);
    write_extension(w, oid::subject_alt_name, false, build([&](Writer& x) {
                      const auto s = x.begin(tag::kSequence);
                      for (const auto& n : sans) write_general_name(x, n);
                      x.end(s);
                    }));
    w.end(exts);
    w.end(set);
    w.end(attr);
  }
  w.end(attrs);
  w.end(m);
  return w.take();
}

}  // namespace sigil::crypto
