#include "ca/crypto/x509.hpp"

#include <algorithm>
#include <string>

#include "ca/crypto/x509_internal.hpp"

namespace sigil::crypto {

using namespace detail;

namespace {

// The URIs of a DistributionPointName's fullName ([0] GeneralNames); nameRelativeToCRLIssuer
// names none.
Result<std::vector<std::string>> full_name_urls(const Tlv& dpn) {
  Reader r(dpn.contents);  // a CHOICE, so [0] is an explicit tag around it
  SIGIL_TRY(Tlv choice, r.next());
  if (!r.empty()) return bad("trailing bytes in a distribution point name");
  std::vector<std::string> out;
  if (choice.tag != tag::context_constructed(0)) return out;
  Reader names(choice.contents);
  while (!names.empty()) {
    SIGIL_TRY(Tlv n, names.next());
    if (n.tag == tag::context(kGnUri)) out.push_back(bytes_sv(n.contents));
  }
  return out;
}

bool ascii_printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

}  // namespace

Result<BasicConstraints> decode_basic_constraints(ByteView v) {
  SIGIL_TRY(Tlv seq, der::read_single(v, tag::kSequence));
  Reader r(seq.contents);
  BasicConstraints bc;
  Tlv t;
  SIGIL_TRY(bool has_ca, r.optional(tag::kBoolean, t));
  if (has_ca) {
    SIGIL_TRY(bc.ca, der::read_boolean(t));
    if (!bc.ca) return bad("DER forbids an explicit cA FALSE");
  }
  SIGIL_TRY(bool has_len, r.optional(tag::kInteger, t));
  if (has_len) {
    SIGIL_TRY(std::int64_t n, der::read_small_integer(t));
    if (n < 0) return bad("negative pathLenConstraint");
    bc.path_len = n;
  }
  if (!r.empty()) return bad("bad basicConstraints");
  return bc;
}

Result<std::uint32_t> decode_key_usage(ByteView v) {
  SIGIL_TRY(Tlv t, der::read_single(v, tag::kBitString));
  return der::read_named_bits(t);
}

Result<std::vector<Bytes>> decode_ext_key_usage(ByteView v) {
  SIGIL_TRY(Tlv seq, der::read_single(v, tag::kSequence));
  Reader r(seq.contents);
  std::vector<Bytes> out;
  while (!r.empty()) {
    SIGIL_TRY(Tlv o, r.expect(tag::kOid));
    out.emplace_back(o.contents.begin(), o.contents.end());
  }
  if (out.empty()) return bad("empty extendedKeyUsage");
  return out;
}

Result<std::vector<GeneralName>> decode_general_names(ByteView v) {
  SIGIL_TRY(Tlv seq, der::read_single(v, tag::kSequence));
  Reader r(seq.contents);
  std::vector<GeneralName> out;
  while (!r.empty()) {
    SIGIL_TRY(Tlv n, r.next());
    GeneralName g;
    if (n.tag == tag::context(kGnDns))
      g.type = GeneralName::Type::dns;
    else if (n.tag == tag::context(kGnEmail))
      g.type = GeneralName::Type::email;
    else if (n.tag == tag::context(kGnUri))
      g.type = GeneralName::Type::uri;
    else if (n.tag == tag::context(kGnIp))
      g.type = GeneralName::Type::ip;
    else
      return make_error(Errc::bad_csr, "unsupported subjectAltName form (tag " + std::to_string(n.tag) + ")");
    if (g.type == GeneralName::Type::ip) {
      SIGIL_TRY(g.value, ip_from_bytes(n.contents));
    } else {
      g.value = bytes_sv(n.contents);
      if (!ascii_printable(g.value)) return make_error(Errc::bad_csr, "subjectAltName is not printable ASCII");
    }
    out.push_back(std::move(g));
  }
  if (out.empty()) return bad("empty subjectAltName");
  return out;
}

Result<Bytes> decode_subject_key_id(ByteView v) {
  SIGIL_TRY(Tlv o, der::read_single(v, tag::kOctetString));
  return Bytes(o.contents.begin(), o.contents.end());
}

Result<Bytes> decode_authority_key_id(ByteView v) {
  SIGIL_TRY(Tlv seq, der::read_single(v, tag::kSequence));
  Reader r(seq.contents);
  Tlv id;
  SIGIL_TRY(bool has_id, r.optional(tag::context(0), id));
  if (!has_id) return bad("authorityKeyIdentifier without keyIdentifier");
  return Bytes(id.contents.begin(), id.contents.end());
}

Result<std::vector<std::string>> decode_distribution_point_urls(ByteView v) {
  SIGIL_TRY(Tlv seq, der::read_single(v, tag::kSequence));
  Reader r(seq.contents);
  std::vector<std::string> out;
  if (r.empty()) return bad("empty distribution points");
  while (!r.empty()) {
    SIGIL_TRY(Tlv dp, r.expect(tag::kSequence));
    Reader dr(dp.contents);
    Tlv dpn;
    SIGIL_TRY(bool has_name, dr.optional(tag::context_constructed(0), dpn));
    if (!has_name) return bad("distribution point without a name");
    SIGIL_TRY(std::vector<std::string> urls, full_name_urls(dpn));
    out.insert(out.end(), urls.begin(), urls.end());
  }
  return out;
}

Result<IssuingDistributionPoint> decode_issuing_distribution_point(ByteView v) {
  SIGIL_TRY(Tlv seq, der::read_single(v, tag::kSequence));
  Reader r(seq.contents);
  IssuingDistributionPoint idp;
  Tlv t;
  SIGIL_TRY(bool has_dp, r.optional(tag::context_constructed(0), t));
  if (has_dp) {
    SIGIL_TRY(idp.urls, full_name_urls(t));
  }
  // [1], [2], [4], [5]: IMPLICIT BOOLEAN DEFAULT FALSE, so DER has them only when TRUE.
  auto flag = [&](unsigned n, bool& out) -> Status {
    SIGIL_TRY(bool present, r.optional(tag::context(n), t));
    if (!present) return {};
    if (t.contents.size() != 1 || t.contents[0] != 0xff) return bad("issuingDistributionPoint: bad BOOLEAN");
    out = true;
    return {};
  };
  SIGIL_TRY_STATUS(flag(1, idp.only_user_certs));
  SIGIL_TRY_STATUS(flag(2, idp.only_ca_certs));
  SIGIL_TRY(idp.only_some_reasons, r.optional(tag::context(3), t));
  SIGIL_TRY_STATUS(flag(4, idp.indirect_crl));
  SIGIL_TRY_STATUS(flag(5, idp.only_attribute_certs));
  if (!r.empty()) return bad("issuingDistributionPoint: trailing fields");
  return idp;
}

Result<NameConstraints> decode_name_constraints(ByteView v) {
  SIGIL_TRY(Tlv seq, der::read_single(v, tag::kSequence));
  Reader r(seq.contents);
  NameConstraints nc;
  auto subtrees = [](ByteView contents, std::vector<GeneralName>& out) -> Status {
    Reader sr(contents);
    while (!sr.empty()) {
      SIGIL_TRY(Tlv st, sr.expect(tag::kSequence));
      Reader gr(st.contents);
      SIGIL_TRY(Tlv base, gr.next());  // minimum/maximum (rarely used) are ignored
      GeneralName g;
      if (base.tag == tag::context(kGnDns)) {
        g = {GeneralName::Type::dns, bytes_sv(base.contents)};
      } else if (base.tag == tag::context(kGnEmail)) {
        g = {GeneralName::Type::email, bytes_sv(base.contents)};
      } else if (base.tag == tag::context(kGnUri)) {
        g = {GeneralName::Type::uri, bytes_sv(base.contents)};
      } else if (base.tag == tag::context(kGnIp)) {
        const std::size_t half = base.contents.size() / 2;
        if (half != 4 && half != 16) return bad("bad iPAddress constraint");
        SIGIL_TRY(std::string addr, ip_from_bytes(base.contents.subspan(0, half)));
        int prefix = 0;
        for (std::uint8_t b : base.contents.subspan(half))
          for (int i = 7; i >= 0; --i) prefix += (b >> i) & 1;
        g = {GeneralName::Type::ip, addr + "/" + std::to_string(prefix)};
      } else {
        continue;  // directoryName and others: not applicable to the names Sigil issues
      }
      out.push_back(std::move(g));
    }
    return {};
  };
  Tlv t;
  SIGIL_TRY(bool has_p, r.optional(tag::context_constructed(0), t));
  if (has_p) SIGIL_TRY_STATUS(subtrees(t.contents, nc.permitted));
  SIGIL_TRY(bool has_e, r.optional(tag::context_constructed(1), t));
  if (has_e) SIGIL_TRY_STATUS(subtrees(t.contents, nc.excluded));
  if (!r.empty()) return bad("bad nameConstraints");
  return nc;
}

}  // namespace sigil::crypto
