"""Check the Grafana dashboards against a running stack (called by .ci/containers.sh).

Every panel query must be valid PromQL for the stack's Prometheus, and every modelyard
metric it names must be one the API or the worker exports (``# TYPE`` lines of their
``/metrics`` text, saved in EXPORTED_FILE).

usage: check_dashboards.py PROMETHEUS_URL EXPORTED_FILE DASHBOARD.json...
"""

import json
import re
import sys
import urllib.parse
import urllib.request


def main(prometheus: str, exported_file: str, dashboards: list[str]) -> int:
    with open(exported_file, encoding="utf-8") as f:
        exported = set(re.findall(r"^# TYPE (\S+)", f.read(), re.MULTILINE))
    problems = []
    queries = 0
    for path in dashboards:
        with open(path, encoding="utf-8") as f:
            panels = json.load(f)["panels"]
        for panel in panels:
            for target in panel["targets"]:
                expr = target["expr"]
                queries += 1
                url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
                try:
                    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
                        status = json.load(response)["status"]
                except OSError as exc:
                    status = str(exc)
                if status != "success":
                    problems.append(f"{panel['title']!r}: {expr}: {status}")
                for name in re.findall(r"\bmodelyard_[a-z_]+", expr):
                    if re.sub(r"_(bucket|sum|count)$", "", name) not in exported:
                        problems.append(f"{panel['title']!r}: {name} is not exported")
    for problem in problems:
        print(f"   dashboard: {problem}", file=sys.stderr)  # noqa: T201 - CLI output
    print(f"   dashboards: {queries} queries checked, {len(problems)} problems")  # noqa: T201
    return 1 if problems or not queries else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
