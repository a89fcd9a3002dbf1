#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""lint: the files of api/ call each other without a cycle.

A file A uses a file B when A names a function or variable that B defines (not static). The
graph of these uses must be acyclic, so that each file can be read knowing only the ones below
it (architecture.md). Prints the cycle and exits 1 otherwise.

usage: tests/lint/check-api-cycles.py SOURCE_ROOT
"""
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "."
api = os.path.join(root, "api")
DEF = re.compile(r"^(?!static\b)[A-Za-z_][\w \*]*?\b(\w+)\s*(\(|\[\]\s*=|=)", re.M)


def strip(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r'"(\\.|[^"\\])*"', '""', text)
    return text


files = {}
for name in sorted(os.listdir(api)):
    if name.endswith(".c"):
        with open(os.path.join(api, name)) as f:
            files[name] = strip(f.read())

defined = {}
for name, text in files.items():
    for m in DEF.finditer(text):
        if m.group(1) not in ("if", "for", "while", "switch", "return", "sizeof"):
            defined.setdefault(m.group(1), name)

uses = {name: set() for name in files}
for name, text in files.items():
    for ident in set(re.findall(r"\b\w+\b", text)):
        owner = defined.get(ident)
        if owner and owner != name:
            uses[name].add(owner)

# Depth-first search for a cycle.
state, stack = {}, []


def visit(n):
    state[n] = 1
    stack.append(n)
    for m in sorted(uses[n]):
        if state.get(m) == 1:
            cycle = stack[stack.index(m):] + [m]
            print("check-api-cycles: api/ files call each other in a circle: " + " -> ".join(cycle))
            for a, b in zip(cycle, cycle[1:]):
                why = sorted(i for i in set(re.findall(r"\b\w+\b", files[a])) if defined.get(i) == b)
                print("  %s uses %s: %s" % (a, b, ", ".join(why[:6])))
            sys.exit(1)
        if not state.get(m):
            visit(m)
    stack.pop()
    state[n] = 2


for n in sorted(files):
    if not state.get(n):
        visit(n)
print("check-api-cycles: %d files of api/, no cycle" % len(files))
