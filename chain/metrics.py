"""Prometheus text exposition (format 0.0.4) of what the store knows: executions by outcome, learned EMAs,
and time spent. Scrape it with the node exporter's textfile collector or serve it from any HTTP handler."""

from __future__ import annotations

from .store import ProfileStore


def _label(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in labels.items()) + "}"


def exposition(store: ProfileStore) -> str:
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")

    counts = store._query(
        "SELECT stage, profile, status, COUNT(*) AS n, SUM(duration_ms) AS ms FROM executions"
        " GROUP BY stage, profile, status ORDER BY stage, profile, status"
    )
    family("chain_executions_total", "counter", "Stage executions by profile and final status.")
    for r in counts:
        lines.append(
            f"chain_executions_total{_labels(stage=r['stage'], profile=r['profile'], status=r['status'])} {r['n']}"
        )
    family("chain_execution_seconds_total", "counter", "Wall-clock seconds spent in stage executions.")
    for r in counts:
        lines.append(
            f"chain_execution_seconds_total{_labels(stage=r['stage'], profile=r['profile'], status=r['status'])}"
            f" {r['ms'] / 1000:.6f}"
        )
    stats = store.stats()
    for metric, column, help_text, scale in (
        ("chain_profile_executions", "executions", "Executions folded into the profile's EMA.", 1),
        ("chain_profile_ema_success", "ema_success", "EMA of the success rate (0..1).", 1),
        ("chain_profile_ema_score", "ema_score", "EMA of the score (fraction of tests passing).", 1),
        ("chain_profile_ema_duration_seconds", "ema_duration_ms", "EMA of the execution time.", 1000),
        ("chain_profile_last_update_timestamp_seconds", "updated_at", "When the profile last learned.", 1),
    ):
        family(metric, "gauge", help_text)
        for r in stats:
            value = r[column] / scale if scale != 1 else r[column]
            text = f"{value:.6f}" if isinstance(value, float) else str(value)
            lines.append(f"{metric}{_labels(stage=r['stage'], profile=r['profile'])} {text}")
    return "\n".join(lines) + "\n"
