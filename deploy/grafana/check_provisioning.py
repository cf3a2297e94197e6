#!/usr/bin/env python3
"""Checks the Grafana provisioning files against what the dashboards and Prometheus config
expect (no Grafana server is packaged for Debian 12, so this is a consistency check, not a
load): a Prometheus data source whose timeInterval is prometheus.yml's scrape interval, one file
provider pointing at a directory, and dashboards that select their data source through the
$datasource variable of type prometheus, never by a hard-coded id."""
import glob
import json
import os
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def main():
    errors = []
    with open(os.path.join(HERE, "provisioning", "datasources", "portwatch.yml")) as f:
        ds = yaml.safe_load(f)
    with open(os.path.join(HERE, "provisioning", "dashboards", "portwatch.yml")) as f:
        prov = yaml.safe_load(f)
    with open(os.path.join(ROOT, "deploy", "prometheus", "prometheus.yml")) as f:
        prom = yaml.safe_load(f)
    if ds.get("apiVersion") != 1 or prov.get("apiVersion") != 1:
        errors.append("provisioning files must say apiVersion: 1")
    sources = ds.get("datasources") or []
    if len(sources) != 1 or sources[0].get("type") != "prometheus":
        errors.append("datasources/portwatch.yml: expected one data source of type prometheus")
    else:
        s = sources[0]
        for key in ("name", "uid", "url", "access"):
            if not s.get(key):
                errors.append(f"datasources/portwatch.yml: '{key}' is missing")
        want = prom["global"]["scrape_interval"]
        if (s.get("jsonData") or {}).get("timeInterval") != want:
            errors.append(f"datasources/portwatch.yml: jsonData.timeInterval must be "
                          f"prometheus.yml's scrape_interval ({want})")
    providers = prov.get("providers") or []
    if len(providers) != 1 or providers[0].get("type") != "file" or \
            not (providers[0].get("options") or {}).get("path"):
        errors.append("dashboards/portwatch.yml: expected one provider of type file with "
                      "options.path")
    boards = [b for b in glob.glob(os.path.join(ROOT, "dashboards", "*.json"))
              if not b.endswith(("package.json", "package-lock.json"))]
    uids = set()
    for path in sorted(boards):
        name = os.path.basename(path)
        with open(path) as f:
            board = json.load(f)
        if not board.get("uid") or board["uid"] in uids:
            errors.append(f"{name}: needs a uid of its own")
        uids.add(board.get("uid"))
        variables = {v["name"]: v for v in board["templating"]["list"]}
        dsv = variables.get("datasource")
        if not dsv or dsv.get("type") != "datasource" or dsv.get("query") != "prometheus":
            errors.append(f"{name}: needs a datasource variable of type prometheus")
        for v in ("collector",):
            if "label_values(" not in json.dumps((variables.get(v) or {}).get("query")):
                errors.append(f"{name}: needs a ${v} variable from label_values()")
        refs = []

        def walk(node, where):
            if isinstance(node, dict):
                if "datasource" in node and isinstance(node["datasource"], dict) and \
                        node["datasource"].get("type") == "prometheus":
                    refs.append((where, node["datasource"].get("uid")))
                for k, v in node.items():
                    walk(v, f"{where}/{k}")
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    walk(v, f"{where}/{i}")
        walk(board, name)
        for where, uid in refs:
            if uid != "${datasource}":
                errors.append(f"{where}: data source uid {uid!r} is hard-coded; use "
                              "${datasource}")
    if len(boards) < 4:
        errors.append(f"expected the four dashboards in dashboards/, found {len(boards)}")
    for e in errors:
        print(f"check_provisioning: {e}", file=sys.stderr)
    if not errors:
        print(f"check_provisioning: provisioning and {len(boards)} dashboards consistent")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
