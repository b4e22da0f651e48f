// Structured stderr logging: one JSON object per line, so the daemon can
// forward a native process's events into its own log stream without parsing prose.
#pragma once

#include <string>

namespace feeder {

enum class Level { Debug, Info, Warn, Error };

void log(Level level, const std::string& message);

inline void log_debug(const std::string& m) { log(Level::Debug, m); }
inline void log_info(const std::string& m) { log(Level::Info, m); }
inline void log_warn(const std::string& m) { log(Level::Warn, m); }
inline void log_error(const std::string& m) { log(Level::Error, m); }

// Escapes a string for inclusion inside a JSON string literal.
std::string json_escape(const std::string& text);

}  // namespace feeder
