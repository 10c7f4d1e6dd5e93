"""Every Grafana dashboard against Grafana's published schema, with the real TypeScript compiler:
@grafana/schema and typescript as tools/grafana-schema's npm lock pins them (tools/bootstrap
installs them into .tools/grafana-schema/). Each dashboard becomes a .ts file, `<json> satisfies
Dashboard` and each panel `<json> satisfies Panels[<type>]` (tools/grafana-schema/schema.ts),
and `tsc --noEmit --strict` must find nothing; dashboards broken on purpose, next to them in the
same run, must each fail, with the error TypeScript gives for what was broken."""

import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from components.render import grafana
from tests.support.paths import ROOT

pytestmark = pytest.mark.integration

SCHEMA = ROOT / ".tools" / "grafana-schema"
TSC = SCHEMA / "node_modules" / "typescript" / "bin" / "tsc"
PACKAGE = SCHEMA / "node_modules" / "@grafana" / "schema"
ERROR = re.compile(r"^(?P<file>[^()\s]+\.ts)\(\d+,\d+\): error (?P<code>TS\d+): (?P<message>.*)$")


def typescript(name: str, dashboard: dict) -> str:
    """The dashboard as TypeScript the schema checks. `__inputs` and `__requires` go: they are
    the import format's extras (what Grafana's Import asks for and needs), not dashboard fields,
    and the schema has no place for them."""
    body = {k: v for k, v in dashboard.items() if k not in ("__inputs", "__requires")}
    panels = [f"  {json.dumps(p)} satisfies Panels[{json.dumps(p['type'])}],"
              for p in body.get("panels", [])]
    return "\n".join([
        f"// {name}: written by {Path(__file__).relative_to(ROOT)}; do not edit.",
        'import type { Dashboard, Panels } from "./schema";',
        f"export const dashboard = {json.dumps(body, indent=2)} satisfies Dashboard;",
        "export const panels = [", *panels, "];", ""])


def _set(path: str, value):
    """A mutation: sets a key at a dotted path (numbers index lists)."""
    def mutate(d: dict) -> None:
        *parents, last = [int(k) if k.isdigit() else k for k in path.split(".")]
        for key in parents:
            d = d[key]
        d[last] = value
    return mutate


def _drop(path: str):
    def mutate(d: dict) -> None:
        *parents, last = [int(k) if k.isdigit() else k for k in path.split(".")]
        for key in parents:
            d = d[key]
        del d[last]
    return mutate


# Each broken on purpose from the hosts dashboard (panel 1 is a time series): how, and the
# TypeScript error code and a piece of its message that says what is wrong.
BROKEN = {
    "grid-height-a-string": (_set("panels.1.gridPos.h", "8"), "TS2322",
                             "Type 'string' is not assignable to type 'number'"),
    "unknown-top-level-key": (_set("dashbaord", {}), "TS2353", "'\"dashbaord\"' does not exist"),
    "unknown-panel-key": (_set("panels.1.titel", "x"), "TS2353", "'\"titel\"' does not exist"),
    "unknown-colour-mode": (_set("panels.1.fieldConfig.defaults.color.mode", "rainbow"), "TS2322",
                            "'\"rainbow\"' is not assignable"),
    "variable-refresh-out-of-range": (_set("templating.list.0.refresh", 7), "TS2322",
                                      "'7' is not assignable"),
    "time-series-without-legend": (_drop("panels.1.options.legend"), "TS2741",
                                   "Property 'legend' is missing"),
    "unknown-draw-style": (_set("panels.1.fieldConfig.defaults.custom.drawStyle", "curvy"),
                           "TS2322", "'\"curvy\"' is not assignable"),
    "raw-query-not-a-boolean": (_set("panels.1.targets.0.rawQuery", "yes"), "TS2322",
                                "Type 'string' is not assignable to type 'true'"),
    "unknown-target-key": (_set("panels.1.targets.0.qeury", "SELECT 1"), "TS2353",
                           "'\"qeury\"' does not exist"),
    "target-without-ref-id": (_drop("panels.1.targets.0.refId"), "TS2741",
                              "Property 'refId' is missing"),
}


@pytest.fixture(scope="module")
def checked(tmp_path_factory) -> dict[str, list[dict]]:
    """One tsc run over every dashboard and every broken one: the errors, by file."""
    node = shutil.which("node")
    if node is None or not TSC.is_file():
        pytest.fail(f"{TSC} missing: run `make bootstrap` (it installs tools/grafana-schema)")
    work = tmp_path_factory.mktemp("grafana-schema")
    os.symlink(SCHEMA / "node_modules", work / "node_modules")
    shutil.copy(ROOT / "tools" / "grafana-schema" / "schema.ts", work / "schema.ts")
    (work / "tsconfig.json").write_text(json.dumps({
        "compilerOptions": {"strict": True, "noEmit": True, "target": "es2022",
                            "module": "esnext", "moduleResolution": "bundler", "types": []},
        "include": ["*.ts"]}))
    for name in grafana.DASHBOARDS:
        (work / f"{name}.ts").write_text(typescript(name, json.loads(grafana.render(name))))
    for case, (mutate, _, _) in BROKEN.items():
        dashboard = copy.deepcopy(json.loads(grafana.render("hosts")))
        mutate(dashboard)
        (work / f"broken-{case}.ts").write_text(typescript(case, dashboard))
    result = subprocess.run([node, str(TSC), "--project", str(work), "--noEmit", "--strict",
                             "--pretty", "false"], cwd=work, capture_output=True, text=True,
                            timeout=600)
    errors: dict[str, list[dict]] = {}
    for line in result.stdout.splitlines():
        if m := ERROR.match(line):
            errors.setdefault(Path(m["file"]).name, []).append(m.groupdict())
        elif line.strip() and not line.startswith(" "):
            pytest.fail(f"tsc said something this test cannot place: {line}\n{result.stdout}")
    assert result.returncode == (2 if errors else 0), result.stdout + result.stderr
    return errors


def test_the_pinned_schema_is_the_one_the_dashboards_name():
    package = json.loads((PACKAGE / "package.json").read_text())
    assert (package["version"], package["license"]) == (grafana.GRAFANA_VERSION, "Apache-2.0")
    # schemaVersion as that release's own defaults have it: Grafana migrates nothing on import.
    defaults = (PACKAGE / "dist" / "esm" / "raw" / "dashboard" / "x" / "types.gen.mjs").read_text()
    block = re.search(r"const defaultDashboard = \{(.*?)\};", defaults, re.S).group(1)
    assert re.search(r"schemaVersion: (\d+)", block).group(1) == str(grafana.SCHEMA_VERSION)


def test_the_support_types_compile(checked):
    assert "schema.ts" not in checked, checked.get("schema.ts")


@pytest.mark.parametrize("name", list(grafana.DASHBOARDS))
def test_dashboard_satisfies_grafanas_schema(checked, name):
    assert f"{name}.ts" not in checked, "\n".join(
        f"{e['code']}: {e['message']}" for e in checked[f"{name}.ts"])


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_dashboard_broken_on_purpose_fails_the_check(checked, case):
    _, code, fragment = BROKEN[case]
    errors = checked.get(f"broken-{case}.ts", [])
    assert errors, f"tsc accepted broken-{case}.ts"
    assert any(e["code"] == code and fragment in e["message"] for e in errors), errors


def test_nothing_else_failed(checked):
    expected = {f"{n}.ts" for n in grafana.DASHBOARDS} | {f"broken-{c}.ts" for c in BROKEN}
    assert set(checked) <= expected | {"schema.ts"}, set(checked)
