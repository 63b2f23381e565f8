#!/usr/bin/env python3
"""Man pages for Corral's binaries, generated from their --help.

    hack/gen-man.py [--bin DIR] [--out DIR]     write DIR/<binary>.1 (dist/man)
    hack/gen-man.py [--bin DIR] --check         exit 1, with a diff, when a page
                                                in dist/man differs from --help

Each page is `<binary> --help` turned into roff: the usage line is the
SYNOPSIS, an unindented line ending in ':' starts a section, an indented
"  --flag ARG   text" (or "  name   text") line is a tagged paragraph whose
text goes on in the lines indented under it, anything else is running text.
corralctl's page also holds `corralctl <command> --help` of every command
its --help lists. NAME, FILES and SEE ALSO come from the table below.

The output depends on --help alone (no date, no version), so the pages are
checked in, the Debian package and `make install` ship them as they are,
and e2e/test_man.py (also the package build's test step) fails when one
is stale. Regenerate with: make all && hack/gen-man.py
"""
import argparse
import difflib
import os
import re
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

# binary -> (one-line summary for NAME, FILES entries, SEE ALSO)
PAGES = {
    "corrald": (
        "Corral's daemon: the API, and on the elected leader the controllers and the "
        "Mesos scheduler",
        [("/etc/corral/corrald.yaml", "settings, one 'name: value' a line, named as the "
          "long options (--config); options given on the command line win"),
         ("/etc/corral/tokens", "bootstrap API tokens (--auth-token-file), mode 600, "
          "owned by corral"),
         ("/usr/share/doc/corral/operations.md", "install, configuration, upgrade, backup, "
          "restore and rollback")],
        ["corralctl(1)", "corral-executor(1)", "corral-nodeagent(1)", "mesoslite(1)",
         "etcdctl(1)"]),
    "corralctl": (
        "Corral's command-line client",
        [("~/.config/corral/config", "settings (server, token, ca-file, cert, key); "
          "$CORRAL_CONFIG names another file")],
        ["corrald(1)"]),
    "corral-executor": (
        "Corral's Mesos custom executor, started by a Mesos agent for one task",
        [],
        ["corrald(1)", "corral-nodeagent(1)"]),
    "corral-nodeagent": (
        "Corral's per-agent services: task logs, log archiving, sandbox cleanup, OOM killer",
        [("/etc/corral/corral-nodeagent.conf", "settings (--config); options given on the "
          "command line win"),
         ("/etc/corral/corral-nodeagent.env", "S3 credentials for the unit's environment, "
          "mode 600")],
        ["corrald(1)", "corral-executor(1)"]),
    "mesoslite": (
        "a single-process stand-in for an Apache Mesos master and its agents",
        [("/etc/corral/mesoslite.yaml", "settings of mesoslite.service")],
        ["corrald(1)"]),
}

TAG = re.compile(r"^(\s{1,8})(\S(?:.*?\S)?)(?:\s{2,}(\S.*))?$")


def esc(s):
    """roff-escapes running text."""
    s = s.replace("\\", "\\e")
    if s.startswith((".", "'")):
        s = "\\&" + s
    return s


def esc_opt(s):
    """Escapes an option tag, with hyphens as minus signs (copy-pasteable)."""
    return esc(s).replace("-", "\\-")


def run_help(binary, *args):
    r = subprocess.run([binary] + list(args) + ["--help"], capture_output=True, text=True,
                       timeout=30)
    if r.returncode != 0:
        raise SystemExit("%s %s --help exited %d: %s" % (binary, " ".join(args), r.returncode,
                                                          r.stderr.strip()))
    return r.stdout


def body(lines):
    """The roff of --help's lines after the usage block."""
    out = []
    in_tag = False  # inside a tagged paragraph: indented lines continue it
    tag_indent = 0
    section = "DESCRIPTION"
    for line in lines:
        if not line.strip():
            out.append(".PP")
            in_tag = False
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0 and line.rstrip().endswith(":") and len(line) < 40:
            section = line.rstrip()[:-1].upper()
            out.append(".SH " + esc(section))
            in_tag = False
            continue
        m = TAG.match(line)
        if indent and m and (not in_tag or indent <= tag_indent):
            tag = m.group(2)
            if section == "DESCRIPTION" and tag.startswith("-"):
                section = "OPTIONS"
                out.append(".SH OPTIONS")
            out.append(".TP")
            out.append(".B " + esc_opt(tag) if tag.startswith("-") else esc(tag))
            if m.group(3):
                out.append(esc(m.group(3)))
            in_tag, tag_indent = True, indent
            continue
        if indent == 0 and in_tag:
            out.append(".PP")  # running text again
            in_tag = False
        out.append(esc(line.strip()))
    # Drop paragraph breaks that lead, trail or repeat.
    clean = []
    for ln in out:
        if ln == ".PP" and (not clean or clean[-1] == ".PP" or clean[-1].startswith(".SH")):
            continue
        clean.append(ln)
    while clean and clean[-1] == ".PP":
        clean.pop()
    return clean


def verbatim(text):
    return [".nf"] + [esc(ln) if ln else "" for ln in text.rstrip("\n").split("\n")] + [".fi"]


def corralctl_commands(text):
    """The command names in corralctl's --help 'commands:' block."""
    names, on = [], False
    for line in text.split("\n"):
        if line.rstrip() == "commands:":
            on = True
        elif on and not line.strip():
            break
        elif on:
            names.append(line.split()[0])
    return [n for n in names if n != "help"]


def page(bindir, name):
    summary, files, see = PAGES[name]
    binary = os.path.join(bindir, name)
    text = run_help(binary)
    lines = text.rstrip("\n").split("\n")
    usage = []
    while lines and (not usage or lines[0].startswith(" ")) and lines[0].strip():
        usage.append(lines.pop(0).strip())
    out = ['.\\" Generated by hack/gen-man.py from `%s --help`; do not edit.' % name,
           '.TH %s 1 "" "Corral" "Corral Manual"' % name.upper(),
           ".SH NAME", "%s \\- %s" % (esc_opt(name), esc(summary)),
           ".SH SYNOPSIS", ".nf"]
    for u in usage:
        out.append(esc(re.sub(r"^usage:\s*", "", u, flags=re.I)))
    out += [".fi", ".SH DESCRIPTION"]
    out += body(lines)
    if name == "corralctl":
        out.append(".SH COMMAND DETAILS")
        for cmd in corralctl_commands(text):
            out.append(".SS " + esc(cmd))
            out += verbatim(run_help(binary, cmd))
    if files:
        out.append(".SH FILES")
        for path, what in files:
            out += [".TP", ".I " + esc(path), esc(what)]
    out += [".SH SEE ALSO", ", ".join("\\fB%s\\fR(%s)" % (esc_opt(s.split("(")[0]),
                                                         s.split("(")[1].rstrip(")"))
                                     for s in see)]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "bin"), help="built binaries (bin)")
    ap.add_argument("--out", default=os.path.join(ROOT, "dist", "man"), help="pages (dist/man)")
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    a = ap.parse_args()
    stale = []
    for name in PAGES:
        want = page(a.bin, name)
        path = os.path.join(a.out, name + ".1")
        if not a.check:
            os.makedirs(a.out, exist_ok=True)
            with open(path, "w") as f:
                f.write(want)
            continue
        have = open(path).read() if os.path.exists(path) else ""
        if have != want:
            stale.append(name)
            sys.stdout.writelines(difflib.unified_diff(
                have.splitlines(True), want.splitlines(True), path, name + " --help"))
    if stale:
        print("gen-man: stale man pages: %s; regenerate with `make all && hack/gen-man.py`"
              % " ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
