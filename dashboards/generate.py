#!/usr/bin/env python3
"""Writes portwatch's Grafana dashboards (dashboards/*.json) from one description.

The JSON files are what Grafana loads and what the tests read; this script is how they are
edited: change a panel here, run `python3 dashboards/generate.py`, commit both. The test
`dashboards.generated` fails when the JSON and this script disagree.

Every panel queries the Prometheus datasource chosen by the $datasource variable (no datasource
id is hard-coded), every dashboard has a `collector` variable (the scrape `instance` of each
collector) and, where it applies, a `host` variable, both from label_values().
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DS = {"type": "prometheus", "uid": "${datasource}"}
C = 'instance=~"$collector"'
CH = 'instance=~"$collector",host=~"$host"'
H = 'host="$host"'

# Host states as the collector names them, in order of severity, with the colour every panel
# uses for them. at_risk sits between ok and drifting (a newer analysis state; unused until exported).
STATES = [("ok", 0, "green"), ("at_risk", 1, "light-yellow"), ("drifting", 2, "yellow"),
          ("critical", 3, "orange"), ("exhausted", 4, "red"), ("silent", 5, "text")]


def target(expr, legend="", ref="A", instant=False, fmt="time_series"):
    t = {"datasource": DS, "expr": expr, "refId": ref, "legendFormat": legend or "__auto",
         "range": not instant, "instant": instant,
         "format": "table" if instant and fmt == "time_series" else fmt}
    return t


def field_config(unit="short", custom=None, overrides=None, mappings=None, thresholds=None,
                 min_=None, max_=None, no_value=None, decimals=None, links=None):
    d = {"unit": unit, "color": {"mode": "palette-classic"},
         "thresholds": {"mode": "absolute", "steps": thresholds or [{"color": "green", "value": None}]},
         "mappings": mappings or []}
    if custom is not None:
        d["custom"] = custom
    if min_ is not None:
        d["min"] = min_
    if max_ is not None:
        d["max"] = max_
    if no_value is not None:
        d["noValue"] = no_value
    if decimals is not None:
        d["decimals"] = decimals
    if links:
        d["links"] = links
    return {"defaults": d, "overrides": overrides or []}


def state_colour_overrides():
    return [{"matcher": {"id": "byName", "options": s},
             "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": c}}]}
            for s, _, c in STATES]


def state_mappings():
    return [{"type": "value", "options": {
        str(code): {"text": s, "color": c, "index": code} for s, code, c in STATES}}]


LEGEND = {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": True}
TOOLTIP = {"mode": "multi", "sort": "desc"}
REDUCE_LAST = {"calcs": ["lastNotNull"], "fields": "", "values": False}


class Board:
    """Lays panels out left to right in rows of 24 grid units."""

    def __init__(self, uid, title, description, tags):
        self.uid, self.title, self.description, self.tags = uid, title, description, tags
        self.panels, self.variables = [], []
        self.x = self.y = self.row_h = 0

    def _place(self, w, h):
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        pos = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.x += w
        self.row_h = max(self.row_h, h)
        return pos

    def row(self, title):
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        self.panels.append({"type": "row", "title": title, "id": len(self.panels) + 1,
                            "collapsed": False, "panels": [],
                            "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1}})
        self.y += 1

    def panel(self, kind, title, description, targets, w, h, options, fc, transformations=None):
        p = {"type": kind, "title": title, "description": description,
             "id": len(self.panels) + 1, "datasource": DS, "gridPos": self._place(w, h),
             "targets": targets, "options": options, "fieldConfig": fc}
        if transformations:
            p["transformations"] = transformations
        self.panels.append(p)

    def timeseries(self, title, description, targets, w=12, h=8, unit="short", stack=False,
                   overrides=None, min_=None, max_=None, thresholds=None, bars=False):
        custom = {"drawStyle": "bars" if bars else "line", "lineWidth": 1,
                  "fillOpacity": 30 if stack else 10, "showPoints": "never",
                  "spanNulls": False, "axisPlacement": "auto",
                  "stacking": {"mode": "normal" if stack else "none", "group": "A"},
                  "thresholdsStyle": {"mode": "line" if thresholds else "off"}}
        self.panel("timeseries", title, description, targets, w, h,
                   {"legend": LEGEND, "tooltip": TOOLTIP},
                   field_config(unit, custom, overrides, thresholds=thresholds, min_=min_,
                                max_=max_))

    def stat(self, title, description, targets, w=4, h=4, unit="short", mappings=None,
             thresholds=None, no_value=None, graph=True, decimals=None):
        self.panel("stat", title, description, targets, w, h,
                   {"reduceOptions": REDUCE_LAST, "orientation": "auto", "textMode": "auto",
                    "colorMode": "value", "graphMode": "area" if graph else "none",
                    "justifyMode": "auto", "wideLayout": True, "showPercentChange": False,
                    "percentChangeColorMode": "standard"},
                   field_config(unit, mappings=mappings, thresholds=thresholds,
                                no_value=no_value, decimals=decimals))

    def table(self, title, description, targets, w=12, h=8, rename=None, units=None,
              sort=None, host_link=False, no_value=None):
        """An instant table: one row per label set, the queries merged on their labels. Columns
        renamed to "" are hidden (e.g. the constant 1 of a state or info series)."""
        hide = {"Time": True, "__name__": True, "job": True, "instance": True}
        hide.update({col: True for col, new in (rename or {}).items() if not new})
        rename = {col: new for col, new in (rename or {}).items() if new}
        overrides = [{"matcher": {"id": "byName", "options": col},
                      "properties": [{"id": "unit", "value": unit}]}
                     for col, unit in (units or {}).items()]
        if host_link:
            overrides.append({"matcher": {"id": "byName", "options": "host"}, "properties": [
                {"id": "links", "value": [{
                    "title": "Host drill-down",
                    "url": "/d/portwatch-host/portwatch-host?var-host=${__value.raw}"
                           "&${datasource:queryparam}&${collector:queryparam}&${__url_time_range}"}]}]})
        transformations = [{"id": "merge", "options": {}},
                           {"id": "organize", "options": {"excludeByName": hide,
                                                          "renameByName": rename}}]
        options = {"showHeader": True, "frameIndex": 0, "cellHeight": "sm"}
        if sort:
            options["sortBy"] = [{"displayName": sort[0], "desc": sort[1]}]
        self.panel("table", title, description, targets, w, h, options,
                   field_config(overrides=overrides, no_value=no_value,
                                custom={"align": "auto", "filterable": False, "inspect": False,
                                        "cellOptions": {"type": "auto"}}),
                   transformations)

    def heatmap(self, title, description, targets, w=12, h=8):
        self.panel("heatmap", title, description, targets, w, h,
                   {"calculate": False, "cellGap": 1,
                    "color": {"mode": "scheme", "scheme": "Oranges", "fill": "dark-orange",
                              "scale": "exponential", "exponent": 0.5, "steps": 64,
                              "reverse": False},
                    "exemplars": {"color": "rgba(255,0,255,0.7)"},
                    "filterValues": {"le": 1e-9},
                    "legend": {"show": True},
                    "rowsFrame": {"layout": "le"},
                    "showValue": "never",
                    "tooltip": {"mode": "single", "yHistogram": False, "showColorScale": False},
                    "yAxis": {"axisPlacement": "left", "unit": "percentunit", "reverse": False}},
                   field_config(custom={"hideFrom": {"legend": False, "tooltip": False,
                                                     "viz": False}}))

    def state_timeline(self, title, description, targets, w=24, h=5):
        self.panel("state-timeline", title, description, targets, w, h,
                   {"rowHeight": 0.9, "showValue": "auto", "mergeValues": True,
                    "alignValue": "left", "legend": LEGEND,
                    "tooltip": {"mode": "single", "sort": "none"}},
                   field_config(mappings=state_mappings(),
                                custom={"lineWidth": 0, "fillOpacity": 80}))

    def bargauge(self, title, description, targets, w=12, h=8, unit="short", max_=None):
        self.panel("bargauge", title, description, targets, w, h,
                   {"displayMode": "gradient", "orientation": "horizontal",
                    "reduceOptions": REDUCE_LAST, "showUnfilled": True, "sizing": "auto",
                    "minVizHeight": 16, "minVizWidth": 8, "maxVizHeight": 300,
                    "namePlacement": "auto", "valueMode": "color", "legend": LEGEND},
                   field_config(unit, min_=0, max_=max_,
                                thresholds=[{"color": "green", "value": None},
                                            {"color": "orange", "value": 0.8 if max_ == 1 else 80},
                                            {"color": "red", "value": 0.95 if max_ == 1 else 95}]))

    # Variables -------------------------------------------------------------------------------
    def datasource_var(self):
        self.variables.append({"type": "datasource", "name": "datasource", "label": "Prometheus",
                               "query": "prometheus", "hide": 0, "refresh": 1, "regex": ""})

    def query_var(self, name, label, query, multi, include_all=True):
        v = {"type": "query", "name": name, "label": label, "datasource": DS,
             "query": {"query": query, "refId": f"{name}-values"},
             "refresh": 2, "sort": 1, "multi": multi, "includeAll": include_all, "hide": 0,
             "regex": ""}
        if include_all:
            v["allValue"] = ".*"
        self.variables.append(v)

    def json(self):
        return {
            "uid": self.uid, "title": self.title, "description": self.description,
            "tags": ["portwatch", *self.tags], "editable": True, "graphTooltip": 1,
            "schemaVersion": 39, "version": 1, "refresh": "30s", "timezone": "browser",
            "fiscalYearStartMonth": 0, "liveNow": False,
            "time": {"from": "now-6h", "to": "now"}, "timepicker": {},
            "annotations": {"list": [{
                "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts", "type": "dashboard"}]},
            "links": [{"type": "dashboards", "tags": ["portwatch"], "asDropdown": True,
                       "title": "portwatch", "icon": "external link", "includeVars": True,
                       "keepTime": True, "targetBlank": False, "tooltip": "", "url": ""}],
            "templating": {"list": self.variables},
            "panels": self.panels,
        }


def common_vars(b, host=None):
    b.datasource_var()
    b.query_var("collector", "Collector", "label_values(portwatch_fleet_hosts, instance)", True)
    if host == "multi":
        b.query_var("host", "Host", 'label_values(portwatch_host_info{instance=~"$collector"}, host)',
                    True)
    elif host == "single":
        b.query_var("host", "Host", 'label_values(portwatch_host_info{instance=~"$collector"}, host)',
                    False, include_all=False)


def state_code(sel):
    """One number per host for its state (see STATES), from the one-series-per-host state."""
    parts = [f'(portwatch_host_state{{{sel},state="{s}"}} == 1) * {code}' for s, code, _ in STATES]
    return "max by (host) (" + " or ".join(parts) + ")"


def fleet_overview():
    b = Board("portwatch-fleet", "portwatch / Fleet overview",
              "Which hosts run out of TCP ports, when, and why: states, worst hosts with their "
              "forecast and driver, range utilisation across the fleet, port-trouble events, "
              "the destinations and processes holding the most ports, silent hosts.", ["fleet"])
    common_vars(b, host="multi")
    b.row("Fleet")
    b.stat("Hosts", "Hosts known to the selected collectors.",
           [target(f"sum(portwatch_fleet_hosts{{{C}}})")], graph=False)
    b.stat("Not ok", "Hosts drifting, critical, exhausted or silent now.",
           [target(f'sum(portwatch:host_state:count{{{C},state!="ok"}}) or vector(0)')],
           thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}])
    b.stat("Silent", "Hosts whose agent has not reported for the collector's --silent-after.",
           [target(f"sum(portwatch_fleet_silent_hosts{{{C}}})")],
           thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}])
    b.stat("Fullest host", "The highest ephemeral-range utilisation of any host.",
           [target(f"max(portwatch:host_ephemeral_port_utilization_ratio:max{{{C}}})")],
           unit="percentunit", thresholds=[{"color": "green", "value": None},
                                           {"color": "orange", "value": 0.8},
                                           {"color": "red", "value": 0.95}])
    b.stat("Mean utilisation", "Mean ephemeral-range utilisation over the fleet.",
           [target(f"avg(portwatch:host_ephemeral_port_utilization_ratio:avg{{{C}}})")],
           unit="percentunit")
    b.stat("Port trouble (1 h)", "Hosts whose OS counted port-trouble events (Tcpip "
           "4226/4227/4231, TIME_WAIT bucket overflows) in the last hour.",
           [target(f"sum(portwatch:host_port_trouble_events:hosts_1h{{{C}}})")],
           thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 1}])
    b.timeseries("Hosts by state", "Hosts in each drift state over time (one series per host "
                 "and state counted by the recording rule portwatch:host_state:count).",
                 [target(f"sum by (state) (portwatch:host_state:count{{{C}}})", "{{state}}")],
                 w=12, stack=True, overrides=state_colour_overrides())
    b.table("Worst hosts", "Hosts that are not ok, with their utilisation, time to exhaustion, "
            "when they are forecast full, growth, and the process and destination driving them "
            "(the fastest-growing process and the destination under most pressure). Click a "
            "host for its drill-down.",
            [target(f'portwatch_host_state{{{CH},state!="ok"}} == 1', ref="A", instant=True),
             target(f"portwatch_host_ephemeral_port_utilization_ratio{{{CH}}} and on (host) "
                    f'(portwatch_host_state{{{CH},state!="ok"}} == 1)', ref="B", instant=True),
             target(f"portwatch_host_exhaustion_eta_seconds{{{CH}}}", ref="C", instant=True),
             target(f"portwatch_host_exhaustion_forecast_timestamp_seconds{{{CH}}} * 1000",
                    ref="D", instant=True),
             target(f"portwatch_host_port_growth_ratio_per_second{{{CH}}} * 360000", ref="E",
                    instant=True),
             target(f"topk by (host) (1, portwatch_host_process_port_growth_per_second{{{CH}}} "
                    f'and on (host) (portwatch_host_state{{{CH},state!="ok"}} == 1))',
                    ref="F", instant=True),
             target(f"topk by (host) (1, portwatch_host_destination_pressure_ratio{{{CH}}} "
                    f'and on (host) (portwatch_host_state{{{CH},state!="ok"}} == 1))',
                    ref="G", instant=True)],
            w=12, h=8, host_link=True, sort=("time to full", False),
            rename={"Value #A": "", "Value #B": "utilisation", "Value #C": "time to full",
                    "Value #D": "forecast full at", "Value #E": "growth %/h",
                    "Value #F": "driver growth ports/s", "Value #G": "destination pressure",
                    "process": "driver process", "destination": "driver destination"},
            units={"utilisation": "percentunit", "time to full": "s",
                   "forecast full at": "dateTimeAsIso", "destination pressure": "percentunit",
                   "growth %/h": "suffix:%/h"})
    b.row("Utilisation")
    b.heatmap("Ephemeral-range utilisation across hosts", "How many hosts sit at each "
              "utilisation over time (buckets of 10%, 95% and 100%; recording rule "
              "portwatch:host_ephemeral_port_utilization_ratio:hosts_le). A band creeping up "
              "is a fleet-wide leak; a lone cell at the top is one host.",
              [target(f"sum by (le) (portwatch:host_ephemeral_port_utilization_ratio:hosts_le"
                      f"{{{C}}})", "{{le}}", fmt="heatmap")])
    b.timeseries("Fullest hosts", "The ten hosts using the most of their ephemeral range.",
                 [target(f"topk(10, portwatch_host_ephemeral_port_utilization_ratio{{{CH}}})",
                         "{{host}}")],
                 unit="percentunit", min_=0, max_=1,
                 thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 0.8},
                             {"color": "red", "value": 0.98}])
    b.row("Events and sockets")
    b.timeseries("Port-trouble events (Tcpip / kernel)", "Per second across the fleet: Windows "
                 "Tcpip 4226 (half-open limit), 4227 (TIME_WAIT collision toward one endpoint), "
                 "4231 (ephemeral ports exhausted); Linux TIME_WAIT bucket overflows.",
                 [target(f"sum by (event) (portwatch:host_port_trouble_events:rate5m{{{C}}})",
                         "{{event}}")], unit="short")
    b.timeseries("Fleet TCP sockets by state", "Sockets of every host summed by state, TIME_WAIT "
                 "and BOUND (bound, never connected) among them.",
                 [target(f"sum by (state) (portwatch:host_sockets:sum{{{C}}})", "{{state}}")],
                 stack=True)
    b.row("Who holds the ports")
    b.table("Top destinations", "Remote endpoints toward which hosts hold the most local ports "
            "(summed over the hosts that export detail), and on how many hosts those ports "
            "grow.",
            [target(f"topk(10, sum by (destination) (portwatch:destination_local_ports:sum"
                    f"{{{C}}}))", ref="A", instant=True),
             target(f"sum by (destination) (portwatch_fleet_destination_growing_hosts{{{C}}})",
                    ref="B", instant=True)],
            rename={"Value #A": "local ports", "Value #B": "growing on hosts"},
            sort=("local ports", True))
    b.table("Top processes", "Programs (by name, over all their instances) holding the most "
            "ephemeral ports, and on how many hosts their ports grow.",
            [target(f"topk(10, sum by (process) (portwatch:process_ephemeral_ports:sum"
                    f"{{{C}}}))", ref="A", instant=True),
             target(f"sum by (process) (portwatch_fleet_process_growing_hosts{{{C}}})", ref="B",
                    instant=True)],
            rename={"Value #A": "ephemeral ports", "Value #B": "growing on hosts"},
            sort=("ephemeral ports", True))
    b.row("Silent hosts")
    b.table("Silent hosts", "Hosts whose agent stopped reporting: when the collector last "
            "stored a report from each and how long ago. A host out of ports may fail to "
            "reconnect too.",
            [target(f'portwatch_host_state{{{CH},state="silent"}} == 1', ref="A", instant=True),
             target(f"portwatch_host_last_report_timestamp_seconds{{{CH}}} * 1000 and on (host) "
                    f'(portwatch_host_state{{{CH},state="silent"}} == 1)', ref="B", instant=True),
             target(f"time() - portwatch_host_last_report_timestamp_seconds{{{CH}}} and on (host) "
                    f'(portwatch_host_state{{{CH},state="silent"}} == 1)', ref="C", instant=True)],
            w=24, h=6, host_link=True, sort=("silent for", True),
            rename={"Value #A": "", "Value #B": "last report", "Value #C": "silent for"},
            units={"last report": "dateTimeAsIso", "silent for": "s"})
    return b


def host_drilldown():
    b = Board("portwatch-host", "portwatch / Host", "One host: its state history, range "
              "utilisation against capacity with the forecast, per-destination pressure and "
              "per-process ports, TIME_WAIT, events, TCP settings and the agent's health. "
              "Destination, process, settings and all-counter series exist for hosts that are "
              "drifting or worse or among the most utilised (the collector's "
              "--metrics-detail-hosts); "
              "`portwatchctl host NAME` has them for every host.", ["host"])
    common_vars(b, host="single")
    b.row("State")
    b.state_timeline("State history", "The host's drift state over time.",
                     [target(state_code(H), "state")])
    b.stat("State", "The host's state now.", [target(state_code(H), "state")],
           mappings=state_mappings(), graph=False)
    b.stat("Utilisation", "Share of the usable ephemeral range held now.",
           [target(f"portwatch_host_ephemeral_port_utilization_ratio{{{H}}}")], unit="percentunit",
           thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 0.8},
                       {"color": "red", "value": 0.98}])
    b.stat("Forecast full at", "When the host (or its worst destination) is forecast to run "
           "out at its current growth; only while drifting or worse.",
           [target(f"portwatch_host_exhaustion_forecast_timestamp_seconds{{{H}}} * 1000")],
           unit="dateTimeAsIso", no_value="not forecast", graph=False)
    b.stat("Time to exhaustion", "Forecast time until the host runs out.",
           [target(f"portwatch_host_exhaustion_eta_seconds{{{H}}}")], unit="s",
           no_value="not forecast")
    b.stat("Growth", "Growth of the host's worst series, in % of its capacity per hour; only "
           "while not ok.", [target(f"portwatch_host_port_growth_ratio_per_second{{{H}}} * 360000")],
           unit="suffix:%/h", no_value="none", decimals=2)
    b.table("Host", "Operating system and agent version.",
            [target(f"portwatch_host_info{{{H}}}", instant=True)], w=4, h=4,
            rename={"Value": "", "host": ""})
    b.row("Ports")
    b.timeseries("Ephemeral ports: in use against capacity, with the forecast", "Ports of the "
                 "usable range held, the range's capacity, and where the current growth takes "
                 "the host in one hour.",
                 [target(f"portwatch_host_ephemeral_ports_in_use{{{H}}}", "in use", "A"),
                  target(f"portwatch_host_ephemeral_ports_usable{{{H}}}", "usable", "B"),
                  target(f"portwatch_host_ephemeral_ports_in_use{{{H}}} + "
                         f"portwatch_host_port_growth_ratio_per_second{{{H}}} * "
                         f"portwatch_host_ephemeral_ports_usable{{{H}}} * 3600",
                         "projected in 1 h", "C")],
                 min_=0, overrides=[{"matcher": {"id": "byName", "options": "usable"},
                                     "properties": [{"id": "color", "value": {
                                         "mode": "fixed", "fixedColor": "red"}}]}])
    b.timeseries("Range utilisation", "In use over usable.",
                 [target(f"portwatch_host_ephemeral_port_utilization_ratio{{{H}}}", "utilisation")],
                 unit="percentunit", min_=0, max_=1,
                 thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 0.8},
                             {"color": "red", "value": 0.98}])
    b.row("Destinations and processes")
    b.timeseries("4-tuple pressure per destination", "Local ports toward each remote ip:port "
                 "over the usable range: near 100% new connections to it fail (Windows 4227, "
                 "Linux EADDRNOTAVAIL) even with ports free for others.",
                 [target(f"portwatch_host_destination_pressure_ratio{{{H}}}", "{{destination}}")],
                 unit="percentunit", min_=0)
    b.table("Destinations", "Per destination: local ports, pressure, and its own forecast.",
            [target(f"portwatch_host_destination_local_ports{{{H}}}", ref="A", instant=True),
             target(f"portwatch_host_destination_pressure_ratio{{{H}}}", ref="B", instant=True),
             target(f"portwatch_host_destination_exhaustion_eta_seconds{{{H}}}", ref="C",
                    instant=True)],
            rename={"Value #A": "local ports", "Value #B": "pressure", "Value #C": "time to full",
                    "host": ""},
            units={"pressure": "percentunit", "time to full": "s"}, sort=("local ports", True))
    b.timeseries("Connections per destination by state", "Connections toward each destination "
                 "by TCP state.",
                 [target(f"portwatch_host_destination_connections{{{H}}}",
                         "{{destination}} {{state}}")])
    b.timeseries("Ephemeral ports per process", "Ports held by each program (all its "
                 "instances).",
                 [target(f"portwatch_host_process_ephemeral_ports{{{H}}}", "{{process}}")],
                 min_=0)
    b.table("Processes", "Per process: ephemeral ports held and their growth.",
            [target(f"portwatch_host_process_ephemeral_ports{{{H}}}", ref="A", instant=True),
             target(f"portwatch_host_process_port_growth_per_second{{{H}}} * 3600", ref="B",
                    instant=True)],
            rename={"Value #A": "ephemeral ports", "Value #B": "growth ports/h", "host": ""},
            sort=("ephemeral ports", True))
    b.timeseries("Listener accept queues", "Accept queue use of the fullest listeners against "
                 "their backlog.",
                 [target(f"portwatch_host_listener_accept_queue{{{H}}}", "{{listener}} queue", "A"),
                  target(f"portwatch_host_listener_backlog{{{H}}}", "{{listener}} backlog", "B")])
    b.stat("Ephemeral range", "The range the OS hands ports out of (lowest and highest port).",
           [target(f"portwatch_host_ephemeral_range_low{{{H}}}", "low", "A"),
            target(f"portwatch_host_ephemeral_range_high{{{H}}}", "high", "B")],
           w=6, h=8, graph=False)
    b.timeseries("Sockets by family", "Non-zero socket counts by address family and state.",
                 [target(f"portwatch_host_sockets_by_family{{{H}}}", "{{family}} {{state}}")],
                 w=18)
    b.row("Sockets and events")
    b.timeseries("TIME_WAIT", "Sockets in TIME_WAIT: each holds its port toward its "
                 "destination for the OS's TIME_WAIT delay (Linux 60 s; Windows "
                 "TcpTimedWaitDelay).",
                 [target(f'portwatch_host_sockets{{{H},state="time_wait"}}', "time_wait")], min_=0)
    b.timeseries("Sockets by state", "TCP sockets of the host by state (IPv4 and IPv6 summed).",
                 [target(f"portwatch_host_sockets{{{H}}}", "{{state}}")], stack=True)
    b.timeseries("Port-trouble events", "Per second: Tcpip 4226/4227/4231 on Windows, TIME_WAIT "
                 "bucket overflows on Linux.",
                 [target(f"rate(portwatch_host_port_trouble_events_total{{{H}}}[$__rate_interval])",
                         "{{event}}")])
    b.timeseries("All kernel and Tcpip counters", "Every counter the agent reports (listen "
                 "overflows, SYN cookies, failed attempts, ...), per second.",
                 [target(f"rate(portwatch_host_events_total{{{H}}}[$__rate_interval])",
                         "{{event}}")])
    b.row("Settings")
    b.table("TCP settings (numeric)", "Settings as last reported (Tcpip\\Parameters, the dynamic "
            "port range; Linux sysctls). A setting the OS has no explicit value for is absent: "
            "its default applies.",
            [target(f"portwatch_host_config_value{{{H}}}", instant=True)],
            rename={"Value": "value", "host": ""}, sort=("key", False))
    b.table("TCP settings (text)", "Settings whose value is text (e.g. ip_local_reserved_ports).",
            [target(f"portwatch_host_config_info{{{H}}}", instant=True)],
            rename={"Value": "", "host": ""}, sort=("key", False))
    b.row("Agent health")
    b.timeseries("Spool", "Reports the agent holds unacknowledged when it reported (the collector "
                 "unreachable or slow) and their size on disk.",
                 [target(f"portwatch_host_agent_reports_pending{{{H}}}", "reports pending", "A"),
                  target(f"portwatch_host_agent_spool_bytes{{{H}}}", "spool bytes", "B")],
                 w=8, overrides=[{"matcher": {"id": "byName", "options": "spool bytes"},
                                  "properties": [{"id": "unit", "value": "bytes"},
                                                 {"id": "custom.axisPlacement",
                                                  "value": "right"}]}])
    b.timeseries("Drops and spool failures", "Reports dropped unsent (spool bound reached), "
                 "spool write failures and corrupt records skipped, per interval.",
                 [target(f"increase(portwatch_host_agent_reports_dropped_total{{{H}}}"
                         "[$__rate_interval])", "dropped", "A"),
                  target(f"increase(portwatch_host_agent_spool_write_failures_total{{{H}}}"
                         "[$__rate_interval])", "write failures", "B"),
                  target(f"increase(portwatch_host_agent_spool_corrupt_records_total{{{H}}}"
                         "[$__rate_interval])", "corrupt records", "C")], w=8, bars=True)
    b.timeseries("Scan time", "How long the agent's scan of the socket table took.",
                 [target(f"portwatch_host_agent_scan_duration_seconds{{{H}}}", "scan")], w=8,
                 unit="s", min_=0)
    b.stat("Degraded", "1 when the agent could not read a source (e.g. the kernel log without "
           "privilege): its counts are missing, not zero.",
           [target(f"portwatch_host_agent_degraded{{{H}}}")], graph=False,
           mappings=[{"type": "value", "options": {
               "0": {"text": "no", "color": "green", "index": 0},
               "1": {"text": "degraded", "color": "orange", "index": 1}}}])
    b.stat("Last report", "When the collector stored the host's latest report.",
           [target(f"portwatch_host_last_report_timestamp_seconds{{{H}}} * 1000")],
           unit="dateTimeFromNow", graph=False)
    b.stat("Reports per minute", "Reports stored per minute (duplicates of resent reports "
           "excluded).", [target(f"rate(portwatch_host_reports_total{{{H}}}[$__rate_interval]) * 60")],
           decimals=1)
    b.stat("Duplicates", "Reports received again after they were stored (resent after a lost "
           "acknowledgement).", [target(f"portwatch_host_reports_duplicate_total{{{H}}}")])
    b.stat("Clock skew", "The agent's clock against the collector's (agent clocks are "
           "advisory: receipt time orders reports).",
           [target(f"portwatch_host_clock_skew_seconds{{{H}}}")], unit="s", decimals=1)
    b.stat("Agent certificate expires", "When the host's client certificate expires: renew it "
           "before, or the collector refuses the agent.",
           [target(f"portwatch_agent_certificate_expiry_timestamp_seconds{{{H}}} * 1000")],
           unit="dateTimeFromNow", graph=False)
    return b


def policy_compliance():
    b = Board("portwatch-policy", "portwatch / Policy compliance", "The TCP settings policy "
              "audited on every host's configuration: violations by rule and severity, "
              "compliance per rule, the hosts failing each rule, and agent certificates close "
              "to expiry.", ["policy"])
    common_vars(b, host="multi")
    b.query_var("rule", "Rule",
                'label_values(portwatch_policy_rule_violating_hosts{instance=~"$collector"}, rule)',
                True)
    b.query_var("severity", "Severity", 'label_values(portwatch_policy_rule_violating_hosts'
                '{instance=~"$collector"}, severity)', True)
    sel = f'{C},rule=~"$rule",severity=~"$severity"'
    b.row("Violations")
    b.stat("Hosts violating a rule", "Hosts with at least one violation of the selected rules.",
           [target(f"count(count by (host) (portwatch_policy_violation{{{sel},host=~\"$host\"}} "
                   "== 1)) or vector(0)")],
           thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}], w=6)
    b.stat("Violations by severity", "Hosts failing a rule, summed over rules, per severity.",
           [target(f"sum by (severity) (portwatch_policy_rule_violating_hosts{{{sel}}})",
                   "{{severity}}")], w=18, graph=False)
    b.timeseries("Violations by rule and severity", "Hosts failing each rule over time.",
                 [target(f"sum by (rule, severity) (portwatch_policy_rule_violating_hosts"
                         f"{{{sel}}})", "{{rule}} ({{severity}})")], stack=True)
    b.bargauge("Compliance per rule", "Share of the hosts a rule applies to that comply.",
               [target(f"min by (rule) (portwatch_policy_rule_compliance_ratio{{{C},rule=~\"$rule\"}})",
                       "{{rule}}")], unit="percentunit", max_=1)
    b.table("Hosts failing each rule", "One row per host and rule it violates, with the rule's "
            "severity. `portwatchctl` shows the setting's value and what the rule expects.",
            [target(f"portwatch_policy_violation{{{sel},host=~\"$host\"}} == 1", instant=True)],
            w=24, h=10, host_link=True, rename={"Value": ""}, sort=("rule", False))
    b.row("Certificates")
    b.table("Agent certificates expiring soonest", "Days until each agent's client certificate "
            "expires, soonest first.",
            [target(f"sort((portwatch_agent_certificate_expiry_timestamp_seconds{{{CH}}} - time()) "
                    "/ 86400)", ref="A", instant=True),
             target(f"portwatch_agent_certificate_expiry_timestamp_seconds{{{CH}}} * 1000",
                    ref="B", instant=True)],
            w=24, h=8, host_link=True, sort=("days left", False),
            rename={"Value #A": "days left", "Value #B": "expires"},
            units={"expires": "dateTimeAsIso"})
    return b


def collector_health():
    b = Board("portwatch-collector", "portwatch / Collector health", "The collectors "
              "themselves: ingest rate and rejections by reason, the store queue and commit "
              "latency, agent streams, the publish queue and view age, and how long a scrape "
              "takes.", ["collector"])
    common_vars(b)
    b.row("Now")
    b.stat("Up", "Whether Prometheus scrapes each collector.",
           [target(f'up{{job=~"portwatch.*",{C}}}', "{{instance}}")], graph=False,
           mappings=[{"type": "value", "options": {
               "0": {"text": "down", "color": "red", "index": 0},
               "1": {"text": "up", "color": "green", "index": 1}}}])
    b.stat("Hosts", "Hosts known.", [target(f"sum(portwatch_fleet_hosts{{{C}}})")])
    b.stat("Agent streams", "Open agent streams.", [target(f"sum(portwatch_ingest_streams{{{C}}})")])
    b.stat("Store queue", "Reports waiting for the database writer.",
           [target(f"sum(portwatch_store_queue_length{{{C}}})")])
    b.stat("View age", "Age of the fleet view /metrics and the query API read.",
           [target(f"max(portwatch_view_age_seconds{{{C}}})")], unit="s",
           thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 60}])
    b.stat("Rejections (1 h)", "Streams and reports refused in the last hour.",
           [target(f"sum(increase(portwatch_ingest_rejected_total{{{C}}}[1h]))")],
           thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}])
    b.row("Ingest")
    b.timeseries("Ingest rate", "Reports stored and duplicates acknowledged per second.",
                 [target(f"sum by (instance) (rate(portwatch_ingest_reports_total{{{C}}}"
                         "[$__rate_interval]))", "{{instance}} reports", "A"),
                  target(f"sum by (instance) (rate(portwatch_ingest_duplicates_total{{{C}}}"
                         "[$__rate_interval]))", "{{instance}} duplicates", "B")], unit="reqps")
    b.timeseries("Rejections by reason", "Refused streams and reports per second by reason "
                 "(host_mismatch, invalid_report, too_many_streams, store_overloaded, ...); the "
                 "collector's log names the hosts.",
                 [target(f"sum by (instance, reason) (rate(portwatch_ingest_rejected_total{{{C}}}"
                         "[$__rate_interval]))", "{{instance}} {{reason}}")], bars=True)
    b.timeseries("Agent streams", "Open agent streams (one per connected agent).",
                 [target(f"portwatch_ingest_streams{{{C}}}", "{{instance}}")], w=8)
    b.timeseries("Out-of-order, pruned, forgotten", "Reports dated before their host's newest (a "
                 "clock stepped back, a late spool, two agents with one identity), history rows "
                 "pruned by retention (per second), and hosts forgotten after --history-max-age "
                 "without a report (per hour).",
                 [target(f"rate(portwatch_analysis_out_of_order_reports_total{{{C}}}"
                         "[$__rate_interval])", "{{instance}} out of order", "A"),
                  target(f"rate(portwatch_store_reports_pruned_total{{{C}}}[$__rate_interval])",
                         "{{instance}} pruned", "B"),
                  target(f"increase(portwatch_fleet_hosts_forgotten_total{{{C}}}[1h])",
                         "{{instance}} hosts forgotten / h", "C")], w=8)
    b.timeseries("Publish queue and view age", "Committed batches waiting for the analysis "
                 "thread, batches it dropped, and the age of the published view.",
                 [target(f"portwatch_publish_queue_length{{{C}}}", "{{instance}} queue", "A"),
                  target(f"rate(portwatch_publish_queue_dropped_total{{{C}}}[$__rate_interval])",
                         "{{instance}} dropped/s", "B"),
                  target(f"portwatch_view_age_seconds{{{C}}}", "{{instance}} view age s", "C")],
                 w=8)
    b.timeseries("Publish duration", "Time to apply one committed batch to fleet state and "
                 "analysis and publish the new view, median and 99th percentile.",
                 [target("histogram_quantile(0.5, sum by (instance, le) (rate("
                         f"portwatch_publish_duration_seconds_bucket{{{C}}}[$__rate_interval])))",
                         "{{instance}} p50", "A"),
                  target("histogram_quantile(0.99, sum by (instance, le) (rate("
                         f"portwatch_publish_duration_seconds_bucket{{{C}}}[$__rate_interval])))",
                         "{{instance}} p99", "B")], w=24, h=6, unit="s", min_=0)
    b.row("Store")
    b.timeseries("Store queue", "Reports waiting for the database writer, refusals because it "
                 "was full, and failed transactions per second.",
                 [target(f"portwatch_store_queue_length{{{C}}}", "{{instance}} queued", "A"),
                  target(f"rate(portwatch_store_queue_full_total{{{C}}}[$__rate_interval])",
                         "{{instance}} full/s", "B"),
                  target(f"rate(portwatch_store_write_errors_total{{{C}}}[$__rate_interval])",
                         "{{instance}} errors/s", "C")])
    b.timeseries("Commit latency", "Database commit duration, median and 99th percentile.",
                 [target("histogram_quantile(0.5, sum by (instance, le) (rate("
                         f"portwatch_store_commit_duration_seconds_bucket{{{C}}}[$__rate_interval])))",
                         "{{instance}} p50", "A"),
                  target("histogram_quantile(0.99, sum by (instance, le) (rate("
                         f"portwatch_store_commit_duration_seconds_bucket{{{C}}}[$__rate_interval])))",
                         "{{instance}} p99", "B")], unit="s", min_=0)
    b.row("Scrape")
    b.timeseries("Scrape duration", "How long Prometheus's scrape of each collector takes, and "
                 "how long the collector took to render its previous scrape.",
                 [target(f"scrape_duration_seconds{{{C}}}", "{{instance}} scrape", "A"),
                  target(f"portwatch_scrape_render_duration_seconds{{{C}}}",
                         "{{instance}} render", "B")], w=8, unit="s", min_=0)
    b.timeseries("Hosts exported with detail", "Hosts whose per-destination, per-process and "
                 "settings series are exported, by reason: not_ok (drifting or worse), or "
                 "top_utilization (among the --metrics-detail-hosts most utilised ok hosts). The "
                 "rest cost about 20 series each.",
                 [target(f"count by (instance, reason) (portwatch_host_detail{{{C}}})",
                         "{{instance}} {{reason}}")], w=8, stack=True)
    b.timeseries("Scrape size", "Samples per scrape (the metric set's size budget: about 25 "
                 "per healthy host) and bytes served per second.",
                 [target(f"scrape_samples_scraped{{{C}}}", "{{instance}} samples", "A"),
                  target(f"rate(exposer_transferred_bytes_total{{{C}}}[$__rate_interval])",
                         "{{instance}} bytes/s", "B")],
                 w=8, overrides=[{"matcher": {"id": "byRegexp", "options": ".*bytes/s"},
                             "properties": [{"id": "unit", "value": "Bps"},
                                            {"id": "custom.axisPlacement", "value": "right"}]}])
    return b


BOARDS = {"fleet-overview.json": fleet_overview, "host-drilldown.json": host_drilldown,
          "policy-compliance.json": policy_compliance, "collector-health.json": collector_health}


def render():
    return {name: json.dumps(make().json(), indent=2) + "\n" for name, make in BOARDS.items()}


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for name, text in render().items():
        path = os.path.join(HERE, name)
        if check:
            with open(path) as f:
                if f.read() != text:
                    stale.append(name)
        else:
            with open(path, "w") as f:
                f.write(text)
    if stale:
        print(f"dashboards out of date with generate.py: {', '.join(stale)}; run "
              "`python3 dashboards/generate.py` and commit the JSON", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
