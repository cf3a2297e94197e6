// Building blocks for the collector's scrape-time collectables.
#pragma once

#include <prometheus/metric_family.h>

#include <string>
#include <vector>

namespace portwatch::collector {

/// An empty family with its name, help and type.
prometheus::MetricFamily NewFamily(const std::string& name, const std::string& help,
                                   prometheus::MetricType type);

/// Appends one sample (a gauge or counter value, by the family's type) with these labels.
prometheus::ClientMetric& AddSample(prometheus::MetricFamily& f,
                                    std::vector<prometheus::ClientMetric::Label> labels,
                                    double value);

}  // namespace portwatch::collector
