// libFuzzer: Certificate::from_der, parse_tbs and every extension decoder on every extension.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ca/base/encoding.hpp"
#include "ca/crypto/crypto.hpp"
#include "ca/crypto/oids.hpp"
#include "ca/crypto/x509.hpp"
#include "tests/fuzz/fuzz_common.hpp"

using namespace sigil;
using namespace sigil::crypto;

namespace {

void decode_everything(ByteView v) {
  // Every decoder sees every value: foreign bytes must be refused, never crash.
  (void)decode_basic_constraints(v);
  (void)decode_key_usage(v);
  (void)decode_ext_key_usage(v);
  (void)decode_general_names(v);
  (void)decode_subject_key_id(v);
  (void)decode_authority_key_id(v);
  (void)decode_name_constraints(v);
}

void exercise(const TbsView& t) {
  (void)name_to_string(t.subject);
  (void)name_to_string(t.issuer);
  (void)name_common_name(t.subject);
  (void)name_is_empty(t.subject);
  (void)parse_algorithm_identifier(t.signature_alg);
  (void)parse_spki(t.spki);
  for (const Extension& e : t.extensions) {
    SIGIL_FUZZ_ASSERT(t.find(e.oid) == &e);  // no duplicates survive parsing
    (void)der::oid_to_string(e.oid);
    decode_everything(e.value);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView in(data, size);
  if (auto c = Certificate::from_der(Bytes(in.begin(), in.end()))) {
    SIGIL_FUZZ_ASSERT(c->der().size() == size);
    exercise(c->tbs());
    (void)c->serial_hex();
    (void)c->subject_key_id();
    (void)c->is_ca();
    (void)verify_issued_by(*c, *c);
    // PEM round trip of what parsed.
    auto p = Certificate::from_pem(c->pem());
    SIGIL_FUZZ_ASSERT(p.has_value() && p->der() == c->der());
    Certificate moved = std::move(*c);
    exercise(moved.tbs());
  }
  if (auto t = parse_tbs(in)) exercise(*t);
  decode_everything(in);
  (void)parse_spki(in);
  (void)parse_algorithm_identifier(in);
  (void)parse_crl_summary(in);
  (void)name_to_string(in);
  return 0;
}
