// The agent's one logger. Every part of the agent (run loop, transport, spool, TLS, delivery)
// writes through Log(); where the lines go is chosen once by the entry point: stderr by default
// (a console, or journald under systemd), a rotated agent.log plus the Windows Event Log under
// the service control manager.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <string>

#include "portwatch/status.h"

namespace portwatch::agent {

enum class LogLevel { kInfo, kWarning, kError };

/// Where formatted log lines go. Implementations are called under the logger's lock.
class LogSink {
 public:
  virtual ~LogSink() = default;
  /// `line` is one complete line ("2026-01-02T03:04:05Z portwatch-agent: warning: ...\n").
  /// `text` is the message alone, for sinks with their own framing (the Event Log).
  virtual void Write(LogLevel level, const std::string& line, const std::string& text) = 0;
};

/// Replaces where lines go (null: back to stderr). Not for use while other threads log.
void SetLogSink(std::unique_ptr<LogSink> sink);

/// Logs one message. Control characters in `text` are escaped, so an untrusted string (a host
/// or process name inside a message) cannot forge a line.
void Log(LogLevel level, const std::string& text);
inline void LogInfo(const std::string& text) { Log(LogLevel::kInfo, text); }
inline void LogWarning(const std::string& text) { Log(LogLevel::kWarning, text); }
inline void LogError(const std::string& text) { Log(LogLevel::kError, text); }

/// Lines to stderr.
std::unique_ptr<LogSink> MakeStderrLogSink();

/// Lines appended to `path` (UTF-8). When the file reaches `max_bytes` it is renamed to
/// `path`.1 (replacing the previous one) and a new file is started, so the log holds at most
/// about 2 * max_bytes. The file is reopened per line, so an admin may delete it at any time.
Expected<std::unique_ptr<LogSink>> MakeRotatingFileLogSink(const std::string& path,
                                                           uint64_t max_bytes);

/// Writes to every sink given (e.g. agent.log and the Event Log).
std::unique_ptr<LogSink> MakeTeeLogSink(std::unique_ptr<LogSink> a, std::unique_ptr<LogSink> b);

/// The line Log() would write for `text` at `level` at `unix_seconds`, for tests.
std::string FormatLogLine(LogLevel level, const std::string& text, int64_t unix_seconds);

// Per OS (log_file_posix.cc / log_file_windows.cc): the file operations the rotating sink needs.
namespace logfile {
/// Appends `data`; false on failure.
bool Append(const std::string& path, const std::string& data);
/// The file's size, 0 if absent.
uint64_t Size(const std::string& path);
/// Renames `from` over `to`; false on failure.
bool Replace(const std::string& from, const std::string& to);
/// gmtime, thread-safe.
void UtcTime(std::time_t t, std::tm* out);
}  // namespace logfile

}  // namespace portwatch::agent
