#include "src/log.h"

#include <cstdio>
#include <ctime>
#include <mutex>

namespace portwatch::agent {
namespace {

constexpr char kProgram[] = "portwatch-agent";

class StderrSink final : public LogSink {
 public:
  void Write(LogLevel, const std::string& line, const std::string&) override {
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
  }
};

class RotatingFileSink final : public LogSink {
 public:
  RotatingFileSink(std::string path, uint64_t max_bytes)
      : path_(std::move(path)), max_bytes_(max_bytes) {}
  void Write(LogLevel, const std::string& line, const std::string&) override {
    if (logfile::Size(path_) + line.size() > max_bytes_) {
      // If the rename fails (the old file is held open elsewhere), keep appending rather than
      // lose lines: a log a little over its bound is better than none.
      logfile::Replace(path_, path_ + ".1");
    }
    if (!logfile::Append(path_, line)) {
      std::fputs(line.c_str(), stderr);  // last resort; nothing else can report it
    }
  }

 private:
  std::string path_;
  uint64_t max_bytes_;
};

class TeeSink final : public LogSink {
 public:
  TeeSink(std::unique_ptr<LogSink> a, std::unique_ptr<LogSink> b)
      : a_(std::move(a)), b_(std::move(b)) {}
  void Write(LogLevel level, const std::string& line, const std::string& text) override {
    a_->Write(level, line, text);
    b_->Write(level, line, text);
  }

 private:
  std::unique_ptr<LogSink> a_, b_;
};

std::mutex& Mu() {
  static std::mutex mu;
  return mu;
}
std::unique_ptr<LogSink>& Current() {
  static std::unique_ptr<LogSink> sink = MakeStderrLogSink();
  return sink;
}

// Control characters (newlines included) become \xNN: one message is always one line.
std::string Escaped(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      char b[5];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace

std::string FormatLogLine(LogLevel level, const std::string& text, int64_t unix_seconds) {
  char stamp[32];
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  logfile::UtcTime(t, &tm);
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  const char* tag = level == LogLevel::kError     ? "error: "
                    : level == LogLevel::kWarning ? "warning: "
                                                  : "";
  return std::string(stamp) + " " + kProgram + ": " + tag + Escaped(text) + "\n";
}

void SetLogSink(std::unique_ptr<LogSink> sink) {
  std::lock_guard<std::mutex> lock(Mu());
  Current() = sink ? std::move(sink) : MakeStderrLogSink();
}

void Log(LogLevel level, const std::string& text) {
  const std::string line = FormatLogLine(level, text, static_cast<int64_t>(std::time(nullptr)));
  std::lock_guard<std::mutex> lock(Mu());
  Current()->Write(level, line, Escaped(text));
}

std::unique_ptr<LogSink> MakeStderrLogSink() { return std::make_unique<StderrSink>(); }

Expected<std::unique_ptr<LogSink>> MakeRotatingFileLogSink(const std::string& path,
                                                           uint64_t max_bytes) {
  if (max_bytes < 4096) return Status::Error("log file bound must be at least 4 KiB");
  // Fail at start, where the error can still be shown, rather than losing every line later.
  if (!logfile::Append(path, "")) {
    return Status::Error("cannot write the log file '" + path +
                         "'; check that the data directory exists and is writable");
  }
  return std::unique_ptr<LogSink>(new RotatingFileSink(path, max_bytes));
}

std::unique_ptr<LogSink> MakeTeeLogSink(std::unique_ptr<LogSink> a, std::unique_ptr<LogSink> b) {
  return std::make_unique<TeeSink>(std::move(a), std::move(b));
}

}  // namespace portwatch::agent
