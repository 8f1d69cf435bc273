#!/usr/bin/env python3
"""Offline supply-chain check of an npm lockfile (v2/v3), the counterpart of deny.toml for
the UI: every package the app ships (not dev-only) has an allowed licence, and every package
is pinned by an integrity hash and comes from the npm registry (no git, file or other-host
sources). The project's own workspaces (the root package.json's "workspaces", e.g. ui/) and
their links are the project, not dependencies. Usage: check-npm-deps.py package-lock.json
"""

import json
import re
import sys

# The same licences deny.toml allows for crates.
ALLOWED = {
    "MIT", "MIT-0", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "0BSD", "ISC", "Zlib",
    "BSL-1.0", "CC0-1.0", "Unlicense", "Unicode-3.0", "BlueOak-1.0.0", "Python-2.0",
    "CC-BY-4.0",
}
REGISTRY = "https://registry.npmjs.org/"


def licence_ok(expression):
    """An SPDX expression is acceptable when one of its OR-alternatives uses only allowed
    licences (parentheses are flattened: enough for the expressions npm packages use)."""
    if not isinstance(expression, str) or not expression.strip():
        return False
    flat = expression.replace("(", " ").replace(")", " ")
    for alternative in re.split(r"\s+OR\s+", flat):
        ids = [t for t in re.split(r"\s+AND\s+", alternative.strip()) if t]
        if ids and all(t.strip() in ALLOWED for t in ids):
            return True
    return False


def main(path):
    lock = json.load(open(path, encoding="utf-8"))
    if lock.get("lockfileVersion", 1) < 2:
        sys.exit(f"{path}: lockfile v2 or later needed")
    packages = lock.get("packages", {})
    workspaces = set(packages.get("", {}).get("workspaces", []))
    problems, shipped = [], 0
    for where, pkg in packages.items():
        if not where or where in workspaces:
            continue  # the project itself and its workspaces
        name = where.split("node_modules/")[-1]
        if pkg.get("link"):
            if pkg.get("resolved") not in workspaces:
                problems.append(f"{name}: a linked package (not from the registry or a workspace)")
            continue
        if "node_modules/" not in where:
            problems.append(f"{where}: a package outside node_modules that is not a workspace")
            continue
        resolved = pkg.get("resolved")
        if resolved is not None and not resolved.startswith(REGISTRY):
            problems.append(f"{name}: from {resolved}")
        if not str(pkg.get("integrity", "")).startswith("sha512-"):
            problems.append(f"{name}: no sha512 integrity hash")
        if not pkg.get("dev") and not pkg.get("devOptional"):
            shipped += 1
            if not licence_ok(pkg.get("license")):
                problems.append(f"{name}: licence {pkg.get('license')!r} is not allowed")
    if problems:
        print(f"{path}: {len(problems)} problem(s):", *problems, sep="\n  ", file=sys.stderr)
        return 1
    print(f"{path}: {shipped} shipped packages with allowed licences; every package pinned "
          "by sha512 from the npm registry")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
