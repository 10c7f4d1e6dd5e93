// Grafana's published dashboard schema (@grafana/schema, pinned in package-lock.json) as the type
// a dashboard's JSON must satisfy. tests/integration/render/test_grafana_schema.py writes each
// dashboard as `<json> satisfies Dashboard` and each panel as `<json> satisfies Panels[<type>]`
// next to this file, and runs `tsc --noEmit --strict`: on an object literal, `satisfies` applies
// TypeScript's type and excess-property checks all the way down. The imports are the package's
// exported subpaths: ".../raw/dashboard/x/Dashboard_types.gen" is its types for
// dist/types/raw/dashboard/x/types.gen.d.ts (Dashboard, Panel, ...), and so on.
import type {
  Dashboard as SchemaDashboard,
  FieldConfig,
  FieldConfigSource,
  Panel,
} from "@grafana/schema/dist/esm/raw/dashboard/x/Dashboard_types.gen";
import type { DataQuery } from "@grafana/schema";
import type * as stat from "@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen";
import type * as statetimeline from "@grafana/schema/dist/esm/raw/composable/statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen";
import type * as table from "@grafana/schema/dist/esm/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen";
import type * as text from "@grafana/schema/dist/esm/raw/composable/text/panelcfg/x/TextPanelCfg_types.gen";
import type * as timeseries from "@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen";

// A type as JSON writes it. The schema's enums are TypeScript enums, which a JSON string or
// number cannot be (a string enum is nominal: "fixed" is not FieldColorModeId.Fixed), so each
// enum becomes the union of its values (`${E}` for a string enum, the number parsed back for a
// numeric one); everything else maps through unchanged, optional stays optional.
export type Json<T> =
  T extends string ? `${T}` :
  T extends number ? (`${T}` extends `${infer N extends number}` ? N : T) :
  T extends boolean | null | undefined ? T :
  T extends ReadonlyArray<infer U> ? Array<Json<U>> :
  T extends object ? { [K in keyof T]: Json<T[K]> } :
  T;

export type Dashboard = Json<SchemaDashboard>;

// The raw schema types a panel's `options`, `fieldConfig.defaults.custom` and `targets` as
// records of anything; each panel plugin publishes its own Options and FieldConfig, which are
// checked here instead. @grafana/schema has no InfluxDB query type (its composable data queries
// are Azure Monitor, CloudWatch and Google Cloud Monitoring), so a target is its DataQuery plus
// the fields Grafana's InfluxDB plugin reads for a raw InfluxQL query (InfluxQuery in its
// public/app/plugins/datasource/influxdb/types.ts): query, rawQuery, resultFormat, alias.
export type InfluxQLQuery = DataQuery & {
  query: string;
  rawQuery: true;
  resultFormat: "time_series" | "table" | "logs";
  alias?: string;
};

type PanelOf<Options, Custom> = Json<Omit<Panel, "options" | "fieldConfig" | "targets"> & {
  options: Options;
  fieldConfig: Omit<FieldConfigSource, "defaults"> & {
    defaults: Omit<FieldConfig, "custom"> & { custom?: Custom };
  };
  targets?: Array<InfluxQLQuery>;
}>;

export type Panels = {
  "stat": PanelOf<stat.Options, never>;
  "state-timeline": PanelOf<statetimeline.Options, statetimeline.FieldConfig>;
  "table": PanelOf<table.Options, table.FieldConfig>;
  "text": PanelOf<text.Options, never>;
  "timeseries": PanelOf<timeseries.Options, timeseries.FieldConfig>;
};
