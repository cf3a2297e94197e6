#include "portwatch/policy/policy_yaml.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <set>

#include "portwatch/files.h"

namespace portwatch::policy {
namespace {

// yaml-cpp reports errors by throwing; everything thrown here stays in this file and becomes a
// Status naming the line.
struct ParseError {
  int line;
  std::string message;
};

int Line(const YAML::Node& n) { return n.Mark().line >= 0 ? n.Mark().line + 1 : 0; }

[[noreturn]] void Fail(const YAML::Node& n, const std::string& message) {
  throw ParseError{Line(n), message};
}

void OnlyKeys(const YAML::Node& map, const std::set<std::string>& allowed,
              const std::string& what) {
  if (!map.IsMap()) Fail(map, what + " must be a mapping");
  for (const auto& kv : map) {
    const std::string k = kv.first.as<std::string>();
    if (allowed.count(k) == 0) {
      std::string list;
      for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
      Fail(kv.first, what + ": unknown key '" + k + "' (expected one of: " + list + ")");
    }
  }
}

std::string Text(const YAML::Node& n, const std::string& what) {
  if (!n.IsScalar()) Fail(n, what + " must be a single value");
  return n.as<std::string>();
}

double NumberOf(const YAML::Node& n, const std::string& what) {
  const std::string s = Text(n, what);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end == nullptr || *end != '\0') Fail(n, what + ": '" + s + "' is not a number");
  return v;
}

bool BoolOf(const YAML::Node& n, const std::string& what) {
  const std::string s = Text(n, what);
  if (s == "true") return true;
  if (s == "false") return false;
  Fail(n, what + ": '" + s + "' is not true or false");
}

struct OpName {
  const char* name;
  Op op;
};
constexpr OpName kOps[] = {{"eq", Op::kEq},           {"ne", Op::kNe},
                           {"lt", Op::kLt},           {"le", Op::kLe},
                           {"gt", Op::kGt},           {"ge", Op::kGe},
                           {"between", Op::kBetween}, {"outside", Op::kOutside},
                           {"present", Op::kPresent}, {"absent", Op::kAbsent}};

Condition ParseCondition(const YAML::Node& n, const char* subject_key, const std::string& what) {
  std::set<std::string> allowed = {subject_key, "raw"};
  for (const OpName& o : kOps) allowed.insert(o.name);
  OnlyKeys(n, allowed, what);
  Condition c;
  c.line = Line(n);
  if (!n[subject_key]) Fail(n, what + ": needs '" + subject_key + "'");
  c.subject = Text(n[subject_key], what + " " + subject_key);
  if (n["raw"]) c.raw = BoolOf(n["raw"], what + " raw");
  int ops = 0;
  for (const OpName& o : kOps) {
    const YAML::Node v = n[o.name];
    if (!v) continue;
    ++ops;
    c.op = o.op;
    const std::string w = what + " " + o.name;
    if (o.op == Op::kPresent || o.op == Op::kAbsent) {
      if (!BoolOf(v, w)) Fail(v, w + ": write the opposite test instead of false");
    } else if (o.op == Op::kBetween || o.op == Op::kOutside) {
      if (!v.IsSequence() || v.size() != 2) Fail(v, w + " needs [low, high]");
      c.value = NumberOf(v[0], w);
      c.high = NumberOf(v[1], w);
      if (c.high < c.value) Fail(v, w + ": low is above high");
    } else {
      const std::string s = Text(v, w);
      char* end = nullptr;
      const double d = std::strtod(s.c_str(), &end);
      if (!s.empty() && end != nullptr && *end == '\0') {
        c.value = d;
      } else if (o.op == Op::kEq || o.op == Op::kNe) {
        c.is_text = true;
        c.text = s;
      } else {
        Fail(v, w + ": '" + s + "' is not a number");
      }
    }
  }
  if (ops != 1) {
    Fail(n, what + " '" + c.subject +
                "' needs exactly one test of eq, ne, lt, le, gt, ge, between, outside, present, "
                "absent");
  }
  return c;
}

Selector ParseSelector(const YAML::Node& n, const std::string& what) {
  OnlyKeys(n, {"os", "version", "hosts", "labels"}, what);
  Selector s;
  if (n["os"]) {
    const std::string os = Text(n["os"], what + " os");
    if (os == "windows") {
      s.os = OsKind::kWindows;
    } else if (os == "linux") {
      s.os = OsKind::kLinux;
    } else {
      Fail(n["os"], what + ": os '" + os + "' is not windows or linux");
    }
  }
  if (n["version"]) {
    const YAML::Node v = n["version"];
    OnlyKeys(v, {"min", "max"}, what + " version");
    if (s.os == OsKind::kUnknown) Fail(v, what + ": a version range needs 'os'");
    if (v["min"]) s.version.min = Text(v["min"], what + " version min");
    if (v["max"]) s.version.max = Text(v["max"], what + " version max");
  }
  if (n["hosts"]) {
    const YAML::Node h = n["hosts"];
    if (h.IsScalar()) {
      s.hosts.push_back(h.as<std::string>());
    } else if (h.IsSequence()) {
      for (const auto& g : h) s.hosts.push_back(Text(g, what + " hosts"));
    } else {
      Fail(h, what + ": hosts must be a glob or a list of globs");
    }
  }
  if (n["labels"]) {
    const YAML::Node l = n["labels"];
    if (!l.IsMap()) Fail(l, what + ": labels must be a mapping");
    for (const auto& kv : l)
      s.labels[kv.first.as<std::string>()] = Text(kv.second, what + " label");
  }
  return s;
}

Rule ParseRule(const YAML::Node& n) {
  Rule r;
  r.line = Line(n);
  if (!n.IsMap()) Fail(n, "a rule must be a mapping");
  r.id = n["id"] ? Text(n["id"], "id") : "";
  const std::string what = "rule '" + r.id + "'";
  OnlyKeys(n,
           {"id", "title", "severity", "source", "remediation", "type", "selector", "when",
            "evidence", "peer"},
           what);
  if (r.id.empty()) Fail(n, "a rule has no id");
  if (n["title"]) r.title = Text(n["title"], what + " title");
  if (n["source"]) r.source = Text(n["source"], what + " source");
  if (n["remediation"]) r.remediation = Text(n["remediation"], what + " remediation");
  if (!n["severity"]) Fail(n, what + ": needs a severity (info, warning or critical)");
  const std::string sev = Text(n["severity"], what + " severity");
  if (!ParseSeverity(sev, &r.severity)) {
    Fail(n["severity"], what + ": severity '" + sev + "' is not info, warning or critical");
  }
  const std::string type = n["type"] ? Text(n["type"], what + " type") : "check";
  if (type == "peer") {
    r.kind = RuleKind::kPeer;
  } else if (type != "check") {
    Fail(n["type"], what + ": type '" + type + "' is not check or peer");
  }
  if (n["selector"]) r.selector = ParseSelector(n["selector"], what + " selector");
  for (const char* list : {"when", "evidence"}) {
    const YAML::Node l = n[list];
    if (!l) continue;
    if (!l.IsSequence()) Fail(l, what + ": " + list + " must be a list of conditions");
    const bool setting = std::string(list) == "when";
    for (const auto& c : l) {
      (setting ? r.when : r.evidence)
          .push_back(ParseCondition(c, setting ? "setting" : "observe", what + " " + list));
    }
  }
  if (r.kind == RuleKind::kPeer) {
    const YAML::Node p = n["peer"];
    if (!p) Fail(n, what + ": a peer rule needs 'peer: {setting: KEY}'");
    OnlyKeys(p, {"setting", "min_group"}, what + " peer");
    if (!p["setting"]) Fail(p, what + ": peer needs 'setting'");
    r.peer_setting = Text(p["setting"], what + " peer setting");
    if (p["min_group"]) {
      const double g = NumberOf(p["min_group"], what + " peer min_group");
      if (g < 2 || g > 1e6 || g != static_cast<double>(static_cast<uint32_t>(g))) {
        Fail(p["min_group"], what + ": peer min_group must be a whole number >= 2");
      }
      r.peer_min_group = static_cast<uint32_t>(g);
    }
  } else if (n["peer"]) {
    Fail(n["peer"], what + ": 'peer' belongs to rules of type peer");
  }
  return r;
}

}  // namespace

Expected<Policy> ParsePolicyYaml(const std::string& text, const std::string& origin) {
  Policy p;
  p.origin = origin;
  try {
    const YAML::Node root = YAML::Load(text);
    if (!root.IsMap()) Fail(root, "the policy must be a mapping with a 'rules' list");
    OnlyKeys(root, {"version", "rules"}, "the policy");
    if (root["version"] && Text(root["version"], "version") != "1") {
      Fail(root["version"], "policy version '" + root["version"].as<std::string>() +
                                "' is not supported (this collector reads version 1)");
    }
    const YAML::Node rules = root["rules"];
    if (!rules || !rules.IsSequence()) Fail(root, "the policy needs a 'rules' list");
    for (const auto& r : rules) p.rules.push_back(ParseRule(r));
  } catch (const ParseError& e) {
    return Status::Error(origin + " line " + std::to_string(e.line) + ": " + e.message);
  } catch (const YAML::Exception& e) {
    return Status::Error(origin + " line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  Status st = Validate(p);
  if (!st.ok()) return Status::Error(origin + ": " + st.message());
  return p;
}

Expected<Policy> LoadPolicyFile(const std::string& path) {
  auto text = ReadFileLimited(path, 4 << 20, "the policy file");
  if (!text.ok()) return text.status();
  return ParsePolicyYaml(*text, path);
}

}  // namespace portwatch::policy
