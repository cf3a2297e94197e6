// `audit` on the live Windows host (or Wine prefix): registry values written under
// Tcpip\Parameters reach the default policy through the real registry reads and the same
// evaluation code the collector runs. Which rules apply depends on the OS version the host
// reports (Wine reports a Vista-or-later build), so the expectations follow that version.
#include <gtest/gtest.h>
#include <windows.h>

#include <algorithm>
#include <string>
#include <vector>

#include "collect/socket_table.h"
#include "collect/windows_mapping.h"
#include "portwatch/policy/defaults.h"
#include "portwatch/win32.h"
#include "src/audit_command.h"

namespace portwatch::agent {
namespace {

// Writes DWORD values for one test and deletes them afterwards (the prefix has none of them;
// on a real host run this only where those values are not set).
class ScopedTcpipValues {
 public:
  ScopedTcpipValues() {
    ok_ = RegCreateKeyExW(HKEY_LOCAL_MACHINE, win32::Wide(win::kTcpipParametersKey).c_str(), 0,
                          nullptr, 0, KEY_QUERY_VALUE | KEY_SET_VALUE | KEY_WOW64_64KEY, nullptr,
                          &key_, nullptr) == ERROR_SUCCESS;
  }
  ~ScopedTcpipValues() {
    for (const std::wstring& n : written_) RegDeleteValueW(key_, n.c_str());
    if (key_ != nullptr) RegCloseKey(key_);
  }
  bool ok() const { return ok_; }
  // False when the value already exists: the test must not overwrite a host's real setting.
  bool Set(const char* name, DWORD v) {
    const std::wstring w = win32::Wide(name);
    if (RegQueryValueExW(key_, w.c_str(), nullptr, nullptr, nullptr, nullptr) == ERROR_SUCCESS) {
      return false;
    }
    written_.push_back(w);
    return RegSetValueExW(key_, w.c_str(), 0, REG_DWORD, reinterpret_cast<BYTE*>(&v), sizeof v) ==
           ERROR_SUCCESS;
  }

 private:
  HKEY key_ = nullptr;
  bool ok_ = false;
  std::vector<std::wstring> written_;
};

std::vector<std::string> Ids(const AuditResult& r) {
  std::vector<std::string> ids;
  for (const policy::Violation& v : r.violations) ids.push_back(v.rule_id);
  return ids;
}

bool Has(const std::vector<std::string>& ids, const std::string& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

TEST(LiveAudit, RegistryValuesInThePrefixAreJudgedByTheDefaultPolicy) {
  ScopedTcpipValues values;
  if (!values.ok()) GTEST_SKIP() << "cannot write HKLM\\...\\Tcpip\\Parameters (not elevated)";
  Sampler sampler(MakeSocketTable(), nullptr, nullptr, SamplerOptions{});
  auto before = AuditThisHost(AuditFlags{}, "audit-host", sampler);
  ASSERT_TRUE(before.ok()) << before.error();
  ASSERT_EQ(before->facts.os, OsKind::kWindows);
  const policy::OsVersion v = policy::ParseOsVersion(OsKind::kWindows, before->facts.os_version);
  ASSERT_TRUE(v.known) << before->facts.os_version;
  std::printf("audit under %s: %zu violations before\n", before->facts.os_version.c_str(),
              before->violations.size());
  ASSERT_FALSE(Has(Ids(*before), "windows-connection-rate-limiting"));

  ASSERT_TRUE(values.Set("EnableConnectionRateLimiting", 1));
  ASSERT_TRUE(values.Set("SynAttackProtect", 1));
  ASSERT_TRUE(values.Set("MaxUserPort", 5000));
  auto after = AuditThisHost(AuditFlags{}, "audit-host", sampler);
  ASSERT_TRUE(after.ok()) << after.error();
  const std::vector<std::string> ids = Ids(*after);
  if (v.windows_build() >= 6000) {
    EXPECT_TRUE(Has(ids, "windows-connection-rate-limiting"));
    EXPECT_TRUE(Has(ids, "windows-stale-syn-attack-protect"));
    EXPECT_FALSE(Has(ids, "windows-connection-rate-limit-hit"));  // no 4226 counted
    EXPECT_FALSE(Has(ids, "windows-maxuserport-5000"));  // MaxUserPort is not used from Vista on
  } else {
    EXPECT_TRUE(Has(ids, "windows-maxuserport-5000"));
    EXPECT_FALSE(Has(ids, "windows-stale-syn-attack-protect"));
  }
  for (const policy::Violation& x : after->violations) {
    EXPECT_FALSE(x.remediation.empty()) << x.rule_id;
  }
}

TEST(LiveAudit, PolicyFilesNeedTheYamlBuild) {
  Sampler sampler(MakeSocketTable(), nullptr, nullptr, SamplerOptions{});
  AuditFlags flags;
  flags.policy_file = "C:\\policy.yaml";
  auto r = AuditThisHost(flags, "audit-host", sampler);
#ifdef PORTWATCH_HAVE_POLICY_YAML
  ASSERT_FALSE(r.ok());  // the file does not exist
  EXPECT_NE(r.error().find("policy.yaml"), std::string::npos) << r.error();
#else
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("this build cannot read YAML policies"), std::string::npos) << r.error();
#endif
}

}  // namespace
}  // namespace portwatch::agent
