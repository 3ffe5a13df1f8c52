#include "ca/crypto/x509.hpp"

#include <cassert>

#include "ca/crypto/oids.hpp"
#include "ca/crypto/x509_internal.hpp"

namespace sigil::crypto {

using namespace detail;

namespace {

// IssuingDistributionPoint { distributionPoint [0] { fullName [0] { URI } }, onlyContainsUserCerts [1] }
Bytes issuing_distribution_point(const std::string& url, bool only_user_certs) {
  return build([&](Writer& x) {
    const auto m = x.begin(tag::kSequence);
    write_distribution_point_name(x, url);
    if (only_user_certs) {
      const std::uint8_t t[] = {0xff};
      x.tlv(tag::context(1), t);  // [1] IMPLICIT BOOLEAN TRUE (FALSE, the default, is omitted)
    }
    x.end(m);
  });
}

}  // namespace

CrlWriter::CrlWriter(const CrlSpec& header, std::size_t expected_entries) : header_(header) {
  header_.revoked.clear();
  // A delta CRL points at no further delta (RFC 5280 §5.2.6).
  assert(!header_.base_crl_number || header_.freshest_crl_urls.empty());
  std::size_t urls = header_.idp_url.size();
  for (const auto& u : header_.freshest_crl_urls) urls += u.size() + 16;
  // ~50 octets per entry (SEQUENCE, 17-octet INTEGER, UTCTime, reason extension) + the rest.
  w_.reserve(expected_entries * 52 + header_.issuer.size() * 2 + urls + 512);
  outer_ = w_.begin(tag::kSequence);
  tbs_start_ = w_.size();
  tbs_ = w_.begin(tag::kSequence);
  w_.small_integer(1);  // v2
  w_.raw(algorithm_identifier(header_.signature));
  w_.raw(header_.issuer);
  w_.time(header_.this_update);
  w_.time(header_.next_update);
  list_begin_ = w_.size();
  list_ = w_.begin(tag::kSequence);
}

void CrlWriter::add(ByteView serial, TimePoint revoked_at, int reason) {
  const auto entry = w_.begin(tag::kSequence);
  w_.unsigned_integer(serial);
  w_.time(revoked_at);
  if (reason != 0) {
    // crlEntryExtensions { { reasonCode, OCTET STRING { ENUMERATED reason } } }, constant per code.
    const std::uint8_t ext[] = {0x30, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55,
                                0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01, static_cast<std::uint8_t>(reason)};
    w_.raw(ext);
  }
  w_.end(entry);
  ++count_;
}

ByteView CrlWriter::tbs() {
  if (!tbs_closed_) {
    // RFC 5280 §5.1.2.6: with no entries, the list is absent, not empty.
    if (count_ == 0)
      w_.truncate(list_begin_);
    else
      w_.end(list_);
    const auto wrap = w_.begin(tag::context_constructed(0));
    const auto exts = w_.begin(tag::kSequence);
    write_extension(w_, oid::authority_key_identifier, false, build([&](Writer& x) {
                      const auto a = x.begin(tag::kSequence);
                      x.tlv(tag::context(0), header_.authority_key_id);
                      x.end(a);
                    }));
    write_extension(w_, oid::crl_number, false, build([&](Writer& x) { x.small_integer(header_.crl_number); }));
    if (header_.base_crl_number) {
      write_extension(w_, oid::delta_crl_indicator, true,
                      build([&](Writer& x) { x.small_integer(*header_.base_crl_number); }));
    }
    if (!header_.idp_url.empty()) {
      write_extension(w_, oid::issuing_distribution_point, true,
                      issuing_distribution_point(header_.idp_url, header_.idp_only_user_certs));
    }
    if (!header_.freshest_crl_urls.empty())
      write_extension(w_, oid::freshest_crl, false, distribution_points(header_.freshest_crl_urls));
    w_.end(exts);
    w_.end(wrap);
    w_.end(tbs_);
    tbs_closed_ = true;
  }
  return ByteView(w_.bytes()).subspan(tbs_start_);
}

Bytes CrlWriter::finish(ByteView signature) {
  tbs();
  w_.raw(algorithm_identifier(header_.signature));
  w_.bit_string(signature);
  w_.end(outer_);
  return w_.take();
}

namespace {
// RFC 5280 §5.2: the CRL extensions defined there, which this summary reads or may pass over.
// Entry extensions (§5.3) are not walked: the summary counts entries and reads none of them.
const ByteView kCrlExtensions[] = {
    oid::authority_key_identifier,   oid::issuer_alt_name, oid::crl_number,           oid::delta_crl_indicator,
    oid::issuing_distribution_point, oid::freshest_crl,    oid::authority_info_access};
}  // namespace

Result<CrlSummary> parse_crl_summary(ByteView der) {
  SIGIL_TRY(Tlv outer, der::read_single(der, tag::kSequence));
  Reader r(outer.contents);
  SIGIL_TRY(Tlv tbs, r.expect(tag::kSequence));
  Reader t(tbs.contents);
  Tlv skip;
  SIGIL_TRY(bool has_version, t.optional(tag::kInteger, skip));
  (void)has_version;
  SIGIL_TRY(skip, t.expect(tag::kSequence));  // signature algorithm
  SIGIL_TRY(skip, t.expect(tag::kSequence));  // issuer
  CrlSummary out;
  SIGIL_TRY(Tlv this_update, t.next());
  SIGIL_TRY(out.this_update, der::read_time(this_update));
  SIGIL_TRY(Tlv next_update, t.next());
  SIGIL_TRY(out.next_update, der::read_time(next_update));
  Tlv list;
  SIGIL_TRY(bool has_list, t.optional(tag::kSequence, list));
  if (has_list) {
    Reader entries(list.contents);
    while (!entries.empty()) {
      SIGIL_TRY(skip, entries.expect(tag::kSequence));
      ++out.entries;
    }
  }
  Tlv exts_wrap;
  SIGIL_TRY(bool has_exts, t.optional(tag::context_constructed(0), exts_wrap));
  if (has_exts) {
    auto exts = parse_extensions(exts_wrap.contents, {kCrlExtensions});
    if (!exts) return exts.error().context("CRL");
    for (const Extension& e : *exts) {
      if (oid::equal(e.oid, oid::crl_number)) {
        SIGIL_TRY(Tlv n, der::read_single(e.value, tag::kInteger));
        SIGIL_TRY(out.number, der::read_small_integer(n));
      } else if (oid::equal(e.oid, oid::delta_crl_indicator)) {
        SIGIL_TRY(Tlv n, der::read_single(e.value, tag::kInteger));
        SIGIL_TRY(out.base_number, der::read_small_integer(n));
        out.delta_indicator_critical = e.critical;
      } else if (oid::equal(e.oid, oid::issuing_distribution_point)) {
        SIGIL_TRY(out.idp, decode_issuing_distribution_point(e.value));
        out.idp_critical = e.critical;
      } else if (oid::equal(e.oid, oid::freshest_crl)) {
        SIGIL_TRY(out.freshest_crl_urls, decode_distribution_point_urls(e.value));
      }
    }
  }
  return out;
}

Bytes encode_tbs_crl(const CrlSpec& s) {
  CrlWriter w(s, s.revoked.size());
  for (const auto& e : s.revoked) w.add(e.serial, e.revoked_at, e.reason.value_or(0));
  const ByteView tbs = w.tbs();
  return Bytes(tbs.begin(), tbs.end());
}

}  // namespace sigil::crypto
