#pragma once
// Private to ca/ui: the table the generated assets.cpp (embed.cmake) defines.
#include <cstddef>

namespace sigil::ui::internal {

struct EmbeddedFile {
  const char* name;
  const unsigned char* data;
  std::size_t size;
};
extern const EmbeddedFile kFiles[];
extern const std::size_t kFileCount;

}  // namespace sigil::ui::internal
