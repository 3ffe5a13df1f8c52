// libFuzzer: a recursive walk with der::Reader. DER is canonical and the reader refuses
// non-minimal forms, so every element it accepts must re-encode to the very same bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "ca/crypto/der.hpp"
#include "tests/fuzz/fuzz_common.hpp"

using namespace sigil;
using namespace sigil::crypto;
using der::ByteView;

namespace {

bool same(ByteView a, ByteView b) { return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin()); }

void primitive(const der::Tlv& t) {
  if (auto b = der::read_boolean(t)) {
    der::Writer w;
    w.boolean(*b);
    SIGIL_FUZZ_ASSERT(same(w.bytes(), t.whole));
  }
  if (auto i = der::read_small_integer(t)) {
    der::Writer w;
    w.small_integer(*i);
    SIGIL_FUZZ_ASSERT(same(w.bytes(), t.whole));
  }
  if (auto bits = der::read_named_bits(t)) {
    der::Writer w;
    w.named_bits(*bits, 31);
    SIGIL_FUZZ_ASSERT(same(w.bytes(), t.whole));
  }
  (void)der::read_bit_string_bytes(t);
  (void)der::read_time(t);
  if (t.tag == der::tag::kOid) (void)der::oid_to_string(t.contents);
}

void walk(ByteView data, int depth) {
  der::Reader r(data);
  while (!r.empty()) {
    auto t = r.next();
    if (!t) return;
    SIGIL_FUZZ_ASSERT(t->whole.size() >= t->contents.size() + 2);
    der::Writer w;
    w.tlv(t->tag, t->contents);
    SIGIL_FUZZ_ASSERT(same(w.bytes(), t->whole));
    if ((t->tag & 0x20) && depth < 64)
      walk(t->contents, depth + 1);
    else
      primitive(*t);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView in(data, size);
  walk(in, 0);
  for (std::uint8_t tag : {der::tag::kSequence, der::tag::kInteger, der::tag::kBitString, der::tag::kUtcTime,
                           der::tag::kGeneralizedTime, der::tag::kBoolean}) {
    if (auto t = der::read_single(in, tag)) {
      SIGIL_FUZZ_ASSERT(t->whole.size() == size);
      primitive(*t);
    }
  }
  return 0;
}
