#!/usr/bin/env python3
"""Regenerates emulator/data/shapes.json from the AWS service models.

The input-validation table of `emulator/src/api/coral.rs`: for each service, every operation's
input and output shape names, and every shape reachable from an operation's input with what
Coral validates — its type, members (in model order, with the location of URI-label, query and
header members), required members, length/value bounds, pattern and enum values, and whether
the shape is sensitive (Coral leaves sensitive values out of its messages). Documentation is
dropped, so the table stays small. Run it when the service models in ../shared/spec/ are
updated:

    python3 tools/gen_shapes.py ../shared/spec emulator/data/shapes.json

Table format (one shape per line, so a model update reads as a small diff):

    {"version": 1, "services": {"bedrock": {
        "operations": {"CreateGuardrail": {"input": "CreateGuardrailRequest", "output": "…"}},
        "shapes": {"CreateGuardrailRequest": {"type": "structure", "required": ["name", …],
                   "members": [["name", "GuardrailName"],
                               ["maxResults", "MaxResults", "querystring"],
                               ["typeEquals", "InferenceProfileType", "querystring", "type"], …]},
                   "GuardrailName": {"type": "string", "min": 1, "max": 50, "pattern": "…",
                                     "sensitive": true}, …}}}}

A located member's fourth entry, its name on the wire, is left out when it is the member's
name. `type` is a botocore type, or `union` (a structure marked `union`), `document` (any JSON) or
`eventstream` (not validated). Bounds of number shapes are kept as the model's literal text
(`"1"`, `"1.0"`, `"0.0000001"`): Coral prints them as written.
"""
import json
import sys
from pathlib import Path

spec_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/spec")
out = Path(sys.argv[2] if len(sys.argv) > 2 else "emulator/data/shapes.json")

NUMBER_TYPES = {"integer", "long", "float", "double"}


def literal(value):
    """A bound as the model wrote it (floats are parsed as their text, see `parse_float`)."""
    return value if isinstance(value, str) else str(value)


def compact(shape):
    kind = shape["type"]
    if shape.get("eventstream"):
        kind = "eventstream"
    elif shape.get("document"):
        kind = "document"
    elif kind == "structure" and shape.get("union"):
        kind = "union"
    row = {"type": kind}
    if kind in ("structure", "union"):
        members = []
        for member, ref in shape.get("members", {}).items():
            entry = [member, ref["shape"]]
            if ref.get("location") in ("uri", "querystring", "header", "headers"):
                entry.append(ref["location"])
                if ref.get("locationName", member) != member:
                    entry.append(ref["locationName"])
            members.append(entry)
        row["members"] = members
        if shape.get("required"):
            row["required"] = shape["required"]
        if shape.get("payload"):
            row["payload"] = shape["payload"]
    elif kind == "list":
        row["member"] = shape["member"]["shape"]
    elif kind == "map":
        row["key"] = shape["key"]["shape"]
        row["value"] = shape["value"]["shape"]
    for bound in ("min", "max"):
        if bound in shape:
            row[bound] = literal(shape[bound]) if kind in NUMBER_TYPES else int(float(shape[bound]))
    if "pattern" in shape:
        row["pattern"] = shape["pattern"]
    if "enum" in shape:
        row["enum"] = shape["enum"]
    if shape.get("sensitive"):
        row["sensitive"] = True
    return row


def children(shape):
    if shape.get("eventstream") or shape.get("document"):
        return []
    kind = shape["type"]
    if kind == "structure":
        return [ref["shape"] for ref in shape.get("members", {}).values()]
    if kind == "list":
        return [shape["member"]["shape"]]
    if kind == "map":
        return [shape["key"]["shape"], shape["value"]["shape"]]
    return []


services = {}
total_shapes = 0
for service, fname in (("bedrock", "bedrock.service-2.json"), ("bedrock-runtime", "bedrock-runtime.service-2.json")):
    # Floats as their text, so a bound of `1.0` stays `1.0` and `0.0000001` is not `1e-07`.
    model = json.loads((spec_dir / fname).read_text(), parse_float=str)
    shapes = model["shapes"]
    operations = {}
    reachable = set()
    for name, op in sorted(model["operations"].items()):
        entry = {}
        if "input" in op:
            entry["input"] = op["input"]["shape"]
            stack = [entry["input"]]
            while stack:
                shape_name = stack.pop()
                if shape_name in reachable:
                    continue
                reachable.add(shape_name)
                stack.extend(children(shapes[shape_name]))
        if "output" in op:
            entry["output"] = op["output"]["shape"]
        operations[name] = entry
    services[service] = {
        "operations": operations,
        "shapes": {name: compact(shapes[name]) for name in sorted(reachable)},
    }
    total_shapes += len(reachable)


def dump(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


lines = ['{"version":1,"services":{']
for i, (service, table) in enumerate(services.items()):
    lines.append(f"{dump(service)}:{{")
    lines.append(f'"operations":{dump(table["operations"])},')
    lines.append('"shapes":{')
    rows = [f"{dump(name)}:{dump(row)}" for name, row in table["shapes"].items()]
    lines.append(",\n".join(rows))
    lines.append("}}" + ("," if i + 1 < len(services) else ""))
lines.append("}}")
text = "\n".join(lines) + "\n"
json.loads(text)  # the table must stay valid JSON
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(text)
operation_count = sum(len(t["operations"]) for t in services.values())
print(f"{operation_count} operations, {total_shapes} input shapes, {len(text.encode())} bytes -> {out}")
