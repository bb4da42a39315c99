"""Benchmarks of real pipelines on generated suites: `chain generate`, `chain bench`, `chain compare`.

generate.py writes a deterministic task suite plus its hidden ground truth; runner.py runs stages over it
and measures; results.py is the report's data model (results.json); report.py writes CSVs and the HTML
page; compare.py tells two results.json apart with bootstrap confidence intervals.
"""
