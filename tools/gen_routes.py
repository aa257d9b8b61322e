#!/usr/bin/env python3
"""Regenerates emulator/data/routes.json from the AWS service models.

The route table is data, not code: every operation of both services with its HTTP method,
URI template and success status, exactly as the SDKs are generated from, and for operations
that answer an event stream the exceptions its union carries (what may be sent mid-stream), and
the length and pattern constraints of each URI label (Coral checks them before anything else).
Run it when the service models in ../shared/spec/ are updated:

    python3 tools/gen_routes.py ../shared/spec emulator/data/routes.json
"""
import json
import sys
from pathlib import Path

spec_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/spec")
out = Path(sys.argv[2] if len(sys.argv) > 2 else "emulator/data/routes.json")
routes = []
for service, fname in (("bedrock-runtime", "bedrock-runtime.service-2.json"), ("bedrock", "bedrock.service-2.json")):
    model = json.loads((spec_dir / fname).read_text())
    shapes = model["shapes"]

    def stream_exceptions(op):
        output = shapes.get(op.get("output", {}).get("shape", ""), {})
        for member in output.get("members", {}).values():
            union = shapes.get(member["shape"], {})
            if union.get("eventstream"):
                return sorted(m["shape"] for m in union["members"].values() if shapes[m["shape"]].get("exception"))
        return []

    def label_constraints(op):
        """Coral's length and pattern constraints on the URI labels (what it checks first)."""
        members = shapes.get(op.get("input", {}).get("shape", ""), {}).get("members", {})
        out = []
        for member, ref in sorted(members.items()):
            if ref.get("location") != "uri":
                continue
            target = shapes[ref["shape"]]
            constraint = {k: target[k] for k in ("min", "max", "pattern") if k in target}
            if constraint:
                out.append({"label": ref.get("locationName", member), "member": member, **constraint})
        return out

    for name, op in sorted(model["operations"].items()):
        http = op["http"]
        route = {
            "service": service,
            "operation": name,
            "method": http["method"],
            "uri": http["requestUri"],
            "code": http.get("responseCode", 200),
        }
        exceptions = stream_exceptions(op)
        if exceptions:
            route["streamExceptions"] = exceptions
        labels = label_constraints(op)
        if labels:
            route["labels"] = labels
        routes.append(route)
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps({"version": 1, "routes": routes}, indent=1) + "\n")
print(f"{len(routes)} routes -> {out}")
