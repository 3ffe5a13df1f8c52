#include "ca/ui/ui.hpp"

#include <algorithm>
#include <string>

#include "ca/ui/ui_internal.hpp"

namespace sigil::ui {
namespace {
std::string_view type_of(std::string_view name) {
  auto ends = [&](std::string_view ext) {
    return name.size() >= ext.size() && name.substr(name.size() - ext.size()) == ext;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

std::vector<Asset> build() {
  std::vector<Asset> out;
  for (std::size_t i = 0; i < internal::kFileCount; ++i) {
    const auto& f = internal::kFiles[i];
    out.push_back({f.name, type_of(f.name), std::string_view(reinterpret_cast<const char*>(f.data), f.size)});
  }
  std::sort(out.begin(), out.end(), [](const Asset& a, const Asset& b) { return a.name < b.name; });
  return out;
}
}  // namespace

const std::vector<Asset>& all() {
  static const std::vector<Asset> assets = build();
  return assets;
}

const Asset* find(std::string_view name) {
  for (const auto& a : all())
    if (a.name == name) return &a;
  return nullptr;
}

}  // namespace sigil::ui
