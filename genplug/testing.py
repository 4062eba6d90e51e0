"""The conformance kit (a pytest plugin); filled in by the conformance issue."""
