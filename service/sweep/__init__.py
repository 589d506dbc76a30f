"""Marketplace sweeps: listings in, findings out, resumable, with safe fetching and a store of offenders.

`listings` reads CSV/JSONL listing files; `netguard` decides which addresses may be fetched (SSRF guard) and
`fetch` fetches through it; `run` is the resumable run folder and the local runner; `outputs` writes results.jsonl,
hits.csv and summary.html; `ray_runner` runs the same stages on Ray Data. Findings go to the workspace's one
findings store (service/store), which the offender queries (service/store/offenders.py) read.
"""
