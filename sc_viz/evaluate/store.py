"""report.json on disk: a new report for a pack, reading one back, finding a pack's report,
and `ReportFile`, the report being built, saved atomically after every change.
The schema is in the package docstring (sc_viz/evaluate/__init__.py)."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from sc_viz.evaluate.common import device_info, pack_hash, variant_hashes, versions
from sc_viz.packs import Pack, atomic_write_json
from sc_viz.paper import PAPER_RESULTS

FORMAT = "sc-viz-report/1"
REPORT_JSON = "report.json"


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def new_report(pack: Pack) -> dict:
    return {
        "format": FORMAT,
        "created": now(),
        "updated": now(),
        "pack": {
            "name": pack.name,
            "path": str(pack.path),
            "dataset": pack.dataset,
            "arch": pack.arch,
            "input_size": pack.input_size,
            "classes": pack.classes,
            "hash": pack_hash(pack),
            "variant_hashes": variant_hashes(pack),
            "variants": list(pack.models),
            "not_loaded": dict(pack.errors),
        },
        "environment": {**versions(), **device_info(pack.device)},
        "settings": {},
        "status": {},
        "paper": PAPER_RESULTS,
        "suites": {},
    }


def read_report(path: Path) -> Optional[dict]:
    try:
        report = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) and report.get("format") == FORMAT else None


def _repo_reports() -> list[Path]:
    return [Path.cwd() / "reports", Path(__file__).resolve().parents[2] / "reports"]


def load_report(pack: Union[str, Path, Pack], reports_root: Union[str, Path, None] = None) -> Optional[dict]:
    """The report of a pack (a Pack, a pack folder or a pack name): `<root>/<pack name>/
    report.json`, root = `reports_root`, else ./reports, else the checkout's reports/.
    None when there is none or it cannot be read."""
    name = pack.name if isinstance(pack, Pack) else Path(str(pack)).name
    roots = [Path(reports_root)] if reports_root is not None else _repo_reports()
    for root in roots:
        report = read_report(root / name / REPORT_JSON)
        if report is not None:
            report.pop("failed", None)
            return report
    return None


@dataclass
class ReportFile:
    """The report being built, and the folder it is saved to after every change (None:
    kept in memory only)."""

    report: dict
    out_dir: Optional[Path]

    @classmethod
    def start(cls, pack: Pack, out_dir: Optional[Path], log=print) -> ReportFile:
        """A new report for `pack`; when `out_dir` already holds one made from the same
        weights, that one, so that the suites not run this time keep their results."""
        report = new_report(pack)
        old = read_report(out_dir / REPORT_JSON) if out_dir is not None else None
        if old is not None and old["pack"].get("hash") == report["pack"]["hash"]:
            old["environment"], old["paper"] = report["environment"], report["paper"]
            old["pack"]["variant_hashes"] = report["pack"]["variant_hashes"]
            return cls(old, out_dir)
        if old is not None:
            log(f"{out_dir / REPORT_JSON}: made from other weights; starting a new report")
        return cls(report, out_dir)

    def save(self) -> None:
        self.report["updated"] = now()
        if self.out_dir is not None:
            atomic_write_json(self.out_dir / REPORT_JSON, self.report)

    def record(self, suite: str, settings: dict, status: dict, results: Optional[dict]) -> None:
        """Store a suite's settings, status and results (None: drop earlier results), and save."""
        if results is None:
            self.report["suites"].pop(suite, None)
        else:
            self.report["suites"][suite] = results
        self.report["settings"][suite] = settings
        self.report["status"][suite] = status
        self.save()
