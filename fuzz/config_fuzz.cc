// The agent's config file (--config agent.ini: CLI11's INI/TOML reader, a [run] section, keys as
// long flags) on arbitrary text, read through the agent's own `run` flag set and then turned into
// settings as its main does (interval, spool bounds, source ports). A refused file must surface as
// a CLI11 parse error (main prints it and exits 2) or an error result; any other exception would
// escape main and abort the agent, and is reported as a crash. The collector's and portwatchctl's
// --config files go through the same CLI11 reader.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "portwatch/units.h"
#include "src/agent_core.h"
#include "src/agent_util.h"
#include "src/report_sink.h"
#include "src/source_port.h"

namespace fs = std::filesystem;
namespace pa = portwatch::agent;

namespace {
std::string g_path;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const fs::path dir =
      fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
  g_path = (dir / ("portwatch-config-fuzz-" + std::to_string(getpid()) + ".ini")).string();
  std::atexit([] { std::remove(g_path.c_str()); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  {
    std::ofstream f(g_path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  CLI::App app{"portwatch-agent"};
  app.require_subcommand(1);
  app.set_config("--config", "");
  pa::CoreFlags core;
  core.host_name = "web01";
  CLI::App* run = app.add_subcommand("run");
  pa::AddRunFlags(run, &core);
  pa::SinkOptions sink;
  sink.bind_source_ports = [](std::vector<uint16_t>, pa::TransportOptions*) {};
  pa::AddSinkOptions(run, &sink);
  for (const char* name : {"--ca", "--cert", "--key"}) run->get_option(name)->required();
  const char* argv[] = {"portwatch-agent", "--config", g_path.c_str(), "run"};
  try {
    app.parse(4, argv);
  } catch (const CLI::ParseError&) {
    return 0;  // what CLI11_PARSE in main turns into a message and exit status 2
  }
  (void)pa::SamplerOptionsFor(core);
  (void)pa::ParseIntervalMs(core.interval_text);
  (void)portwatch::ParseByteSize(sink.delivery.spool_max_bytes, "--spool-max-bytes");
  (void)portwatch::ParseDurationMs(sink.delivery.spool_max_age, "--spool-max-age");
  if (!sink.delivery.source_ports.empty()) (void)pa::ParseSourcePorts(sink.delivery.source_ports);
  return 0;
}
