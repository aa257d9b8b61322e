"""Shared by the package's own tests (run against the installed wheel)."""

#: A one-rule scenario document: "refund" in the last user message is answered from it.
REFUNDS_SCENARIO = """
version: 1
name: refunds
rules:
  - name: refund
    match: {lastUserMessage: refund}
    reply: {text: "Refunds take 5 days."}
"""
