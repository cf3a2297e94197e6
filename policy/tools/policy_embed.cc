// policy_embed POLICY.yaml OUT.cc: parses a policy (refusing a bad one, as the collector would)
// and writes C++ that builds the same Policy without a YAML parser, for DefaultPolicy().
#include <cstdio>
#include <string>

#include "portwatch/files.h"
#include "portwatch/policy/policy_yaml.h"

namespace pp = portwatch::policy;

namespace {

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\%03o", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string Num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string Conditions(const std::vector<pp::Condition>& list, const char* field) {
  std::string out;
  for (const pp::Condition& c : list) {
    out += "    {\n      Condition c;\n      c.subject = " + Quote(c.subject) + ";\n";
    out += "      c.op = static_cast<Op>(" + std::to_string(static_cast<int>(c.op)) + ");\n";
    out += "      c.value = " + Num(c.value) + ";\n      c.high = " + Num(c.high) + ";\n";
    if (c.is_text) out += "      c.is_text = true;\n      c.text = " + Quote(c.text) + ";\n";
    if (c.raw) out += "      c.raw = true;\n";
    out += "      c.line = " + std::to_string(c.line) + ";\n";
    out += std::string("      r.") + field + ".push_back(std::move(c));\n    }\n";
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: policy_embed POLICY.yaml OUT.cc\n");
    return 2;
  }
  auto policy = pp::LoadPolicyFile(argv[1]);
  if (!policy.ok()) {
    std::fprintf(stderr, "policy_embed: %s\n", policy.error().c_str());
    return 1;
  }
  std::string out =
      "// Generated at build time by policy_embed from the default policy file; do not edit.\n"
      "#include \"portwatch/policy/default_policy.h\"\n\n"
      "namespace portwatch::policy {\n\nPolicy DefaultPolicy() {\n  Policy p;\n"
      "  p.origin = \"built-in default policy\";\n";
  for (const pp::Rule& r : policy->rules) {
    out += "  {\n    Rule r;\n";
    out += "    r.id = " + Quote(r.id) + ";\n    r.title = " + Quote(r.title) + ";\n";
    out += "    r.severity = static_cast<Severity>(" +
           std::to_string(static_cast<int>(r.severity)) + ");\n";
    out += "    r.source = " + Quote(r.source) + ";\n";
    out += "    r.remediation = " + Quote(r.remediation) + ";\n";
    out += "    r.selector.os = static_cast<OsKind>(" +
           std::to_string(static_cast<int>(r.selector.os)) + ");\n";
    out += "    r.selector.version.min = " + Quote(r.selector.version.min) + ";\n";
    out += "    r.selector.version.max = " + Quote(r.selector.version.max) + ";\n";
    for (const std::string& h : r.selector.hosts) {
      out += "    r.selector.hosts.push_back(" + Quote(h) + ");\n";
    }
    for (const auto& [k, v] : r.selector.labels) {
      out += "    r.selector.labels[" + Quote(k) + "] = " + Quote(v) + ";\n";
    }
    out +=
        "    r.kind = static_cast<RuleKind>(" + std::to_string(static_cast<int>(r.kind)) + ");\n";
    out += Conditions(r.when, "when") + Conditions(r.evidence, "evidence");
    out += "    r.peer_setting = " + Quote(r.peer_setting) + ";\n";
    out += "    r.peer_min_group = " + std::to_string(r.peer_min_group) + ";\n";
    out += "    r.line = " + std::to_string(r.line) + ";\n";
    out += "    p.rules.push_back(std::move(r));\n  }\n";
  }
  out += "  return p;\n}\n\n}  // namespace portwatch::policy\n";
  portwatch::Status st = portwatch::WriteFileAtomic(argv[2], out);
  if (!st.ok()) {
    std::fprintf(stderr, "policy_embed: %s\n", st.message().c_str());
    return 1;
  }
  return 0;
}
