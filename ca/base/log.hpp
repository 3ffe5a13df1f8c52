#pragma once
// Structured one-line logs on stderr: "ts=... level=info msg=issued serial=... ".
// Never pass key material here.
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace sigil::log {

enum class Level { debug, info, warn, error };

using Field = std::pair<std::string_view, std::string>;

void set_level(Level min);
void write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});

inline void info(std::string_view msg, std::initializer_list<Field> f = {}) { write(Level::info, msg, f); }
inline void warn(std::string_view msg, std::initializer_list<Field> f = {}) { write(Level::warn, msg, f); }
inline void error(std::string_view msg, std::initializer_list<Field> f = {}) { write(Level::error, msg, f); }

}  // namespace sigil::log
