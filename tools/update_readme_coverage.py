#!/usr/bin/env python3
"""Replaces README.md's coverage table with `bedrock-emulator coverage` output.

    cargo run -q --bin bedrock-emulator -- coverage | python3 tools/update_readme_coverage.py
"""
import re
import sys
from pathlib import Path

readme = Path(__file__).resolve().parents[1] / "README.md"
table = sys.stdin.read()
text = readme.read_text()
start = text.index("| Service | Operation | HTTP | Status |")
end = text.index("\n## ", start)
readme.write_text(text[:start] + table + text[end:])
print("README.md coverage table updated")
