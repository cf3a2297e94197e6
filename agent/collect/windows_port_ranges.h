// Where a Windows host's TCP ephemeral ports come from when WMI's MSFT_NetTCPSetting is absent
// (Vista to Server 2008 R2, and Wine), and which of them can be handed out: the text of
// `netsh int ipv4 show dynamicport tcp` and `... show excludedportrange protocol=tcp`, read by
// its numbers (the labels are localized), and the documented defaults as a last resort.
// OS-neutral, tested on every OS on recorded-format text.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "portwatch/model.h"
#include "portwatch/status.h"

namespace portwatch::agent::win {

/// The dynamic range from `netsh int ipv4 show dynamicport tcp|udp` output in any language:
/// the first two "label : number" lines are the start port and the number of ports.
Expected<PortRange> ParseNetshDynamicPort(const std::string& text);

/// The excluded port ranges from `netsh int ipv4 show excludedportrange protocol=tcp` output in
/// any language: every line that starts with two numbers (start, end), administered ones
/// (marked `*`) included. Sorted, merged, clipped to `within`; an empty list when none.
Expected<std::vector<PortRange>> ParseNetshExcludedPortRanges(const std::string& text,
                                                              const PortRange& within);

/// The dynamic range Windows uses when nothing says otherwise: 49152-65535 from Vista / 2008
/// (major version 6) on, 1025-5000 before (MaxUserPort's default).
PortRange DocumentedDefaultDynamicRange(uint32_t os_major);

}  // namespace portwatch::agent::win
