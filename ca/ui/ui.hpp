#pragma once
// The web console's static files (index.html, app.js, app.css), compiled into the binary by the
// build (embed.cmake): nothing is read from disk or fetched from a network at run time.
#include <string_view>
#include <vector>

namespace sigil::ui {

struct Asset {
  std::string_view name;          // "app.js"
  std::string_view content_type;  // "text/javascript; charset=utf-8"
  std::string_view body;
};

// The file called `name`, or null.
const Asset* find(std::string_view name);
// Every file, in name order.
const std::vector<Asset>& all();

}  // namespace sigil::ui
