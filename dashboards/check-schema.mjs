// Checks every dashboard JSON in this directory against Grafana's published dashboard schema.
//
// @grafana/schema ships the schema as TypeScript types generated from Grafana's CUE kinds (no
// JSON Schema, no CUE files): `Dashboard`, `Panel`, `VariableModel`, ... and one `Options` /
// `FieldConfig` per panel plugin. So each dashboard is written out as a TypeScript module whose
// values are the JSON, typed with those types, and the TypeScript compiler checks it (strict,
// excess properties refused, every enum value checked). The JSON itself is untouched.
//
// Two adaptations, both about how JSON meets TypeScript, not about the schema's content:
//   - the package's enums are TypeScript enums, which a JSON string never is; Lit<T> below turns
//     each enum type into the union of its values ("list" | "table" | ...), so a value outside
//     the enum still fails;
//   - `Panel.options` / `fieldConfig.defaults.custom` are untyped in the dashboard kind; the
//     panel's own plugin types (timeseries, stat, ...) are applied to them by panel type.
// Panel queries are `Record<string, unknown>` in the schema (each datasource owns its query
// model and the package ships none for Prometheus): they are checked as `DataQuery` (the
// package's common base) plus the Prometheus fields the dashboards use.
//
// Usage: node check-schema.mjs   (after `npm ci` here). Exit 0 when every dashboard passes.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const cfg = "@grafana/schema/dist/esm/raw/composable";
const plugins = {
  timeseries: ["timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen", true],
  stat: ["stat/panelcfg/x/StatPanelCfg_types.gen", false],
  table: ["table/panelcfg/x/TablePanelCfg_types.gen", true],
  heatmap: ["heatmap/panelcfg/x/HeatmapPanelCfg_types.gen", true],
  "state-timeline": ["statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen", true],
  bargauge: ["bargauge/panelcfg/x/BarGaugePanelCfg_types.gen", false],
};

const ident = (t) => "P_" + t.replace(/[^a-z]/g, "_");
let prelude = `import type { Dashboard, Panel, RowPanel, VariableModel, DataQuery, DataSourceRef }
  from "@grafana/schema";\n`;
for (const [t, [mod]] of Object.entries(plugins)) {
  prelude += `import type * as ${ident(t)} from "${cfg}/${mod}";\n`;
}
prelude += `
type Lit<T> = T extends string ? \`\${T}\` : T extends number | boolean | null | undefined ? T
  : T extends readonly (infer U)[] ? Lit<U>[] : T extends object ? { [K in keyof T]: Lit<T[K]> } : T;
type PromQuery = DataQuery & { datasource: DataSourceRef; expr: string; legendFormat?: string;
  range?: boolean; instant?: boolean; format?: "time_series" | "table" | "heatmap" };
type Typed<T extends string, O, F> = Omit<Panel<O, F>, "type" | "options" | "targets"> &
  { type: T; options: O; targets: PromQuery[] };
`;
const members = [];
for (const [t, [, hasField]] of Object.entries(plugins)) {
  const name = `${ident(t)}Panel`;
  prelude += `type ${name} = Lit<Typed<"${t}", ${ident(t)}.Options, ${
    hasField ? `${ident(t)}.FieldConfig` : "Record<string, unknown>"}>>;\n`;
  members.push(name);
}
prelude += `type AnyPanel = ${members.join(" | ")};
type Row = Lit<Omit<RowPanel, "panels">> & { panels: AnyPanel[] };
type Board = Lit<Omit<Dashboard, "panels" | "templating">> &
  { panels: (AnyPanel | Row)[]; templating: { list: Lit<VariableModel>[] } };
`;

const work = path.join(here, "node_modules", ".portwatch-schema-check");
fs.rmSync(work, { recursive: true, force: true });
fs.mkdirSync(work, { recursive: true });
const files = fs.readdirSync(here).filter((f) => f.endsWith(".json") &&
  !["package.json", "package-lock.json"].includes(f)).sort();
if (files.length === 0) {
  console.error(`check-schema: no dashboard JSON in ${here}`);
  process.exit(1);
}
// Where each panel's const starts in the generated file, to name it in compiler errors.
const spans = {};
for (const f of files) {
  let dash;
  try {
    dash = JSON.parse(fs.readFileSync(path.join(here, f), "utf8"));
  } catch (e) {
    console.error(`${f}: not valid JSON: ${e.message}`);
    process.exit(1);
  }
  const out = [prelude];
  const marks = [];
  const lineOf = () => out.join("").split("\n").length;
  const names = [];
  for (const [i, p] of (dash.panels || []).entries()) {
    marks.push([lineOf(), `panel ${p.id} "${p.title}" (${p.type})`]);
    const type = p.type === "row" ? "Row" : plugins[p.type] ? `${ident(p.type)}Panel` : "never";
    out.push(`const panel${i}: ${type} = ${JSON.stringify(p, null, 2)};\n`);
    names.push(`panel${i}`);
  }
  const { panels, ...rest } = dash;
  marks.push([lineOf(), "dashboard fields and variables"]);
  out.push(`export const dashboard: Board = { ...${JSON.stringify(rest, null, 2)}, panels: [${
    names.join(", ")}] };\n`);
  const ts = f.replace(/\.json$/, ".ts");
  fs.writeFileSync(path.join(work, ts), out.join(""));
  spans[ts] = { json: f, marks };
}
fs.writeFileSync(path.join(work, "tsconfig.json"), JSON.stringify({
  compilerOptions: { strict: true, noEmit: true, target: "es2022", module: "esnext",
                     moduleResolution: "bundler", skipLibCheck: true, types: [] },
  include: ["*.ts"],
}));
const tsc = path.join(here, "node_modules", "typescript", "bin", "tsc");
try {
  execFileSync(process.execPath, [tsc, "-p", work, "--pretty", "false"], { encoding: "utf8" });
} catch (e) {
  // Each error: a first line with file and position, then indented lines elaborating it, the
  // last of which names the field that is wrong. Print the first and the last.
  const report = (first, last) => {
    const m = first.match(/^(?:.*\/)?([\w.-]+\.ts)\((\d+),\d+\): (.*)$/);
    if (!m || !spans[m[1]]) return console.error(first);
    const { json, marks } = spans[m[1]];
    let where = "prelude";
    for (const [start, what] of marks) if (Number(m[2]) >= start) where = what;
    console.error(`${json}: ${where}: ${m[3].slice(0, 300)}` +
                  (last ? `\n    ${last.trim().slice(0, 300)}` : ""));
  };
  let first = null, last = null;
  for (const line of ((e.stdout || "") + (e.stderr || "")).split("\n")) {
    if (/^\s/.test(line)) { last = line; continue; }
    if (first) report(first, last);
    first = line.trim() ? line : null;
    last = null;
  }
  if (first) report(first, last);
  console.error(`check-schema: dashboards do not match @grafana/schema ${schemaVersion()} ` +
                `(generated sources kept in ${work})`);
  process.exit(1);
}
function schemaVersion() {
  return JSON.parse(fs.readFileSync(path.join(here, "node_modules", "@grafana", "schema",
                                               "package.json"), "utf8")).version;
}
console.log(`check-schema: ${files.join(", ")} match @grafana/schema ${schemaVersion()}`);
