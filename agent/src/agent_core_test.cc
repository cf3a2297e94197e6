// The agent core's tests. The same file runs in the Linux agent_test and, cross-built, in
// agent_windows_test under Wine: both agents share this code (agent_core.h, report_sink.h,
// log.h), so both must pass it.
#include "src/agent_core.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "portwatch/files.h"
#include "src/log.h"
#include "src/report_sink.h"

namespace portwatch::agent {
namespace {

using std::chrono::milliseconds;
using Clock = Schedule::Clock;

class FakeSink final : public ReportSink {
 public:
  void Submit(Report r) override { reports.push_back(std::move(r)); }
  void Stop() override { stopped = true; }
  std::vector<Report> reports;
  bool stopped = false;
};

class CaptureLog final : public LogSink {
 public:
  explicit CaptureLog(std::vector<std::string>* lines) : lines_(lines) {}
  void Write(LogLevel, const std::string& line, const std::string&) override {
    lines_->push_back(line);
  }

 private:
  std::vector<std::string>* lines_;
};

// A clock the test moves: a scan costs `scan_cost`, a wait takes exactly its timeout.
struct FakeTime {
  Clock::time_point now{std::chrono::hours(1)};
  milliseconds scan_cost{0};
  std::vector<milliseconds> waits;
  size_t stop_after = 3;
  RunHooks Hooks(std::function<Status(Report*)> sample = nullptr) {
    RunHooks h;
    h.now = [this] { return now; };
    h.sample = [this, sample](Report* r) {
      now += scan_cost;
      return sample ? sample(r) : Status::Ok();
    };
    h.wait_for_stop = [this](std::chrono::nanoseconds d) {
      waits.push_back(std::chrono::duration_cast<milliseconds>(d));
      now += d;
      return waits.size() >= stop_after;
    };
    return h;
  }
};

TEST(Schedule, TicksStayOnTheGridWhateverTheScanCosts) {
  Clock::time_point t0{std::chrono::seconds(100)};
  Schedule s(t0, milliseconds(1000));
  EXPECT_EQ(s.Advance(t0 + milliseconds(300)), milliseconds(700));
  EXPECT_EQ(s.next(), t0 + milliseconds(1000));
  EXPECT_EQ(s.Advance(t0 + milliseconds(1950)), milliseconds(50));
  EXPECT_EQ(s.next(), t0 + milliseconds(2000));
}

TEST(Schedule, AfterAStallItResumesFromNowWithoutABurst) {
  Clock::time_point t0{std::chrono::seconds(100)};
  Schedule s(t0, milliseconds(1000));
  EXPECT_EQ(s.Advance(t0 + milliseconds(5500)), milliseconds(0));
  EXPECT_EQ(s.Advance(t0 + milliseconds(5500)), milliseconds(1000));
}

TEST(RunCollection, FixedScheduleNumbersAndStampsEveryReport) {
  FakeTime time;
  time.scan_cost = milliseconds(300);
  FakeSink sink;
  const uint64_t n = RunCollection(time.Hooks(), milliseconds(1000), &sink);
  EXPECT_EQ(n, 3u);
  ASSERT_EQ(sink.reports.size(), 3u);
  for (size_t i = 0; i < sink.reports.size(); ++i) {
    EXPECT_EQ(sink.reports[i].sequence, i + 1);
    EXPECT_EQ(sink.reports[i].health.scan_duration_us, 300000u);
    EXPECT_GT(sink.reports[i].collected_unix_ms, 0);
  }
  // A wait fills the rest of the interval: 700 ms, not a full second after each scan.
  EXPECT_EQ(time.waits, (std::vector<milliseconds>{milliseconds(700), milliseconds(700),
                                                   milliseconds(700)}));
  EXPECT_FALSE(sink.stopped);  // the caller stops the sink, after its own last words
}

TEST(RunCollection, LogsAChangedProblemOnceNotEveryInterval) {
  std::vector<std::string> lines;
  SetLogSink(std::make_unique<CaptureLog>(&lines));
  int call = 0;
  FakeTime time;
  time.stop_after = 6;
  FakeSink sink;
  RunCollection(time.Hooks([&](Report* r) {
                  ++call;
                  if (call <= 2) return Status::Error("socket table unreadable");
                  if (call <= 4) {
                    r->events.degraded = true;
                    r->events.degraded_reason = "event log subscription failed";
                  }
                  return Status::Ok();
                }),
                milliseconds(1000), &sink);
  SetLogSink(nullptr);
  EXPECT_EQ(sink.reports.size(), 4u);  // failed scans send nothing
  EXPECT_EQ(sink.reports[0].sequence, 1u);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[0].find("warning: scan failed, will retry: socket table unreadable"),
            std::string::npos)
      << lines[0];
  EXPECT_NE(lines[1].find("warning: degraded: event log subscription failed"), std::string::npos)
      << lines[1];
  EXPECT_NE(lines[2].find("all sources readable again"), std::string::npos) << lines[2];
}

TEST(Hello, CarriesTheHostAndAFreshInstanceId) {
  HostFacts host;
  host.os = OsKind::kWindows;
  host.os_version = "6.1.7601";
  const AgentHello a = MakeHello("web01", host, 15000, "1.2.3");
  const AgentHello b = MakeHello("web01", host, 15000, "1.2.3");
  EXPECT_EQ(a.hostname, "web01");
  EXPECT_EQ(a.os, OsKind::kWindows);
  EXPECT_EQ(a.os_version, "6.1.7601");
  EXPECT_EQ(a.agent_version, "1.2.3");
  EXPECT_EQ(a.interval_ms, 15000u);
  EXPECT_EQ(a.instance_id.size(), 32u);
  EXPECT_NE(a.instance_id, b.instance_id);
}

// The one flag set, parsed by CLI11 as each agent's main does.
struct Cli {
  CLI::App app{"test"};
  CLI::App* run = nullptr;
  CLI::App* snapshot = nullptr;
  CoreFlags core;
  SinkOptions sink;
  Cli() {
    app.set_config("--config");
    core.host_name = "local";
    run = app.add_subcommand("run");
    AddRunFlags(run, &core);
    AddSinkOptions(run, &sink);
    snapshot = app.add_subcommand("snapshot");
    AddTopKFlag(snapshot, &core.top_k);
  }
  std::string Parse(std::vector<std::string> args) {
    std::vector<const char*> argv{"portwatch-agent"};
    for (const auto& a : args) argv.push_back(a.c_str());
    try {
      app.parse(static_cast<int>(argv.size()), argv.data());
      return "";
    } catch (const CLI::ParseError& e) {
      return e.what();
    }
  }
};

TEST(Flags, RunAndSnapshotTakeTheSameCoreFlags) {
  Cli c;
  EXPECT_EQ(c.Parse({"run", "--host-name", "web01", "--interval", "2s", "--top-k", "7"}), "");
  EXPECT_EQ(c.core.host_name, "web01");
  EXPECT_EQ(c.core.interval_text, "2s");
  EXPECT_EQ(SamplerOptionsFor(c.core).usage.top_destinations, 7u);
  EXPECT_EQ(SamplerOptionsFor(c.core).usage.top_processes, 7u);
  Cli d;
  EXPECT_EQ(d.Parse({"snapshot", "--top-k", "3"}), "");
  EXPECT_EQ(d.core.top_k, 3u);
  Cli e;
  EXPECT_NE(e.Parse({"run", "--top-k", "0"}), "");
}

// The installer writes agent.ini values quoted (deploy/windows/install-portwatch-agent.ps1):
// a path with spaces must reach the option whole through CLI11's own config parser.
TEST(Flags, QuotedIniValuesWithSpacesReachTheOptionWhole) {
  const std::string ini = testing::TempDir() + "pw_core_flags.ini";
  ASSERT_TRUE(WriteFileAtomic(ini, "[run]\n"
                                   "host-name = \"web01\"\n"
                                   "interval = '2s'\n"
                                   "output = 'D:\\Port Watch\\last report.json'\n"
                                   "spool-dir = \"D:\\Port Watch\\spool\"\n")
                  .ok());
  Cli c;
  EXPECT_EQ(c.Parse({"--config", ini, "run"}), "");
  EXPECT_EQ(c.core.host_name, "web01");
  EXPECT_EQ(c.core.interval_text, "2s");
  EXPECT_EQ(c.sink.output, "D:\\Port Watch\\last report.json");
  EXPECT_EQ(c.sink.delivery.spool_dir, "D:\\Port Watch\\spool");
  std::remove(ini.c_str());
}

TEST(Delivery, CertificateMustNameTheReportingHost) {
  EXPECT_TRUE(CheckCertificateHost("web01.pem", "web01", "web01").ok());
  Status st = CheckCertificateHost("web02.pem", "web02", "web01");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("is for host 'web02' but this agent reports as 'web01'"),
            std::string::npos);
  EXPECT_NE(st.message().find("--host-name web02"), std::string::npos);
}

TEST(Delivery, FileSinkWritesEachReportAndRefusesAnUnwritablePath) {
  const std::string path = testing::TempDir() + "pw_core_sink.json";
  auto sink = StartFileSink(path, "web01");
  ASSERT_TRUE(sink.ok()) << sink.error();
  Report r;
  r.sequence = 42;
  r.sockets.total_sockets = 17;
  (*sink)->Submit(r);
  auto text = ReadFileLimited(path, 1 << 20, "report");
  ASSERT_TRUE(text.ok()) << text.error();
  EXPECT_NE(text->find("\"total_sockets\": 17"), std::string::npos) << *text;
  std::remove(path.c_str());
  EXPECT_FALSE(StartFileSink(testing::TempDir() + "no-such-dir/x/report.json", "web01").ok());
}

TEST(Delivery, OutputLogAppendsEveryReportAsOneJsonLine) {
  const std::string path = testing::TempDir() + "pw_core_reports.jsonl";
  std::remove(path.c_str());
  SinkOptions o;
  o.output_log = path;
  AgentHello hello;
  hello.hostname = "win01";
  hello.os = OsKind::kWindows;
  hello.instance_id = "i-1";
  hello.interval_ms = 1000;
  auto sink = StartLocalSinks(o, hello);
  ASSERT_TRUE(sink.ok()) << sink.error();
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    Report r;
    r.sequence = seq;
    r.collected_unix_ms = 1000 * static_cast<int64_t>(seq);
    r.health.scan_duration_us = 77;
    (*sink)->Submit(r);
  }
  auto text = ReadFileLimited(path, 1 << 20, "report log");
  ASSERT_TRUE(text.ok()) << text.error();
  std::vector<std::string> lines;
  for (size_t at = 0, nl; (nl = text->find('\n', at)) != std::string::npos; at = nl + 1) {
    lines.push_back(text->substr(at, nl - at));
  }
  ASSERT_EQ(lines.size(), 3u) << *text;
  EXPECT_NE(lines[2].find("\"sequence\":3"), std::string::npos) << lines[2];
  EXPECT_NE(lines[2].find("\"collected_unix_ms\":3000"), std::string::npos) << lines[2];
  EXPECT_NE(lines[2].find("\"scan_duration_us\":77"), std::string::npos) << lines[2];
  EXPECT_NE(lines[0].find("\"os\":\"windows\""), std::string::npos) << lines[0];
  std::remove(path.c_str());
  o.output_log = testing::TempDir() + "no-such-dir/x/reports.jsonl";
  EXPECT_FALSE(StartLocalSinks(o, hello).ok());
}

TEST(Log, RotatesAtItsBoundAndKeepsOneOldFile) {
  const std::string path = testing::TempDir() + "pw_core_agent.log";
  std::remove(path.c_str());
  std::remove((path + ".1").c_str());
  auto sink = MakeRotatingFileLogSink(path, 4096);
  ASSERT_TRUE(sink.ok()) << sink.error();
  SetLogSink(std::move(*sink));
  const std::string text(100, 'x');
  for (int i = 0; i < 100; ++i) LogInfo("line " + std::to_string(i) + " " + text);
  SetLogSink(nullptr);
  auto current = ReadFileLimited(path, 1 << 20, "log");
  auto old = ReadFileLimited(path + ".1", 1 << 20, "old log");
  ASSERT_TRUE(current.ok()) << current.error();
  ASSERT_TRUE(old.ok()) << old.error();
  EXPECT_LE(current->size(), 4096u);
  EXPECT_LE(old->size(), 4096u);
  EXPECT_NE(current->find("line 99 "), std::string::npos);
  EXPECT_EQ(current->find("line 0 "), std::string::npos);
  std::remove(path.c_str());
  std::remove((path + ".1").c_str());
}

TEST(Log, OneMessageIsOneLineWhateverItContains) {
  const std::string line = FormatLogLine(LogLevel::kError, "bad\nname\r\x1b[31m", 0);
  EXPECT_EQ(line, "1970-01-01T00:00:00Z portwatch-agent: error: bad\\x0aname\\x0d\\x1b[31m\n");
}

}  // namespace
}  // namespace portwatch::agent
